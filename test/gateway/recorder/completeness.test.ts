// Recordings that prove they are whole, on SQLite and on PostgreSQL: a real gateway, agent and
// target record sessions; the store is then edited behind the gateway's back the way someone with
// write access to the database (but not the recording key) would, and `airlock sessions verify`
// (one session, and --all with the ledger) exits 3 naming what was done — a last event deleted,
// a tail cut back with its checkpoints, a whole session deleted, a checkpoint deleted, the state
// edited, a session restored from an older copy. Untouched, and after a key rotation, it passes;
// an open session verifies up to its last event with --checkpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { toPgPlaceholders } from '../../../gateway/store/postgres.ts';
import { AIRLOCK, run, type Running } from '../../support/process.ts';
import { startPostgres, type TestPostgres } from '../../support/postgres.ts';
import { startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';

type Row = Record<string, unknown>;
interface Db { all(sql: string, params?: unknown[]): Promise<Row[]>; run(sql: string, params?: unknown[]): Promise<void>; close(): Promise<void> }

let server: TestPostgres | undefined;
let target: Server;
let targetUrl: string;

before(async () => {
  target = createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'); });
  targetUrl = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
});
after(async () => {
  await new Promise<void>((r) => target.close(() => r()));
  await server?.stop();
});

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`recordings prove they are whole (${backend})`, () => {
    let t: TestGateway;
    let agent: Running;
    let db: Db;
    let env: NodeJS.ProcessEnv;
    let bob: string;
    let n = 0;

    before(async () => {
      let storeUrl: string | undefined;
      if (backend === 'postgres') {
        server ??= await startPostgres();
        const admin = new pg.Client({ connectionString: server.url });
        await admin.connect();
        await admin.query('CREATE DATABASE gw_whole');
        await admin.end();
        storeUrl = server.url.replace(/\/postgres$/, '/gw_whole');
      }
      t = await startTestGateway({ config: { recording: { checkpointEvery: 3 }, ...(storeUrl ? { store: { url: storeUrl } } : {}) } });
      bob = await t.token('bob', ['developers']);
      env = { AIRLOCK_GATEWAY: t.gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'config'), AIRLOCK_TOKEN: await t.token('alice', ['admins', 'auditors']) };
      agent = await startTestAgent(t, 'edge', { allow: [targetUrl] });
      assert.equal((await t.call('POST', '/api/v1/connections', env.AIRLOCK_TOKEN, { name: 'demo', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'] })).status, 201);
      db = storeUrl ? await pgDb(storeUrl) : sqliteDb(join(t.dir, 'gw.db'));
    });
    after(async () => {
      await db?.close();
      await agent?.stop('SIGTERM');
      await t?.close();
    });

    /** A session of `requests` GETs (each: request, decision, response, decision), ended unless `open`. */
    async function session(requests = 2, open = false): Promise<{ id: string; last: number }> {
      const label = `s${++n}`;
      for (let i = 0; i < requests; i++) {
        const res = await fetch(`${t.gw.url}/proxy/demo/items/${i}`, { headers: { authorization: `Bearer ${bob}`, 'x-airlock-session': label } });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      if (!open) await t.gw.recording.httpSessions.close();
      const listed = await t.call('GET', '/api/v1/sessions?user=bob&limit=1000', env.AIRLOCK_TOKEN);
      const id = listed.body.sessions.find((s: { metadata: { label?: string } }) => s.metadata.label === label).id as string;
      const last = Number((await db.all('SELECT MAX(seq) AS m FROM events WHERE session_id = ?', [id]))[0]!.m);
      return { id, last };
    }

    const verify = (...args: string[]) => run(AIRLOCK, ['sessions', 'verify', ...args], { env });

    /** Runs `tamper`, checks both verdicts, then puts the session's rows back as they were. */
    async function refused(id: string, tamper: () => Promise<void>, one: RegExp, all = new RegExp(`FAIL: session ${id}`)): Promise<void> {
      const saved = await snapshot(db, id);
      await tamper();
      try {
        const single = await verify(id);
        assert.equal(single.code, 3, single.stdout + single.stderr);
        assert.match(single.stderr, one);
        assert.match(single.stderr, /\(CLI_VERIFY_FAILED\)\n$/);
        const every = await verify('--all');
        assert.equal(every.code, 3, every.stdout + every.stderr);
        assert.match(every.stdout, all);
        assert.match(every.stderr, /^airlock: The recording does NOT verify \(\d+ problems?\): /);
      } finally {
        await restore(db, id, saved);
      }
    }

    test('an untouched store verifies: one session, and --all with the ledger', async () => {
      const { id, last } = await session();
      const one = await verify(id);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, new RegExp(`^OK: session ${id} \\(ended\\): ${last} events chained, \\d+ signed checkpoint\\(s\\), signed through event ${last}; the ledger agrees\\.\\n$`));
      const every = await verify('--all');
      assert.equal(every.code, 0, every.stdout + every.stderr);
      assert.match(every.stdout, /^OK: \d+ session\(s\) verified; ledger: 1 chain\(s\), \d+ entries, none missing\.\n/);
      const since = await verify('--since', new Date(Date.now() - 60_000).toISOString());
      assert.equal(since.code, 0, since.stdout + since.stderr);
      assert.match(since.stdout, /^OK: \d+ session\(s\) verified since /);
    });

    test('the last event deleted', async () => {
      const { id, last } = await session();
      await refused(id, () => db.run('DELETE FROM events WHERE session_id = ? AND seq = ?', [id, last]),
        new RegExp(`does NOT verify: the session was truncated: a signed checkpoint covers event ${last}, but only ${last - 1} events remain \\(event ${last}\\)\\.`));
    });

    test('the tail deleted with its checkpoints, and the session marked incomplete', async () => {
      const { id, last } = await session();
      const kept = Number((await db.all('SELECT MIN(seq) AS s FROM checkpoints WHERE session_id = ?', [id]))[0]!.s);
      assert.ok(kept < last - 1);
      await refused(id, async () => {
        await db.run('DELETE FROM checkpoints WHERE session_id = ? AND seq > ?', [id, kept]);
        await db.run('DELETE FROM events WHERE session_id = ? AND seq > ?', [id, kept]);
        await db.run("UPDATE sessions SET state = 'incomplete' WHERE id = ?", [id]);
      }, new RegExp(`the session is marked incomplete but no final signed checkpoint seals it \\(the last signed event is ${kept}\\): its tail and final checkpoint were removed, or its state was edited`),
      new RegExp(`FAIL: session ${id} is not what the ledger recorded: its newest checkpoint should be at event ${last} \\(state ended, chain \\S+ entry \\d+\\), but the store's is at event ${kept}: the session was cut back, restored from an older copy, or its checkpoint removed`));
    });

    test('the tail deleted with its checkpoints, the session left open: only the ledger can tell', async () => {
      const { id, last } = await session();
      const kept = Number((await db.all('SELECT MIN(seq) AS s FROM checkpoints WHERE session_id = ?', [id]))[0]!.s);
      await refused(id, async () => {
        await db.run('DELETE FROM checkpoints WHERE session_id = ? AND seq > ?', [id, kept]);
        await db.run('DELETE FROM events WHERE session_id = ? AND seq > ?', [id, kept]);
        await db.run("UPDATE sessions SET state = 'open', ended_at = NULL WHERE id = ?", [id]);
      }, new RegExp(`does NOT verify: session ${id} is not what the ledger recorded: its newest checkpoint should be at event ${last} \\(state ended`));
    });

    test('a whole session deleted', async () => {
      const { id } = await session();
      await refused(id, async () => {
        await db.run('DELETE FROM checkpoints WHERE session_id = ?', [id]);
        await db.run('DELETE FROM events WHERE session_id = ?', [id]);
        await db.run('DELETE FROM sessions WHERE id = ?', [id]);
      }, new RegExp(`Session ${id} does NOT verify: session ${id} was deleted: the ledger recorded it \\(chain \\S+ entry \\d+, [0-9T:.-]+Z\\) and no purge\\.`),
      new RegExp(`FAIL: session ${id} was deleted: the ledger recorded it`));
    });

    test('a whole session deleted with its ledger entries: the ledger chain breaks', async () => {
      const { id } = await session();
      await session(); // entries of a later session follow, so the deleted ones leave a gap
      const saved = await snapshot(db, id);
      const entries = await db.all('SELECT * FROM ledger WHERE session_id = ? ORDER BY chain, seq', [id]);
      assert.ok(entries.length >= 2, 'a start and its checkpoints');
      await db.run('DELETE FROM ledger WHERE session_id = ?', [id]);
      await db.run('DELETE FROM checkpoints WHERE session_id = ?', [id]);
      await db.run('DELETE FROM events WHERE session_id = ?', [id]);
      await db.run('DELETE FROM sessions WHERE id = ?', [id]);
      try {
        const every = await verify('--all');
        assert.equal(every.code, 3, every.stdout + every.stderr);
        assert.match(every.stdout, new RegExp(`FAIL: ledger chain ${t.gw.recording.recorder.instance}: entry ${Number(entries[0]!.seq)} is missing \\(found \\d+ in its place\\): the ledger was edited\n`));
      } finally {
        await restore(db, id, saved);
        for (const r of entries) {
          const cols = Object.keys(r);
          await db.run(`INSERT INTO ledger (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, cols.map((c) => r[c]));
        }
      }
      assert.equal((await verify('--all')).code, 0, 'whole again');
    });

    test('a checkpoint deleted from the middle', async () => {
      const { id } = await session(3);
      const seqs = (await db.all('SELECT seq FROM checkpoints WHERE session_id = ? ORDER BY seq', [id])).map((r) => Number(r.seq));
      assert.ok(seqs.length >= 3, `checkpoints at ${seqs}`);
      await refused(id, () => db.run('DELETE FROM checkpoints WHERE session_id = ? AND seq = ?', [id, seqs[1]]),
        new RegExp(`the checkpoint at event ${seqs[2]} does not follow the one at event ${seqs[0]}: a checkpoint between them was removed \\(event ${seqs[2]}\\)`));
    });

    test('the state edited after signing', async () => {
      const { id } = await session();
      await refused(id, () => db.run("UPDATE sessions SET state = 'incomplete' WHERE id = ?", [id]),
        /the session's state says incomplete, but its final signed checkpoint says ended: the state was edited after signing \(event 0\)/);
    });

    test('a session restored from an older copy', async () => {
      const label = `s${++n}`;
      const get = () => fetch(`${t.gw.url}/proxy/demo/items`, { headers: { authorization: `Bearer ${bob}`, 'x-airlock-session': label } }).then((r) => r.arrayBuffer());
      await get();
      await get();
      const listed = await t.call('GET', '/api/v1/sessions?user=bob&limit=1000', env.AIRLOCK_TOKEN);
      const id = listed.body.sessions.find((s: { metadata: { label?: string } }) => s.metadata.label === label).id as string;
      const old = await snapshot(db, id); // the backup, taken while the session was open
      await get();
      await t.gw.recording.httpSessions.close();
      const current = await snapshot(db, id);
      await restore(db, id, old);
      try {
        const single = await verify(id);
        assert.equal(single.code, 3, single.stdout + single.stderr);
        assert.match(single.stderr, new RegExp(`Session ${id} does NOT verify: session ${id} is not what the ledger recorded: its newest checkpoint should be at event \\d+ \\(state ended, chain \\S+ entry \\d+\\), but the store's is at event \\d+: the session was cut back, restored from an older copy, or its checkpoint removed\\.`));
        const every = await verify('--all');
        assert.equal(every.code, 3);
        assert.match(every.stdout, new RegExp(`FAIL: session ${id} is not what the ledger recorded`));
      } finally {
        await restore(db, id, current);
      }
      assert.equal((await verify('--all')).code, 0, 'the store is whole again');
    });

    test('--checkpoint: an open session verifies up to its last event', async () => {
      const { id, last } = await session(2, true);
      const before = await verify(id);
      assert.equal(before.code, 0, before.stderr);
      assert.match(before.stdout, new RegExp(`note: the session is still open; events after \\d+ are chained but not yet signed \\(ask for a fresh checkpoint with --checkpoint\\)`));
      const fresh = await verify(id, '--checkpoint');
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.match(fresh.stdout, new RegExp(`^OK: session ${id} \\(open\\): ${last} events chained, \\d+ signed checkpoint\\(s\\), signed through event ${last}; the ledger agrees\\.\\n$`));
      const user = await run(AIRLOCK, ['sessions', 'verify', id, '--checkpoint'], { env: { ...env, AIRLOCK_TOKEN: bob } });
      assert.equal(user.code, 1);
      assert.match(user.stderr, /Only auditors and admins ask for a fresh checkpoint\. \(GW_FORBIDDEN\)/);
      await t.gw.recording.httpSessions.close();
      assert.equal((await verify(id)).code, 0);
    });

    test('a retention purge is no deletion: the ledger says which sessions it removed', async () => {
      const { id } = await session();
      const gone = await t.gw.recording.recorder.purge('demo', Date.now() + 1);
      assert.ok(gone >= 1);
      assert.deepEqual(await db.all('SELECT id FROM sessions WHERE id = ?', [id]), []);
      const purges = await db.all("SELECT session_id FROM ledger WHERE type = 'purge' AND session_id = ?", [id]);
      assert.equal(purges.length, 1);
      const every = await verify('--all');
      assert.equal(every.code, 0, every.stdout + every.stderr);
    });
    test('after a key rotation, old and new sessions verify without --key', async () => {
      const { id: old } = await session();
      // A replica on the same store signs with a new key and publishes the old one as retired.
      const rotated = await t.replica({ recording: { checkpointEvery: 3, keyFile: join(t.dir, 'recording-key-2.pem'), retiredKeys: [join(t.dir, 'recording-key.pem')] } });
      const keys = (await (await fetch(`${rotated.url}/api/v1/recording-key`)).json()) as { keys: Array<{ kid: string; status: string; notBefore: string | null; notAfter: string | null }> };
      assert.deepEqual(keys.keys.map((k) => [k.kid, k.status]), [[rotated.recording.key.keyId, 'current'], [t.gw.recording.key.keyId, 'retired']]);
      assert.notEqual(rotated.recording.key.keyId, t.gw.recording.key.keyId);
      // The agent's tunnel is on the first gateway: the replica's recorder records a session itself.
      const recorder = rotated.recording.recorder;
      const opened = await recorder.open({ connection: 'demo', kind: 'http', subject: 'bob' });
      for (let i = 0; i < 4; i++) await recorder.record(opened, 'request', { method: 'GET', path: `/api/items/${i}` });
      await recorder.end(opened, 'done');
      const fresh = opened.id;
      const at = { ...env, AIRLOCK_GATEWAY: rotated.url };
      for (const id of [old, fresh]) {
        const r = await run(AIRLOCK, ['sessions', 'verify', id], { env: at });
        assert.equal(r.code, 0, r.stderr);
      }
      const checkpoints = await t.call('GET', `/api/v1/sessions/${fresh}/checkpoints`, env.AIRLOCK_TOKEN);
      assert.ok(checkpoints.body.checkpoints.every((c: { keyId: string }) => c.keyId === rotated.recording.key.keyId), 'the new session is signed with the new key');
      const every = await run(AIRLOCK, ['sessions', 'verify', '--all'], { env: at });
      assert.equal(every.code, 0, every.stdout + every.stderr);
      assert.match(every.stdout, /ledger: 2 chain\(s\)/);
      // Only the replica recording an open session signs its head; another says where it is.
      await fetch(`${t.gw.url}/proxy/demo/items`, { headers: { authorization: `Bearer ${bob}`, 'x-airlock-session': 'elsewhere' } }).then((r) => r.arrayBuffer());
      const open = (await t.call('GET', '/api/v1/sessions?user=bob&limit=1000', env.AIRLOCK_TOKEN)).body.sessions.find((s: { metadata: { label?: string } }) => s.metadata.label === 'elsewhere');
      const elsewhere = await fetch(`${rotated.url}/api/v1/sessions/${open.id}/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${env.AIRLOCK_TOKEN}` } });
      assert.equal(elsewhere.status, 409);
      const body = await elsewhere.json() as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'GW_SESSION_ELSEWHERE');
      assert.equal(body.error.message, `Session ${open.id} is open but recorded by another gateway replica (${t.gw.recording.recorder.instance}); only that one can sign its head. Retry (through another replica), or verify it up to its last checkpoint.`);
      await t.gw.recording.httpSessions.close();

      // The gateway that still publishes only the old key cannot vouch for the new one.
      const stale = await verify(fresh);
      assert.equal(stale.code, 3);
      assert.match(stale.stderr, new RegExp(`is signed by key ${rotated.recording.key.keyId}, which is not a trusted recording key`));
    });

  });
}

function sqliteDb(file: string): Db {
  const d = new DatabaseSync(file);
  d.exec('PRAGMA busy_timeout = 5000');
  return {
    all: async (sql, params = []) => d.prepare(sql).all(...(params as never[])).map((r) => ({ ...r })),
    run: async (sql, params = []) => { d.prepare(sql).run(...(params as never[])); },
    close: async () => d.close(),
  };
}

async function pgDb(url: string): Promise<Db> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return {
    all: async (sql, params = []) => (await c.query(toPgPlaceholders(sql), params)).rows,
    run: async (sql, params = []) => { await c.query(toPgPlaceholders(sql), params); },
    close: () => c.end(),
  };
}

interface Snapshot { sessions: Row[]; events: Row[]; checkpoints: Row[] }

/** A session's rows as they are now (what a backup holds of it). */
async function snapshot(db: Db, id: string): Promise<Snapshot> {
  return {
    sessions: await db.all('SELECT * FROM sessions WHERE id = ?', [id]),
    events: await db.all('SELECT * FROM events WHERE session_id = ? ORDER BY seq', [id]),
    checkpoints: await db.all('SELECT * FROM checkpoints WHERE session_id = ? ORDER BY seq', [id]),
  };
}

/** Replaces the session's rows by `snap`'s. */
async function restore(db: Db, id: string, snap: Snapshot): Promise<void> {
  await db.run('DELETE FROM checkpoints WHERE session_id = ?', [id]);
  await db.run('DELETE FROM events WHERE session_id = ?', [id]);
  await db.run('DELETE FROM sessions WHERE id = ?', [id]);
  for (const [table, rows] of [['sessions', snap.sessions], ['events', snap.events], ['checkpoints', snap.checkpoints]] as const) {
    for (const r of rows) {
      const cols = Object.keys(r);
      await db.run(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, cols.map((c) => r[c]));
    }
  }
}
