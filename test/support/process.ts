// Running the real `airlock` and `airlock-agent` commands as child processes, on the same Node
// that runs the tests, with bounded waits.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const AIRLOCK = fileURLToPath(new URL('../../cli/airlock.ts', import.meta.url));
export const AIRLOCK_AGENT = fileURLToPath(new URL('../../agent/main.ts', import.meta.url));

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Milliseconds before the process is killed and the run fails. Default 20000. */
  timeout?: number;
  /** Start it as the leader of its own process group, so `signalGroup` reaches its children too, as a terminal's Ctrl-C does. */
  group?: boolean;
}

export interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Environment for a child: ours without AIRLOCK_* (so a developer's settings do not leak in), plus `env`. */
function childEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRLOCK_')));
  return { ...base, NODE_NO_WARNINGS: '1', ...env };
}

/** Runs the Node script `script args…` to completion. */
export function run(script: string, args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  return runProgram(process.execPath, [script, ...args], options);
}

/** Runs a program found on PATH or by path (`bash`, a launcher) to completion. */
export function runProgram(file: string, args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: childEnv(options.env), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file === process.execPath ? '' : `${file} `}${args.join(' ')} did not finish within ${options.timeout ?? 20000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeout ?? 20000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Running {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the first match of `pattern` in stdout+stderr, waiting up to `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and waits for the exit, killing the process after `ms`. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<Finished>;
  /** Sends `signal` to the whole process group (needs `group: true`), like Ctrl-C in a terminal. */
  signalGroup(signal: NodeJS.Signals): void;
  readonly exited: Promise<Finished>;
}

/** Starts a long-running Node script (a server) and returns a handle. */
export function start(script: string, args: readonly string[], options: RunOptions = {}): Running {
  return startProgram(process.execPath, [script, ...args], options);
}

/** Starts a long-running program found on PATH or by path (`npm start`, a launcher) and returns a handle. */
export function startProgram(file: string, args: readonly string[], options: RunOptions = {}): Running {
  const child = spawn(file, args, { env: childEnv(options.env), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group ?? false });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const poke = () => { for (const w of waiters) w(); };
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); poke(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); poke(); });
  const exited = new Promise<Finished>((resolve) => child.on('close', (code, signal) => { poke(); resolve({ code, signal, stdout, stderr }); }));
  return {
    child,
    exited,
    output: () => ({ stdout, stderr }),
    signalGroup: (signal) => {
      if (!options.group) throw new TypeError('signalGroup needs start(..., { group: true })');
      process.kill(-child.pid!, signal);
    },
    waitFor: (pattern, ms = 20000) => new Promise((resolve, reject) => {
      const check = () => {
        const m = (stdout + '\n' + stderr).match(pattern);
        if (m) return done(() => resolve(m));
        if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}\nstdout: ${stdout}\nstderr: ${stderr}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`))), ms);
      const done = (fn: () => void) => { clearTimeout(timer); waiters.delete(check); fn(); };
      waiters.add(check);
      check();
    }),
    stop: async (signal = 'SIGTERM', ms = 15000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const finished = await exited;
      clearTimeout(timer);
      return finished;
    },
  };
}
