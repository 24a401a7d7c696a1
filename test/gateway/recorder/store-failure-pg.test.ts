// Fail closed on PostgreSQL: when the gateway's database connections are killed (and new ones
// refused), a request cannot be recorded, so it is refused with GW_RECORDING_FAILED and nothing
// reaches the target; once the database is back, requests are recorded and forwarded again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import type { Running } from '../../support/process.ts';
import { startPostgres, type TestPostgres } from '../../support/postgres.ts';
import { startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';

let server: TestPostgres;
let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
let hits = 0;

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

before(async () => {
  server = await startPostgres();
  await admin(server.url, 'CREATE DATABASE gw_failclosed');
  const dbUrl = server.url.replace(/\/postgres$/, '/gw_failclosed');
  target = createServer((req, res) => { hits++; req.resume(); res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'); });
  const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway({ config: { store: { url: dbUrl } } });
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const r = await t.call('POST', '/api/v1/connections', await t.token('alice', ['admins']), { name: 'demo', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'] });
  assert.equal(r.status, 201);
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close().catch(() => {});
  await new Promise<void>((r) => target.close(() => r()));
  await server?.stop();
});

test('killed PostgreSQL connections: the request is refused, nothing is forwarded; recording resumes when the database is back', async () => {
  const get = () => fetch(`${t.gw.url}/proxy/demo/items`, { headers: { authorization: `Bearer ${bob}` } });
  assert.equal((await get()).status, 200);
  const before = hits;
  await admin(server.url, 'ALTER DATABASE gw_failclosed WITH ALLOW_CONNECTIONS false');
  await admin(server.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'gw_failclosed'");
  try {
    const refused = await get();
    assert.equal(refused.status, 503);
    const body = await refused.json() as { error: { code: string } };
    assert.equal(body.error.code, 'GW_RECORDING_FAILED');
    assert.equal(hits, before, 'the target saw nothing');
  } finally {
    await admin(server.url, 'ALTER DATABASE gw_failclosed WITH ALLOW_CONNECTIONS true');
  }
  // The pool reconnects on its own; the same caller's next requests are recorded and forwarded.
  let ok = 0;
  for (let i = 0; i < 50 && ok === 0; i++) {
    const res = await fetch(`${t.gw.url}/proxy/demo/items`, { headers: { authorization: `Bearer ${bob}`, 'x-airlock-session': `after-${i}` } });
    if (res.status === 200) ok++;
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(ok, 1, 'recorded and forwarded once the database is back');
  assert.equal(hits, before + 1);
});
