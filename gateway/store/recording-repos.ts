// The recording's tables: sessions, their hash-chained events, signed checkpoints, the ledger
// (each gateway process's hash-chained entries of session starts, checkpoints and purges, with its
// signed head), and the gateway processes that record them (so a process that died leaves its
// sessions "incomplete", sealed by the gateway that finds it).
import type { Driver, Executor, Row, SqlValue } from './driver.ts';
import { parseJsonObject, parseJsonText, toJsonText } from './json.ts';
import { conflict, first, num, op, optNum, optStr, positiveInt, q, str } from './ops.ts';
import type { AbandonedSession, CheckpointRecord, ConnectionKind, EventBatch, EventRecord, LedgerEntryRecord, LedgerHeadRecord, NewCheckpoint, NewEvent, NewSession, RecordingWrite, SessionRecord, SessionState, Store } from './types.ts';

const DEFAULT_EVENT_PAGE = 1000;
const MAX_EVENT_PAGE = 10_000;
const DEFAULT_SESSION_PAGE = 100;
const MAX_SESSION_PAGE = 1000;

const SESSION_COLUMNS = 'id, connection, subject, kind, started_at, ended_at, metadata, state, end_reason, instance, last_seq, decisions';
// A session's last stored seq is read from its events (the primary key's index), not from the
// sessions row: appending then writes no sessions row, which spares every recorder commit a
// page. The last_seq column is written when the session ends or is swept (for readers of the row).
const LAST_SEQ = '(SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.session_id = sessions.id)';
const SESSION_READ_COLUMNS = SESSION_COLUMNS.replace('last_seq', `${LAST_SEQ} AS last_seq`);
function toSession(r: Row): SessionRecord {
  return {
    id: str(r.id), connection: str(r.connection), subject: str(r.subject), kind: str(r.kind) as ConnectionKind,
    startedAt: num(r.started_at), endedAt: optNum(r.ended_at), metadata: parseJsonObject(r.metadata, 'session metadata'),
    state: str(r.state) as SessionState, endReason: optStr(r.end_reason), instance: optStr(r.instance), lastSeq: num(r.last_seq),
    decisions: str(r.decisions).split(',').filter(Boolean),
  };
}

const EVENT_COLUMNS = 'session_id, seq, type, at, offset_ms, payload, prev_hash, hash';
function toEvent(r: Row): EventRecord {
  return {
    sessionId: str(r.session_id), seq: num(r.seq), type: str(r.type), at: num(r.at), offsetMs: num(r.offset_ms),
    payload: parseJsonText(r.payload, 'event payload'), prevHash: str(r.prev_hash), hash: str(r.hash),
  };
}

const CHECKPOINT_COLUMNS = 'session_id, seq, hash, at, key_id, signature, state, prev';
function toCheckpoint(r: Row): CheckpointRecord {
  return {
    sessionId: str(r.session_id), seq: num(r.seq), hash: str(r.hash), at: num(r.at), keyId: str(r.key_id), signature: str(r.signature),
    state: optStr(r.state) as SessionState | null, prev: optStr(r.prev),
  };
}
const checkpointParams = (c: NewCheckpoint): SqlValue[] =>
  [c.sessionId, c.seq, c.hash, c.at, c.keyId, c.signature, c.state ?? null, c.prev ?? null];

const LEDGER_COLUMNS = 'chain, seq, at, type, session_id, data, prev_hash, hash';
function toLedgerEntry(r: Row): LedgerEntryRecord {
  return {
    chain: str(r.chain), seq: num(r.seq), at: num(r.at), type: str(r.type), sessionId: str(r.session_id),
    data: parseJsonObject(r.data, 'ledger entry data'), prevHash: str(r.prev_hash), hash: str(r.hash),
  };
}
const HEAD_COLUMNS = 'chain, seq, hash, at, key_id, final, signature';
function toHead(r: Row): LedgerHeadRecord {
  return { chain: str(r.chain), seq: num(r.seq), hash: str(r.hash), at: num(r.at), keyId: str(r.key_id), final: num(r.final) === 1, signature: str(r.signature) };
}

const DECISION = /^[a-z]{1,16}$/;
/** Rows per INSERT statement: 8 parameters each stays far below either backend's limit. */
const ROWS_PER_INSERT = 200;

