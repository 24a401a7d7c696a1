// The recording's tables: sessions, their hash-chained events, signed checkpoints, and the
// gateway processes that record them (so a process that died leaves its sessions "incomplete").
import type { Driver, Executor, Row, SqlValue } from './driver.ts';
import { parseJsonObject, parseJsonText, toJsonText } from './json.ts';
import { conflict, first, num, op, optNum, optStr, positiveInt, q, str } from './ops.ts';
import type { CheckpointRecord, ConnectionKind, EventBatch, EventRecord, SessionRecord, SessionState, Store } from './types.ts';

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

const CHECKPOINT_COLUMNS = 'session_id, seq, hash, at, key_id, signature';
function toCheckpoint(r: Row): CheckpointRecord {
  return { sessionId: str(r.session_id), seq: num(r.seq), hash: str(r.hash), at: num(r.at), keyId: str(r.key_id), signature: str(r.signature) };
}

const DECISION = /^[a-z]{1,16}$/;
/** Rows per INSERT statement: 8 parameters each stays far below either backend's limit. */
const ROWS_PER_INSERT = 200;

export function recordingRepos(driver: Driver, _now: () => number): Pick<Store, 'sessions' | 'events' | 'checkpoints' | 'instances'> {
  const db: Executor = driver;
  // PostgreSQL runs READ COMMITTED: an append locks the session row so concurrent appends queue
  // up. SQLite's BEGIN IMMEDIATE already serialises writers (and has no FOR UPDATE).
  const postgres = driver.backend === 'postgres';

  /** Inside a transaction: checks and stores one session's batch (the sessions row changes only for a new decision). */
  async function appendIn(tx: Executor, batch: EventBatch): Promise<void> {
    const { sessionId, events } = batch;
    const head = events[0];
    if (!head) return;
    events.forEach((e, i) => {
      positiveInt(e.seq, 'event seq');
      if (i > 0 && e.seq !== events[i - 1]!.seq + 1) {
        conflict(`events of session ${q(sessionId)} must be numbered without gaps: seq ${e.seq} follows ${events[i - 1]!.seq} in the batch; nothing was stored.`);
      }
    });
    // PostgreSQL: the row lock first, then the last seq in a statement of its own, whose snapshot
    // sees what a writer that held the lock before us committed. SQLite: one statement will do.
    const session = first(await tx.query(postgres
      ? 'SELECT state, decisions FROM sessions WHERE id = ? FOR UPDATE'
      : `SELECT state, decisions, ${LAST_SEQ} AS last_seq FROM sessions WHERE id = ?`, [sessionId]));
    if (!session) conflict(`session ${q(sessionId)} does not exist; create it before recording its events.`);
    if (session.state !== 'open') conflict(`session ${q(sessionId)} has ended; no more events can be recorded in it.`);
    const last = num(postgres
      ? first(await tx.query('SELECT COALESCE(MAX(seq), 0) AS last_seq FROM events WHERE session_id = ?', [sessionId]))!.last_seq
      : session.last_seq);
    if (head.seq !== last + 1) {
      conflict(`event ${head.seq} does not follow the last stored event of session ${q(sessionId)} (${last}); the next must be ${last + 1}. Nothing was stored.`);
    }
    // Multi-row INSERTs: one round trip per ROWS_PER_INSERT events (PostgreSQL pays per statement).
    for (let i = 0; i < events.length; i += ROWS_PER_INSERT) {
      const part = events.slice(i, i + ROWS_PER_INSERT);
      await tx.run(`INSERT INTO events (${EVENT_COLUMNS}) VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        part.flatMap((e) => [sessionId, e.seq, e.type, e.at, e.offsetMs, e.payloadText ?? toJsonText(e.payload, 'event payload'), e.prevHash, e.hash]));
    }
    const known = str(session.decisions);
    let decisions = known;
    for (const d of batch.decisions ?? []) {
      if (!DECISION.test(d)) throw new TypeError(`a decision is a lower-case word, got ${JSON.stringify(d)}`);
      if (!decisions.includes(`,${d},`)) decisions += `${d},`;
    }
    if (decisions !== known) await tx.run('UPDATE sessions SET decisions = ? WHERE id = ?', [decisions, sessionId]);
  }

  return {
    sessions: {
      create: (rec) => op(`store session ${q(rec.id)}`, async () => {
        const rows = await db.query(
          `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, 'open', NULL, ?, 0, ',') RETURNING ${SESSION_COLUMNS}`,
          [rec.id, rec.connection, rec.subject, rec.kind, rec.startedAt, toJsonText(rec.metadata ?? {}, 'session metadata'), rec.instance ?? null]);
        return toSession(rows[0]!);
      }, () => `session ${q(rec.id)} already exists`),
      get: (id) => op(`read session ${q(id)}`, async () => {
        const r = first(await db.query(`SELECT ${SESSION_READ_COLUMNS} FROM sessions WHERE id = ?`, [id]));
        return r ? toSession(r) : null;
      }),
      end: (id, at, options = {}) => op(`end session ${q(id)}`, async () =>
        (await db.run(`UPDATE sessions SET ended_at = ?, state = ?, end_reason = ?, last_seq = ${LAST_SEQ} WHERE id = ? AND state = 'open'`,
          [at, options.state ?? 'ended', options.reason ?? null, id])) > 0),
      list: async (filter = {}) => {
        const limit = filter.limit ?? DEFAULT_SESSION_PAGE;
        positiveInt(limit, 'limit');
        if (limit > MAX_SESSION_PAGE) throw new TypeError(`limit must be at most ${MAX_SESSION_PAGE}, got ${limit}`);
        const where: string[] = [];
        const params: SqlValue[] = [];
        if (filter.connection !== undefined) { where.push('connection = ?'); params.push(filter.connection); }
        if (filter.subject !== undefined) { where.push('subject = ?'); params.push(filter.subject); }
        if (filter.since !== undefined) { where.push('started_at >= ?'); params.push(filter.since); }
        if (filter.decision !== undefined) {
          if (!DECISION.test(filter.decision)) throw new TypeError(`a decision is a lower-case word, got ${JSON.stringify(filter.decision)}`);
          where.push('decisions LIKE ?');
          params.push(`%,${filter.decision},%`);
        }
        const sql = `SELECT ${SESSION_READ_COLUMNS} FROM sessions${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id LIMIT ?`;
        return op('list sessions', async () => (await db.query(sql, [...params, limit])).map(toSession));
      },
      purge: (connection, before) => op(`purge sessions of ${q(connection)}`, () => driver.transaction(async (tx) => {
        const ids = (await tx.query(`SELECT id FROM sessions WHERE connection = ? AND started_at < ? AND state <> 'open'`, [connection, before])).map((r) => str(r.id));
        for (const id of ids) {
          await tx.run('DELETE FROM events WHERE session_id = ?', [id]);
          await tx.run('DELETE FROM checkpoints WHERE session_id = ?', [id]);
          await tx.run('DELETE FROM sessions WHERE id = ?', [id]);
        }
        return ids.length;
      })),
    },

    events: {
      append: (sessionId, events) => op(`record events of session ${q(sessionId)}`, async () => {
        if (events.length === 0) return;
        await driver.transaction((tx) => appendIn(tx, { sessionId, events }));
      }, () => `another writer recorded events in session ${q(sessionId)} at the same time; nothing of this batch was stored.`),
      appendMany: (batches) => op(`record events of ${batches.length} session(s)`, async () => {
        if (batches.every((b) => b.events.length === 0)) return;
        await driver.transaction(async (tx) => {
          for (const batch of batches) await appendIn(tx, batch);
        });
      }, () => 'another writer recorded events in one of these sessions at the same time; nothing of this batch was stored.'),
      list: async (sessionId, { afterSeq = 0, limit = DEFAULT_EVENT_PAGE } = {}) => {
        if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new TypeError(`afterSeq must be a non-negative integer, got ${afterSeq}`);
        positiveInt(limit, 'limit');
        if (limit > MAX_EVENT_PAGE) throw new TypeError(`limit must be at most ${MAX_EVENT_PAGE}, got ${limit}`);
        return op(`read events of session ${q(sessionId)}`, async () =>
          (await db.query(`SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?`, [sessionId, afterSeq, limit])).map(toEvent));
      },
    },

    checkpoints: {
      add: (rec) => op(`store a checkpoint of session ${q(rec.sessionId)}`, async () => {
        await db.run(`INSERT INTO checkpoints (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`, [rec.sessionId, rec.seq, rec.hash, rec.at, rec.keyId, rec.signature]);
      }, () => `session ${q(rec.sessionId)} already has a checkpoint at event ${rec.seq}`),
      list: (sessionId) => op(`read checkpoints of session ${q(sessionId)}`, async () =>
        (await db.query(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE session_id = ? ORDER BY seq`, [sessionId])).map(toCheckpoint)),
    },

    instances: {
      beat: (id, at) => op('record a gateway heartbeat', async () => {
        const changed = await db.run('UPDATE gateway_instances SET heartbeat_at = ? WHERE id = ?', [at, id]);
        if (changed === 0) await db.run('INSERT INTO gateway_instances (id, started_at, heartbeat_at) VALUES (?, ?, ?)', [id, at, at]);
      }),
      sweep: (self, staleBefore, at) => op('mark the sessions of stopped gateways incomplete', () => driver.transaction(async (tx) => {
        const rows = await tx.query(
          `SELECT s.id FROM sessions s LEFT JOIN gateway_instances g ON g.id = s.instance
           WHERE s.state = 'open' AND (s.instance IS NULL OR s.instance <> ?) AND (g.id IS NULL OR g.heartbeat_at < ?)`, [self, staleBefore]);
        const ids = rows.map((r) => str(r.id));
        for (const id of ids) {
          await tx.run(`UPDATE sessions SET state = 'incomplete', ended_at = ?, end_reason = ?, last_seq = ${LAST_SEQ} WHERE id = ? AND state = 'open'`,
            [at, 'the gateway recording it stopped without ending it', id]);
        }
        await tx.run('DELETE FROM gateway_instances WHERE heartbeat_at < ? AND id <> ?', [staleBefore, self]);
        return ids;
      })),
      remove: (id) => op('forget a gateway process', async () => { await db.run('DELETE FROM gateway_instances WHERE id = ?', [id]); }),
    },
  };
}
