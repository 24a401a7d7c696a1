// The Store over a Driver: every table's SQL written once, for both backends (`?` placeholders,
// portable SQL). Rows are mapped to plain records here; driver failures become coded errors.
import { GatewayError } from '../errors.ts';
import { DriverError, type Driver, type Executor, type Row, type SqlValue } from './driver.ts';
import { parseJsonObject, parseJsonText, toJsonText } from './json.ts';
import type {
  AgentPatch, AgentRecord, AgentStatus, ApiKeyRecord, ConnectionKind, ConnectionRecord, EventRecord, EventType,
  ReviewRecord, ReviewStatus, SessionRecord, Store,
} from './types.ts';

export interface StoreOptions {
  /** Clock for createdAt/updatedAt, epoch ms. Default Date.now. */
  readonly now?: () => number;
}

const DEFAULT_EVENT_PAGE = 1000;
const MAX_EVENT_PAGE = 10_000;

/**
 * Runs one store operation. Our own coded errors and API misuse (TypeError) pass through; a
 * unique/foreign-key violation becomes GW_STORE_CONFLICT when `wordConflict` words it; anything else
 * is GW_STORE_UNAVAILABLE with the driver error as `cause` (the message never carries it).
 */
async function op<T>(what: string, fn: () => Promise<T>, wordConflict?: (err: DriverError) => string | Promise<string>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GatewayError || err instanceof TypeError) throw err;
    if (err instanceof DriverError && err.kind !== 'other' && wordConflict) {
      const message = await Promise.resolve().then(() => wordConflict(err)).catch(() => `cannot ${what}: it conflicts with what is stored`);
      throw new GatewayError('GW_STORE_CONFLICT', message, { cause: err });
    }
    throw new GatewayError('GW_STORE_UNAVAILABLE', `The store could not ${what}; check that the database is reachable, then retry.`, { cause: err });
  }
}

function conflict(message: string): never {
  throw new GatewayError('GW_STORE_CONFLICT', message);
}

const str = (v: unknown): string => String(v);
const num = (v: unknown): number => Number(v);
const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const q = (name: string) => JSON.stringify(name);

function first(rows: Row[]): Row | undefined {
  return rows[0];
}

const CONNECTION_COLUMNS = 'name, kind, agent, spec, version, created_at, updated_at';
function toConnection(r: Row): ConnectionRecord {
  return {
    name: str(r.name), kind: str(r.kind) as ConnectionKind, agent: str(r.agent), spec: parseJsonObject(r.spec, 'connection spec'),
    version: num(r.version), createdAt: num(r.created_at), updatedAt: num(r.updated_at),
  };
}

const AGENT_COLUMNS = 'name, public_key, enrollment_token_hash, enrollment_expires_at, status, version, last_seen, created_at, revoked_at';
function toAgent(r: Row): AgentRecord {
  return {
    name: str(r.name), publicKey: optStr(r.public_key), enrollmentTokenHash: optStr(r.enrollment_token_hash),
    enrollmentExpiresAt: optNum(r.enrollment_expires_at), status: str(r.status) as AgentStatus, version: optStr(r.version),
    lastSeen: optNum(r.last_seen), createdAt: num(r.created_at), revokedAt: optNum(r.revoked_at),
  };
}
/** AgentPatch field → column. Only these can be updated. */
const AGENT_PATCH_COLUMNS: Record<keyof AgentPatch, string> = {
  publicKey: 'public_key', enrollmentTokenHash: 'enrollment_token_hash', enrollmentExpiresAt: 'enrollment_expires_at',
  status: 'status', version: 'version', lastSeen: 'last_seen', revokedAt: 'revoked_at',
};

const API_KEY_COLUMNS = 'id, name, hash, roles, connections, created_by, created_at, expires_at, revoked_at, last_used_at';
function toApiKey(r: Row): ApiKeyRecord {
  const connections = parseJsonText(r.connections, 'api key connections');
  if (!Array.isArray(connections) || !connections.every((c) => typeof c === 'string')) throw new TypeError('stored api key connections are not a list of names');
  const roles = parseJsonText(r.roles, 'api key roles');
  if (!Array.isArray(roles) || !roles.every((c) => typeof c === 'string')) throw new TypeError('stored api key roles are not a list of names');
  return {
    id: str(r.id), name: str(r.name), hash: str(r.hash), roles: roles as string[], connections: connections as string[], createdBy: str(r.created_by),
    createdAt: num(r.created_at), expiresAt: optNum(r.expires_at), revokedAt: optNum(r.revoked_at), lastUsedAt: optNum(r.last_used_at),
  };
}

