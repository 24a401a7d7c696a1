// The demo database of `airlock dev`, when PostgreSQL's server binaries are installed: a throwaway
// cluster on loopback (lib/postgres-server.ts), made afresh on every start in <dataDir>/postgres
// (a temporary directory when running as root), holding a `customers` table with the same fake
// records as the demo HTTP service. Its login is a random password that only the dev agent's vault
// holds; the superuser logs in only over the cluster's private Unix socket, so from 127.0.0.1 the
// database is reached with the demo login (through the agent) and nothing else.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { findServerBinaries, startPostgresServer, type PostgresServer } from '../../lib/postgres-server.ts';
import { SEED_CUSTOMERS } from './demo-service.ts';

export interface DemoPostgres {
  /** The connection's target, e.g. postgres://127.0.0.1:41234/demo. */
  readonly target: string;
  /** The database login the agent's vault holds. */
  readonly login: { readonly username: string; readonly password: string };
  stop(): Promise<void>;
}

/** The login role and database name inside the demo cluster. */
const ROLE = 'demo';
const DATABASE = 'demo';

/** Starts the demo database, or returns undefined when PostgreSQL is not installed. */
export async function startDemoPostgres(dataDir: string): Promise<DemoPostgres | undefined> {
  const bin = findServerBinaries();
  if (bin === undefined) return undefined;
  const server = await startPostgresServer(bin, {
    dir: join(dataDir, 'postgres'),
    hba: ['local all all trust', 'host all all 127.0.0.1/32 scram-sha-256'],
  });
  try {
    // base64url: safe inside a SQL string literal (CREATE ROLE takes no parameters).
    const password = randomBytes(24).toString('base64url');
    await withClient(server, 'postgres', async (c) => {
      await c.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${password}'`);
      await c.query(`CREATE DATABASE ${DATABASE}`);
    });
    // The superuser owns the table; the demo login may read and write rows, not drop the table,
    // so the database would refuse a DROP too, should a policy ever let one through.
    await withClient(server, DATABASE, async (c) => {
      await c.query('CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, phone text, ssn text, card text, plan text)');
      for (const r of SEED_CUSTOMERS) {
        await c.query('INSERT INTO customers (id, name, email, phone, ssn, card, plan) VALUES ($1, $2, $3, $4, $5, $6, $7)', [r.id, r.name, r.email, r.phone, r.ssn, r.card, r.plan]);
      }
      await c.query(`SELECT setval('customers_id_seq', ${SEED_CUSTOMERS.length})`);
      await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO ${ROLE}; GRANT USAGE ON SEQUENCE customers_id_seq TO ${ROLE}`);
    });
    return { target: `postgres://127.0.0.1:${server.port}/${DATABASE}`, login: { username: ROLE, password }, stop: server.stop };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** A superuser session over the cluster's Unix socket (named after its port). */
async function withClient(server: PostgresServer, database: string, use: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database });
  await c.connect();
  try {
    await use(c);
  } finally {
    await c.end();
  }
}