/**
 * INSERTs of `rows` into `table`. PostgreSQL pays a round trip per statement: multi-row INSERTs of
 * ROWS_PER_INSERT rows. SQLite has no round trip: one single-row statement, prepared once (the
 * driver keeps it), run per row, which costs less than binding and parsing a new multi-row text.
 */
async function insertRows<T>(tx: Executor, backend: Driver['backend'], table: string, columns: string, rows: readonly T[], params: (row: T) => SqlValue[]): Promise<void> {
  const one = `(${columns.split(', ').map(() => '?').join(', ')})`;
  if (backend === 'sqlite') {
    const sql = `INSERT INTO ${table} (${columns}) VALUES ${one}`;
    for (const row of rows) await tx.run(sql, params(row));
    return;
  }
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const part = rows.slice(i, i + ROWS_PER_INSERT);
    await tx.run(`INSERT INTO ${table} (${columns}) VALUES ${part.map(() => one).join(', ')}`, part.flatMap(params));
  }
}

/** Ids per `IN (...)` list: far below either backend's parameter limit. */
const IDS_PER_QUERY = 500;
function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IDS_PER_QUERY) out.push(items.slice(i, i + IDS_PER_QUERY));
  return out;
}

/** A page of a gapless chain (events, ledger entries): after `afterSeq` (default 0), at most `limit` (default 1000, at most 10 000). */
function pageOf(options: { afterSeq?: number; limit?: number }): { afterSeq: number; limit: number } {
  const { afterSeq = 0, limit = DEFAULT_EVENT_PAGE } = options;
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new TypeError(`afterSeq must be a non-negative integer, got ${afterSeq}`);
  positiveInt(limit, 'limit');
  if (limit > MAX_EVENT_PAGE) throw new TypeError(`limit must be at most ${MAX_EVENT_PAGE}, got ${limit}`);
  return { afterSeq, limit };
}