const SESSION_COLUMNS = 'id, connection, subject, kind, started_at, ended_at, metadata';
function toSession(r: Row): SessionRecord {
  return {
    id: str(r.id), connection: str(r.connection), subject: str(r.subject), kind: str(r.kind) as ConnectionKind,
    startedAt: num(r.started_at), endedAt: optNum(r.ended_at), metadata: parseJsonObject(r.metadata, 'session metadata'),
  };
}

const EVENT_COLUMNS = 'session_id, seq, type, at, offset_ms, payload, prev_hash, hash';
function toEvent(r: Row): EventRecord {
  return {
    sessionId: str(r.session_id), seq: num(r.seq), type: str(r.type) as EventType, at: num(r.at), offsetMs: num(r.offset_ms),
    payload: parseJsonText(r.payload, 'event payload'), prevHash: str(r.prev_hash), hash: str(r.hash),
  };
}

const REVIEW_COLUMNS = 'id, session_id, connection, requester, request_hash, status, created_at, decided_at, decided_by, reason, expires_at, detail';
function toReview(r: Row): ReviewRecord {
  return {
    id: str(r.id), sessionId: optStr(r.session_id), connection: str(r.connection), requester: str(r.requester),
    requestHash: str(r.request_hash), status: str(r.status) as ReviewStatus, createdAt: num(r.created_at),
    decidedAt: optNum(r.decided_at), decidedBy: optStr(r.decided_by), reason: optStr(r.reason), expiresAt: num(r.expires_at),
    detail: parseJsonObject(r.detail, 'review detail'),
  };
}

const DECISIONS: ReadonlySet<string> = new Set(['approved', 'denied', 'expired']);

