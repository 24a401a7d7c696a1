// A real PostgreSQL server for tests (lib/postgres-server.ts): Debian's server binaries, `initdb`
// into a temp dir, `pg_ctl` on a free loopback port, trust auth, fsync off; `stop()` shuts it down
// and removes the dir. AIRLOCK_TEST_PG_URL points the tests at an existing server instead (it must
// allow CREATE DATABASE). Missing binaries are an error, never a skip: a green run must mean the
// PostgreSQL store was tested.
import { findServerBinaries, startPostgresServer } from '../../lib/postgres-server.ts';
import pg from 'pg';

export interface TestPostgres {
  /** Superuser URL of the server's `postgres` database, e.g. postgres://airlock@127.0.0.1:5433/postgres. */
  readonly url: string;
  /** Stops the server and removes its directory. Idempotent; a no-op for AIRLOCK_TEST_PG_URL. */
  stop(): Promise<void>;
}

export const MISSING_BINARIES_MESSAGE =
  'PostgreSQL server binaries not found (looked for initdb and pg_ctl on PATH and under /usr/lib/postgresql/*/bin). ' +
  'The PostgreSQL store tests need a real server: install them with `apt-get install -y postgresql` (CI\'s .ci/run does), ' +
  'or set AIRLOCK_TEST_PG_URL to a server where the test user may CREATE DATABASE.';

export async function startPostgres(): Promise<TestPostgres> {
  const external = process.env.AIRLOCK_TEST_PG_URL;
  if (external) return { url: external, stop: async () => {} };

  const bin = findServerBinaries();
  if (!bin) throw new Error(MISSING_BINARIES_MESSAGE);
  const server = await startPostgresServer(bin);
  return { url: server.url, stop: server.stop };
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
