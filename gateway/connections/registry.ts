// The connections registry: the definitions in the Store, served from an in-memory snapshot so a
// data path's lookup costs a Map read. Writes go through here: they are validated (schema, then
// policy sources), stored with optimistic concurrency, and applied to the snapshot at once.
// Changes made elsewhere (another gateway replica on the same store, or the database itself) are
// seen through the store's config epoch (a single row its triggers bump on every connection,
// API key and agent change): each gateway reads it every epochIntervalMs (default 1 s) and, when
// it moved, reloads the connections and tells its epoch listeners (the API key cache, live
// sessions), so a change applies everywhere within about a second, without a restart. A full
// reload every reloadIntervalMs stays as a safety net.
//
// Who may use a connection (`canUse`):
//   - the identity must hold the `user` or `admin` role;
//   - an API key (Identity.connections not null): exactly the connections its list names;
//   - an admin: every connection;
//   - anyone else: when one of their groups is in the connection's `groups`, or it lists "*".
// Who sees one through the API (`visibleTo`): admins see all; others what they may use.
import { GatewayError } from '../errors.ts';
import type { Identity } from '../authn/identity.ts';
import type { Logger } from '../../lib/log.ts';
import type { ConnectionRecord, EpochMs, JsonObject, Store } from '../store/types.ts';
import { mergePatch } from './merge-patch.ts';
import { checkPolicySources } from './policy-check.ts';
import { describeFieldIssues, validateConnection, type ConnectionSpec, type FieldIssue } from './schema.ts';
import { noteConnection } from '../telemetry/context.ts';

/** A connection as the registry serves it: the validated definition and its store metadata. Deeply frozen. */
export type Connection = ConnectionSpec & {
  /** Starts at 1, +1 on every change: the optimistic-concurrency token (ETag, If-Match). */
  readonly version: number;
  readonly createdAt: EpochMs;
  readonly updatedAt: EpochMs;
};

export interface ConnectionChange {
  readonly type: 'created' | 'updated' | 'removed';
  readonly name: string;
  /** The connection now; undefined when removed. */
  readonly connection: Connection | undefined;
  /** The connection before; undefined when created. */
  readonly previous: Connection | undefined;
  /** `local`: written through this registry; `reload`: seen in the store (another replica, or a stored record turned invalid). */
  readonly source: 'local' | 'reload';
}

export type ChangeListener = (change: ConnectionChange) => void;

export interface RegistryOptions {
  readonly store: Store;
  readonly logger: Logger;
  /** Milliseconds between reloads from the store. Default 5000; at least 50. */
  readonly reloadIntervalMs?: number;
  /** Milliseconds between reads of the store's config epoch (one row). Default 1000; at least 50. */
  readonly epochIntervalMs?: number;
  /** Checks a definition's policy sources before a write. Default: the packs exist, packs and files compile. */
  readonly checkPolicy?: (policy: ConnectionSpec['policy']) => readonly FieldIssue[];
}

/** Retries of a read-modify-write without an expected version when another writer got in between. */
const UNCONDITIONAL_ATTEMPTS = 3;

export class ConnectionRegistry {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #checkPolicy: (policy: ConnectionSpec['policy']) => readonly FieldIssue[];
  #byName = new Map<string, Connection>();
  #sorted: readonly Connection[] = [];
  /** Bumped by every local write: a reload that started before one is stale and discarded. */
  #generation = 0;
  #reloading: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloadFailing = false;
  /** Stored records that failed validation, by name → `version@updatedAt`, so each is logged once. */
  readonly #invalid = new Map<string, string>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #epochListeners = new Set<() => void>();
  readonly #epochIntervalMs: number;
  #epochTimer: NodeJS.Timeout | undefined;
  #epoch: number | undefined;
  #epochFailing = false;
  #unwatch: (() => void) | undefined;
  #pollAgain = false; // a notification came while a poll was running: poll once more after it
  #polling = false;

  constructor(options: RegistryOptions) {
    const interval = options.reloadIntervalMs ?? 5000;
    if (!Number.isFinite(interval) || interval < 50) throw new TypeError(`reloadIntervalMs must be at least 50, got ${interval}`);
    const epochInterval = options.epochIntervalMs ?? 1000;
    if (!Number.isFinite(epochInterval) || epochInterval < 50) throw new TypeError(`epochIntervalMs must be at least 50, got ${epochInterval}`);
    this.#store = options.store;
    this.#logger = options.logger;
    this.#intervalMs = interval;
    this.#epochIntervalMs = epochInterval;
    this.#checkPolicy = options.checkPolicy ?? ((policy) => checkPolicySources(policy));
  }

