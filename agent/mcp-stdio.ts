// Stdio MCP servers the agent starts for the gateway: a stream of kind `mcp-stdio` names a
// connection's command (argv), working directory and environment; the agent starts it, if
// `mcp.commands` lists its argv[0] exactly, and the stream then carries the server's stdin and
// stdout as raw bytes (newline-delimited JSON-RPC: the gateway's MCP client frames it, nothing
// here reads it). One stream, one process:
//
//   header checked (argv, cwd, env) → argv[0] on the allowlist → under mcp.maxProcesses →
//   working directory (cwd inside mcp.dirs, else dataDir/mcp/<connection>) → spawn, no shell,
//   environment = PATH + the connection's env → stream ⇄ stdin/stdout, stderr to the log
//
// The stream ending (the gateway's MCP session is over) closes stdin, then SIGTERM, then SIGKILL,
// as the MCP stdio transport's shutdown asks; the server exiting resets the stream with
// AGENT_MCP_EXITED once its last output is sent. Every refusal is a reset with an AGENT_MCP_ code
// and a message the gateway shows its caller; nothing is started then.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../lib/log.ts';
import type { StreamHandler } from './handlers.ts';

export interface McpStdioOptions {
  /** argv[0] values the agent may start, matched exactly (config `mcp.commands`). */
  readonly commands: readonly string[];
  /** Absolute directories a connection's cwd may be inside (config `mcp.dirs`). */
  readonly dirs: readonly string[];
  /** The agent's data directory: servers without an allowed cwd run in dataDir/mcp/<connection>. */
  readonly dataDir: string;
  /** Servers running at once; one more is refused with AGENT_MCP_BUSY. */
  readonly maxProcesses: number;
  readonly logger: Logger;
  /** Milliseconds from closing stdin to SIGTERM, and from SIGTERM to SIGKILL. Default 2000. */
  readonly killGraceMs?: number;
  /** PATH the servers get. Default the agent's own PATH. */
  readonly path?: string;
}

