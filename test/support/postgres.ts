// A real PostgreSQL server for tests: Debian's server binaries, `initdb` into a temp dir, `pg_ctl`
// on a free loopback port, trust auth, fsync off; `stop()` shuts it down and removes the dir.
// AIRLOCK_TEST_PG_URL points the tests at an existing server instead (it must allow CREATE DATABASE).
// Missing binaries are an error, never a skip: a green run must mean the PostgreSQL store was tested.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, appendFileSync, chmodSync, chownSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../lib/listen.ts';

export interface TestPostgres {
  /** Superuser URL of the server's `postgres` database, e.g. postgres://airlock@127.0.0.1:5433/postgres. */
  readonly url: string;
  /** Stops the server and removes its directory. Idempotent; a no-op for AIRLOCK_TEST_PG_URL. */
  stop(): Promise<void>;
}

const USER = 'airlock';
const START_TIMEOUT_S = 30;

export const MISSING_BINARIES_MESSAGE =
  'PostgreSQL server binaries not found (looked for initdb and pg_ctl on PATH and under /usr/lib/postgresql/*/bin). ' +
  'The PostgreSQL store tests need a real server: install them with `apt-get install -y postgresql` (CI\'s .ci/run does), ' +
  'or set AIRLOCK_TEST_PG_URL to a server where the test user may CREATE DATABASE.';

export async function startPostgres(): Promise<TestPostgres> {
  const external = process.env.AIRLOCK_TEST_PG_URL;
  if (external) return { url: external, stop: async () => {} };

  const bin = findServerBinaries();
  if (!bin) throw new Error(MISSING_BINARIES_MESSAGE);

  // initdb refuses to run as root; as root (containers, CI) the server runs as Debian's `postgres` user.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? systemUser('postgres') : undefined;
  if (asRoot && !owner) throw new Error('Running as root, but there is no `postgres` system user to run the test PostgreSQL server as; `apt-get install -y postgresql` creates it.');

  const dir = mkdtempSync(join(tmpdir(), 'airlock-pg-'));
  const data = join(dir, 'data');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, 0o700);
  const run = (file: string, args: string[]) => runAs(owner ? 'postgres' : undefined, join(bin, file), args, dir);

  let started = false;
  const stop = async () => {
    if (started) {
      started = false;
      process.removeListener('exit', killOnExit);
      await run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => {});
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // If the test process dies without stop(), do not leave a server behind.
  const killOnExit = () => {
    spawnSync(owner ? 'runuser' : join(bin, 'pg_ctl'), [...(owner ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []), '-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await run('initdb', ['-D', data, '-U', USER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const port = await freePort();
    appendFileSync(join(data, 'postgresql.conf'), [
      '',
      '# airlock test server: loopback only, throwaway data',
      `listen_addresses = '127.0.0.1'`,
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 100',
      '',
    ].join('\n'));
    process.on('exit', killOnExit);
    started = true;
    await run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', String(START_TIMEOUT_S), 'start']).catch((err: unknown) => {
      throw new Error(`the test PostgreSQL server did not start: ${(err as Error).message}\n${serverLog(dir)}`);
    });
    return { url: `postgres://${USER}@127.0.0.1:${port}/postgres`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The directory holding both initdb and pg_ctl: PATH first, then the highest /usr/lib/postgresql/<v>/bin. */
function findServerBinaries(): string | undefined {
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
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', PGTZ: 'UTC' } });
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

/** A fresh database `name` on `server` (a test's own store); its URL. */
export async function createDatabase(server: TestPostgres, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  try { await c.query(`CREATE DATABASE ${name}`); } finally { await c.end(); }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.href;
}
