// The PostgreSQL listener end to end: a real PostgreSQL server (password logins enforced), a real
// gateway with the listener on, a real `airlock-agent` holding the database login in its vault,
// and real clients: the `pg` driver and the `psql` binary. The password a client gives is an
// airlock token; the database password never leaves the agent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';
import { cstr, FrameReader, i32, message, PROTOCOL_3, readNotice, SSL_REQUEST } from '../../../lib/pg-wire.ts';
import { createLogger } from '../../../lib/log.ts';
import { startPostgres, type TestPostgres } from '../../support/postgres.ts';
import { AIRLOCK, AIRLOCK_AGENT, run, start, type Running } from '../../support/process.ts';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';

const USER = 'wire_user';
const PASSWORD = 'pg-Wire5ecret-4b1d-login';
const DB = 'airlock_wire';
const CARD = '4111 1111 1111 1111';
const gatewayLog: string[] = [];
let server: TestPostgres;
let admin: pg.Client;
let t: TestGateway;
let agent: Running;
let port: number;
let bob: string;
let alice: string;
let target: string;

function setSecret(config: string, connection: string, value: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRLOCK_')));
    const child = spawn(process.execPath, [AIRLOCK_AGENT, 'secrets', 'set', connection, '--type', 'postgres', '--stdin', '--config', config], { cwd: t.dir, env: { ...env, NODE_NO_WARNINGS: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => code === 0 ? resolve() : reject(new Error(`secrets set ${connection} exited with ${code}: ${stderr}`)));
    child.stdin.end(value);
  });
}

/** A pg client through the listener, logged in with `token`. */
async function client(token: string, database = 'shop'): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, database, user: 'bob', password: token, connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** `psql` through the listener: its exit code and what it printed. */
function psql(token: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', ...args], {
      env: { PATH: process.env.PATH, PGHOST: '127.0.0.1', PGPORT: String(port), PGDATABASE: 'shop', PGUSER: 'bob', PGPASSWORD: token, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(input ?? '');
  });
}

async function count(sql: string): Promise<number> {
  return Number((await admin.query<{ n: string }>(sql)).rows[0]!.n);
}

