// The built-in postgres tools end to end: a real PostgreSQL server (password logins enforced), a
// real gateway, a real `airlock-agent` process holding the database login in its vault, and the
// gateway's source (gateway/mcp/postgres.ts) called over the agent's tunnel as the MCP server
// calls it. Writes are refused by `query` twice over: by classification at the gateway, and by
// the read-only transaction at the agent (exercised directly on the pg-tool stream). The
// password appears in no log line of either process.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import pg from 'pg';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '../../../gateway/authn/identity.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { scanDescription } from '../../../gateway/mcp/description.ts';
import { postgresSource, POSTGRES_TOOLS } from '../../../gateway/mcp/postgres.ts';
import type { ToolSource } from '../../../gateway/mcp/source.ts';
import { freePort } from '../../../lib/listen.ts';
import { createLogger, silentLogger } from '../../../lib/log.ts';
import { startPostgres, type TestPostgres } from '../../support/postgres.ts';
import { AIRLOCK_AGENT, type Running } from '../../support/process.ts';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';

const USER = 'tools_user';
const PASSWORD = 'pg-Sup3rSecret-7f3a-login';
const WRONG = 'pg-Wr0ngSecret-91bc-login';
const DB = 'airlock_tools';
const gatewayLog: string[] = [];
let server: TestPostgres;
let admin: pg.Client;
let t: TestGateway;
let agent: Running;
let pgPort: number;
let target: string;
const sources = new Map<string, ToolSource>();

const bob: Identity = { sub: 'bob', email: 'bob@airlock.dev', name: null, groups: ['developers'], roles: ['user'], via: 'oidc', tokenId: null, expiresAt: null, scopes: [], connections: null };

/** `airlock-agent secrets set CONNECTION --type postgres --stdin`, the value on standard input. */
function setSecret(config: string, connection: string, value: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRLOCK_')));
    const child = spawn(process.execPath, [AIRLOCK_AGENT, 'secrets', 'set', connection, '--type', 'postgres', '--stdin', '--config', config], { cwd: t.dir, env: { ...env, NODE_NO_WARNINGS: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`secrets set ${connection} exited with ${code}: ${stderr}`));
    });
    child.stdin.end(value);
  });
}

