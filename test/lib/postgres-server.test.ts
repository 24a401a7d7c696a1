// The throwaway PostgreSQL server that the tests and `airlock dev`'s demo database share
// (lib/postgres-server.ts), with Debian's real server binaries: its pg_hba lines are the ones
// given, and a server that a killed process left behind in its directory is stopped by the next
// start there instead of holding its port forever.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findServerBinaries, startPostgresServer } from '../../lib/postgres-server.ts';
import { MISSING_BINARIES_MESSAGE } from '../support/postgres.ts';

const parent = mkdtempSync(join(tmpdir(), 'airlock-pgserver-'));
after(() => rmSync(parent, { recursive: true, force: true }));

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

test('hba lines as given; a server left running in the directory is stopped by the next start', async () => {
  const bin = findServerBinaries();
  assert.ok(bin, MISSING_BINARIES_MESSAGE);
  const dir = join(parent, 'pg');
  const hba = ['local all all trust', 'host all all 127.0.0.1/32 scram-sha-256'];
  const first = await startPostgresServer(bin, { dir, hba });
  // The superuser has no password: refused over TCP, let in over the private socket.
  const tcp = new pg.Client({ host: '127.0.0.1', port: first.port, user: first.user, database: 'postgres', password: 'x' });
  await assert.rejects(tcp.connect(), /password authentication failed for user "airlock"/);
  const socket = new pg.Client({ host: first.socketDir, port: first.port, user: first.user, database: 'postgres' });
  await socket.connect();
  assert.equal((await socket.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n, 1);
  await socket.end();
  const firstDir = readFileSync(join(dir, 'server-dir'), 'utf8');

  // As if the owner was killed without stop(): the next start in the same directory ends it.
  const second = await startPostgresServer(bin, { dir, hba });
  assert.equal(await accepting(first.port), false, 'the left-over server was stopped');
  assert.equal(firstDir === dir || !existsSync(firstDir), true, 'and its directory removed');
  assert.equal(await accepting(second.port), true);
  await second.stop();
  assert.equal(await accepting(second.port), false);
  assert.equal(existsSync(dir), false);
  await first.stop(); // idempotent once its server is gone
});