before(async () => {
  server = await startPostgres();
  const root = new pg.Client({ connectionString: server.url });
  await root.connect();
  await root.query(`DROP DATABASE IF EXISTS ${DB}`);
  await root.query(`CREATE DATABASE ${DB}`);
  await root.query(`DROP ROLE IF EXISTS ${USER}`);
  await root.query(`CREATE ROLE ${USER} LOGIN PASSWORD '${PASSWORD}'`);
  const { rows } = await root.query<{ hba_file: string }>('SHOW hba_file');
  await root.query(`COPY (VALUES ('local all all trust'), ('host all airlock 127.0.0.1/32 trust'), ('host all all 127.0.0.1/32 scram-sha-256')) TO '${rows[0]!.hba_file.replace(/'/g, "''")}'`);
  await root.query('SELECT pg_reload_conf()');
  await root.end();
  const url = new URL(server.url);
  const pgPort = Number(url.port);
  url.pathname = `/${DB}`;
  admin = new pg.Client({ connectionString: url.href });
  await admin.connect();
  await admin.query(`
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, card text);
    INSERT INTO customers VALUES (1, 'Ada', '${CARD}'), (2, 'Bob', NULL), (3, 'Cy', '5500 0000 0000 0004');
    CREATE TABLE notes (id serial PRIMARY KEY, body text);
    INSERT INTO notes (body) VALUES ('one'), ('two'), ('three');
    GRANT SELECT, INSERT, UPDATE, DELETE ON customers, notes TO ${USER};
    GRANT USAGE ON SEQUENCE notes_id_seq TO ${USER};
  `);

  t = await startTestGateway({
    logger: createLogger({ level: 'debug', write: (l) => { gatewayLog.push(l); } }),
    config: { postgres: { enabled: true, port: 0, maxSessionsPerIdentity: 4 } },
  });
  port = t.gw.postgresPort!;
  agent = await startTestAgent(t, 'edge', {
    allow: [`postgres://127.0.0.1:${pgPort}`],
    beforeStart: async (config) => {
      await setSecret(config, 'shop', `${USER}:${PASSWORD}`);
      await setSecret(config, 'budget', `${USER}:${PASSWORD}`);
      await setSecret(config, 'masked-in', `${USER}:${PASSWORD}`);
    },
  });
  target = `postgres://127.0.0.1:${pgPort}/${DB}`;
  alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  // Secrets may not be written into the database (COPY data, parameters): refused on the way in.
  const noSecrets = join(t.dir, 'no-secrets-in.yaml');
  writeFileSync(noSecrets, 'name: no-secrets-in\nrules:\n  - id: secrets-in\n    match: { directions: [request], findings: [\'secret.*\'] }\n    action: deny\n    reason: secret.write\n    message: Secrets are not written to this database.\n');
  const r = await t.call('POST', '/api/v1/connections', alice, { name: 'shop', kind: 'postgres', agent: 'edge', target: `postgres://127.0.0.1:${pgPort}/${DB}`, groups: ['developers'], policy: { files: [noSecrets] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  // Two rows holding PII per person per hour on `budget`; past that, statements are refused.
  const budget = join(t.dir, 'budget.yaml');
  writeFileSync(budget, 'name: budget\nlimits:\n  - name: card_rows\n    kind: egress\n    count: records\n    max: 2\n    window: 3600\n    key: [identity, connection]\n    action: deny\n    message: Two rows with personal data per hour.\n');
  const b = await t.call('POST', '/api/v1/connections', alice, { name: 'budget', kind: 'postgres', agent: 'edge', target: `postgres://127.0.0.1:${pgPort}/${DB}`, groups: ['developers'], policy: { files: [budget] } });
  assert.equal(b.status, 201, JSON.stringify(b.body));
  // PII written into the database is masked on the way in (a parameter leaves masked).
  const maskIn = join(t.dir, 'mask-in.yaml');
  writeFileSync(maskIn, 'name: mask-in\nrules:\n  - id: mask-in\n    match: { directions: [request], findings: [\'pii.*\'] }\n    action: mask\n    reason: pii.in\n    mask: { CREDIT_CARD: partial }\n');
  const m = await t.call('POST', '/api/v1/connections', alice, { name: 'masked-in', kind: 'postgres', agent: 'edge', target: `postgres://127.0.0.1:${pgPort}/${DB}`, groups: ['developers'], policy: { files: [maskIn] } });
  assert.equal(m.status, 201, JSON.stringify(m.body));
  const h = await t.call('POST', '/api/v1/connections', alice, { name: 'site', kind: 'http', agent: 'edge', target: 'http://127.0.0.1:9/api', groups: ['developers'] });
  assert.equal(h.status, 201, JSON.stringify(h.body));
});

after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await admin?.end().catch(() => {});
  await server?.stop();
});

test('a SELECT through the listener: card numbers masked by value, also when an expression hides the column', async () => {
  const c = await client(bob);
  try {
    const { rows, fields } = await c.query('SELECT id, card, reverse(card) AS r, replace(card, \' \', \'\') AS flat FROM customers ORDER BY id');
    assert.deepEqual(fields.map((f) => f.name), ['id', 'card', 'r', 'flat']);
    assert.equal(rows.length, 3);
    const all = JSON.stringify(rows);
    for (const leaked of ['4111 1111 1111 1111', '4111111111111111', '1111 1111 1111 1114', '5500000000000004']) assert.ok(!all.includes(leaked), `${leaked} left the gateway: ${all}`);
    assert.equal(rows[0].card, '[CREDIT_CARD …1111]');
    assert.equal(rows[0].flat, '[CREDIT_CARD …1111]');
    assert.match(String(rows[0].r), /^\[CREDIT_CARD …\d{4}\]$/); // the reversed reading, masked
    assert.equal(rows[2].card, '[CREDIT_CARD …0004]');
    assert.equal(rows[1].card, null);
    assert.equal(rows[0].id, 1); // untouched values keep their type
  } finally {
    await c.end();
  }
  assert.ok(!gatewayLog.join('\n').includes(PASSWORD), 'the database password never reaches the gateway');
});

test('psql: the same SELECT prints masked cards', async () => {
  const out = await psql(bob, ['-A', '-t', '-c', 'SELECT card FROM customers WHERE id = 1']);
  assert.equal(out.code, 0, out.stderr);
  assert.ok(!out.stdout.includes('4111 1111 1111 1111'));
  assert.equal(out.stdout.trim(), '[CREDIT_CARD …1111]');
});

test('a DROP inside a transaction is refused with 42501 and airlock\'s reason; the transaction then rolls back cleanly', async () => {
  const c = await client(bob);
  try {
    await c.query('BEGIN');
    await c.query('INSERT INTO notes (body) VALUES (\'in the transaction\')');
    const err = await c.query('DROP TABLE notes').then(() => assert.fail('DROP passed'), (e: pg.DatabaseError) => e);
    assert.equal(err.code, '42501');
    assert.match(err.message, /^airlock: The request on connection shop was refused by policy \(sql\.drop\): DROP and TRUNCATE are refused through airlock; ask a database owner to run them\. \(GW_POLICY_DENIED\)$/);
    // As after any error in PostgreSQL: the block is aborted until it ends.
    const aborted = await c.query('SELECT 1').then(() => assert.fail('the aborted block ran a statement'), (e: pg.DatabaseError) => e);
    assert.equal(aborted.code, '25P02');
    const end = await c.query('COMMIT');
    assert.equal(end.command, 'ROLLBACK'); // COMMIT of a failed block rolls back, as PostgreSQL does
    assert.equal(await count('SELECT count(*) AS n FROM notes WHERE body = \'in the transaction\''), 0);
    assert.equal(await count('SELECT count(*) AS n FROM notes'), 3);
    const after = await c.query('SELECT count(*)::int AS n FROM notes');
    assert.equal(after.rows[0].n, 3); // the session goes on
  } finally {
    await c.end();
  }
});

test('prepared statements with parameters: values bound and judged; a Bind to a statement not parsed here is refused', async () => {
  const c = await client(bob);
  try {
    const r = await c.query({ name: 'by-id', text: 'SELECT name FROM customers WHERE id = $1', values: [3] });
    assert.deepEqual(r.rows, [{ name: 'Cy' }]);
    const again = await c.query({ name: 'by-id', text: 'SELECT name FROM customers WHERE id = $1', values: [1] });
    assert.deepEqual(again.rows, [{ name: 'Ada' }]);
    const ins = await c.query('INSERT INTO notes (body) VALUES ($1) RETURNING id', ['four']);
    assert.equal(ins.rowCount, 1);
    const denied = await c.query('SELECT $1::text AS x FROM pg_sleep(0) WHERE false; DROP TABLE notes').then(() => assert.fail('passed'), (e: pg.DatabaseError) => e);
    assert.equal(denied.code, '42501');
    // The connection is usable after a refusal in the extended protocol too.
    const dropped = await c.query('DROP TABLE notes', []).then(() => assert.fail('passed'), (e: pg.DatabaseError) => e);
    assert.equal(dropped.code, '42501');
    assert.match(dropped.message, /\(GW_POLICY_DENIED\)$/);
    const ok = await c.query('SELECT count(*)::int AS n FROM notes WHERE id > $1', [0]);
    assert.equal(ok.rows[0].n, 4);
  } finally {
    await c.end();
  }
  // A Bind to a statement this session did not Parse (one from SQL PREPARE, or none) is refused; the session goes on.
  const rfq = Buffer.from([0x5a, 0, 0, 0, 5]);
  const times = (g: Buffer) => { let n = 0; for (let i = g.indexOf(rfq); i !== -1; i = g.indexOf(rfq, i + 1)) n++; return n; };
  const bind = message('B', cstr(''), cstr('elsewhere'), Buffer.alloc(2), Buffer.alloc(2), Buffer.alloc(2));
  const got = await raw([startupPacket({ user: 'bob', database: 'shop' }), message('p', cstr(bob)), Buffer.concat([bind, message('E', cstr(''), i32(0)), message('S')]), message('X')],
    { stepwise: true, until: (g, next) => next === 1 || times(g) === next - 1 });
  const e = errorIn(got.subarray(got.indexOf(rfq) + 6));
  assert.equal(e.S, 'ERROR');
  assert.equal(e.C, '0A000');
  assert.equal(e.M, 'airlock: Statement "elsewhere" was not prepared by a Parse of this session (a statement from PREPARE runs with EXECUTE, which is judged as SQL). (GW_PG_UNSUPPORTED)');
  assert.equal(times(got), 2, 'ReadyForQuery after the refusal: the session goes on');
});

test('an unbounded DELETE is held for review (NoticeResponse naming the review) and runs once approved', async () => {
  const c = await client(bob);
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  try {
    const held = c.query('DELETE FROM notes');
    const review = await eventually(async () => {
      const pending = (await t.call('GET', '/api/v1/reviews?status=pending', alice)).body.reviews as Array<{ id: string; detail: { sql?: string } }>;
      return pending.find((r) => r.detail.sql === 'DELETE FROM notes');
    }, 10_000, 'a pending review of the DELETE');
    await eventually(() => notices.length > 0 || undefined, 5000, 'the notice');
    assert.equal(notices[0], `airlock: held for review ${review.id}; approve with \`airlock reviews approve ${review.id}\`. The statement runs once it is approved.`);
    assert.equal(await count('SELECT count(*) AS n FROM notes'), 4); // nothing ran yet
    const approved = await t.call('POST', `/api/v1/reviews/${review.id}/approve`, alice, {});
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const result = await held;
    assert.equal(result.command, 'DELETE');
    assert.equal(result.rowCount, 4);
    assert.equal(await count('SELECT count(*) AS n FROM notes'), 0);
  } finally {
    await c.end();
  }
});

test('login refusals: a bad token (28P01), an unknown or non-postgres connection (3D000, 0A000), each with airlock\'s code', async () => {
  const bad = await client('not-a-token').then(() => assert.fail('logged in'), (e: pg.DatabaseError) => e);
  assert.equal(bad.code, '28P01');
  assert.match(bad.message, /^airlock: .*\(GW_TOKEN_INVALID\)$/);
  const unknown = await client(bob, 'nowhere').then(() => assert.fail('logged in'), (e: pg.DatabaseError) => e);
  assert.equal(unknown.code, '3D000');
  assert.match(unknown.message, /\(GW_CONNECTION_NOT_FOUND\)$/);
  const http = await client(bob, 'site').then(() => assert.fail('logged in'), (e: pg.DatabaseError) => e);
  assert.equal(http.code, '0A000');
  assert.equal(http.message, 'airlock: Connection site is of kind http; the PostgreSQL listener serves postgres connections only. (GW_PG_UNSUPPORTED)');
});

test('a psql session replays as a transcript (SQL, decisions, masked rows) and verifies', async () => {
  const out = await psql(bob, ['-c', 'SELECT id, card FROM customers WHERE id = 1', '-c', 'DROP TABLE customers'], '');
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /ERROR: {2}airlock: The request on connection shop was refused by policy \(sql\.drop\)/);
  const env = { AIRLOCK_GATEWAY: t.gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'cli-config'), AIRLOCK_TOKEN: alice };
  const id = await eventually(async () => {
    const sessions = await t.gw.store.sessions.list({ connection: 'shop', limit: 100 });
    for (const s of sessions) {
      const events = await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 });
      if (events.some((e) => e.type === 'pg.query' && (e.payload as { body?: string }).body === 'DROP TABLE customers') && events.at(-1)?.type === 'session.end') return s.id;
    }
    return undefined;
  }, 10_000, 'the ended psql session');
  const replay = await run(AIRLOCK, ['sessions', 'replay', id, '--speed', '0'], { env });
  assert.equal(replay.code, 0, replay.stderr);
  const text = replay.stdout.replace(/^\s*\+\d+\.\d{3}s {2}/gm, '');
  assert.match(text, /^session start {2}bob on shop \(postgres, PostgreSQL protocol from psql\)$/m);
  assert.match(text, /^→ query\n\s+SELECT id, card FROM customers WHERE id = 1$/m);
  assert.match(text, /^← SELECT 1: 1 row, 1 masked \(\d+ ms\)\n\s+\[\["1","\[CREDIT_CARD …1111\]"\]\]$/m);
  assert.match(text, /^→ query \[withheld\]\n\s+DROP TABLE customers$/m);
  assert.match(text, /^ {2}decision deny \(request\): sql\.drop$/m);
  assert.ok(!replay.stdout.includes('4111 1111 1111 1111'));
  const ok = await run(AIRLOCK, ['sessions', 'verify', id], { env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^OK: session ${id} \\(ended\\): \\d+ events chained`));
});

test('the session is recorded: statements, decisions and masked results', async () => {
  const c = await client(bob);
  await c.query('SELECT card FROM customers WHERE id = 1');
  await c.end();
  const sessions = await t.gw.store.sessions.list({ connection: 'shop', limit: 100 });
  const events = [];
  for (const s of sessions) events.push(...await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 }));
  const all = JSON.stringify(events);
  assert.ok(!all.includes('4111 1111 1111 1111'), 'no card in the recording');
  const types = new Set(events.map((e) => e.type));
  for (const type of ['pg.query', 'pg.result', 'decision']) assert.ok(types.has(type), `a ${type} event`);
  const result = events.find((e) => e.type === 'pg.result' && (e.payload as { command?: string }).command === 'SELECT 1');
  assert.ok(result, 'the SELECT\'s result');
});

/** A raw client: writes `chunks` in turn (each after the answer to the one before when `stepwise`), returns every byte the listener sent until it closed. */
function raw(chunks: Buffer[], options: { stepwise?: boolean; end?: boolean; until?: (got: Buffer, next: number) => boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    let i = 0;
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`the listener neither answered nor closed; got ${Buffer.concat(got).toString('hex')}`)); }, 10_000);
    socket.on('error', () => {});
    socket.on('connect', () => {
      if (options.stepwise) socket.write(chunks[i++]!);
      else for (const c of chunks) socket.write(c);
      if (options.end) socket.end(); // the client says no more: a partial message must not hold the listener
    });
    socket.on('data', (d: Buffer) => {
      got.push(d);
      if (options.stepwise && i < chunks.length && (options.until?.(Buffer.concat(got), i) ?? true)) socket.write(chunks[i++]!);
    });
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(got)); });
  });
}

const startupPacket = (params: Record<string, string>, protocol = PROTOCOL_3) => {
  const body = Buffer.concat([i32(protocol), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([i32(body.length + 4), body]);
};

/** The fields of the ErrorResponse in what the listener sent (after any one-byte SSL answer). */
function errorIn(bytes: Buffer): Record<string, string> {
  const frames = new FrameReader({ maxBytes: 1 << 20 });
  frames.push(bytes[0] === 0x4e ? bytes.subarray(1) : bytes);
  for (let f = frames.next(); f !== undefined; f = frames.next()) if (f.type === 0x45) return Object.fromEntries(readNotice(f.body));
  assert.fail(`no ErrorResponse in ${bytes.toString('hex')}`);
}

test('bad input before login: a coded FATAL ErrorResponse and a closed connection, never a crash', async () => {
  const oversize = errorIn(await raw([Buffer.concat([i32(1_000_000), i32(PROTOCOL_3)])]));
  assert.equal(oversize.C, '08P01');
  assert.equal(oversize.S, 'FATAL');
  assert.equal(oversize.M, 'airlock: The client broke the PostgreSQL protocol: a message of 1000000 bytes is larger than the 10000 bytes accepted. (GW_PG_PROTOCOL)');
  // Data behind SSLRequest, before its answer, would be read as if it had come through TLS.
  const smuggled = await raw([Buffer.concat([i32(8), i32(SSL_REQUEST), startupPacket({ user: 'bob', database: 'shop' })])]);
  assert.equal(errorIn(smuggled).M, 'airlock: The client broke the PostgreSQL protocol: the client sent data after its encryption request, before the answer. (GW_PG_PROTOCOL)');
  const v2 = errorIn(await raw([startupPacket({ user: 'bob' }, 0x20000)]));
  assert.equal(v2.C, '0A000');
  assert.match(v2.M!, /protocol 2\.0 .*\(GW_PG_UNSUPPORTED\)$/);
  const replication = errorIn(await raw([startupPacket({ user: 'bob', database: 'shop', replication: 'database' })]));
  assert.equal(replication.M, 'airlock: Replication connections are not taken through airlock. (GW_PG_UNSUPPORTED)');
  // Without TLS configured, SSLRequest is answered N and the startup goes on in the clear (loopback).
  const declined = await raw([Buffer.concat([i32(8), i32(SSL_REQUEST)]), startupPacket({ user: 'bob', database: 'shop' }), message('p', cstr('not-a-token'))], { stepwise: true });
  assert.equal(declined[0], 0x4e);
  assert.deepEqual(declined.subarray(1, 10), Buffer.concat([Buffer.from('R'), i32(8), i32(3)])); // AuthenticationCleartextPassword
  assert.equal(errorIn(declined.subarray(10)).C, '28P01');
  const wrongReply = errorIn(await raw([startupPacket({ user: 'bob', database: 'shop' }), message('Q', cstr('SELECT 1'))], { stepwise: true }));
  assert.equal(wrongReply.M, 'airlock: The client broke the PostgreSQL protocol: the client answered the password request with message type "Q". (GW_PG_PROTOCOL)');
  // Random bytes: every connection ends, and the listener still serves a real client after.
  for (let n = 0; n < 40; n++) await raw([randomBytes(1 + (n * 37) % 300)], { end: true });
  const c = await client(bob);
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  await c.end();
});

test('bad input after login: an unknown message type or a broken Bind ends the session with GW_PG_PROTOCOL', async () => {
  const login = [startupPacket({ user: 'bob', database: 'shop' }), message('p', cstr(bob))];
  const ready = (got: Buffer) => got.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])); // ReadyForQuery, idle
  for (const [bad, expected] of [
    [message('z', Buffer.from('??')), 'message type "z" is not one a client sends after startup'],
    [message('B', Buffer.concat([cstr(''), cstr('')])), 'a Bind message ends before its fields do'],
    [Buffer.concat([Buffer.from('Q'), i32(0x7ffffff0)]), 'a message of 2147483632 bytes is larger than the 8388612 bytes accepted'],
  ] as const) {
    const got = await raw([...login, bad], { stepwise: true, until: (g, next) => next === 1 || ready(g) });
    const e = errorIn(got.subarray(got.indexOf(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])) + 6));
    assert.equal(e.S, 'FATAL');
    assert.equal(e.C, '08P01');
    assert.equal(e.M, `airlock: The PostgreSQL protocol was broken: ${expected}. (GW_PG_PROTOCOL)`);
  }
});

test('COPY: data out masked; data in with a secret refused (CopyFail), nothing copied', async () => {
  const out = await psql(bob, ['-c', 'COPY (SELECT id, card FROM customers ORDER BY id) TO STDOUT']);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, '1\t[CREDIT_CARD …1111]\n2\t\\N\n3\t[CREDIT_CARD …0004]\n');
  const before = await count('SELECT count(*) AS n FROM notes');
  const refused = await psql(bob, ['-c', 'COPY notes (body) FROM STDIN'], 'harmless line\nkey AKIAZ7Q3WXLM4PD2HRT5 here\nlast line\n\\.\n');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /COPY from stdin failed: airlock refused the COPY data \(secret\.write\): Secrets are not written to this database\. \(GW_POLICY_DENIED\)/);
  assert.equal(await count('SELECT count(*) AS n FROM notes'), before);
  assert.equal(await count('SELECT count(*) AS n FROM notes WHERE body LIKE \'%AKIA%\''), 0);
  const fine = await psql(bob, ['-c', 'COPY notes (body) FROM STDIN'], 'plain one\nplain two\n\\.\n');
  assert.equal(fine.code, 0, fine.stderr);
  assert.equal(await count('SELECT count(*) AS n FROM notes'), before + 2);
  // A parameter carrying a secret is refused the same way.
  const c = await client(bob);
  const param = await c.query('INSERT INTO notes (body) VALUES ($1)', ['AKIAZ7Q3WXLM4PD2HRT5']).then(() => assert.fail('passed'), (e: pg.DatabaseError) => e);
  assert.equal(param.code, '42501');
  assert.match(param.message, /\(secret\.write\): Secrets are not written to this database\. \(GW_POLICY_DENIED\)$/);
  await c.end();
});

test('a cancel request stops a long pg_sleep on the right backend; the session goes on', async () => {
  const c = await client(bob);
  const other = await client(bob);
  try {
    const sleeping = c.query('SELECT pg_sleep(30)').then(() => assert.fail('the sleep was not cancelled'), (e: pg.DatabaseError) => e);
    const busy = other.query('SELECT pg_sleep(0.5) AS slept');
    await eventually(async () => (await count('SELECT count(*) AS n FROM pg_stat_activity WHERE query = \'SELECT pg_sleep(30)\' AND state = \'active\'')) === 1 || undefined, 10_000, 'the sleep running');
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    await raw([Buffer.concat([i32(16), i32(80877102), i32(processID), i32(secretKey)])], { end: true });
    const err = await sleeping;
    assert.equal(err.code, '57014');
    assert.equal(err.message, 'canceling statement due to user request');
    assert.deepEqual((await busy).rows, [{ slept: '' }]); // the other session was not touched
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
    // A wrong secret cancels nothing.
    const slow = c.query('SELECT pg_sleep(0.3) AS done');
    await raw([Buffer.concat([i32(16), i32(80877102), i32(processID), i32(secretKey ^ 1)])], { end: true });
    assert.deepEqual((await slow).rows, [{ done: '' }]);
  } finally {
    await c.end();
    await other.end();
  }
});

test('the agent killed mid-query: the client gets a clear error at once, no hang', async () => {
  const second = await startTestAgent(t, 'edge-b', {
    allow: [target.slice(0, target.lastIndexOf('/'))],
    beforeStart: (config) => setSecret(config, 'shop-b', `${USER}:${PASSWORD}`),
  });
  const r = await t.call('POST', '/api/v1/connections', alice, { name: 'shop-b', kind: 'postgres', agent: 'edge-b', target, groups: ['developers'] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const c = await client(bob, 'shop-b');
  const failed = c.query('SELECT pg_sleep(30)').then(() => assert.fail('the query finished'), (e: pg.DatabaseError) => e);
  await eventually(async () => (await count('SELECT count(*) AS n FROM pg_stat_activity WHERE query = \'SELECT pg_sleep(30)\' AND state = \'active\'')) >= 1 || undefined, 10_000, 'the sleep running');
  await second.stop('SIGKILL');
  const err = await failed;
  assert.equal(err.code, '08006');
  assert.match(err.message, /^airlock: The database session on connection shop-b was lost \(the agent or the database went away.*\); reconnect\. \(GW_UPSTREAM_FAILED\)$/);
  await c.end().catch(() => {});
});

test('egress budgets count the rows with PII that left: past the budget, the next statement is refused (53400)', async () => {
  const c = await client(bob, 'budget');
  try {
    const first = await c.query('SELECT id, card FROM customers ORDER BY id');
    assert.equal(first.rows.length, 3); // two of them hold a card: the budget is spent
    assert.equal(first.rows[0].card, '[CREDIT_CARD …1111]');
    const over = await c.query('SELECT 1').then(() => assert.fail('passed'), (e: pg.DatabaseError) => e);
    assert.equal(over.code, '53400');
    assert.match(over.message, /^airlock: The request on connection budget is over limit card_rows: Two rows with personal data per hour\. Retry after \d+ s\. \(GW_LIMIT_EXCEEDED\)$/);
  } finally {
    await c.end();
  }
});

test('airlock connect: a local port where psql needs no password; --print gives the connection string', async () => {
  const env = { AIRLOCK_GATEWAY: t.gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'connect-config'), AIRLOCK_TOKEN: bob };
  const printed = await run(AIRLOCK, ['connect', 'shop', '--pg-port', String(port), '--print'], { env });
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(printed.stdout, `host=127.0.0.1 port=${port} dbname=shop sslmode=prefer\n`);
  assert.match(printed.stderr, /PGPASSWORD=\$\(airlock token\) psql/);
  const relay = start(AIRLOCK, ['connect', 'shop', '--pg-port', String(port)], { env });
  try {
    const local = await eventually(() => /port=(\d+) dbname=shop/.exec(relay.output().stdout)?.[1], 15_000, 'the local port');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // No password anywhere: the relay answers the gateway's login with the token.
      const child = spawn('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', local, '-U', 'whoever', '-d', 'anything', '-c', 'SELECT card FROM customers WHERE id = 1'], { env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '10' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(out.code, 0, `${out.stderr}\n${relay.output().stderr}`);
    assert.equal(out.stdout.trim(), '[CREDIT_CARD …1111]');
  } finally {
    await relay.stop('SIGTERM');
  }
});

test('a parameter policy masks leaves masked (the database stores the mask); a NOTIFY payload arrives masked', async () => {
  const c = await client(bob, 'masked-in');
  try {
    const ins = await c.query('INSERT INTO notes (body) VALUES ($1) RETURNING id', [`card ${CARD}`]);
    const id = ins.rows[0].id as number;
    const stored = (await admin.query<{ body: string }>('SELECT body FROM notes WHERE id = $1', [id])).rows[0]!.body;
    assert.equal(stored, 'card [CREDIT_CARD …1111]');
    // LISTEN changes session state (sql.other): it waits for a review, approved here.
    const listening = c.query('LISTEN airlock_test');
    const review = await eventually(async () => {
      const pending = (await t.call('GET', '/api/v1/reviews?status=pending', alice)).body.reviews as Array<{ id: string; detail: { sql?: string } }>;
      return pending.find((r) => r.detail.sql === 'LISTEN airlock_test');
    }, 10_000, 'the LISTEN review');
    assert.equal((await t.call('POST', `/api/v1/reviews/${review.id}/approve`, alice, {})).status, 200);
    await listening;
    const got = new Promise<string | undefined>((resolve) => c.once('notification', (n) => resolve(n.payload)));
    await admin.query(`NOTIFY airlock_test, 'pay with ${CARD}'`);
    assert.equal(await got, 'pay with [CREDIT_CARD …1111]');
  } finally {
    await c.end();
  }
});

test('access withdrawn while a session is idle: it ends at once with a FATAL 28000 GW_ACCESS_REVOKED', async () => {
  const c = await client(bob, 'budget');
  const ended = new Promise<pg.DatabaseError>((resolve) => c.once('error', (e) => resolve(e as pg.DatabaseError)));
  const patched = await t.call('PATCH', '/api/v1/connections/budget', alice, { groups: ['admins'] }, { 'if-match': '"1"' });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  const err = await ended;
  assert.equal(err.code, '28000');
  assert.match(err.message, /^airlock: You may no longer use connection "budget": .*\(GW_ACCESS_REVOKED\)$/);
  await c.end().catch(() => {});
});

test('COPY data: a secret split across two CopyData messages is still refused', async () => {
  const before = await count('SELECT count(*) AS n FROM notes');
  const rfq = Buffer.from([0x5a, 0, 0, 0, 5]);
  const times = (g: Buffer, needle: Buffer) => { let n = 0; for (let i = g.indexOf(needle); i !== -1; i = g.indexOf(needle, i + 1)) n++; return n; };
  const got = await raw([
    startupPacket({ user: 'bob', database: 'shop' }), message('p', cstr(bob)),
    message('Q', cstr('COPY notes (body) FROM STDIN')),
    Buffer.concat([message('d', Buffer.from('key AKIAZ7Q3')), message('d', Buffer.from('WXLM4PD2HRT5 here\n')), message('c')]),
    message('X'),
  ], { stepwise: true, until: (g, next) => next === 1 || (next === 2 && times(g, rfq) === 1) || (next === 3 && g.includes(Buffer.from([0x47, 0, 0, 0]))) || (next === 4 && times(g, rfq) === 2) });
  const e = errorIn(got.subarray(got.indexOf(Buffer.from([0x47, 0, 0, 0]))));
  assert.equal(e.C, '57014'); // query_canceled: the server's answer to CopyFail
  assert.equal(e.M, 'COPY from stdin failed: airlock refused the COPY data (secret.write): Secrets are not written to this database. (GW_POLICY_DENIED)');
  assert.equal(await count('SELECT count(*) AS n FROM notes'), before);
});

test('sessions per identity are capped (postgres.maxSessionsPerIdentity): the next login gets 53300 GW_TOO_MANY_REQUESTS', async () => {
  const open: pg.Client[] = [];
  try {
    for (let i = 0; i < 4; i++) open.push(await client(bob));
    const over = await client(bob).then(() => assert.fail('a fifth session'), (e: pg.DatabaseError) => e);
    assert.equal(over.code, '53300');
    assert.equal(over.message, 'airlock: bob already holds 4 PostgreSQL sessions on this gateway (postgres.maxSessionsPerIdentity); close one and connect again. (GW_TOO_MANY_REQUESTS)');
    const other = await client(alice); // another caller is not counted against bob
    await other.end();
    await open.pop()!.end();
    const again = await eventually(() => client(bob).catch(() => undefined), 5000, 'a session once one closed');
    open.push(again);
  } finally {
    for (const c of open) await c.end().catch(() => {});
  }
});