async function canLogIn(password: string): Promise<boolean> {
  const c = new pg.Client({ host: '127.0.0.1', port: pgPort, database: DB, user: USER, password, connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * The test server trusts every login; the tools' user must give its password, as in production,
 * or a wrong password would pass unnoticed. The superuser (setup) keeps trust on loopback.
 */
async function requirePasswords(): Promise<void> {
  if (!(await canLogIn(WRONG))) return;
  const { rows } = await admin.query<{ hba_file: string }>('SHOW hba_file');
  const file = rows[0]!.hba_file.replace(/'/g, "''");
  await admin.query(`COPY (VALUES ('local all all trust'), ('host all airlock 127.0.0.1/32 trust'), ('host all all 127.0.0.1/32 scram-sha-256')) TO '${file}'`);
  await admin.query('SELECT pg_reload_conf()');
  await eventually(async () => ((await canLogIn(WRONG)) ? undefined : true), 10_000, 'password logins enforced');
  assert.ok(await canLogIn(PASSWORD), 'the right password logs in');
}

async function connection(name: string, body: Record<string, unknown> = {}): Promise<void> {
  const alice = await t.token('alice', ['admins']);
  const r = await t.call('POST', '/api/v1/connections', alice, { name, kind: 'postgres', agent: 'edge', target, groups: ['developers'], ...body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function source(name: string): Promise<ToolSource> {
  let s = sources.get(name);
  if (s === undefined) {
    const conn = t.gw.connections.get(name) ?? assert.fail(`no connection ${name}`);
    s = await postgresSource({ connection: conn, identity: bob, openStream: (agentName, header) => t.gw.agents.open(agentName, header), logger: silentLogger });
    sources.set(name, s);
  }
  return s;
}

let calls = 0;
async function call(conn: string, tool: string, args: Record<string, unknown>, signal = new AbortController().signal): Promise<CallToolResult> {
  return (await source(conn)).callTool(tool, args, { signal, requestId: `req-${++calls}` });
}

function textOf(result: CallToolResult): string {
  const block = result.content[0];
  assert.equal(block?.type, 'text');
  return (block as { text: string }).text;
}

/** A successful result: its text is the JSON of its structuredContent. */
function rowsOf(result: CallToolResult): { columns: string[]; rows: unknown[][]; rowCount: number; truncated: boolean; command: string | null } {
  assert.notEqual(result.isError, true, textOf(result));
  assert.deepEqual(JSON.parse(textOf(result)), result.structuredContent);
  return result.structuredContent as ReturnType<typeof rowsOf>;
}

/** The agent's own answer on a raw pg-tool stream, bypassing the gateway's classification. */
async function agentOp(request: unknown, header: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const stream = t.gw.agents.open('edge', { kind: 'pg-tool', connection: 'shop', target: `${target}`, caller: 'bob', requestId: `raw-${++calls}`, ...header });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => { stream.once('end', resolve); stream.once('error', reject); });
  stream.end(typeof request === 'string' ? request : JSON.stringify(request));
  await ended;
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>;
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
  await root.end();
  const url = new URL(server.url);
  pgPort = Number(url.port);
  url.pathname = `/${DB}`;
  admin = new pg.Client({ connectionString: url.href });
  await admin.connect();
  await admin.query(`
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, since date DEFAULT '2024-01-01');
    COMMENT ON TABLE customers IS 'People who buy';
    COMMENT ON COLUMN customers.email IS 'Where invoices go';
    INSERT INTO customers (id, name, email) VALUES (1, 'Ada', 'ada@example.com'), (2, 'Bob', NULL), (3, 'Cy', 'cy@example.com');
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), total numeric(10, 2) NOT NULL DEFAULT 0);
    INSERT INTO orders VALUES (10, 1, 250.00), (11, 3, 20.50);
    CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
    CREATE TABLE numbers (n int);
    CREATE TABLE hidden (x int);
    CREATE SCHEMA sales;
    CREATE TABLE sales.leads (id int);
    CREATE SEQUENCE counter;
    GRANT USAGE ON SCHEMA sales TO ${USER};
    GRANT SELECT, INSERT, UPDATE, DELETE ON customers, orders, big_orders, numbers, sales.leads TO ${USER};
    GRANT USAGE, SELECT, UPDATE ON SEQUENCE counter TO ${USER};
  `);
  await requirePasswords();

  const downPort = await freePort();
  target = `postgres://127.0.0.1:${pgPort}/${DB}`;
  t = await startTestGateway({ logger: createLogger({ level: 'debug', write: (l) => { gatewayLog.push(l); } }) });
  agent = await startTestAgent(t, 'edge', {
    allow: [`postgres://127.0.0.1:${pgPort}`, `postgres://127.0.0.1:${downPort}`],
    config: ['log: { level: debug }'],
    beforeStart: async (config) => {
      await setSecret(config, 'shop', `${USER}:${PASSWORD}`);
      await setSecret(config, 'slow', `${USER}:${PASSWORD}`);
      await setSecret(config, 'badlogin', `${USER}:${WRONG}`);
      await setSecret(config, 'down', `${USER}:${PASSWORD}`);
      await setSecret(config, 'elsewhere', `${USER}:${PASSWORD}`);
    },
  });
  await connection('shop');
  await connection('slow', { limits: { timeouts: { firstByteMs: 500 } } });
  await connection('badlogin');
  await connection('nocred');
  await connection('down', { target: `postgres://127.0.0.1:${downPort}/${DB}` });
  await connection('elsewhere', { target: `postgres://127.0.0.2:${pgPort}/${DB}` });
});

after(async () => {
  for (const s of sources.values()) await s.close();
  await agent?.stop('SIGTERM');
  await t?.close();
  await admin?.end().catch(() => {});
  await server?.stop();
});

test('four tools: schemas closed, query read-only and execute destructive by annotation, descriptions free of hidden or instruction-like text', async () => {
  const tools = await (await source('shop')).listTools();
  assert.deepEqual(tools.map((tool) => tool.name), ['query', 'execute', 'list_tables', 'describe_table']);
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  assert.equal(byName.get('query')!.annotations?.readOnlyHint, true);
  assert.equal(byName.get('execute')!.annotations?.readOnlyHint, false);
  assert.equal(byName.get('execute')!.annotations?.destructiveHint, true);
  assert.deepEqual(byName.get('query')!.inputSchema.required, ['sql']);
  assert.deepEqual(byName.get('describe_table')!.inputSchema.required, ['table']);
  for (const tool of tools) {
    assert.equal(tool.inputSchema.additionalProperties, false, tool.name);
    assert.deepEqual(scanDescription(tool.description!), [], tool.name);
    for (const [prop, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
      assert.deepEqual(scanDescription(String((schema as { description?: string }).description)), [], `${tool.name}.${prop}`);
    }
  }
  assert.equal(tools.length, POSTGRES_TOOLS.length);
});

test('list_tables shows what the login may use, every schema or one; describe_table gives columns, keys, references and comments', async () => {
  const all = rowsOf(await call('shop', 'list_tables', {}));
  assert.deepEqual(all.columns, ['schema', 'name', 'type', 'comment']);
  assert.deepEqual(all.rows, [
    ['public', 'big_orders', 'view', null],
    ['public', 'customers', 'table', 'People who buy'],
    ['public', 'numbers', 'table', null],
    ['public', 'orders', 'table', null],
    ['sales', 'leads', 'table', null],
  ]);
  assert.equal(all.truncated, false);
  assert.deepEqual(rowsOf(await call('shop', 'list_tables', { schema: 'sales' })).rows, [['sales', 'leads', 'table', null]]);

  const customers = rowsOf(await call('shop', 'describe_table', { table: 'customers' }));
  assert.deepEqual(customers.columns, ['column', 'type', 'nullable', 'default', 'primary_key', 'references', 'comment']);
  assert.deepEqual(customers.rows, [
    ['id', 'integer', false, null, true, null, null],
    ['name', 'text', false, null, false, null, null],
    ['email', 'text', true, null, false, null, 'Where invoices go'],
    ['since', 'date', true, '\'2024-01-01\'::date', false, null, null],
  ]);
  const orders = rowsOf(await call('shop', 'describe_table', { table: 'orders', schema: 'public' }));
  assert.deepEqual(orders.rows[1], ['customer_id', 'integer', false, null, false, 'public.customers(id)', null]);
  assert.deepEqual(orders.rows[2]!.slice(0, 4), ['total', 'numeric(10,2)', false, '0']);

  const missing = await call('shop', 'describe_table', { table: 'leads' }); // not on the search path
  assert.equal(missing.isError, true);
  assert.match(textOf(missing), /^airlock: No table or view "leads" on the search path that the connection's login can see; list_tables shows them\. \(GW_DATABASE_ERROR\)$/);
  assert.equal(rowsOf(await call('shop', 'describe_table', { table: 'leads', schema: 'sales' })).rows.length, 1);
});

test('query returns rows with bind parameters; values come back exactly (integers and booleans as JSON, int8, numeric and dates as text)', async () => {
  const r = rowsOf(await call('shop', 'query', { sql: 'SELECT id, name, email FROM customers WHERE id <= $1 ORDER BY id', params: [2] }));
  assert.deepEqual(r, { columns: ['id', 'name', 'email'], rows: [[1, 'Ada', 'ada@example.com'], [2, 'Bob', null]], rowCount: 2, truncated: false, command: 'SELECT' });

  const typed = rowsOf(await call('shop', 'query', {
    sql: `SELECT 7::int AS i, 9007199254740993::int8 AS big, 1.10::numeric AS n, true AS ok, '{"a": [1]}'::jsonb AS j, DATE '2024-02-29' AS d, NULL::text AS z, $1::int[] AS arr`,
    params: [[1, 2]],
  }));
  assert.deepEqual(typed.rows, [[7, '9007199254740993', '1.10', true, { a: [1] }, '2024-02-29', null, '{1,2}']]);

  const any = rowsOf(await call('shop', 'query', { sql: 'SELECT name FROM customers WHERE id = ANY($1) ORDER BY id', params: [[1, 3]] }));
  assert.deepEqual(any.rows, [['Ada'], ['Cy']]);
});

test('query refuses what does not classify as one read: a DELETE, a write after a SELECT, a data-modifying CTE; nothing reaches the agent', async () => {
  const before = await count('SELECT count(*) AS n FROM customers');
  const toolLines = () => (agent.output().stdout.match(/"msg":"postgres tool/g) ?? []).length;
  const linesBefore = toolLines();
  for (const [sql, kinds] of [
    ['DELETE FROM customers', /classified as sql\.write\.unbounded/],
    ['SELECT 1; DELETE FROM customers', /classified as sql\.multi_statement, sql\.write\.unbounded/],
    ['WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d', /classified as sql\.write\.unbounded/],
    ['UPDATE customers SET name = $1 WHERE id = 1', /classified as sql\.write \(/],
  ] as const) {
    const r = await call('shop', 'query', { sql, params: sql.includes('$1') ? ['x'] : undefined });
    assert.equal(r.isError, true, sql);
    const text = textOf(r);
    assert.match(text, /^airlock: query runs only one statement that reads, and it was classified as /, sql);
    assert.match(text, kinds, sql);
    assert.match(text, /Send statements that change data or schema with the execute tool, which the connection's policies check\. \(GW_SQL_NOT_READ_ONLY\)$/, sql);
    assert.equal(r.structuredContent, undefined);
  }
  assert.equal(await count('SELECT count(*) AS n FROM customers'), before);
  // The agent logs every op it runs; after one allowed query, exactly one more line: the refused ones never left the gateway.
  await call('shop', 'query', { sql: 'SELECT 1' });
  await eventually(() => (toolLines() === linesBefore + 1 ? true : undefined), 5000, 'the agent logged the allowed query');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(toolLines(), linesBefore + 1);
});

test('a write the classification lets through still fails in the read-only transaction: nextval() via query', async () => {
  const before = (await admin.query<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM counter')).rows[0];
  const r = await call('shop', 'query', { sql: 'SELECT nextval(\'counter\')' });
  assert.equal(r.isError, true);
  assert.equal(textOf(r), 'airlock: The database refused the statement: cannot execute nextval() in a read-only transaction: query runs in a read-only transaction and nothing was changed; use execute for statements that write [SQLSTATE 25006]. (GW_DATABASE_ERROR)');
  assert.deepEqual((await admin.query('SELECT last_value, is_called FROM counter')).rows[0], before);
});

test('the agent runs a query op read-only whatever it holds: a DELETE and a data-modifying CTE fail with AGENT_DB_READ_ONLY, two statements are refused by the server', async () => {
  const before = await count('SELECT count(*) AS n FROM customers');
  for (const sql of ['DELETE FROM customers', 'WITH d AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM d', 'INSERT INTO numbers VALUES (1)']) {
    const answer = await agentOp({ op: 'query', sql, maxRows: 10 });
    assert.equal(answer.error?.code, 'AGENT_DB_READ_ONLY', sql);
    assert.equal(answer.error.sqlstate, '25006');
    assert.match(answer.error.message, /^cannot execute (DELETE|INSERT|SELECT) in a read-only transaction: query runs in a read-only transaction and nothing was changed; use execute for statements that write$/);
  }
  const two = await agentOp({ op: 'query', sql: 'SELECT 1; DELETE FROM customers' });
  assert.deepEqual(two, { error: { code: 'AGENT_DB_ERROR', message: 'cannot insert multiple commands into a prepared statement', sqlstate: '42601' } });
  assert.equal(await count('SELECT count(*) AS n FROM customers'), before);
  assert.equal(await count('SELECT count(*) AS n FROM numbers'), 0);
});

test('execute commits; RETURNING rows come back; a failing statement changes nothing', async () => {
  const updated = rowsOf(await call('shop', 'execute', { sql: 'UPDATE customers SET email = $1 WHERE id = $2', params: ['bob@example.com', 2] }));
  assert.deepEqual(updated, { columns: [], rows: [], rowCount: 1, truncated: false, command: 'UPDATE' });
  assert.equal((await admin.query('SELECT email FROM customers WHERE id = 2')).rows[0]!.email, 'bob@example.com');

  const inserted = rowsOf(await call('shop', 'execute', { sql: 'INSERT INTO orders (id, customer_id, total) VALUES ($1, $2, $3) RETURNING id, total', params: [12, 2, '99.90'] }));
  assert.deepEqual(inserted, { columns: ['id', 'total'], rows: [[12, '99.90']], rowCount: 1, truncated: false, command: 'INSERT' });
  assert.equal(await count('SELECT count(*) AS n FROM orders'), 3);

  const refused = await call('shop', 'execute', { sql: 'INSERT INTO orders (id, customer_id) VALUES (13, 99)' });
  assert.equal(refused.isError, true);
  assert.match(textOf(refused), /^airlock: The database refused the statement: insert or update on table "orders" violates foreign key constraint "orders_customer_id_fkey" \(Key \(customer_id\)=\(99\) is not present in table "customers"\.\) \[SQLSTATE 23503\]\. \(GW_DATABASE_ERROR\)$/);
  assert.equal(await count('SELECT count(*) AS n FROM orders'), 3);
});

test('execute keeps maxRows RETURNING rows but runs to the end and commits every row', async () => {
  const answer = await agentOp({ op: 'execute', sql: 'INSERT INTO numbers SELECT g FROM generate_series(1, 5) g RETURNING n', maxRows: 2 });
  assert.deepEqual(answer, { columns: ['n'], rows: [[1], [2]], rowCount: 5, truncated: true, command: 'INSERT' });
  assert.equal(await count('SELECT count(*) AS n FROM numbers'), 5);
  await admin.query('TRUNCATE numbers');
});

test('query stops at maxRows and at the byte cap, and says it truncated', async () => {
  const r = rowsOf(await call('shop', 'query', { sql: 'SELECT g FROM generate_series(1, 1000000) g', maxRows: 10 }));
  assert.deepEqual(r, { columns: ['g'], rows: [[1], [2], [3], [4], [5], [6], [7], [8], [9], [10]], rowCount: 10, truncated: true, command: null });
  const exact = rowsOf(await call('shop', 'query', { sql: 'SELECT g FROM generate_series(1, 10) g', maxRows: 10 }));
  assert.equal(exact.truncated, false);
  assert.equal(exact.rowCount, 10);
  // More rows than one portal batch (500): the count covers every batch, not just the last.
  const batches = rowsOf(await call('shop', 'query', { sql: 'SELECT g FROM generate_series(1, 1234) g' }));
  assert.deepEqual([batches.rows.length, batches.rowCount, batches.truncated, batches.command, batches.rows.at(-1)], [1000, 1000, true, 'SELECT', [1000]]);
  const all = rowsOf(await call('shop', 'query', { sql: 'SELECT g FROM generate_series(1, 1234) g', maxRows: 2000 }));
  assert.deepEqual([all.rows.length, all.rowCount, all.truncated, all.command, all.rows.at(-1)], [1234, 1234, false, 'SELECT', [1234]]);

  const bytes = await agentOp({ op: 'query', sql: 'SELECT repeat(\'x\', 100) AS s FROM generate_series(1, 50)', maxBytes: 1024 });
  assert.equal(bytes.truncated, true);
  assert.equal(bytes.rows.length, 9); // 9 × (104 + 1) bytes fit in 1024, a tenth does not
  assert.ok(Buffer.byteLength(JSON.stringify(bytes.rows)) <= 1024);

  // Through the source, the cap is 64 KiB: a wide result stops there (65 × (1004 + 1) bytes fit, 66 do not).
  const wide = rowsOf(await call('shop', 'query', { sql: 'SELECT repeat(\'y\', 1000) FROM generate_series(1, 500)' }));
  assert.equal(wide.truncated, true);
  assert.equal(wide.rows.length, 65);
});

test('statement_timeout is the connection\'s firstByteMs: a slow query is cancelled by the database with a clear error', async () => {
  const r = await call('slow', 'query', { sql: 'SELECT pg_sleep(5)' });
  assert.equal(r.isError, true);
  assert.equal(textOf(r), 'airlock: The database refused the statement: canceling statement due to statement timeout [SQLSTATE 57014]. (GW_DATABASE_ERROR)');
});

test('a cancelled execute is rolled back: the agent never commits after the gateway gave up', async () => {
  const before = await count('SELECT count(*) AS n FROM numbers');
  const controller = new AbortController();
  const pending = call('shop', 'execute', { sql: 'INSERT INTO numbers SELECT 42 FROM pg_sleep(1)' }, controller.signal);
  setTimeout(() => controller.abort(new Error('caller cancelled')), 300);
  await assert.rejects(pending, /caller cancelled/);
  await eventually(async () => ((await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE usename = '${USER}'`)) === 0 ? true : undefined), 10_000, 'the agent\'s database session ended');
  assert.equal(await count('SELECT count(*) AS n FROM numbers'), before);
  assert.equal(await count('SELECT count(*) AS n FROM numbers WHERE n = 42'), 0);
});

test('targets outside targets.allow, down databases, wrong and missing logins: coded errors, nothing reached', async () => {
  await assert.rejects(call('elsewhere', 'query', { sql: 'SELECT 1' }), (err: GatewayError) => {
    assert.equal(err.code, 'GW_TARGET_REFUSED');
    assert.equal(err.message, `The agent refuses to reach this database (its targets.allow) for connection elsewhere: this agent does not reach postgres://127.0.0.2:${pgPort} (targets.allow) (AGENT_TARGET_NOT_ALLOWED).`);
    return true;
  });
  const raw = await agentOp({ op: 'list_tables' }, { target: `postgres://127.0.0.2:${pgPort}/${DB}` });
  assert.deepEqual(raw, { error: { code: 'AGENT_TARGET_NOT_ALLOWED', message: `this agent does not reach postgres://127.0.0.2:${pgPort} (targets.allow)` } });
  assert.equal((await agentOp({ op: 'list_tables' }, { target: `http://127.0.0.1:${pgPort}/${DB}` })).error.code, 'AGENT_TARGET_INVALID');

  await assert.rejects(call('down', 'list_tables', {}), (err: GatewayError) => {
    assert.equal(err.code, 'GW_TARGET_UNREACHABLE');
    assert.match(err.message, /^The agent cannot reach the database for connection down: postgres:\/\/127\.0\.0\.1:\d+ cannot be reached \(ECONNREFUSED\) \(AGENT_TARGET_UNREACHABLE\)\.$/);
    return true;
  });
  await assert.rejects(call('badlogin', 'list_tables', {}), (err: GatewayError) => {
    assert.equal(err.code, 'GW_TARGET_LOGIN_FAILED');
    assert.equal(err.message, `The database refused the agent's login for connection badlogin: the database at postgres://127.0.0.1:${pgPort} refused the login of connection badlogin (password authentication failed for user "${USER}"); fix it with \`airlock-agent secrets set badlogin --type postgres\` (AGENT_DB_LOGIN_FAILED).`);
    return true;
  });
  await assert.rejects(call('nocred', 'list_tables', {}), (err: GatewayError) => {
    assert.equal(err.code, 'GW_CREDENTIAL_UNAVAILABLE');
    assert.equal(err.message, 'The agent has no usable database login for connection nocred: the agent\'s vault holds no database login for connection nocred; run `airlock-agent secrets set nocred --type postgres` (AGENT_CREDENTIAL_UNAVAILABLE).');
    return true;
  });
});

test('the agent refuses malformed requests with AGENT_REQUEST_INVALID and runs nothing', async () => {
  assert.deepEqual(await agentOp('not json'), { error: { code: 'AGENT_REQUEST_INVALID', message: 'the request is not JSON' } });
  assert.equal((await agentOp({ op: 'drop_everything' })).error.code, 'AGENT_REQUEST_INVALID');
  assert.match((await agentOp({ op: 'query' })).error.message, /^the request is not valid: sql: query needs sql$/);
  assert.match((await agentOp({ op: 'query', sql: 'SELECT 1', extra: true })).error.message, /Unrecognized key/i);
  assert.match((await agentOp({ op: 'query', sql: 'SELECT 1', maxRows: 1_000_000 })).error.message, /maxRows/);
  const big = await agentOp({ op: 'query', sql: `SELECT '${'x'.repeat(1024 * 1024)}'` });
  assert.deepEqual(big, { error: { code: 'AGENT_REQUEST_INVALID', message: 'the request is larger than 1048576 bytes' } });
});

test('the password appears nowhere the agent or the gateway logged, though the agent logged at debug', async () => {
  const { stdout, stderr } = agent.output();
  assert.match(stdout + stderr, /postgres tool/, 'the agent logged the tool calls');
  for (const secret of [PASSWORD, WRONG]) {
    assert.ok(!stdout.includes(secret) && !stderr.includes(secret), 'not in the agent\'s output');
    assert.ok(!gatewayLog.some((l) => l.includes(secret)), 'not in the gateway\'s log');
  }
});