  /**
   * Loads the snapshot, then reloads it every reloadIntervalMs and whenever the store's config
   * epoch moved (read every epochIntervalMs). The timers never keep the process alive.
   */
  async start(): Promise<void> {
    this.#epoch = await this.#store.configEpoch();
    await this.reload();
    if (this.#timer !== undefined) return;
    this.#epochTimer = setInterval(() => void this.#pollEpoch(), this.#epochIntervalMs);
    this.#epochTimer.unref();
    // PostgreSQL tells every replica when the epoch moved (NOTIFY): read it now, not at the next poll.
    this.#unwatch = this.#store.onConfigEpoch(() => void this.#pollEpoch());
    this.#timer = setInterval(() => {
      this.reload().then(() => {
        if (this.#reloadFailing) this.#logger.info('connections reload works again');
        this.#reloadFailing = false;
      }, (err: unknown) => {
        if (this.#timer === undefined) return; // stopped meanwhile: the store is closing, not failing
        // Keep serving the last snapshot: the store being down also stops recording, which fails requests closed.
        if (!this.#reloadFailing) this.#logger.warn('cannot reload connections from the store; serving the last ones read', { err });
        this.#reloadFailing = true;
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the periodic reload. Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#epochTimer);
    this.#timer = undefined;
    this.#epochTimer = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  /**
   * Calls `listener` after the store's config epoch moved (a connection, API key or agent changed,
   * here or on another replica) and the connections were reloaded; returns the unsubscribe function.
   */
  onEpoch(listener: () => void): () => void {
    this.#epochListeners.add(listener);
    return () => this.#epochListeners.delete(listener);
  }

  /** One read of the epoch; when it moved: reload, then the epoch listeners. One poll at a time. */
  async #pollEpoch(): Promise<void> {
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    this.#polling = true;
    this.#pollAgain = false;
    try {
      const epoch = await this.#store.configEpoch();
      if (this.#epochFailing) this.#logger.info('the config epoch can be read again');
      this.#epochFailing = false;
      if (epoch === this.#epoch) return;
      if (this.#reloading) await this.#reloading.catch(() => {}); // it may have read the store before the epoch moved
      await this.reload();
      this.#epoch = epoch; // only once the reload worked: a failed one is tried again next poll
      for (const listener of this.#epochListeners) {
        try {
          listener();
        } catch (err) {
          this.#logger.error('a config epoch listener failed', { err });
        }
      }
    } catch (err) {
      if (this.#epochTimer === undefined) return; // stopped meanwhile: the store is closing
      if (!this.#epochFailing) this.#logger.warn('cannot read the config epoch from the store; changes made on other replicas wait for the next full reload', { err });
      this.#epochFailing = true;
    } finally {
      this.#polling = false;
      if (this.#pollAgain && this.#epochTimer !== undefined) void this.#pollEpoch();
    }
  }

  /** Every valid connection, ordered by name (the snapshot: no store access). */
  list(): readonly Connection[] {
    return this.#sorted;
  }

  /** The connection named `name`, from the snapshot; undefined when there is none. */
  get(name: string): Connection | undefined {
    return this.#byName.get(name);
  }

  /** The connections `identity` may see in the API: admins all, others those they may use. */
  visibleTo(identity: Identity): readonly Connection[] {
    return identity.roles.includes('admin') ? this.#sorted : this.#sorted.filter((c) => this.canUse(identity, c));
  }

  /** True when `identity` may use `connection` on a data path (see the rule at the top of this file). */
  canUse(identity: Identity, connection: Pick<Connection, 'name' | 'groups'>): boolean {
    if (!identity.roles.includes('user') && !identity.roles.includes('admin')) return false;
    // An API key uses only what the person who created it may use now (gateway/authn/apikeys.ts).
    const creator = identity.creatorAccess;
    if (creator !== undefined && !creator.admin && !connection.groups.some((g) => g === '*' || creator.groups.includes(g))) return false;
    if (identity.connections !== null) return identity.connections.includes(connection.name);
    if (identity.roles.includes('admin')) return true;
    return connection.groups.some((g) => g === '*' || identity.groups.includes(g));
  }

  /**
   * The connection `name` if `identity` may use it; otherwise GW_CONNECTION_NOT_FOUND, with the
   * same answer whether it does not exist or is not theirs (a name's existence is not revealed).
   */
  resolve(identity: Identity, name: string): Connection {
    const connection = this.#byName.get(name);
    if (connection && this.canUse(identity, connection)) {
      noteConnection(connection.name); // the request's connection label (gateway/telemetry/)
      return connection;
    }
    throw notFound(name, identity);
  }

  /**
   * The re-check on every use of a long-lived session (an MCP call, a WebSocket message, a streamed
   * window): the caller's credential has not expired (GW_TOKEN_EXPIRED) and `identity` may still
   * use `name` (GW_ACCESS_REVOKED: a group, key scope or the connection itself went away).
   * Returns the connection as it is now, so its current policy decides. A Map read: no store access.
   * `now`: epoch ms, default Date.now().
   */
  recheck(identity: Identity, name: string, now: number = Date.now()): Connection {
    if (identity.expiresAt !== null && now >= identity.expiresAt) {
      throw new GatewayError('GW_TOKEN_EXPIRED', `The ${identity.via === 'apikey' ? 'API key' : 'access token'} this session was opened with expired at ${new Date(identity.expiresAt).toISOString()}; authenticate again with a fresh one.`);
    }
    const connection = this.#byName.get(name);
    if (connection && this.canUse(identity, connection)) {
      noteConnection(connection.name);
      return connection;
    }
    throw new GatewayError('GW_ACCESS_REVOKED', `You may no longer use connection ${JSON.stringify(name.slice(0, 100))}: it was changed or removed while this session was open (groups, key scope, or the connection itself); ask an admin if you still need it.`);
  }

  /**
   * Whether the credential behind `identity` still holds: an API key is read from the store (not
   * revoked, not expired); a token holds until its `exp`. For live sessions when the epoch moved,
   * not per request. Resolves with the GatewayError that ends the session, or undefined.
   */
  async credentialProblem(identity: Identity, now: number = Date.now()): Promise<GatewayError | undefined> {
    if (identity.via === 'apikey' && identity.tokenId !== null) {
      const key = await this.#store.apiKeys.get(identity.tokenId);
      if (key === null || key.revokedAt !== null) return new GatewayError('GW_API_KEY_INVALID', `API key ${identity.tokenId} was revoked while this session was open; ask an admin for a new one.`);
      if (key.expiresAt !== null && key.expiresAt <= now) return new GatewayError('GW_API_KEY_INVALID', `API key ${identity.tokenId} expired while this session was open; ask an admin for a new one.`);
      return undefined;
    }
    if (identity.expiresAt !== null && now >= identity.expiresAt) return new GatewayError('GW_TOKEN_EXPIRED', 'The access token this session was opened with expired; authenticate again with a fresh one.');
    return undefined;
  }

  /** Calls `listener` on every change, local or reloaded; returns the function that unsubscribes. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Validates and stores a new connection. GW_CONNECTION_INVALID naming the field; a taken name is GW_STORE_CONFLICT. */
  async create(input: unknown): Promise<Connection> {
    const spec = this.#validate(input);
    let record: ConnectionRecord;
    try {
      record = await this.#store.connections.create(toNew(spec));
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'GW_STORE_CONFLICT') {
        throw new GatewayError('GW_STORE_CONFLICT', `A connection named "${spec.name}" already exists; change it with \`airlock connections update ${spec.name}\` or choose another name.`, { cause: err });
      }
      throw err;
    }
    return this.#applyLocal(record, spec);
  }

  /**
   * Replaces the definition of `name` with `input` (a whole connection; `name`, if given, must match).
   * With `expectedVersion`, a connection at another version is GW_STORE_CONFLICT.
   */
  replace(name: string, input: unknown, expectedVersion?: number): Promise<Connection> {
    return this.#rewrite(name, expectedVersion, () => input);
  }

  /**
   * Applies a JSON merge patch (RFC 7396, see merge-patch.ts) to `name`. With `expectedVersion`, a
   * connection at another version is GW_STORE_CONFLICT; without, a concurrent write is retried.
   */
  update(name: string, patch: unknown, expectedVersion?: number): Promise<Connection> {
    return this.#rewrite(name, expectedVersion, (current) => {
      try {
        return mergePatch(current, patch);
      } catch (err) {
        if (err instanceof RangeError) throw invalid([{ field: '(patch)', message: err.message }]);
        throw err;
      }
    });
  }

  /**
   * Removes `name` and returns what it was (undefined if its stored definition was invalid).
   * GW_CONNECTION_NOT_FOUND if there is none; GW_STORE_CONFLICT if it is not at `expectedVersion`.
   */
  async remove(name: string, expectedVersion?: number): Promise<Connection | undefined> {
    const record = await this.#store.connections.get(name);
    if (!record) throw notFound(name);
    if (expectedVersion !== undefined && record.version !== expectedVersion) throw stale(name, record.version, expectedVersion);
    if (!(await this.#store.connections.remove(name))) throw notFound(name);
    this.#generation++;
    const previous = this.#byName.get(name) ?? parseRecord(record).connection;
    this.#invalid.delete(name);
    if (this.#byName.has(name)) {
      this.#byName.delete(name);
      this.#resort();
    }
    this.#emit({ type: 'removed', name, connection: undefined, previous, source: 'local' });
    return previous;
  }

  /** Reads every connection from the store and applies what changed. One reload runs at a time. */
  reload(): Promise<void> {
    this.#reloading ??= this.#reloadOnce().finally(() => { this.#reloading = undefined; });
    return this.#reloading;
  }

  async #reloadOnce(): Promise<void> {
    const generation = this.#generation;
    const records = await this.#store.connections.list();
    if (generation !== this.#generation) return; // a local write landed meanwhile; the next reload sees it
    const changes: ConnectionChange[] = [];
    const next = new Map<string, Connection>();
    const stored = new Set(records.map((r) => r.name));
    for (const record of records) {
      const previous = this.#byName.get(record.name);
      if (previous && sameRecord(previous, record)) {
        next.set(record.name, previous);
        continue;
      }
      const parsed = parseRecord(record);
      if (!parsed.connection) {
        const key = `${record.version}@${record.updatedAt}`;
        if (this.#invalid.get(record.name) !== key) {
          this.#invalid.set(record.name, key);
          this.#logger.error('a stored connection is invalid and is not served; fix it with `airlock connections update` or remove it', { connection: record.name, version: record.version, problems: parsed.problems });
        }
        if (previous) changes.push({ type: 'removed', name: record.name, connection: undefined, previous, source: 'reload' });
        continue;
      }
      this.#invalid.delete(record.name);
      next.set(record.name, parsed.connection);
      changes.push({ type: previous ? 'updated' : 'created', name: record.name, connection: parsed.connection, previous, source: 'reload' });
    }
    for (const [name, previous] of this.#byName) {
      if (!stored.has(name)) changes.push({ type: 'removed', name, connection: undefined, previous, source: 'reload' });
    }
    for (const name of [...this.#invalid.keys()]) if (!stored.has(name)) this.#invalid.delete(name);
    if (changes.length === 0) return;
    this.#byName = next;
    this.#resort();
    for (const change of changes) this.#emit(change);
  }

  async #rewrite(name: string, expectedVersion: number | undefined, build: (current: Record<string, unknown>) => unknown): Promise<Connection> {
    if (expectedVersion !== undefined && (!Number.isSafeInteger(expectedVersion) || expectedVersion < 1)) {
      throw new GatewayError('GW_BAD_REQUEST', `The expected version must be a positive integer, not ${expectedVersion}.`);
    }
    for (let attempt = 1; ; attempt++) { // bounded: returns or throws by attempt UNCONDITIONAL_ATTEMPTS
      const record = await this.#store.connections.get(name);
      if (!record) throw notFound(name);
      if (expectedVersion !== undefined && record.version !== expectedVersion) throw stale(name, record.version, expectedVersion);
      const next = build(rawOf(record));
      const nextName = (next as { name?: unknown } | null)?.name;
      if (nextName !== undefined && nextName !== name) {
        throw invalid([{ field: 'name', message: `cannot be changed (from "${name}"); create a connection with the new name and remove this one` }]);
      }
      const spec = this.#validate(typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...next, name } : next);
      let updated: ConnectionRecord | null;
      try {
        updated = await this.#store.connections.update(name, { kind: spec.kind, agent: spec.agent, spec: specOf(spec) }, record.version);
      } catch (err) {
        const retry = err instanceof GatewayError && err.code === 'GW_STORE_CONFLICT' && expectedVersion === undefined && attempt < UNCONDITIONAL_ATTEMPTS;
        if (retry) continue;
        if (err instanceof GatewayError && err.code === 'GW_STORE_CONFLICT') {
          throw new GatewayError('GW_STORE_CONFLICT', `Connection "${name}" was changed by someone else while this change was written; read it again and retry.`, { cause: err });
        }
        throw err;
      }
      if (!updated) throw notFound(name);
      return this.#applyLocal(updated, spec);
    }
  }

  #validate(input: unknown): ConnectionSpec {
    const result = validateConnection(input);
    if (!result.ok) throw invalid(result.issues);
    const policyIssues = this.#checkPolicy(result.connection.policy);
    if (policyIssues.length > 0) throw invalid(policyIssues);
    return result.connection;
  }

  #applyLocal(record: ConnectionRecord, spec: ConnectionSpec): Connection {
    const connection = freeze({ ...spec, version: record.version, createdAt: record.createdAt, updatedAt: record.updatedAt } as Connection);
    this.#generation++;
    const previous = this.#byName.get(record.name);
    // Two local writes may finish out of order: never replace a newer version of the same connection.
    if (previous && previous.createdAt === connection.createdAt && previous.version >= connection.version) return connection;
    this.#byName.set(record.name, connection);
    this.#invalid.delete(record.name);
    this.#resort();
    this.#emit({ type: previous ? 'updated' : 'created', name: record.name, connection, previous, source: 'local' });
    return connection;
  }

  #resort(): void {
    this.#sorted = Object.freeze([...this.#byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }

  #emit(change: ConnectionChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#logger.error('a connections change listener failed', { connection: change.name, type: change.type, err });
      }
    }
  }
}

/** The columns the store keeps apart (name, kind, agent) and the rest as the record's spec. */
function toNew(spec: ConnectionSpec) {
  return { name: spec.name, kind: spec.kind, agent: spec.agent, spec: specOf(spec) };
}

function specOf(spec: ConnectionSpec): JsonObject {
  const { name: _name, kind: _kind, agent: _agent, ...rest } = spec;
  return rest as JsonObject;
}

/** The stored definition as it was written (input to a patch even when it no longer validates). */
function rawOf(record: ConnectionRecord): Record<string, unknown> {
  return { ...record.spec, name: record.name, kind: record.kind, agent: record.agent };
}

function parseRecord(record: ConnectionRecord): { connection?: Connection; problems?: string } {
  const result = validateConnection(rawOf(record));
  if (!result.ok) return { problems: describeFieldIssues(result.issues) };
  return { connection: freeze({ ...result.connection, version: record.version, createdAt: record.createdAt, updatedAt: record.updatedAt } as Connection) };
}

function sameRecord(c: Connection, r: ConnectionRecord): boolean {
  return c.version === r.version && c.updatedAt === r.updatedAt && c.createdAt === r.createdAt;
}

function freeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) { // bounded by the number of nodes in a validated (size-capped) definition
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || Object.isFrozen(v)) continue;
    Object.freeze(v);
    stack.push(...Object.values(v));
  }
  return value;
}

function invalid(issues: readonly FieldIssue[]): GatewayError {
  return new GatewayError('GW_CONNECTION_INVALID', `The connection is not valid: ${describeFieldIssues(issues)}.`, { detail: { issues } });
}

/** For admins (no identity given) or users: the same words whether the connection is missing or hidden. */
function notFound(name: string, identity?: Identity): GatewayError {
  const yours = identity !== undefined && !identity.roles.includes('admin') ? ' that you may use' : '';
  return new GatewayError('GW_CONNECTION_NOT_FOUND', `There is no connection ${JSON.stringify(name.slice(0, 100))}${yours}; see \`airlock connections list\`.`);
}

function stale(name: string, current: number, expected: number): GatewayError {
  return new GatewayError('GW_STORE_CONFLICT', `Connection "${name}" is at version ${current}, not ${expected}: it changed since you read it. Read it again, reapply your change, and retry.`);
}
