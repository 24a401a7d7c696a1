// One Store suite, run against both backends: a real SQLite file and a real PostgreSQL server
// (test/support/postgres.ts). Then what only one backend has: file handling, unreachable servers.
import { after, before, describe, test, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { GatewayError, type GatewayErrorCode } from '../../../gateway/errors.ts';
import { createLogger, silentLogger } from '../../../lib/log.ts';
import type { Driver } from '../../../gateway/store/driver.ts';
import { LATEST_VERSION, openStore, redactUrl, type NewEvent, type Store } from '../../../gateway/store/index.ts';
import { MIGRATIONS, runMigrations } from '../../../gateway/store/migrations.ts';
import { openPostgresDriver } from '../../../gateway/store/postgres.ts';
import { openSqliteDriver } from '../../../gateway/store/sqlite.ts';
import { startPostgres, type TestPostgres } from '../../support/postgres.ts';

type RawRow = Record<string, unknown>;

interface Backend {
  readonly name: 'sqlite' | 'postgres';
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** The URL of a new, empty database. */
  freshUrl(): Promise<string>;
  /** SQL straight through the backend's own client, bypassing the store. `$1`-style placeholders. */
  raw(url: string, sql: string, params?: Array<string | number>): Promise<RawRow[]>;
  tableExists(url: string, table: string): Promise<boolean>;
  openDriver(url: string): Promise<Driver>;
}

function sqliteBackend(): Backend {
  let dir = '';
  let n = 0;
  const file = (url: string) => url.slice('sqlite:'.length);
  const raw = async (url: string, sql: string, params: Array<string | number> = []) => {
    const db = new DatabaseSync(file(url), { timeout: 5000 });
    try {
      return db.prepare(sql.replace(/\$\d+/g, '?')).all(...params).map((r) => ({ ...r }));
    } finally {
      db.close();
    }
  };
  return {
    name: 'sqlite',
    setup: async () => { dir = mkdtempSync(join(tmpdir(), 'airlock-store-')); },
    teardown: async () => { rmSync(dir, { recursive: true, force: true }); },
    freshUrl: async () => `sqlite:${join(dir, `store-${++n}.db`)}`,
    raw,
    tableExists: async (url, table) => (await raw(url, `SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1`, [table])).length === 1,
    openDriver: async (url) => openSqliteDriver(file(url)),
  };
}

function postgresBackend(): Backend {
  let server: TestPostgres | undefined;
  const created: string[] = [];
  const withClient = async <T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  const raw = (url: string, sql: string, params: Array<string | number> = []) => withClient(url, async (c) => (await c.query(sql, params)).rows as RawRow[]);
  return {
    name: 'postgres',
    setup: async () => { server = await startPostgres(); },
    teardown: async () => {
      // Only matters for AIRLOCK_TEST_PG_URL; a server we started is removed whole.
      if (server) await withClient(server.url, async (c) => { for (const db of created) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`); }).catch(() => {});
      await server?.stop();
    },
    freshUrl: async () => {
      assert.ok(server, 'the PostgreSQL server did not start (see the error of the before hook)');
      const db = `airlock_test_${process.pid}_${created.length + 1}`;
      await withClient(server.url, (c) => c.query(`CREATE DATABASE ${db}`));
      created.push(db);
      const url = new URL(server.url);
      url.pathname = `/${db}`;
      return url.href;
    },
    raw,
    tableExists: async (url, table) => (await raw(url, 'SELECT to_regclass($1) AS t', [table]))[0]?.t !== null,
    openDriver: (url) => openPostgresDriver(url, { logger: silentLogger }),
  };
}

async function rejectsWith(promise: Promise<unknown>, code: GatewayErrorCode, message: string | RegExp): Promise<GatewayError> {
  let caught: unknown;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof GatewayError, `expected a GatewayError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  return caught;
}

function captureLogger() {
  const lines: RawRow[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (l) => { lines.push(JSON.parse(l) as RawRow); } }) };
}

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const event = (seq: number, payload: NewEvent['payload'] = { seq }): NewEvent =>
  ({ seq, type: 'request', at: T0 + seq, offsetMs: seq * 10, payload, prevHash: `h${seq - 1}`, hash: `h${seq}` });

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`Store on ${backend.name}`, () => {
    let clock = T0;
    const now = () => clock;
    let url = '';
    let store: Store;

    // A backend that cannot start (no PostgreSQL binaries) fails every test with its reason,
    // rather than leaving them "cancelled" where a summary reads "fail 0".
    let setupError: unknown;
    before(async () => {
      try {
        await backend.setup();
        url = await backend.freshUrl();
        store = await openStore(url, { now });
      } catch (err) {
        setupError = err;
      }
    });
    after(async () => {
      await store?.close();
      await backend.teardown();
    });
    const test = (name: string, fn: () => Promise<void>) => nodeTest(name, async () => {
      if (setupError) throw setupError;
      await fn();
    });

    test('opens on the chosen backend and answers a ping', async () => {
      assert.equal(store.backend, backend.name);
      await store.ping();
    });

    test('migrations are applied at start, and reopening applies none again', async () => {
      assert.ok(LATEST_VERSION >= 1);
      assert.equal(await store.schemaVersion(), LATEST_VERSION);
      const { lines, logger } = captureLogger();
      const again = await openStore(url, { logger });
      try {
        assert.equal(await again.schemaVersion(), LATEST_VERSION);
      } finally {
        await again.close();
      }
      assert.deepEqual(lines.filter((l) => l.msg === 'store migration applied'), []);
      const rows = await backend.raw(url, 'SELECT version, name FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => [Number(r.version), r.name]), MIGRATIONS.map((m) => [m.version, m.name]));
      for (const table of ['connections', 'agents', 'api_keys', 'sessions', 'events', 'reviews']) {
        assert.ok(await backend.tableExists(url, table), `table ${table} exists`);
      }
    });

    test('two gateways starting at once on an empty database both start; each migration runs once', async () => {
      const fresh = await backend.freshUrl();
      const a = captureLogger();
      const b = captureLogger();
      const [one, two] = await Promise.all([openStore(fresh, { logger: a.logger }), openStore(fresh, { logger: b.logger })]);
      try {
        assert.equal(await one.schemaVersion(), LATEST_VERSION);
        assert.equal(await two.schemaVersion(), LATEST_VERSION);
        const applied = [...a.lines, ...b.lines].filter((l) => l.msg === 'store migration applied').map((l) => l.version);
        assert.deepEqual(applied.sort((x, y) => Number(x) - Number(y)), MIGRATIONS.map((m) => m.version)); // numerically: 10 after 9
        const [count] = await backend.raw(fresh, 'SELECT COUNT(*) AS n FROM schema_migrations');
        assert.equal(Number(count?.n), MIGRATIONS.length);
        await one.connections.create({ name: 'shared', kind: 'http', agent: 'a', spec: {} });
        assert.equal((await two.connections.get('shared'))?.name, 'shared');
      } finally {
        await Promise.all([one.close(), two.close()]);
      }
    });

    test('a store with a newer schema than this gateway is refused', async () => {
      const fresh = await backend.freshUrl();
      await (await openStore(fresh)).close();
      await backend.raw(fresh, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, $1, 0)', ['from the future']);
      await rejectsWith(openStore(fresh), 'GW_STORE_MIGRATION',
        `The store at ${redactUrl(fresh)} has schema version 999, newer than this gateway (${LATEST_VERSION}); upgrade airlock or point store.url elsewhere.`);
    });

    test('a failing migration is rolled back whole and named', async () => {
      const fresh = await backend.freshUrl();
      const driver = await backend.openDriver(fresh);
      try {
        assert.deepEqual(await runMigrations(driver, { label: 'the test store', logger: silentLogger }), MIGRATIONS.map((m) => m.version));
        const broken = [...MIGRATIONS, { version: LATEST_VERSION + 1, name: 'broken on purpose', sql: 'CREATE TABLE half_done (a TEXT); CREATE TABLE connections (a TEXT);' }];
        const err = await rejectsWith(runMigrations(driver, { label: 'the test store', logger: silentLogger, migrations: broken }), 'GW_STORE_MIGRATION',
          new RegExp(`^Migration ${LATEST_VERSION + 1} \\(broken on purpose\\) failed on the store at the test store and was rolled back: .*connections.* already exists`));
        assert.ok(err.cause, 'the driver error is kept as the cause');
        assert.equal(await backend.tableExists(fresh, 'half_done'), false, 'the first statement of the failed migration was rolled back');
        const [max] = await backend.raw(fresh, 'SELECT MAX(version) AS v FROM schema_migrations');
        assert.equal(Number(max?.v), LATEST_VERSION);
      } finally {
        await driver.close();
      }
    });

    test('connections: create, conflict on a duplicate name, get, list', async () => {
      clock = T0 + 1000;
      const demo = await store.connections.create({ name: 'demo', kind: 'http', agent: 'agent-1', spec: { target: 'http://svc.internal:8080', policies: ['sql-safety'] } });
      assert.deepEqual(demo, {
        name: 'demo', kind: 'http', agent: 'agent-1', spec: { target: 'http://svc.internal:8080', policies: ['sql-safety'] },
        version: 1, createdAt: T0 + 1000, updatedAt: T0 + 1000,
      });
      const dup = await rejectsWith(store.connections.create({ name: 'demo', kind: 'mcp', agent: 'other', spec: {} }), 'GW_STORE_CONFLICT', 'connection "demo" already exists');
      assert.equal(dup.status, 409);
      assert.deepEqual(await store.connections.get('demo'), demo, 'the duplicate changed nothing');
      assert.equal(await store.connections.get('nope'), null);
      await store.connections.create({ name: 'billing', kind: 'postgres', agent: 'agent-2', spec: {} });
      assert.deepEqual((await store.connections.list()).map((c) => c.name), ['billing', 'demo']);
    });

    test('connections: update is optimistic (version), remove says whether it removed', async () => {
      clock = T0 + 2000;
      const updated = await store.connections.update('demo', { agent: 'agent-9' }, 1);
      assert.deepEqual(updated, {
        name: 'demo', kind: 'http', agent: 'agent-9', spec: { target: 'http://svc.internal:8080', policies: ['sql-safety'] },
        version: 2, createdAt: T0 + 1000, updatedAt: T0 + 2000,
      });
      await rejectsWith(store.connections.update('demo', { spec: { target: 'http://evil' } }, 1), 'GW_STORE_CONFLICT',
        'connection "demo" was changed by someone else (it is at version 2, the update expected 1); reload it and retry.');
      assert.deepEqual(await store.connections.get('demo'), updated, 'the stale update changed nothing');
      assert.equal(await store.connections.update('nope', { agent: 'x' }, 1), null);

      // Two admins saving the same version at once: one wins, the other gets a conflict.
      const race = await Promise.allSettled([
        store.connections.update('demo', { spec: { by: 'alice' } }, 2),
        store.connections.update('demo', { spec: { by: 'bob' } }, 2),
      ]);
      const won = race.filter((r) => r.status === 'fulfilled');
      const lost = race.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 1);
      assert.equal((lost[0]!.reason as GatewayError).code, 'GW_STORE_CONFLICT');
      const after = await store.connections.get('demo');
      assert.equal(after?.version, 3);
      assert.deepEqual(after?.spec, (won[0] as PromiseFulfilledResult<{ spec: unknown }>).value.spec);

      assert.equal(await store.connections.remove('demo'), true);
      assert.equal(await store.connections.remove('demo'), false);
      assert.equal(await store.connections.get('demo'), null);
    });

    test('agents: create with defaults, conflict, update (also to null), list, remove', async () => {
      clock = T0 + 3000;
      const agent = await store.agents.create({ name: 'dc-east', enrollmentTokenHash: 'sha256:abc', enrollmentExpiresAt: T0 + 60_000 });
      assert.deepEqual(agent, {
        name: 'dc-east', publicKey: null, enrollmentTokenHash: 'sha256:abc', enrollmentExpiresAt: T0 + 60_000, status: 'pending',
        version: null, lastSeen: null, createdAt: T0 + 3000, revokedAt: null,
      });
      await rejectsWith(store.agents.create({ name: 'dc-east' }), 'GW_STORE_CONFLICT', 'agent "dc-east" already exists');
      const enrolled = await store.agents.update('dc-east', { publicKey: 'MCowBQYDK2VwAyEA', enrollmentTokenHash: null, enrollmentExpiresAt: null, status: 'active', version: '0.1.0', lastSeen: T0 + 4000 });
      assert.deepEqual(enrolled, { ...agent, publicKey: 'MCowBQYDK2VwAyEA', enrollmentTokenHash: null, enrollmentExpiresAt: null, status: 'active', version: '0.1.0', lastSeen: T0 + 4000 });
      assert.deepEqual(await store.agents.update('dc-east', {}), enrolled, 'an empty patch changes nothing');
      assert.deepEqual(await store.agents.get('dc-east'), enrolled);
      assert.equal(await store.agents.update('nope', { status: 'revoked' }), null);
      assert.equal(await store.agents.get('nope'), null);
      await store.agents.create({ name: 'dc-central', status: 'active' });
      assert.deepEqual((await store.agents.list()).map((a) => [a.name, a.status]), [['dc-central', 'active'], ['dc-east', 'active']]);
      assert.equal(await store.agents.remove('dc-central'), true);
      assert.equal(await store.agents.remove('dc-central'), false);
    });

    test('api keys: found by hash, conflicts on id and on hash, revoked once', async () => {
      clock = T0 + 5000;
      const key = await store.apiKeys.create({ id: 'key-1', name: 'ci', hash: 'sha256:k1', roles: ['user'], connections: ['demo', 'billing'], createdBy: 'alice@example.com', expiresAt: T0 + 86_400_000 });
      assert.deepEqual(key, {
        id: 'key-1', name: 'ci', hash: 'sha256:k1', roles: ['user'], connections: ['demo', 'billing'], createdBy: 'alice@example.com',
        createdAt: T0 + 5000, expiresAt: T0 + 86_400_000, revokedAt: null, lastUsedAt: null, creator: null, owner: null, kind: 'service',
      });
      assert.deepEqual(await store.apiKeys.getByHash('sha256:k1'), key);
      assert.deepEqual(await store.apiKeys.get('key-1'), key);
      assert.equal(await store.apiKeys.get('key-unknown'), null);
      assert.equal(await store.apiKeys.getByHash('sha256:unknown'), null);
      await rejectsWith(store.apiKeys.create({ id: 'key-1', name: 'x', hash: 'sha256:other', roles: [], connections: [], createdBy: 'bob' }), 'GW_STORE_CONFLICT', 'api key "key-1" already exists');
      await rejectsWith(store.apiKeys.create({ id: 'key-2', name: 'x', hash: 'sha256:k1', roles: [], connections: [], createdBy: 'bob' }), 'GW_STORE_CONFLICT',
        'an api key with the same hash already exists; generate a new secret');
      clock = T0 + 6000;
      await store.apiKeys.create({ id: 'key-3', name: 'bot', hash: 'sha256:k3', roles: [], connections: [], createdBy: 'bob' });
      assert.deepEqual((await store.apiKeys.list()).map((k) => k.id), ['key-1', 'key-3']);
      assert.equal(await store.apiKeys.revoke('key-1', T0 + 7000), true);
      assert.equal(await store.apiKeys.revoke('key-1', T0 + 8000), false, 'a second revoke is a no-op');
      assert.equal(await store.apiKeys.revoke('key-unknown'), false);
      assert.equal((await store.apiKeys.getByHash('sha256:k1'))?.revokedAt, T0 + 7000);
      await store.apiKeys.touch('key-3', T0 + 9000);
      assert.equal((await store.apiKeys.get('key-3'))?.lastUsedAt, T0 + 9000);
      const personal = await store.apiKeys.create({ id: 'key-4', name: 'mine', hash: 'sha256:k4', roles: ['reviewer'], connections: [], createdBy: 'carol@example.com', creator: 'apikey:key-3', owner: 'carol', kind: 'personal' });
      assert.deepEqual([personal.creator, personal.owner, personal.kind], ['apikey:key-3', 'carol', 'personal']);
      await assert.rejects(store.apiKeys.create({ id: 'key-5', name: 'x', hash: 'sha256:k5', roles: [], connections: [], createdBy: 'bob', kind: 'robot' as never }), /an api key kind is personal or service, got robot/);
    });

    test('principals: two gateways noting a new person at once both succeed, and the later note wins', async () => {
      const other = await openStore(url, { now });
      try {
        for (let i = 0; i < 20; i++) { // a race: both find no row, both insert
          const sub = `racer-${i}`;
          await Promise.all([
            store.principals.put({ sub, groups: ['a'], seenAt: T0 + 1 }),
            other.principals.put({ sub, groups: ['b'], seenAt: T0 + 2 }),
          ]);
          assert.deepEqual(await store.principals.get(sub), { sub, groups: ['b'], seenAt: T0 + 2 });
        }
        await store.principals.put({ sub: 'racer-0', groups: ['stale'], seenAt: T0 });
        assert.deepEqual((await other.principals.get('racer-0'))?.groups, ['b'], 'an older note does not replace a newer one');
      } finally {
        await other.close();
      }
    });

    test('principals: the groups a person last presented, replaced on each note', async () => {
      assert.equal(await store.principals.get('carol'), null);
      await store.principals.put({ sub: 'carol', groups: ['admins', 'dba'], seenAt: T0 });
      assert.deepEqual(await store.principals.get('carol'), { sub: 'carol', groups: ['admins', 'dba'], seenAt: T0 });
      await store.principals.put({ sub: 'carol', groups: [], seenAt: T0 + 1 });
      assert.deepEqual(await store.principals.get('carol'), { sub: 'carol', groups: [], seenAt: T0 + 1 });
    });

    test('events: appended gaplessly and all-or-nothing; listed by page', async () => {
      const session = await store.sessions.create({ id: 's1', connection: 'demo', subject: 'alice@example.com', kind: 'mcp', startedAt: T0, metadata: { client: 'claude' } });
      assert.deepEqual(session, { id: 's1', connection: 'demo', subject: 'alice@example.com', kind: 'mcp', startedAt: T0, endedAt: null, metadata: { client: 'claude' },
        state: 'open', endReason: null, instance: null, lastSeq: 0, decisions: [] });
      await rejectsWith(store.sessions.create({ id: 's1', connection: 'x', subject: 'y', kind: 'http', startedAt: T0 }), 'GW_STORE_CONFLICT', 'session "s1" already exists');

      await store.events.append('s1', [event(1), event(2), event(3)]);
      const seqs = async () => (await store.events.list('s1')).map((e) => e.seq);
      assert.deepEqual(await seqs(), [1, 2, 3]);
      assert.deepEqual((await store.events.list('s1'))[1], { sessionId: 's1', seq: 2, type: 'request', at: T0 + 2, offsetMs: 20, payload: { seq: 2 }, prevHash: 'h1', hash: 'h2' });

      await rejectsWith(store.events.append('s1', [event(5)]), 'GW_STORE_CONFLICT',
        'event 5 does not follow the last stored event of session "s1" (3); the next must be 4. Nothing was stored.');
      await rejectsWith(store.events.append('s1', [event(3)]), 'GW_STORE_CONFLICT',
        'event 3 does not follow the last stored event of session "s1" (3); the next must be 4. Nothing was stored.');
      await rejectsWith(store.events.append('s1', [event(4), event(6)]), 'GW_STORE_CONFLICT',
        'events of session "s1" must be numbered without gaps: seq 6 follows 4 in the batch; nothing was stored.');
      assert.deepEqual(await seqs(), [1, 2, 3], 'no event of a refused batch was stored');

      // The database refuses the second row (NOT NULL): the first one is rolled back with it.
      const bad = { ...event(5), hash: null } as unknown as NewEvent;
      await rejectsWith(store.events.append('s1', [event(4), bad]), 'GW_STORE_UNAVAILABLE', 'The store could not record events of session "s1"; check that the database is reachable, then retry.');
      assert.deepEqual(await seqs(), [1, 2, 3], 'the transaction was rolled back');

      // Two writers appending the same next seq at once: one wins, nothing is duplicated.
      const race = await Promise.allSettled([store.events.append('s1', [event(4, 'a')]), store.events.append('s1', [event(4, 'b')])]);
      assert.deepEqual(race.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      assert.equal((race.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.code, 'GW_STORE_CONFLICT');
      await store.events.append('s1', [event(5), event(6)]);
      assert.deepEqual(await seqs(), [1, 2, 3, 4, 5, 6]);

      assert.deepEqual((await store.events.list('s1', { afterSeq: 2, limit: 2 })).map((e) => e.seq), [3, 4]);
      assert.deepEqual(await store.events.list('s1', { afterSeq: 6 }), []);
      assert.deepEqual(await store.events.list('nope'), []);
      await assert.rejects(store.events.list('s1', { limit: 0 }), TypeError);
      await store.events.append('s1', []);

      await rejectsWith(store.events.append('nope', [event(1)]), 'GW_STORE_CONFLICT', 'session "nope" does not exist; create it before recording its events.');
      assert.equal(await store.sessions.end('s1', T0 + 9000), true);
      assert.equal(await store.sessions.end('s1', T0 + 9999), false);
      assert.equal((await store.sessions.get('s1'))?.endedAt, T0 + 9000);
      assert.equal(await store.sessions.get('nope'), null);
      await rejectsWith(store.events.append('s1', [event(7)]), 'GW_STORE_CONFLICT', 'session "s1" has ended; no more events can be recorded in it.');
    });

    test('reviews: two reviewers deciding at once get exactly one winner', async () => {
      clock = T0 + 10_000;
      const review = await store.reviews.create({ id: 'r1', connection: 'demo', requester: 'alice', requestHash: 'sha256:req', expiresAt: T0 + 70_000, detail: { tool: 'execute' } });
      assert.deepEqual(review, {
        id: 'r1', sessionId: null, connection: 'demo', requester: 'alice', requestHash: 'sha256:req', status: 'pending',
        createdAt: T0 + 10_000, decidedAt: null, decidedBy: null, reason: null, expiresAt: T0 + 70_000, detail: { tool: 'execute' },
        approvalsNeeded: 1, reviewers: [], usesLeft: 1, validUntil: null, votes: [],
      });
      await rejectsWith(store.reviews.create({ id: 'r1', connection: 'x', requester: 'y', requestHash: 'z', expiresAt: 0 }), 'GW_STORE_CONFLICT', 'review "r1" already exists');
      clock = T0 + 11_000;
      await store.reviews.create({ id: 'r2', sessionId: 's1', connection: 'demo', requester: 'carol', requestHash: 'sha256:req2', expiresAt: T0 + 70_000 });
      assert.deepEqual((await store.reviews.listPending()).map((r) => r.id), ['r1', 'r2']);

      const results = await Promise.all([
        store.reviews.decide('r1', { status: 'approved', by: 'bob', reason: 'looks fine', at: T0 + 12_000 }),
        store.reviews.decide('r1', { status: 'denied', by: 'dave', reason: 'no', at: T0 + 12_001 }),
      ]);
      assert.deepEqual([...results].sort(), [false, true]);
      const decided = await store.reviews.get('r1');
      const winner = results[0] ? { status: 'approved', decidedBy: 'bob', reason: 'looks fine', decidedAt: T0 + 12_000 } : { status: 'denied', decidedBy: 'dave', reason: 'no', decidedAt: T0 + 12_001 };
      assert.deepEqual(decided, { ...review, ...winner });
      assert.equal(await store.reviews.decide('r1', { status: 'denied', by: 'eve', at: T0 + 13_000 }), false, 'a decided review stays decided');
      assert.equal(await store.reviews.decide('unknown', { status: 'approved', by: 'eve', at: T0 }), false);
      await assert.rejects(store.reviews.decide('r2', { status: 'pending' as 'approved', by: 'eve', at: T0 }), TypeError);
      assert.equal(await store.reviews.decide('r2', { status: 'expired', by: null, at: T0 + 70_000 }), true);
      assert.deepEqual(await store.reviews.listPending(), []);
      assert.equal(await store.reviews.get('nope'), null);
    });

    test('sessions: group commit across sessions, decisions filter, ending, purge', async () => {
      await store.sessions.create({ id: 'g1', connection: 'demo', subject: 'alice', kind: 'http', startedAt: T0, instance: 'i1' });
      await store.sessions.create({ id: 'g2', connection: 'db', subject: 'bob', kind: 'postgres', startedAt: T0 + 10, instance: 'i1' });
      await store.events.appendMany([
        { sessionId: 'g1', events: [event(1), event(2)], decisions: ['allow'] },
        { sessionId: 'g2', events: [event(1)], decisions: ['deny', 'review'] },
      ]);
      assert.equal((await store.sessions.get('g1'))?.lastSeq, 2);
      assert.deepEqual((await store.sessions.get('g2'))?.decisions, ['deny', 'review']);
      // all or nothing: g1's part is fine, g2's is out of sequence → neither is stored
      await rejectsWith(store.events.appendMany([{ sessionId: 'g1', events: [event(3)] }, { sessionId: 'g2', events: [event(5)] }]), 'GW_STORE_CONFLICT',
        'event 5 does not follow the last stored event of session "g2" (1); the next must be 2. Nothing was stored.');
      assert.equal((await store.sessions.get('g1'))?.lastSeq, 2);
      assert.deepEqual((await store.sessions.list({ decision: 'deny' })).map((s) => s.id), ['g2']);
      assert.deepEqual((await store.sessions.list({ subject: 'alice' })).map((s) => s.id), ['g1']);
      assert.deepEqual((await store.sessions.list({ since: T0 + 5 })).map((s) => s.id), ['g2']);
      assert.deepEqual((await store.sessions.list({ connection: 'demo', limit: 1 })).map((s) => s.id), ['g1']);
      await assert.rejects(store.sessions.list({ decision: "x' OR 1=1" }), TypeError);

      await store.checkpoints.add({ sessionId: 'g1', seq: 2, hash: 'h2', at: T0 + 3, keyId: 'k', signature: 'sig' });
      await rejectsWith(store.checkpoints.add({ sessionId: 'g1', seq: 2, hash: 'h2', at: T0 + 3, keyId: 'k', signature: 'sig' }), 'GW_STORE_CONFLICT', 'session "g1" already has a checkpoint at event 2');
      assert.deepEqual(await store.checkpoints.list('g1'), [{ sessionId: 'g1', seq: 2, hash: 'h2', at: T0 + 3, keyId: 'k', signature: 'sig', state: null, prev: null }]);

      // A process that stops beating leaves its open sessions incomplete; a live one keeps them.
      await store.instances.beat('i1', T0);
      await store.instances.beat('i2', T0 + 100);
      await store.sessions.create({ id: 'g3', connection: 'demo', subject: 'carol', kind: 'http', startedAt: T0 + 20, instance: 'i2' });
      assert.deepEqual((await store.instances.sweep('i3', T0 + 50, T0 + 200)).sort(), ['g1', 'g2']);
      const g1 = await store.sessions.get('g1');
      assert.equal(g1?.state, 'incomplete');
      assert.equal(g1?.endReason, 'the gateway recording it stopped without ending it');
      assert.equal((await store.sessions.get('g3'))?.state, 'open');
      await rejectsWith(store.events.append('g1', [event(3)]), 'GW_STORE_CONFLICT', 'session "g1" has ended; no more events can be recorded in it.');

      assert.equal(await store.sessions.end('g3', T0 + 300, { reason: 'idle' }), true);
      assert.equal((await store.sessions.get('g3'))?.state, 'ended');
      assert.equal(await store.sessions.purge('demo', T0 + 15), 2, 'g1 and the earlier s1 started before the cut; g3 after');
      assert.equal(await store.sessions.get('g1'), null);
      assert.deepEqual(await store.events.list('g1'), []);
      assert.deepEqual(await store.checkpoints.list('g1'), []);
      assert.ok(await store.sessions.get('g3'));
    });

    test('sessions: one write of many sessions locks them in id order and takes two batches of one session in turn', async () => {
      for (const id of ['o1', 'o2', 'o3']) await store.sessions.create({ id, connection: 'demo', subject: 'alice', kind: 'http', startedAt: T0, instance: 'i8' });
      // Opposite orders of the same sessions, at once: on PostgreSQL, locking in the order given
      // could deadlock; in id order, one write waits for the other and then finds its seq taken.
      const results = await Promise.allSettled([
        store.events.appendMany([{ sessionId: 'o1', events: [event(1, { w: 'a' })] }, { sessionId: 'o2', events: [event(1, { w: 'a' })] }, { sessionId: 'o3', events: [event(1, { w: 'a' })] }]),
        store.events.appendMany([{ sessionId: 'o3', events: [event(1, { w: 'b' })] }, { sessionId: 'o2', events: [event(1, { w: 'b' })] }, { sessionId: 'o1', events: [event(1, { w: 'b' })] }]),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(lost.reason instanceof GatewayError && lost.reason.code === 'GW_STORE_CONFLICT', String(lost.reason));
      const writer = ((await store.events.list('o1'))[0]!.payload as { w: string }).w;
      for (const id of ['o2', 'o3']) assert.equal(((await store.events.list(id))[0]!.payload as { w: string }).w, writer, 'all of one write or none of it');
      // Two batches of the same session in one write: the second follows the first.
      await store.events.appendMany([{ sessionId: 'o1', events: [event(2)] }, { sessionId: 'o2', events: [event(2)] }, { sessionId: 'o1', events: [event(3), event(4)], decisions: ['mask'] }]);
      assert.deepEqual((await store.events.list('o1')).map((e) => e.seq), [1, 2, 3, 4]);
      assert.deepEqual((await store.sessions.get('o1'))?.decisions, ['mask']);
      await rejectsWith(store.events.appendMany([{ sessionId: 'o1', events: [event(5)] }, { sessionId: 'o1', events: [event(7)] }]), 'GW_STORE_CONFLICT',
        'event 7 does not follow the last stored event of session "o1" (5); the next must be 6. Nothing was stored.');
      assert.equal((await store.sessions.get('o1'))?.lastSeq, 4);
    });

    test('sessions: racing appends of the same seq store one; lastSeq comes from the events and is written at the end', async () => {
      await store.sessions.create({ id: 'race', connection: 'demo', subject: 'alice', kind: 'http', startedAt: T0, instance: 'i9' });
      await store.events.append('race', [event(1)]);
      const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) =>
        store.events.appendMany([{ sessionId: 'race', events: [event(2, { writer: i }), event(3)], decisions: [i % 2 ? 'deny' : 'allow'] }])));
      const stored = results.filter((r) => r.status === 'fulfilled');
      assert.equal(stored.length, 1, 'exactly one racing append is stored');
      for (const r of results) {
        if (r.status === 'fulfilled') continue;
        assert.ok(r.reason instanceof GatewayError && r.reason.code === 'GW_STORE_CONFLICT', String(r.reason));
      }
      const events = await store.events.list('race');
      assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
      const session = await store.sessions.get('race');
      assert.equal(session?.lastSeq, 3);
      assert.deepEqual(session?.decisions, [(events[1]!.payload as { writer: number }).writer % 2 ? 'deny' : 'allow'], 'only the stored batch\'s decision');
      assert.equal((await store.sessions.list({ subject: 'alice' })).find((s) => s.id === 'race')?.lastSeq, 3);
      assert.equal(await store.sessions.end('race', T0 + 1, { reason: 'done' }), true);
      const [row] = await backend.raw(url, 'SELECT last_seq FROM sessions WHERE id = $1', ['race']);
      assert.equal(Number(row?.last_seq), 3, 'the ended session\'s row carries its last seq');
    });

    test('reviews: votes, minimum approvals, single use, lookups by request', async () => {
      clock = T0;
      await store.reviews.create({ id: 'v1', connection: 'demo', requester: 'alice', requestHash: 'sha256:x', expiresAt: T0 + 60_000, approvalsNeeded: 2, reviewers: ['dba'] });
      assert.deepEqual((await store.reviews.forRequest('sha256:x', 'alice', T0 + 1)).map((r) => r.id), ['v1']);
      assert.deepEqual(await store.reviews.forRequest('sha256:x', 'mallory', T0 + 1), [], 'bound to the requester');
      const one = await store.reviews.vote('v1', { reviewer: 'bob', approve: true, reason: null, at: T0 + 5 }, { validityMs: 900_000 });
      assert.equal(one?.status, 'pending', 'one of two approvals');
      await rejectsWith(store.reviews.vote('v1', { reviewer: 'bob', approve: true, reason: null, at: T0 + 6 }, { validityMs: 900_000 }), 'GW_STORE_CONFLICT', '"bob" has already voted on review "v1"');
      await rejectsWith(store.reviews.vote('v1', { reviewer: 'bob', approve: true, reason: null, at: T0 + 6, credential: 'apikey:bobskey' }, { validityMs: 900_000 }), 'GW_STORE_CONFLICT',
        '"bob" has already voted on review "v1"'); // one vote per person, whatever credential cast it
      const two = await store.reviews.vote('v1', { reviewer: 'carol', approve: true, reason: 'ok', at: T0 + 7, credential: 'apikey:carolskey' }, { validityMs: 900_000 });
      assert.equal(two?.status, 'approved');
      assert.equal(two?.validUntil, T0 + 7 + 900_000);
      assert.deepEqual(two?.votes.map((v) => [v.reviewer, v.credential]), [['bob', null], ['carol', 'apikey:carolskey']]);
      await store.reviews.create({ id: 'v0', sessionId: null, connection: 'demo', requester: 'alice', requestHash: 'sha256:z', expiresAt: T0 + 60_000 });
      assert.deepEqual((await store.reviews.forSession('s1')).map((r) => r.id), ['r2'], 'the reviews held in that session only');
      await rejectsWith(store.reviews.vote('v1', { reviewer: 'dave', approve: false, reason: null, at: T0 + 8 }, { validityMs: 1 }), 'GW_STORE_CONFLICT', 'review "v1" is already approved; it cannot be voted on.');
      const uses = await Promise.all([store.reviews.consume('v1', T0 + 10), store.reviews.consume('v1', T0 + 10)]);
      assert.deepEqual(uses.sort(), [false, true], 'single use under a race');
      assert.deepEqual(await store.reviews.forRequest('sha256:x', 'alice', T0 + 11), [], 'used up');

      await store.reviews.create({ id: 'v2', connection: 'demo', requester: 'alice', requestHash: 'sha256:y', expiresAt: T0 + 60_000, uses: 2 });
      const denied = await store.reviews.vote('v2', { reviewer: 'bob', approve: false, reason: 'no', at: T0 + 12 }, { validityMs: 1000 });
      assert.equal(denied?.status, 'denied');
      assert.equal(denied?.reason, 'no');
      assert.equal(await store.reviews.consume('v2', T0 + 13), false);
      assert.equal(await store.reviews.vote('nope', { reviewer: 'bob', approve: true, reason: null, at: T0 }, { validityMs: 1 }), null);
      assert.deepEqual((await store.reviews.list({ status: 'denied' })).map((r) => r.id), ['v2']);

      await store.deliveries.add({ reviewId: 'v2', attempt: 1, channel: 'slack', target: 'http://127.0.0.1:1', ok: false, status: 500, error: 'HTTP 500', at: T0 + 20 });
      await store.deliveries.add({ reviewId: 'v2', attempt: 2, channel: 'slack', target: 'http://127.0.0.1:1', ok: true, status: 200, error: null, at: T0 + 21 });
      assert.deepEqual((await store.deliveries.list('v2')).map((d) => [d.attempt, d.ok, d.status]), [[1, false, 500], [2, true, 200]]);
    });

    test('JSON round-trips exactly, unicode included', async () => {
      const spec = {
        text: 'héllo 世界 🚀 עברית e\u0301 "quoted" \\ back\nslash \u0000 nul \ud800 lone',
        'ключ 🔑': [1, -2.5, 1e21, true, false, null, { nested: { deeper: ['x'] } }],
        empty: {},
        list: [],
      };
      await store.connections.create({ name: 'unicode-✓', kind: 'mcp', agent: 'ä', spec });
      const back = await store.connections.get('unicode-✓');
      assert.deepEqual(back?.spec, spec);
      assert.equal(back?.agent, 'ä');
      await store.sessions.create({ id: 's-json', connection: 'c', subject: 'ü', kind: 'http', startedAt: T0 });
      const payloads = ['a string', 42, null, [1, 'two'], { deep: { 'ключ': '🚀' } }] as const;
      await store.events.append('s-json', payloads.map((p, i) => event(i + 1, p as NewEvent['payload'])));
      assert.deepEqual((await store.events.list('s-json')).map((e) => e.payload), payloads);
    });

    test('a "__proto__" key in stored JSON comes back stripped and pollutes nothing', async () => {
      const hostile = JSON.parse('{"a":1,"__proto__":{"polluted":"yes"},"nested":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"ok":true}}');
      const created = await store.connections.create({ name: 'hostile', kind: 'http', agent: 'a', spec: hostile });
      // Also a row written behind the store's back.
      await backend.raw(url, 'UPDATE connections SET spec = $1 WHERE name = $2', ['{"b":2,"__proto__":{"isAdmin":true}}', 'hostile']);
      const read = await store.connections.get('hostile');
      for (const spec of [created.spec, read!.spec]) {
        assert.equal(Object.getPrototypeOf(spec), Object.prototype);
        assert.equal(Object.hasOwn(spec, '__proto__'), false);
      }
      assert.deepEqual(created.spec, { a: 1, nested: { ok: true } });
      assert.equal(Object.hasOwn(created.spec.nested as object, '__proto__'), false);
      assert.deepEqual(read!.spec, { b: 2 });
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
      // A naive merge of what the store returned must not reach Object.prototype either.
      const merged: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(read!.spec)) merged[k] = v;
      assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
    });

    test('the config epoch moves with every connection, API key and agent change, and not with bookkeeping', async () => {
      const epoch = () => store.configEpoch();
      const moves = async (what: string, fn: () => Promise<unknown>) => {
        const before = await epoch();
        await fn();
        assert.ok(await epoch() > before, `${what} moves the epoch`);
      };
      const stays = async (what: string, fn: () => Promise<unknown>) => {
        const before = await epoch();
        await fn();
        assert.equal(await epoch(), before, `${what} leaves the epoch`);
      };
      assert.ok(await epoch() >= 1);
      await moves('creating a connection', () => store.connections.create({ name: 'epoch-c', kind: 'http', agent: 'a', spec: { groups: ['x'] } }));
      await moves('updating it', () => store.connections.update('epoch-c', { spec: { groups: ['y'] } }, 1));
      await moves('removing it', () => store.connections.remove('epoch-c'));
      await moves('creating an API key', () => store.apiKeys.create({ id: 'epochk', name: 'k', hash: 'sha256:epochk', roles: ['user'], connections: [], createdBy: 'alice' }));
      await stays('a key\'s last use', () => store.apiKeys.touch('epochk', T0));
      await moves('revoking it', () => store.apiKeys.revoke('epochk', T0));
      await moves('creating an agent', () => store.agents.create({ name: 'epoch-agent' }));
      await stays('an agent\'s presence', () => store.agents.update('epoch-agent', { lastSeen: T0, version: '1.2.3' }));
      await moves('revoking it', () => store.agents.update('epoch-agent', { status: 'revoked', revokedAt: T0 }));
      await moves('an edit straight in the database', () => backend.raw(url, `INSERT INTO connections (name, kind, agent, spec, version, created_at, updated_at) VALUES ('raw-c', 'http', 'a', '{}', 1, 0, 0)`));
      await store.connections.remove('raw-c');
    });

    test('console sign-ins: put, replace, read until they expire, remove, purge', async () => {
      const rec = { id: 'a'.repeat(64), kind: 'login' as const, subject: null, sealed: 'sealed-1', createdAt: clock, expiresAt: clock + 1000 };
      await store.consoleSessions.put(rec);
      assert.deepEqual(await store.consoleSessions.get(rec.id), rec);
      await store.consoleSessions.put({ ...rec, kind: 'session', subject: 'alice', sealed: 'sealed-2', expiresAt: clock + 5000 });
      assert.deepEqual(await store.consoleSessions.get(rec.id), { ...rec, subject: 'alice', sealed: 'sealed-2', expiresAt: clock + 5000 }, 'content and expiry replaced, kind kept');
      await store.consoleSessions.put({ ...rec, id: 'b'.repeat(64), expiresAt: clock + 10 });
      clock += 100;
      assert.equal(await store.consoleSessions.get('b'.repeat(64)), null, 'expired: gone for readers');
      assert.equal(await store.consoleSessions.count(rec.kind), 1, 'count: unexpired rows of the kind');
      assert.equal(await store.consoleSessions.count(rec.kind === 'login' ? 'session' : 'login'), 0);
      assert.equal(await store.consoleSessions.purge(), 1);
      assert.equal(await store.consoleSessions.reseal(rec.id, 'sealed-3'), true);
      assert.equal((await store.consoleSessions.get(rec.id))?.sealed, 'sealed-3', 'reseal replaces the content');
      assert.equal(await store.consoleSessions.remove(rec.id), true);
      assert.equal(await store.consoleSessions.remove(rec.id), false);
      assert.equal(await store.consoleSessions.get(rec.id), null);
      assert.equal(await store.consoleSessions.reseal(rec.id, 'sealed-3'), false, 'reseal never re-creates a removed row');
      assert.equal(await store.consoleSessions.get(rec.id), null);
    });

    test('replicas: a connect token is claimed once per agent; an enrollment token hash redeems once; epoch changes notify (PostgreSQL)', async () => {
      clock = T0;
      assert.equal(await store.connectTokens.claim('edge', 'jti-aaaaaaaaaaaaaaaa', T0 + 60_000), true);
      assert.equal(await store.connectTokens.claim('edge', 'jti-aaaaaaaaaaaaaaaa', T0 + 60_000), false, 'the same token again');
      assert.equal(await store.connectTokens.claim('edge-2', 'jti-aaaaaaaaaaaaaaaa', T0 + 60_000), true, 'the same jti from another agent');
      clock = T0 + 120_000;
      assert.equal(await store.connectTokens.purge(), 2);

      await store.agents.create({ name: 'redeem', enrollmentTokenHash: 'sha256:t1', enrollmentExpiresAt: T0 + 1000, status: 'pending' });
      const activate = { status: 'active' as const, publicKey: 'k', enrollmentTokenHash: null, enrollmentExpiresAt: null };
      assert.equal(await store.agents.update('redeem', activate, { ifEnrollmentTokenHash: 'sha256:other' }), null, 'another token');
      assert.equal((await store.agents.update('redeem', activate, { ifEnrollmentTokenHash: 'sha256:t1' }))?.status, 'active');
      assert.equal(await store.agents.update('redeem', activate, { ifEnrollmentTokenHash: 'sha256:t1' }), null, 'the same token a second time');

      let notified = 0;
      const stop = store.onConfigEpoch(() => { notified++; });
      try {
        if (backend.name === 'sqlite') return; // one host: polling the epoch is the mechanism
        // LISTEN starts on its own connection; edit until the notification comes through.
        for (let i = 0; notified === 0; i++) {
          assert.ok(i < 200, 'no notification within 200 edits');
          await backend.raw(url, `INSERT INTO connections (name, kind, agent, spec, version, created_at, updated_at) VALUES ('notify-${i}', 'http', 'a', '{}', 1, 0, 0)`);
          await new Promise((r) => setTimeout(r, 25));
        }
      } finally {
        stop();
      }
    });

    test('close is idempotent; operations after it fail with a coded error', async () => {
      const closing = await openStore(await backend.freshUrl());
      await closing.ping();
      await closing.close();
      await closing.close();
      const closed = 'The store is closed (the gateway is shutting down); retry against another replica.';
      await rejectsWith(closing.ping(), 'GW_STORE_UNAVAILABLE', closed);
      await rejectsWith(closing.connections.get('x'), 'GW_STORE_UNAVAILABLE', closed);
      await rejectsWith(closing.events.append('s', [event(1)]), 'GW_STORE_UNAVAILABLE', closed);
    });
  });
}

describe('SQLite specifics', () => {
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'airlock-sqlite-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a relative path is taken from cwd, its directory is created, and the file is in WAL mode', async () => {
    const store = await openStore('sqlite:./data/nested/airlock.db', { cwd: dir });
    await store.close();
    const file = join(dir, 'data', 'nested', 'airlock.db');
    assert.ok(existsSync(file));
    const db = new DatabaseSync(file);
    try {
      assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
    } finally {
      db.close();
    }
  });

  test('two gateway processes starting at once on one file: both start, migrations run once', async () => {
    const url = `sqlite:${join(dir, 'two-processes.db')}`;
    const script = `import { openStore } from ${JSON.stringify(new URL('../../../gateway/store/index.ts', import.meta.url).href)};
      await new Promise((r) => setTimeout(r, Number(process.env.START_AT) - Date.now()));
      const store = await openStore(process.env.STORE_URL);
      process.stdout.write(String(await store.schemaVersion()));
      await store.close();`;
    // Both children wait for the same instant, so their migrations really overlap.
    const startAt = String(Date.now() + 500);
    const child = () => new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { env: { ...process.env, STORE_URL: url, START_AT: startAt }, timeout: 20_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    assert.deepEqual(await Promise.all([child(), child()]), [String(LATEST_VERSION), String(LATEST_VERSION)]);
    const db = new DatabaseSync(url.slice('sqlite:'.length));
    try {
      assert.equal(db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get()?.n, MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  test('sqlite::memory: works (tests)', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      assert.equal(await store.schemaVersion(), LATEST_VERSION);
    } finally {
      await store.close();
    }
  });

  test('a path that cannot be a database fails clearly', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a database, only text that is long enough to fill a header....................................');
    const tail = '; check store.url / AIRLOCK_STORE_URL and that the database is running.';
    await rejectsWith(openStore(`sqlite:${file}/airlock.db`), 'GW_STORE_UNAVAILABLE',
      `Cannot reach the store at sqlite:${file}/airlock.db: EEXIST: file already exists, mkdir '${file}'${tail}`);
    await rejectsWith(openStore(`sqlite:${file}`), 'GW_STORE_UNAVAILABLE', `Cannot reach the store at sqlite:${file}: file is not a database${tail}`);
    mkdirSync(join(dir, 'a-directory'));
    await rejectsWith(openStore(`sqlite:${join(dir, 'a-directory')}`), 'GW_STORE_UNAVAILABLE',
      `Cannot reach the store at sqlite:${join(dir, 'a-directory')}: unable to open database file${tail}`);
  });
});

describe('PostgreSQL unreachable', () => {
  const freePort = () => new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

  test('a closed port fails fast with the password redacted', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await rejectsWith(openStore(`postgres://airlock:s3cr3t-P4ss@127.0.0.1:${port}/airlock`), 'GW_STORE_UNAVAILABLE',
      `Cannot reach the store at postgres://airlock:***@127.0.0.1:${port}/airlock: connect ECONNREFUSED 127.0.0.1:${port}; check store.url / AIRLOCK_STORE_URL and that the database is running.`);
    assert.ok(!err.message.includes('s3cr3t'));
    assert.ok(Date.now() - started < 5000, 'within a few seconds');
  });

  test('a server that accepts but never answers times out within the connect timeout', async (t) => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => { sockets.add(s); });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const { port } = silent.address() as { port: number };
    const started = Date.now();
    const err = await rejectsWith(openStore(`postgresql://u:hunter2@127.0.0.1:${port}/db`, { connectTimeoutMs: 300 }), 'GW_STORE_UNAVAILABLE',
      /^Cannot reach the store at postgresql:\/\/u:\*\*\*@127\.0\.0\.1:\d+\/db: .*timeout.*; check store\.url/);
    assert.ok(!err.message.includes('hunter2'));
    assert.ok(sockets.size >= 1, 'the client did reach the silent server');
    assert.ok(Date.now() - started < 3000);
  });
});

