// A throwaway PostgreSQL server on loopback, for the tests (test/support/postgres.ts) and the demo
// database of `airlock dev` (cli/dev/demo-postgres.ts): Debian's server binaries, `initdb` into a
// fresh directory, `pg_ctl` on a free 127.0.0.1 port, fsync off; `stop()` shuts it down and removes
// the directory. Nothing here is meant to hold data worth keeping.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, appendFileSync, chmodSync, chownSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './listen.ts';

export interface PostgresServerOptions {
  /**
   * Directory to create the server in (removed first if present, removed again on stop). Default:
   * a new temporary directory. Running as root the server runs as the `postgres` system user,
   * which cannot reach a directory under a root-only parent, so the server is then made in a
   * temporary directory and this one only records where. A server a killed process left running
   * there (or recorded there) is stopped first.
   */
  readonly dir?: string;
  /** pg_hba.conf lines. Default: trust for every local and 127.0.0.1 login (tests only). */
  readonly hba?: readonly string[];
}

export interface PostgresServer {
  /** Superuser URL of the server's `postgres` database over TCP, e.g. postgres://airlock@127.0.0.1:5433/postgres. */
  readonly url: string;
  readonly port: number;
  /** The Unix socket directory (a `host` for pg), where the superuser logs in under the default hba. */
  readonly socketDir: string;
  /** The superuser's name. */
  readonly user: string;
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

const USER = 'airlock';
const START_TIMEOUT_S = 30;
const TEMP_PREFIX = 'airlock-pg-';
/** The file in `options.dir` naming the directory the server was made in. */
const POINTER = 'server-dir';

/** The directory holding both initdb and pg_ctl: PATH first, then the highest /usr/lib/postgresql/<v>/bin; undefined when absent. */
export function findServerBinaries(): string | undefined {
  const versions = (() => {
    try {
      return readdirSync('/usr/lib/postgresql').filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
    } catch {
      return [];
    }
  })();
  const candidates = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...versions.map((v) => `/usr/lib/postgresql/${v}/bin`)];
  return candidates.find((d) => executable(join(d, 'initdb')) && executable(join(d, 'pg_ctl')));
}

/** Starts a server with the binaries in `bin` (see findServerBinaries). */
export async function startPostgresServer(bin: string, options: PostgresServerOptions = {}): Promise<PostgresServer> {
  // initdb refuses to run as root; as root (containers, CI) the server runs as Debian's `postgres` user.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? systemUser('postgres') : undefined;
  if (asRoot && !owner) throw new Error('Running as root, but there is no `postgres` system user to run PostgreSQL as; `apt-get install -y postgresql` creates it.');

  const user = owner ? 'postgres' : undefined;
  if (options.dir !== undefined) {
    await stopLeftover(bin, options.dir, user);
    rmSync(options.dir, { recursive: true, force: true });
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  }
  const dir = options.dir !== undefined && !asRoot ? options.dir : mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  if (options.dir !== undefined) writeFileSync(join(options.dir, POINTER), dir, { mode: 0o600 });
  const data = join(dir, 'data');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, 0o700);
  const run = (file: string, args: string[]) => runAs(user, join(bin, file), args, dir);
  const removeDirs = () => {
    rmSync(dir, { recursive: true, force: true });
    if (options.dir !== undefined) rmSync(options.dir, { recursive: true, force: true });
  };

  let started = false;
  const stop = async () => {
    if (started) {
      started = false;
      process.removeListener('exit', killOnExit);
      await run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => {});
    }
    removeDirs();
  };
  // If the process dies without stop(), do not leave a server behind.
  const killOnExit = () => {
    spawnSync(owner ? 'runuser' : join(bin, 'pg_ctl'), [...(owner ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []), '-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
    removeDirs();
  };

  try {
    await run('initdb', ['-D', data, '-U', USER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const port = await freePort();
    appendFileSync(join(data, 'postgresql.conf'), [
      '',
      '# airlock throwaway server: loopback only',
      `listen_addresses = '127.0.0.1'`,
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 100',
      '',
    ].join('\n'));
    if (options.hba) writeFileSync(join(data, 'pg_hba.conf'), `${options.hba.join('\n')}\n`);
    process.on('exit', killOnExit);
    started = true;
    await run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', String(START_TIMEOUT_S), 'start']).catch((err: unknown) => {
      throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${serverLog(dir)}`);
    });
    return { url: `postgres://${USER}@127.0.0.1:${port}/postgres`, port, socketDir: dir, user: USER, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Stops a server that a process killed without stop() left in (or recorded in) `dir`, and removes
 * it, so its port and processes do not outlive it. Only `dir` itself or a directory this module
 * made under the temporary directory is touched.
 */
async function stopLeftover(bin: string, dir: string, user: string | undefined): Promise<void> {
  let recorded: string;
  try {
    recorded = readFileSync(join(dir, POINTER), 'utf8');
  } catch {
    return;
  }
  const ours = recorded === dir || (recorded.startsWith(join(tmpdir(), TEMP_PREFIX)) && !recorded.slice(tmpdir().length + 1).includes('/'));
  if (!ours) return;
  try {
    accessSync(join(recorded, 'data', 'postmaster.pid'));
    await runAs(user, join(bin, 'pg_ctl'), ['-D', join(recorded, 'data'), '-m', 'immediate', '-w', 'stop'], recorded).catch(() => {});
  } catch {
    // no server ran there any more
  }
  rmSync(recorded, { recursive: true, force: true });
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function systemUser(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

function runAs(user: string | undefined, file: string, args: string[], cwd: string): Promise<void> {
  const [cmd, argv] = user ? ['runuser', ['-u', user, '--', file, ...args]] as const : [file, args] as const;
  return new Promise((resolve, reject) => {
    // detached: a Ctrl-C in the terminal goes to our process group, not to the server, which
    // the owner stops in order (pg_ctl stop) after the clients using it.
    const child = spawn(cmd, argv, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', PGTZ: 'UTC' } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${[cmd, ...argv].join(' ')} exited with ${code}:\n${output.trim()}`));
    });
  });
}

function serverLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'server.log'), 'utf8').slice(-4000);
  } catch {
    return '(no server log)';
  }
}