export interface McpStdioHandler {
  /** The `mcp-stdio` stream handler. */
  readonly handle: StreamHandler;
  /** Servers running now. */
  readonly running: number;
  /** Stops every server (SIGTERM, SIGKILL after the grace); resolves when all have exited. */
  close(): Promise<void>;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Variables that choose which program runs or what it loads: set by the agent, never by a connection. */
const RESERVED_ENV = /^(PATH|NODE_OPTIONS|LD_[A-Z0-9_]*|DYLD_[A-Z0-9_]*)$/;
/** Stderr lines logged per server, and characters per line: a chatty server cannot flood the log. */
const MAX_STDERR_LINES = 1000;
const MAX_STDERR_LINE = 2000;

interface Launch {
  readonly connection: string;
  readonly argv: readonly string[];
  readonly cwd: string | undefined;
  readonly env: Readonly<Record<string, string>>;
}

/** The launch the header asks for, or why it is refused (a sentence for the caller). */
export function parseLaunch(header: Readonly<Record<string, unknown>>): Launch | { refused: string } {
  const { connection, command, cwd, env } = header;
  if (typeof connection !== 'string' || !DNS_LABEL.test(connection)) return { refused: 'the stream names no valid connection' };
  const argvOk = Array.isArray(command) && command.length >= 1 && command.length <= 64
    && command.every((a) => typeof a === 'string' && a.length >= 1 && a.length <= 4096 && !a.includes('\0'));
  if (!argvOk) return { refused: 'the command must be an argv array of 1 to 64 non-empty strings' };
  if (cwd !== undefined && (typeof cwd !== 'string' || !isAbsolute(cwd) || cwd.includes('\0'))) return { refused: 'cwd must be an absolute path' };
  const vars: Record<string, string> = {};
  if (env !== undefined) {
    if (env === null || typeof env !== 'object' || Array.isArray(env) || Object.keys(env).length > 64) return { refused: 'env must be an object of at most 64 variables' };
    for (const [name, value] of Object.entries(env)) {
      if (!ENV_NAME.test(name) || typeof value !== 'string' || value.length > 4096 || value.includes('\0')) return { refused: `env ${JSON.stringify(name.slice(0, 64))} is not a valid variable` };
      if (RESERVED_ENV.test(name)) return { refused: `env ${name} is set by the agent, never by a connection (it chooses which program runs or what it loads)` };
      vars[name] = value;
    }
  }
  return { connection, argv: command as string[], cwd: cwd as string | undefined, env: vars };
}

export function createMcpStdioHandler(options: McpStdioOptions): McpStdioHandler {
  const log = options.logger.child({ component: 'mcp-stdio' });
  const commands = new Set(options.commands);
  const graceMs = options.killGraceMs ?? 2000;
  const path = options.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  // Allowed directories by their real path, so a symlink cannot lead a cwd out of them.
  const dirs = options.dirs.flatMap((d) => {
    try {
      return [realpathSync(d)];
    } catch {
      log.warn('mcp.dirs entry does not exist and is ignored', { dir: d });
      return [];
    }
  });
  const running = new Map<ChildProcessWithoutNullStreams, () => void>();

  function workingDir(launch: Launch): string {
    if (launch.cwd !== undefined) {
      let real: string | undefined;
      try {
        real = realpathSync(launch.cwd);
      } catch {
        real = undefined;
      }
      if (real !== undefined && dirs.some((d) => { const r = relative(d, real); return r === '' || (!r.startsWith('..') && !isAbsolute(r)); })) return real;
      log.warn('the connection\'s cwd is not inside mcp.dirs (or does not exist); the server runs in the agent\'s directory for it', { connection: launch.connection, cwd: launch.cwd });
    }
    const dir = join(options.dataDir, 'mcp', launch.connection);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  const handle: StreamHandler = (stream, header) => {
    const launch = parseLaunch(header);
    if ('refused' in launch) {
      log.warn('stdio MCP server refused: invalid launch', { stream: stream.id, reason: launch.refused });
      stream.reset('AGENT_MCP_COMMAND_REFUSED', launch.refused);
      return;
    }
    const [command, ...args] = launch.argv as [string, ...string[]];
    const fields = { stream: stream.id, connection: launch.connection, command, caller: header.caller };
    if (!commands.has(command)) {
      log.warn('stdio MCP server refused: command not on mcp.commands', fields);
      stream.reset('AGENT_MCP_COMMAND_REFUSED', `this agent does not start ${JSON.stringify(command.slice(0, 120))}: it is not on its mcp.commands allowlist`);
      return;
    }
    if (running.size >= options.maxProcesses) {
      log.warn('stdio MCP server refused: mcp.maxProcesses reached', { ...fields, running: running.size });
      stream.reset('AGENT_MCP_BUSY', `this agent already runs ${running.size} stdio MCP servers (mcp.maxProcesses)`);
      return;
    }
    const cwd = workingDir(launch);
    // No shell; a process group of its own, so stopping it reaches what it started (npx → node).
    const child = spawn(command, args, { cwd, env: { PATH: path, ...launch.env }, stdio: ['pipe', 'pipe', 'pipe'], shell: false, detached: true, windowsHide: true });
    let spawned = false;
    let over = false;
    const timers: NodeJS.Timeout[] = [];
    const signal = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    // The MCP stdio shutdown: close stdin, then SIGTERM, then SIGKILL.
    const stop = () => {
      if (over || timers.length > 0) return;
      child.stdin.end();
      timers.push(setTimeout(() => signal('SIGTERM'), graceMs).unref(), setTimeout(() => signal('SIGKILL'), 2 * graceMs).unref());
    };
    running.set(child, () => {
      if (over) return;
      signal('SIGTERM');
      timers.push(setTimeout(() => signal('SIGKILL'), graceMs).unref());
    });
    const finish = (code: string, message: string) => {
      if (over) return;
      over = true;
      for (const t of timers) clearTimeout(t);
      running.delete(child);
      if (stream.destroyed) return;
      // Reset only once everything the server wrote is on the tunnel: a zero-length write
      // completes after every write before it.
      stream.write(Buffer.alloc(0), () => { if (!stream.destroyed) stream.reset(code, message); });
    };

    child.once('spawn', () => {
      spawned = true;
      log.info('stdio MCP server started', { ...fields, pid: child.pid, cwd });
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (spawned) {
        log.warn('stdio MCP server error', { ...fields, code: err.code, error: err.message });
        return;
      }
      log.warn('stdio MCP server could not be started', { ...fields, cwd, code: err.code, error: err.message });
      finish('AGENT_MCP_SPAWN_FAILED', `the agent could not start ${JSON.stringify(command.slice(0, 120))} (${err.code ?? 'error'})`);
    });
    child.once('close', (code, sig) => {
      if (!spawned) return; // 'error' reported it
      log.info('stdio MCP server exited', { ...fields, pid: child.pid, code, signal: sig });
      finish('AGENT_MCP_EXITED', `the MCP server exited (${sig === null ? `status ${code}` : `signal ${sig}`})`);
    });
    child.stdin.on('error', (err: NodeJS.ErrnoException) => log.debug('stdio MCP server stdin closed', { ...fields, code: err.code }));
    logLines(child.stderr, (line) => log.info('stdio MCP server stderr', { ...fields, line }));

    stream.pipe(child.stdin);
    child.stdout.pipe(stream, { end: false }); // the stream ends with a reset that says why (finish)
    stream.once('close', stop);
  };

  return {
    handle,
    get running() { return running.size; },
    async close() {
      const exits = [...running.keys()].map((child) => new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('close', () => done());
      }));
      for (const kill of running.values()) kill();
      await Promise.all(exits);
    },
  };
}

/** Logs `source`'s lines, at most MAX_STDERR_LINES of MAX_STDERR_LINE characters; the rest is read and dropped. */
function logLines(source: Readable, write: (line: string) => void): void {
  let partial = '';
  let lines = 0;
  const emit = (line: string) => {
    lines++;
    if (lines <= MAX_STDERR_LINES) write(line.replace(/\r$/, '').slice(0, MAX_STDERR_LINE));
    else if (lines === MAX_STDERR_LINES + 1) write(`(more than ${MAX_STDERR_LINES} lines: the rest is not logged)`);
  };
  source.setEncoding('utf8');
  source.on('data', (text: string) => {
    if (lines > MAX_STDERR_LINES) return;
    partial += text;
    for (let i = partial.indexOf('\n'); i !== -1; i = partial.indexOf('\n')) { // each turn removes a line
      emit(partial.slice(0, i));
      partial = partial.slice(i + 1);
    }
    if (partial.length > MAX_STDERR_LINE) {
      emit(partial);
      partial = '';
    }
  });
  source.on('end', () => { if (partial !== '') emit(partial); });
}
