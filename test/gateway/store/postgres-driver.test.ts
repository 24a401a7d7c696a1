// The PostgreSQL driver against a real server: a connection lost in the middle of a transaction,
// between two statements (while the transaction's own code runs), fails that transaction with a
// coded error instead of crashing the process (a checked-out connection has no pool listener).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openPostgresDriver } from '../../../gateway/store/postgres.ts';
import { silentLogger } from '../../../lib/log.ts';
import { createDatabase, startPostgres, type TestPostgres } from '../../support/postgres.ts';

let server: TestPostgres;
let url: string;
before(async () => {
  server = await startPostgres();
  url = await createDatabase(server, 'driver_lost');
});
after(() => server?.stop());

test('a connection terminated between two statements of a transaction rejects the transaction; the process lives and the next one works', async () => {
  const driver = await openPostgresDriver(url, { logger: silentLogger });
  const crashes: unknown[] = [];
  const onUncaught = (err: unknown) => { crashes.push(err); };
  process.on('uncaughtException', onUncaught);
  try {
    await assert.rejects(driver.transaction(async (tx) => {
      const [row] = await tx.query('SELECT pg_backend_pid() AS pid');
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query('SELECT pg_terminate_backend($1)', [Number(row!.pid)]);
      await admin.end();
      await new Promise((r) => setTimeout(r, 300)); // the server's goodbye arrives while no statement runs
      await tx.query('SELECT 1');
    }));
    assert.deepEqual(crashes, [], 'no uncaught error');
    assert.deepEqual(await driver.query('SELECT 2 AS two'), [{ two: 2 }], 'the pool gives a fresh connection');
  } finally {
    process.off('uncaughtException', onUncaught);
    await driver.close();
  }
});
