// The Store over a Driver: every table's SQL written once, for both backends (`?` placeholders,
// portable SQL). Rows are mapped to plain records here; driver failures become coded errors.
import type { Driver, Executor, Row, SqlValue } from './driver.ts';
import { parseJsonObject, parseJsonText, toJsonText } from './json.ts';
import { conflict, first, num, op, optNum, optStr, positiveInt, q, str } from './ops.ts';
import { recordingRepos } from './recording-repos.ts';
import { reviewRepos } from './review-repos.ts';
import { consoleRepos } from './console-repos.ts';
import { clusterRepos } from './cluster-repos.ts';
import { mcpSessionRepos } from './mcp-session-repos.ts';
import { connectTokenRepos, counterRepos } from './counter-repos.ts';
import type { AgentPatch, AgentRecord, AgentStatus, ApiKeyRecord, ConnectionKind, ConnectionRecord, Store } from './types.ts';

export interface StoreOptions {
  /** Clock for createdAt/updatedAt, epoch ms. Default Date.now. */
  readonly now?: () => number;
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

const API_KEY_COLUMNS = 'id, name, hash, roles, connections, created_by, created_at, expires_at, revoked_at, last_used_at, creator, owner, kind';
function toApiKey(r: Row): ApiKeyRecord {
  const connections = parseJsonText(r.connections, 'api key connections');
  if (!Array.isArray(connections) || !connections.every((c) => typeof c === 'string')) throw new TypeError('stored api key connections are not a list of names');
  const roles = parseJsonText(r.roles, 'api key roles');
  if (!Array.isArray(roles) || !roles.every((c) => typeof c === 'string')) throw new TypeError('stored api key roles are not a list of names');
  return {
    id: str(r.id), name: str(r.name), hash: str(r.hash), roles: roles as string[], connections: connections as string[], createdBy: str(r.created_by),
    createdAt: num(r.created_at), expiresAt: optNum(r.expires_at), revokedAt: optNum(r.revoked_at), lastUsedAt: optNum(r.last_used_at),
    creator: optStr(r.creator), owner: optStr(r.owner), kind: str(r.kind) === 'personal' ? 'personal' : 'service',
  };
}

export function createStore(driver: Driver, options: StoreOptions = {}): Store {
  const now = options.now ?? Date.now;
  const db: Executor = driver;

  return {
    backend: driver.backend,
    ping: () => op('answer a ping', async () => { await db.query('SELECT 1 AS ok'); }),
    schemaVersion: () => op('read its schema version', async () =>
      num(first(await db.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations'))?.v ?? 0)),
    onConfigEpoch: (onChange) => driver.listen?.('airlock_config_epoch', onChange) ?? (() => {}),
    configEpoch: () => op('read the config epoch', async () =>
      num(first(await db.query('SELECT epoch FROM config_epoch WHERE id = 1'))?.epoch ?? 0)),
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
      update: (name, patch, options = {}) => op(`update agent ${q(name)}`, async () => {
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
          : options.ifEnrollmentTokenHash !== undefined
            ? first(await db.query(`UPDATE agents SET ${sets.join(', ')} WHERE name = ? AND enrollment_token_hash = ? RETURNING ${AGENT_COLUMNS}`, [...params, name, options.ifEnrollmentTokenHash]))
            : first(await db.query(`UPDATE agents SET ${sets.join(', ')} WHERE name = ? RETURNING ${AGENT_COLUMNS}`, [...params, name]));
        return r ? toAgent(r) : null;
      }),
      remove: (name) => op(`remove agent ${q(name)}`, async () => (await db.run('DELETE FROM agents WHERE name = ?', [name])) > 0),
    },

    apiKeys: {
      create: (rec) => op(`store api key ${q(rec.id)}`, async () => {
        if (rec.kind !== undefined && rec.kind !== 'personal' && rec.kind !== 'service') throw new TypeError(`an api key kind is personal or service, got ${String(rec.kind)}`);
        const rows = await db.query(`INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?) RETURNING ${API_KEY_COLUMNS}`,
          [rec.id, rec.name, rec.hash, toJsonText(rec.roles, 'api key roles'), toJsonText(rec.connections, 'api key connections'), rec.createdBy, now(), rec.expiresAt ?? null,
            rec.creator ?? null, rec.owner ?? null, rec.kind ?? 'service']);
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
    principals: {
      put: (p) => op(`record the groups of ${q(p.sub)}`, async () => {
        // One statement: replicas that see a new person at the same moment both succeed (an
        // update-then-insert lost that race with a unique violation), and the latest note wins.
        await db.run(`INSERT INTO principals (sub, groups, seen_at) VALUES (?, ?, ?)
          ON CONFLICT (sub) DO UPDATE SET groups = excluded.groups, seen_at = excluded.seen_at WHERE excluded.seen_at >= principals.seen_at`,
        [p.sub, toJsonText(p.groups, 'principal groups'), p.seenAt]);
      }),
      get: (sub) => op(`read the groups of ${q(sub)}`, async () => {
        const r = first(await db.query('SELECT sub, groups, seen_at FROM principals WHERE sub = ?', [sub]));
        if (!r) return null;
        const groups = parseJsonText(r.groups, 'principal groups');
        if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) throw new TypeError('stored principal groups are not a list of names');
        return { sub: str(r.sub), groups: groups as string[], seenAt: num(r.seen_at) };
      }),
    },
    ...recordingRepos(driver, now),
    ...reviewRepos(driver, now),
    ...counterRepos(driver, now),
    ...consoleRepos(driver, now),
    ...connectTokenRepos(driver, now),
    ...clusterRepos(driver),
    ...mcpSessionRepos(driver),
  };
}

