// The agent's stdio MCP servers (agent/mcp-stdio.ts) over a real tunnel session pair: the
// gateway end opens `mcp-stdio` streams, the agent end runs real child processes. What starts
// (allowlist, environment, working directory, the process cap), what the stream carries, how
// the server's exit and the stream's end are reported, and that stopping is bounded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMcpStdioHandler, parseLaunch, type McpStdioHandler } from '../../agent/mcp-stdio.ts';
import type { TunnelError, TunnelStream } from '../../gateway/tunnel/index.ts';
import { createLogger } from '../../lib/log.ts';
import { connectPair, type Pair } from '../gateway/tunnel/pair.ts';

const NODE = process.execPath;
let pair: Pair;
let handler: McpStdioHandler;
let dir: string;
let allowed: string;
const logLines: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-mcp-stdio-'));
  allowed = join(dir, 'allowed');
  mkdirSync(allowed);
  pair = await connectPair();
  handler = createMcpStdioHandler({
    commands: [NODE, join(dir, 'missing-program')], dirs: [allowed, join(dir, 'not-there')], dataDir: join(dir, 'data'), maxProcesses: 2, killGraceMs: 100,
    logger: createLogger({ level: 'debug', write: (l) => { logLines.push(l); } }),
  });
  // The agent's end: every stream the gateway opens goes to the handler, as dispatchStream does.
  pair.client.on('stream', (stream: TunnelStream) => {
    stream.on('error', () => {});
    void handler.handle(stream, stream.header, { agent: 'edge', gateway: 'http://gw', logger: createLogger({ write: () => {} }) });
  });
});
after(async () => {
  await handler.close();
  await pair.close();
  rmSync(dir, { recursive: true, force: true });
});

function launch(command: string[], more: Record<string, unknown> = {}): TunnelStream {
  return pair.server.open({ kind: 'mcp-stdio', connection: 'demo', caller: 'bob', command, ...more });
}

/** Everything the stream delivers, and the reset that ended it. */
function outcome(stream: TunnelStream): Promise<{ data: string; resetCode: string | undefined; message: string }> {
  return new Promise((resolve) => {
    let data = '';
    stream.on('data', (d: Buffer) => { data += d.toString(); });
    stream.on('error', (err: TunnelError) => resolve({ data, resetCode: err.resetCode, message: err.message }));
    stream.on('end', () => resolve({ data, resetCode: undefined, message: 'ended' }));
  });
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) { // bounded by the deadline
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a launch header is checked before anything starts', () => {
  assert.deepEqual(parseLaunch({ connection: 'demo', command: ['x', '-y'], env: { A: '1' } }), { connection: 'demo', argv: ['x', '-y'], cwd: undefined, env: { A: '1' } });
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ connection: 'Demo!', command: ['x'] }, /no valid connection/],
    [{ connection: 'demo', command: [] }, /argv array of 1 to 64/],
    [{ connection: 'demo', command: 'x -y' }, /argv array/],
    [{ connection: 'demo', command: ['x', ''] }, /non-empty strings/],
    [{ connection: 'demo', command: ['x'], cwd: 'relative/dir' }, /cwd must be an absolute path/],
    [{ connection: 'demo', command: ['x'], env: { 'BAD-NAME': '1' } }, /env "BAD-NAME" is not a valid variable/],
    [{ connection: 'demo', command: ['x'], env: { A: 1 } }, /env "A" is not a valid variable/],
    [{ connection: 'demo', command: ['x'], env: ['A'] }, /env must be an object/],
  ];
  for (const name of ['PATH', 'NODE_OPTIONS', 'LD_PRELOAD', 'DYLD_INSERT_LIBRARIES']) cases.push([{ connection: 'demo', command: ['x'], env: { [name]: '/tmp/x' } }, new RegExp(`env ${name} is set by the agent`)]);
  for (const [header, why] of cases) {
    const r = parseLaunch(header);
    assert.ok('refused' in r, JSON.stringify(header));
    assert.match(r.refused, why);
  }
});

test('the stream carries the server\'s stdin and stdout; its exit resets the stream after the last output', async () => {
  const stream = launch([NODE, '-e', 'process.stdin.on("data", (d) => process.stdout.write(String(d).toUpperCase())); process.stdin.on("end", () => process.exit(7))']);
  const done = outcome(stream);
  stream.write('{"jsonrpc":"2.0","method":"ping"}\n');
  await until(() => stream.bytesRead > 0, 'the echo');
  stream.end();
  const r = await done;
  assert.equal(r.data, '{"JSONRPC":"2.0","METHOD":"PING"}\n');
  assert.equal(r.resetCode, 'AGENT_MCP_EXITED');
  assert.match(r.message, /AGENT_MCP_EXITED: the MCP server exited \(status 7\)/);
});