export function recordingRepos(driver: Driver, _now: () => number): Pick<Store, 'sessions' | 'events' | 'checkpoints' | 'ledger' | 'instances'> {
  const db: Executor = driver;
  // PostgreSQL runs READ COMMITTED: an append locks the session row so concurrent appends queue
  // up. SQLite's BEGIN IMMEDIATE already serialises writers (and has no FOR UPDATE).
  const postgres = driver.backend === 'postgres';

  /**
   * Inside a transaction: checks and stores the batches of every session in a write with a fixed
   * number of statements, whatever the number of sessions (PostgreSQL pays a round trip per
   * statement): one read of the sessions (locked, in id order), one of their last seq, one
   * multi-row INSERT of all the events. The sessions row changes only for a new decision.
   */
  async function appendIn(tx: Executor, batches: readonly EventBatch[]): Promise<void> {
    const writing = batches.filter((b) => b.events.length > 0);
    if (writing.length === 0) return;
    for (const { sessionId, events } of writing) {
      events.forEach((e, i) => {
        positiveInt(e.seq, 'event seq');
        if (i > 0 && e.seq !== events[i - 1]!.seq + 1) {
          conflict(`events of session ${q(sessionId)} must be numbered without gaps: seq ${e.seq} follows ${events[i - 1]!.seq} in the batch; nothing was stored.`);
        }
      });
    }
    const ids = [...new Set(writing.map((b) => b.sessionId))].sort();
    // PostgreSQL: the row locks first (in id order, so two writers cannot deadlock), then the last
    // seqs in a statement of its own, whose snapshot sees what a writer that held a lock before us
    // committed. SQLite: one statement will do (BEGIN IMMEDIATE already serialises writers).
    const sessions = new Map<string, { state: string; decisions: string; last: number }>();
    for (const part of chunks(ids)) {
      const list = part.map(() => '?').join(', ');
      const rows = await tx.query(postgres
        ? `SELECT id, state, decisions FROM sessions WHERE id IN (${list}) ORDER BY id FOR UPDATE`
        : `SELECT id, state, decisions, ${LAST_SEQ} AS last_seq FROM sessions WHERE id IN (${list})`, part);
      for (const r of rows) sessions.set(str(r.id), { state: str(r.state), decisions: str(r.decisions), last: num(r.last_seq ?? 0) });
      if (postgres) {
        // Per session (not MAX … GROUP BY, which reads every event of each session): the index's last entry.
        for (const r of await tx.query(`SELECT id, ${LAST_SEQ} AS last_seq FROM sessions WHERE id IN (${list})`, part)) {
          sessions.get(str(r.id))!.last = num(r.last_seq);
        }
      }
    }
    const rows: Array<[string, NewEvent]> = [];
    for (const { sessionId, events } of writing) {
      const session = sessions.get(sessionId);
      if (!session) conflict(`session ${q(sessionId)} does not exist; create it before recording its events.`);
      if (session.state !== 'open') conflict(`session ${q(sessionId)} has ended; no more events can be recorded in it.`);
      const head = events[0]!;
      if (head.seq !== session.last + 1) {
        conflict(`event ${head.seq} does not follow the last stored event of session ${q(sessionId)} (${session.last}); the next must be ${session.last + 1}. Nothing was stored.`);
      }
      session.last = events[events.length - 1]!.seq; // a second batch of the same session follows this one
      for (const e of events) rows.push([sessionId, e]);
    }
    await insertRows(tx, driver.backend, 'events', EVENT_COLUMNS, rows,
      ([sessionId, e]) => [sessionId, e.seq, e.type, e.at, e.offsetMs, e.payloadText ?? toJsonText(e.payload, 'event payload'), e.prevHash, e.hash]);
    const known = new Map<string, string>();
    for (const batch of writing) {
      const session = sessions.get(batch.sessionId)!;
      for (const d of batch.decisions ?? []) {
        if (!DECISION.test(d)) throw new TypeError(`a decision is a lower-case word, got ${JSON.stringify(d)}`);
        if (!session.decisions.includes(`,${d},`)) {
          if (!known.has(batch.sessionId)) known.set(batch.sessionId, session.decisions);
          session.decisions += `${d},`;
        }
      }
    }
    for (const id of known.keys()) await tx.run('UPDATE sessions SET decisions = ? WHERE id = ?', [sessions.get(id)!.decisions, id]);
  }

  async function createIn(tx: Executor, rec: NewSession): Promise<Row> {
    const rows = await tx.query(
      `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, 'open', NULL, ?, 0, ',') RETURNING ${SESSION_COLUMNS}`,
      [rec.id, rec.connection, rec.subject, rec.kind, rec.startedAt, toJsonText(rec.metadata ?? {}, 'session metadata'), rec.instance ?? null]);
    return rows[0]!;
  }

  async function endIn(tx: Executor, id: string, at: number, state: 'ended' | 'incomplete', reason: string | null): Promise<boolean> {
    return (await tx.run(`UPDATE sessions SET ended_at = ?, state = ?, end_reason = ?, last_seq = ${LAST_SEQ} WHERE id = ? AND state = 'open'`, [at, state, reason, id])) > 0;
  }

  /** Inside a transaction: everything a recorder flush (or a sweep, a purge) writes at once. */
  async function commitIn(tx: Executor, write: RecordingWrite): Promise<void> {
    const batches = write.batches ?? [];
    for (const batch of batches) if (batch.create) await createIn(tx, batch.create);
    await appendIn(tx, batches);
    for (const batch of batches) {
      if (batch.end && !(await endIn(tx, batch.sessionId, batch.end.at, batch.end.state, batch.end.reason))) {
        conflict(`session ${q(batch.sessionId)} has ended; it cannot end again.`);
      }
    }
    await insertRows(tx, driver.backend, 'checkpoints', CHECKPOINT_COLUMNS, write.checkpoints ?? [], checkpointParams);
    await insertRows(tx, driver.backend, 'ledger', LEDGER_COLUMNS, write.ledger ?? [],
      (e) => [e.chain, e.seq, e.at, e.type, e.sessionId, toJsonText(e.data, 'ledger entry data'), e.prevHash, e.hash]);
    for (const h of write.heads ?? []) {
      // A head only moves forward: a stale writer (or a replayed head) changes nothing.
      const params = [h.chain, h.seq, h.hash, h.at, h.keyId, h.final ? 1 : 0, h.signature];
      await tx.run(`INSERT INTO ledger_heads (${HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, key_id = excluded.key_id, final = excluded.final, signature = excluded.signature
        WHERE ledger_heads.seq <= excluded.seq`, params);
    }
  }

  return {
    sessions: {
      create: (rec) => op(`store session ${q(rec.id)}`, async () => toSession(await createIn(db, rec)), () => `session ${q(rec.id)} already exists`),
      get: (id) => op(`read session ${q(id)}`, async () => {
        const r = first(await db.query(`SELECT ${SESSION_READ_COLUMNS} FROM sessions WHERE id = ?`, [id]));
        return r ? toSession(r) : null;
      }),
      end: (id, at, options = {}) => op(`end session ${q(id)}`, () => endIn(db, id, at, options.state ?? 'ended', options.reason ?? null)),
      list: async (filter = {}) => {
        const limit = filter.limit ?? DEFAULT_SESSION_PAGE;
        positiveInt(limit, 'limit');
        if (limit > MAX_SESSION_PAGE) throw new TypeError(`limit must be at most ${MAX_SESSION_PAGE}, got ${limit}`);
        const where: string[] = [];
        const params: SqlValue[] = [];
        if (filter.connection !== undefined) { where.push('connection = ?'); params.push(filter.connection); }
        if (filter.subject !== undefined) { where.push('subject = ?'); params.push(filter.subject); }
        if (filter.since !== undefined) { where.push('started_at >= ?'); params.push(filter.since); }
        if (filter.until !== undefined) { where.push('started_at <= ?'); params.push(filter.until); }
        if (filter.decision !== undefined) {
          if (!DECISION.test(filter.decision)) throw new TypeError(`a decision is a lower-case word, got ${JSON.stringify(filter.decision)}`);
          where.push('decisions LIKE ?');
          params.push(`%,${filter.decision},%`);
        }
        const sql = `SELECT ${SESSION_READ_COLUMNS} FROM sessions${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT ?`;
        return op('list sessions', async () => (await db.query(sql, [...params, limit])).map(toSession));
      },
      purge: (connection, before, record) => op(`purge sessions of ${q(connection)}`, () => driver.transaction(async (tx) => {
        const ids = (await tx.query(`SELECT id FROM sessions WHERE connection = ? AND started_at < ? AND state <> 'open' ORDER BY started_at, id`, [connection, before])).map((r) => str(r.id));
        for (const id of ids) {
          await tx.run('DELETE FROM events WHERE session_id = ?', [id]);
          await tx.run('DELETE FROM checkpoints WHERE session_id = ?', [id]);
          await tx.run('DELETE FROM sessions WHERE id = ?', [id]);
        }
        if (ids.length > 0 && record) await commitIn(tx, record(ids));
        return ids.length;
      })),
    },

    events: {
      append: (sessionId, events) => op(`record events of session ${q(sessionId)}`, async () => {
        if (events.length === 0) return;
        await driver.transaction((tx) => appendIn(tx, [{ sessionId, events }]));
      }, () => `another writer recorded events in session ${q(sessionId)} at the same time; nothing of this batch was stored.`),
      appendMany: (batches) => op(`record events of ${batches.length} session(s)`, async () => {
        if (batches.every((b) => b.events.length === 0)) return;
        await driver.transaction((tx) => appendIn(tx, batches));
      }, () => 'another writer recorded events in one of these sessions at the same time; nothing of this batch was stored.'),
      commit: (write) => op('record events, checkpoints and ledger entries', () => driver.transaction((tx) => commitIn(tx, write)),
        () => 'another writer recorded the same events, checkpoint or ledger entry at the same time; nothing of this batch was stored.'),
      list: async (sessionId, options = {}) => {
        const { afterSeq, limit } = pageOf(options);
        return op(`read events of session ${q(sessionId)}`, async () =>
          (await db.query(`SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?`, [sessionId, afterSeq, limit])).map(toEvent));
      },
    },

    checkpoints: {
      add: (rec) => op(`store a checkpoint of session ${q(rec.sessionId)}`, async () => {
        await insertRows(db, driver.backend, 'checkpoints', CHECKPOINT_COLUMNS, [rec], checkpointParams);
      }, () => `session ${q(rec.sessionId)} already has a checkpoint at event ${rec.seq}`),
      list: (sessionId) => op(`read checkpoints of session ${q(sessionId)}`, async () =>
        (await db.query(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE session_id = ? ORDER BY seq`, [sessionId])).map(toCheckpoint)),
    },

    ledger: {
      chains: (filter = {}) => op('read the ledger chains', async () => {
        const where = filter.session !== undefined ? 'WHERE session_id = ?' : filter.since !== undefined ? 'WHERE at >= ?' : '';
        const params = filter.session !== undefined ? [filter.session] : filter.since !== undefined ? [filter.since] : [];
        const found = new Map<string, number>((await db.query(`SELECT chain, MIN(seq) AS from_seq FROM ledger ${where} GROUP BY chain`, params))
          .map((r) => [str(r.chain), num(r.from_seq)]));
        const heads = new Map((await db.query(`SELECT ${HEAD_COLUMNS} FROM ledger_heads`)).map((r) => [str(r.chain), toHead(r)]));
        // A head whose entries are all gone is a chain too (every chain, unfiltered; the newer ones with `since`).
        if (filter.session === undefined) {
          for (const [chain, h] of heads) if (!found.has(chain) && (filter.since === undefined || h.at >= filter.since)) found.set(chain, 1);
        }
        return [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([chain, from]) => ({ chain, from, head: heads.get(chain) ?? null }));
      }),
      entries: async (chain, options = {}) => {
        const { afterSeq, limit } = pageOf(options);
        return op(`read the ledger chain ${q(chain)}`, async () =>
          (await db.query(`SELECT ${LEDGER_COLUMNS} FROM ledger WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?`, [chain, afterSeq, limit])).map(toLedgerEntry));
      },
      heads: (limit = 1000) => op('read the ledger heads', async () =>
        (await db.query(`SELECT ${HEAD_COLUMNS} FROM ledger_heads ORDER BY at DESC, chain LIMIT ?`, [limit])).map(toHead)),
    },

    instances: {
      beat: (id, at) => op('record a gateway heartbeat', async () => {
        const changed = await db.run('UPDATE gateway_instances SET heartbeat_at = ? WHERE id = ?', [at, id]);
        if (changed === 0) await db.run('INSERT INTO gateway_instances (id, started_at, heartbeat_at) VALUES (?, ?, ?)', [id, at, at]);
      }),
      sweep: (self, staleBefore, at, seal) => op('mark the sessions of stopped gateways incomplete', () => driver.transaction(async (tx) => {
        const rows = await tx.query(
          `SELECT s.id FROM sessions s LEFT JOIN gateway_instances g ON g.id = s.instance
           WHERE s.state = 'open' AND (s.instance IS NULL OR s.instance <> ?) AND (g.id IS NULL OR g.heartbeat_at < ?)
           ORDER BY s.started_at, s.id`, [self, staleBefore]);
        const ids = rows.map((r) => str(r.id));
        const found: AbandonedSession[] = [];
        for (const id of ids) {
          // Unsealed (no seal given), the session just ends here; sealed, its end is in seal's write.
          if (!seal) {
            await endIn(tx, id, at, 'incomplete', 'the gateway recording it stopped without ending it');
            continue;
          }
          const last = first(await tx.query('SELECT seq, hash FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT 1', [id]));
          const checkpoint = first(await tx.query(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE session_id = ? ORDER BY seq DESC LIMIT 1`, [id]));
          found.push({ id, lastSeq: last ? num(last.seq) : 0, lastHash: last ? str(last.hash) : null, lastCheckpoint: checkpoint ? toCheckpoint(checkpoint) : null });
        }
        if (seal) {
          const chains = (await tx.query(
            `SELECT ${HEAD_COLUMNS.split(', ').map((c) => `h.${c}`).join(', ')} FROM ledger_heads h LEFT JOIN gateway_instances g ON g.id = h.chain
             WHERE h.final = 0 AND h.chain <> ? AND (g.id IS NULL OR g.heartbeat_at < ?) ORDER BY h.chain`, [self, staleBefore])).map(toHead);
          if (found.length > 0 || chains.length > 0) await commitIn(tx, seal({ sessions: found, chains }));
        }
        await tx.run('DELETE FROM gateway_instances WHERE heartbeat_at < ? AND id <> ?', [staleBefore, self]);
        return ids;
      })),
      remove: (id) => op('forget a gateway process', async () => { await db.run('DELETE FROM gateway_instances WHERE id = ?', [id]); }),
    },
  };
}