function positiveInt(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${what} must be a positive integer, got ${value}`);
}

export function createStore(driver: Driver, options: StoreOptions = {}): Store {
  const now = options.now ?? Date.now;
  const db: Executor = driver;
  // PostgreSQL runs READ COMMITTED: lock the session row so concurrent appends queue up. SQLite's
  // BEGIN IMMEDIATE already serialises writers (and has no FOR UPDATE).
  const forUpdate = driver.backend === 'postgres' ? ' FOR UPDATE' : '';

  return {
    backend: driver.backend,
    ping: () => op('answer a ping', async () => { await db.query('SELECT 1 AS ok'); }),
    schemaVersion: () => op('read its schema version', async () =>
      num(first(await db.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations'))?.v ?? 0)),
    close: () => driver.close(),

    connections: {
      create: (rec) => op(`store connection ${q(rec.name)}`, async () => {
        const at = now();
        const rows = await db.query(`INSERT INTO connections (${CONNECTION_COLUMNS}) VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING ${CONNECTION_COLUMNS}`,
          [rec.name, rec.kind, rec.agent, toJsonText(rec.spec, 'connection spec'), at, at]);
        return toConnection(rows[0]!);
      }, () => `connection ${q(rec.name)} already exists`),
      get: (name) => op(`read connection ${q(name)}`, async () => {
        const r = first(await db.query(`SELECT ${CONNECTION_COLUMNS} FROM connections WHERE name = ?`, [name]));
        return r ? toConnection(r) : null;
      }),
      list: () => op('list connections', async () =>
        (await db.query(`SELECT ${CONNECTION_COLUMNS} FROM connections ORDER BY name`)).map(toConnection)),
      update: (name, patch, expectedVersion) => op(`update connection ${q(name)}`, async () => {
        positiveInt(expectedVersion, 'expectedVersion');
        const spec = patch.spec === undefined ? null : toJsonText(patch.spec, 'connection spec');
        const r = first(await db.query(
          `UPDATE connections SET kind = COALESCE(?, kind), agent = COALESCE(?, agent), spec = COALESCE(?, spec), version = version + 1, updated_at = ?
           WHERE name = ? AND version = ? RETURNING ${CONNECTION_COLUMNS}`,
          [patch.kind ?? null, patch.agent ?? null, spec, now(), name, expectedVersion]));
        if (r) return toConnection(r);
        const current = first(await db.query('SELECT version FROM connections WHERE name = ?', [name]));
        if (!current) return null;
        return conflict(`connection ${q(name)} was changed by someone else (it is at version ${num(current.version)}, the update expected ${expectedVersion}); reload it and retry.`);
      }),
      remove: (name) => op(`remove connection ${q(name)}`, async () => (await db.run('DELETE FROM connections WHERE name = ?', [name])) > 0),
    },

    agents: {
      create: (rec) => op(`store agent ${q(rec.name)}`, async () => {
        const rows = await db.query(`INSERT INTO agents (${AGENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, NULL) RETURNING ${AGENT_COLUMNS}`,
          [rec.name, rec.publicKey ?? null, rec.enrollmentTokenHash ?? null, rec.enrollmentExpiresAt ?? null, rec.status ?? 'pending', rec.version ?? null, now()]);
        return toAgent(rows[0]!);
      }, () => `agent ${q(rec.name)} already exists`),
      get: (name) => op(`read agent ${q(name)}`, async () => {
        const r = first(await db.query(`SELECT ${AGENT_COLUMNS} FROM agents WHERE name = ?`, [name]));
        return r ? toAgent(r) : null;
      }),
      list: () => op('list agents', async () => (await db.query(`SELECT ${AGENT_COLUMNS} FROM agents ORDER BY name`)).map(toAgent)),
      update: (name, patch) => op(`update agent ${q(name)}`, async () => {
        const sets: string[] = [];
        const params: SqlValue[] = [];
        for (const [field, column] of Object.entries(AGENT_PATCH_COLUMNS) as Array<[keyof AgentPatch, string]>) {
          const value = patch[field];
          if (value === undefined) continue;
          sets.push(`${column} = ?`);
          params.push(value);
        }
        const r = sets.length === 0
          ? first(await db.query(`SELECT ${AGENT_COLUMNS} FROM agents WHERE name = ?`, [name]))
          : first(await db.query(`UPDATE agents SET ${sets.join(', ')} WHERE name = ? RETURNING ${AGENT_COLUMNS}`, [...params, name]));
        return r ? toAgent(r) : null;
      }),
      remove: (name) => op(`remove agent ${q(name)}`, async () => (await db.run('DELETE FROM agents WHERE name = ?', [name])) > 0),
    },

    apiKeys: {
      create: (rec) => op(`store api key ${q(rec.id)}`, async () => {
        const rows = await db.query(`INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL) RETURNING ${API_KEY_COLUMNS}`,
          [rec.id, rec.name, rec.hash, toJsonText(rec.roles, 'api key roles'), toJsonText(rec.connections, 'api key connections'), rec.createdBy, now(), rec.expiresAt ?? null]);
        return toApiKey(rows[0]!);
      }, async () => (first(await db.query('SELECT id FROM api_keys WHERE id = ?', [rec.id]))
        ? `api key ${q(rec.id)} already exists`
        : 'an api key with the same hash already exists; generate a new secret')),
      get: (id) => op(`read api key ${q(id)}`, async () => {
        const r = first(await db.query(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE id = ?`, [id]));
        return r ? toApiKey(r) : null;
      }),
      touch: (id, at = now()) => op(`mark api key ${q(id)} used`, async () => {
        await db.run('UPDATE api_keys SET last_used_at = ? WHERE id = ?', [at, id]);
      }),
      getByHash: (hash) => op('look up an api key', async () => {
        const r = first(await db.query(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE hash = ?`, [hash]));
        return r ? toApiKey(r) : null;
      }),
      list: () => op('list api keys', async () => (await db.query(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`)).map(toApiKey)),
      revoke: (id, at = now()) => op(`revoke api key ${q(id)}`, async () =>
        (await db.run('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [at, id])) > 0),
    },

    sessions: {
      create: (rec) => op(`store session ${q(rec.id)}`, async () => {
        const rows = await db.query(`INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?) RETURNING ${SESSION_COLUMNS}`,
          [rec.id, rec.connection, rec.subject, rec.kind, rec.startedAt, toJsonText(rec.metadata ?? {}, 'session metadata')]);
        return toSession(rows[0]!);
      }, () => `session ${q(rec.id)} already exists`),
      get: (id) => op(`read session ${q(id)}`, async () => {
        const r = first(await db.query(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`, [id]));
        return r ? toSession(r) : null;
      }),
      end: (id, at) => op(`end session ${q(id)}`, async () =>
        (await db.run('UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL', [at, id])) > 0),
    },

    events: {
      append: (sessionId, events) => op(`record events of session ${q(sessionId)}`, async () => {
        const head = events[0];
        if (!head) return;
        events.forEach((e, i) => {
          positiveInt(e.seq, 'event seq');
          if (i > 0 && e.seq !== events[i - 1]!.seq + 1) {
            conflict(`events of session ${q(sessionId)} must be numbered without gaps: seq ${e.seq} follows ${events[i - 1]!.seq} in the batch; nothing was stored.`);
          }
        });
        const rows = events.map((e) => [sessionId, e.seq, e.type, e.at, e.offsetMs, toJsonText(e.payload, 'event payload'), e.prevHash, e.hash]);
        await driver.transaction(async (tx) => {
          const session = first(await tx.query(`SELECT ended_at FROM sessions WHERE id = ?${forUpdate}`, [sessionId]));
          if (!session) conflict(`session ${q(sessionId)} does not exist; create it before recording its events.`);
          if (session.ended_at !== null) conflict(`session ${q(sessionId)} has ended; no more events can be recorded in it.`);
          const last = num(first(await tx.query('SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE session_id = ?', [sessionId]))?.last ?? 0);
          if (head.seq !== last + 1) {
            conflict(`event ${head.seq} does not follow the last stored event of session ${q(sessionId)} (${last}); the next must be ${last + 1}. Nothing was stored.`);
          }
          for (const params of rows) {
            await tx.run(`INSERT INTO events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, params);
          }
        });
      }, () => `another writer recorded events in session ${q(sessionId)} at the same time; nothing of this batch was stored.`),
      list: async (sessionId, { afterSeq = 0, limit = DEFAULT_EVENT_PAGE } = {}) => {
        if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new TypeError(`afterSeq must be a non-negative integer, got ${afterSeq}`);
        positiveInt(limit, 'limit');
        if (limit > MAX_EVENT_PAGE) throw new TypeError(`limit must be at most ${MAX_EVENT_PAGE}, got ${limit}`);
        return op(`read events of session ${q(sessionId)}`, async () =>
          (await db.query(`SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?`, [sessionId, afterSeq, limit])).map(toEvent));
      },
    },

    reviews: {
      create: (rec) => op(`store review ${q(rec.id)}`, async () => {
        const rows = await db.query(
          `INSERT INTO reviews (${REVIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'pending', ?, NULL, NULL, NULL, ?, ?) RETURNING ${REVIEW_COLUMNS}`,
          [rec.id, rec.sessionId ?? null, rec.connection, rec.requester, rec.requestHash, now(), rec.expiresAt, toJsonText(rec.detail ?? {}, 'review detail')]);
        return toReview(rows[0]!);
      }, () => `review ${q(rec.id)} already exists`),
      get: (id) => op(`read review ${q(id)}`, async () => {
        const r = first(await db.query(`SELECT ${REVIEW_COLUMNS} FROM reviews WHERE id = ?`, [id]));
        return r ? toReview(r) : null;
      }),
      decide: async (id, d) => {
        if (!DECISIONS.has(d.status)) throw new TypeError(`a review decision is approved, denied or expired, got ${String(d.status)}`);
        // One statement, guarded by status: under a race exactly one decider changes the row.
        return op(`decide review ${q(id)}`, async () =>
          (await db.run(`UPDATE reviews SET status = ?, decided_at = ?, decided_by = ?, reason = ? WHERE id = ? AND status = 'pending'`,
            [d.status, d.at, d.by, d.reason ?? null, id])) > 0);
      },
      listPending: () => op('list pending reviews', async () =>
        (await db.query(`SELECT ${REVIEW_COLUMNS} FROM reviews WHERE status = 'pending' ORDER BY created_at, id`)).map(toReview)),
    },
  };
}