test('the server gets PATH and the connection\'s env only, and runs in an allowed cwd or its own directory', async () => {
  const script = 'process.stdout.write(JSON.stringify({ cwd: process.cwd(), env: process.env }))';
  const inAllowed = await outcome(launch([NODE, '-e', script], { cwd: allowed, env: { MCP_TOKENLESS: 'yes' } }));
  assert.deepEqual(JSON.parse(inAllowed.data), { cwd: realpathSync(allowed), env: { PATH: process.env.PATH, MCP_TOKENLESS: 'yes' } });
  const outside = await outcome(launch([NODE, '-e', script], { cwd: dir }));
  assert.equal(JSON.parse(outside.data).cwd, join(dir, 'data', 'mcp', 'demo'), 'a cwd outside mcp.dirs is replaced');
  assert.ok(logLines.some((l) => l.includes('"msg":"the connection\'s cwd is not inside mcp.dirs (or does not exist); the server runs in the agent\'s directory for it"')));
  assert.ok(logLines.some((l) => l.includes('"msg":"mcp.dirs entry does not exist and is ignored"')));
});

test('refusals are resets with a clear code, and nothing starts', async () => {
  const started = logLines.filter((l) => l.includes('stdio MCP server started')).length;
  const shell = await outcome(launch(['/bin/sh', '-c', 'echo hi']));
  assert.equal(shell.resetCode, 'AGENT_MCP_COMMAND_REFUSED');
  assert.match(shell.message, /this agent does not start "\/bin\/sh": it is not on its mcp\.commands allowlist/);
  const basename = await outcome(launch(['node', '-e', '1']));
  assert.equal(basename.resetCode, 'AGENT_MCP_COMMAND_REFUSED', 'argv[0] must match exactly');
  const preload = await outcome(launch([NODE, '-e', '1'], { env: { LD_PRELOAD: '/tmp/evil.so' } }));
  assert.equal(preload.resetCode, 'AGENT_MCP_COMMAND_REFUSED');
  assert.match(preload.message, /env LD_PRELOAD is set by the agent/);
  const missing = await outcome(launch([join(dir, 'missing-program')]));
  assert.equal(missing.resetCode, 'AGENT_MCP_SPAWN_FAILED');
  assert.match(missing.message, /could not start ".*missing-program" \(ENOENT\)/);
  assert.equal(logLines.filter((l) => l.includes('stdio MCP server started')).length, started);
});

test('mcp.maxProcesses bounds the servers; the stream\'s end stops one, SIGKILL if it ignores stdin and SIGTERM', async () => {
  const stubborn = 'process.on("SIGTERM", () => {}); process.stdin.resume(); process.stdin.on("end", () => {}); setInterval(() => {}, 1000); process.stdout.write("ready")';
  const a = launch([NODE, '-e', stubborn]);
  const b = launch([NODE, '-e', 'process.stdin.resume()']);
  a.on('error', () => {});
  b.on('error', () => {});
  await until(() => handler.running === 2 && a.bytesRead > 0, 'two servers running, the stubborn one deaf to SIGTERM');
  const third = await outcome(launch([NODE, '-e', '1']));
  assert.equal(third.resetCode, 'AGENT_MCP_BUSY');
  assert.match(third.message, /already runs 2 stdio MCP servers \(mcp\.maxProcesses\)/);
  a.destroy();
  b.destroy();
  await until(() => handler.running === 0, 'both stopped', 3000);
  assert.ok(logLines.some((l) => l.includes('"msg":"stdio MCP server exited"') && l.includes('"signal":"SIGKILL"')), 'the stubborn one was killed');
});

test('stderr is logged a bounded number of lines', async () => {
  const before = logLines.length;
  await outcome(launch([NODE, '-e', 'for (let i = 0; i < 1500; i++) process.stderr.write(`line ${i} ${"y".repeat(i === 3 ? 5000 : 1)}\\n`)']));
  await until(() => logLines.slice(before).some((l) => l.includes('stdio MCP server exited')), 'the exit');
  const stderr = logLines.slice(before).filter((l) => l.includes('"msg":"stdio MCP server stderr"')).map((l) => JSON.parse(l) as { line: string });
  assert.equal(stderr.length, 1001);
  assert.equal(stderr[0]!.line, 'line 0 y');
  assert.equal(stderr[3]!.line.length, 2000, 'a long line is cut');
  assert.equal(stderr[1000]!.line, '(more than 1000 lines: the rest is not logged)');
});

test('close() stops every server', async () => {
  const s = launch([NODE, '-e', 'process.stdin.resume()']);
  s.on('error', () => {});
  await until(() => handler.running === 1, 'running');
  await handler.close();
  assert.equal(handler.running, 0);
});