describe('store URLs', () => {
  test('redactUrl hides passwords and never throws', () => {
    const cases: Array<[string, string]> = [
      ['postgres://airlock:s3cret@db.internal:5432/airlock', 'postgres://airlock:***@db.internal:5432/airlock'],
      ['postgresql://u:p%40ss%2Fword@db/x?sslmode=require', 'postgresql://u:***@db/x?sslmode=require'],
      ['postgres://db.internal/airlock?user=a&password=s3cret', 'postgres://db.internal/airlock?user=a&password=***'],
      ['postgres://airlock@db.internal/airlock', 'postgres://airlock@db.internal/airlock'],
      ['sqlite:./data/airlock.db', 'sqlite:./data/airlock.db'],
      ['sqlite::memory:', 'sqlite::memory:'],
      // Not parsable as a URL (port out of range, unencoded "/" in the password): redacted by pattern.
      ['postgres://u:s3cret@db:99999/x', 'postgres://u:***@db:99999/x'],
      ['postgres://u:s3c/ret@db/x', 'postgres://u:***@db/x'],
      ['not a url at all', 'not a url at all'],
      ['', ''],
    ];
    for (const [input, expected] of cases) assert.equal(redactUrl(input), expected, input);
  });

  test('an unknown scheme is a configuration error naming the accepted forms', async () => {
    await rejectsWith(openStore('mysql://root:s3cret@db/airlock'), 'GW_CONFIG_INVALID',
      'store.url "mysql://root:***@db/airlock" is not supported; use sqlite:<path> (e.g. sqlite:./data/airlock.db, relative to the working directory), sqlite::memory: (tests), or postgres://user:password@host:5432/database.');
    await rejectsWith(openStore('sqlite:'), 'GW_CONFIG_INVALID', /^store\.url "sqlite:" does not name a file; use sqlite:<path>/);
  });
});
