// The Store: everything the gateway keeps between requests and across replicas. Two backends
// (node:sqlite, PostgreSQL) implement it over the same SQL; test/gateway/store/store.test.ts runs
// one suite against both.
//
// Records are plain, JSON-able data. Every timestamp is epoch milliseconds (UTC), an integer
// number, stored as BIGINT. JSON fields come back as fresh plain objects with `__proto__` keys
// stripped. "Not found" is `null` (or `false` for removals); a write that collides with what is
// stored throws GatewayError GW_STORE_CONFLICT; a store that cannot be reached or fails throws
// GW_STORE_UNAVAILABLE (driver error kept as `cause`, never in the message).

/** Epoch milliseconds, UTC. */
export type EpochMs = number;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type ConnectionKind = 'http' | 'mcp' | 'postgres';

export interface ConnectionRecord {
  readonly name: string;
  readonly kind: ConnectionKind;
  /** Name of the agent that reaches the target. */
  readonly agent: string;
  /** The rest of the connection's definition (target, credential, policies...), owned by the registry. */
  readonly spec: JsonObject;
  /** Starts at 1, +1 on every update: the optimistic-concurrency token. */
  readonly version: number;
  readonly createdAt: EpochMs;
  readonly updatedAt: EpochMs;
}
export type NewConnection = Pick<ConnectionRecord, 'name' | 'kind' | 'agent' | 'spec'>;
export type ConnectionPatch = Partial<Pick<ConnectionRecord, 'kind' | 'agent' | 'spec'>>;

export type AgentStatus = 'pending' | 'active' | 'revoked';

export interface AgentRecord {
  readonly name: string;
  /** Ed25519 public key (PEM or JWK text); null until enrolled. */
  readonly publicKey: string | null;
  readonly enrollmentTokenHash: string | null;
  readonly enrollmentExpiresAt: EpochMs | null;
  readonly status: AgentStatus;
  /** airlock-agent version last reported. */
  readonly version: string | null;
  readonly lastSeen: EpochMs | null;
  readonly createdAt: EpochMs;
  readonly revokedAt: EpochMs | null;
}
export type NewAgent = Pick<AgentRecord, 'name'> & Partial<Pick<AgentRecord, 'publicKey' | 'enrollmentTokenHash' | 'enrollmentExpiresAt' | 'status' | 'version'>>;
/** Fields present (even as null) are written; absent fields are kept. */
export type AgentPatch = Partial<Omit<AgentRecord, 'name' | 'createdAt'>>;

export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  /** Hash of the secret; the secret itself is never stored. Unique. */
  readonly hash: string;
  /** Roles the key's identity holds (admin, reviewer, auditor, user). */
  readonly roles: string[];
  /** Connection names the key may use. */
  readonly connections: string[];
  readonly createdBy: string;
  readonly createdAt: EpochMs;
  readonly expiresAt: EpochMs | null;
  readonly revokedAt: EpochMs | null;
  readonly lastUsedAt: EpochMs | null;
}
export type NewApiKey = Pick<ApiKeyRecord, 'id' | 'name' | 'hash' | 'roles' | 'connections' | 'createdBy'> & { readonly expiresAt?: EpochMs | null };

export interface SessionRecord {
  readonly id: string;
  readonly connection: string;
  /** Who acted: the user's or service identity's subject. */
  readonly subject: string;
  readonly kind: ConnectionKind;
  readonly startedAt: EpochMs;
  readonly endedAt: EpochMs | null;
  readonly metadata: JsonObject;
}
export type NewSession = Pick<SessionRecord, 'id' | 'connection' | 'subject' | 'kind' | 'startedAt'> & { readonly metadata?: JsonObject };

export type EventType = 'request' | 'response' | 'finding' | 'decision' | 'review' | 'error';

export interface EventRecord {
  readonly sessionId: string;
  /** 1, 2, 3... per session, gapless. */
  readonly seq: number;
  readonly type: EventType;
  readonly at: EpochMs;
  /** Milliseconds since the session started (monotonic clock). */
  readonly offsetMs: number;
  /** The payload as it left the gateway (already masked). */
  readonly payload: Json;
  /** Hash of the previous event (the recorder decides the genesis value). */
  readonly prevHash: string;
  readonly hash: string;
}
export type NewEvent = Omit<EventRecord, 'sessionId'>;

export type ReviewStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface ReviewRecord {
  readonly id: string;
  readonly sessionId: string | null;
  readonly connection: string;
  readonly requester: string;
  /** Hash of connection + tool/method + arguments: binds the review to the exact request. */
  readonly requestHash: string;
  readonly status: ReviewStatus;
  readonly createdAt: EpochMs;
  readonly decidedAt: EpochMs | null;
  readonly decidedBy: string | null;
  readonly reason: string | null;
  readonly expiresAt: EpochMs;
  readonly detail: JsonObject;
}
export type NewReview = Pick<ReviewRecord, 'id' | 'connection' | 'requester' | 'requestHash' | 'expiresAt'> &
  { readonly sessionId?: string | null; readonly detail?: JsonObject };
export interface ReviewDecision {
  readonly status: Exclude<ReviewStatus, 'pending'>;
  /** The reviewer; null when the gateway expires the review. */
  readonly by: string | null;
  readonly reason?: string | null;
  readonly at: EpochMs;
}

export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /** Resolves when the store answers a trivial query (readiness). */
  ping(): Promise<void>;
  /** Highest applied migration version. */
  schemaVersion(): Promise<number>;

  readonly connections: {
    /** Version 1, createdAt = updatedAt = now. Duplicate name → GW_STORE_CONFLICT. */
    create(rec: NewConnection): Promise<ConnectionRecord>;
    get(name: string): Promise<ConnectionRecord | null>;
    /** Ordered by name. */
    list(): Promise<ConnectionRecord[]>;
    /** null if no such connection; GW_STORE_CONFLICT if its version is no longer `expectedVersion`. */
    update(name: string, patch: ConnectionPatch, expectedVersion: number): Promise<ConnectionRecord | null>;
    remove(name: string): Promise<boolean>;
  };
  readonly agents: {
    /** status defaults to 'pending'. Duplicate name → GW_STORE_CONFLICT. */
    create(rec: NewAgent): Promise<AgentRecord>;
    get(name: string): Promise<AgentRecord | null>;
    list(): Promise<AgentRecord[]>;
    update(name: string, patch: AgentPatch): Promise<AgentRecord | null>;
    remove(name: string): Promise<boolean>;
  };
  readonly apiKeys: {
    /** Duplicate id or hash → GW_STORE_CONFLICT. */
    create(rec: NewApiKey): Promise<ApiKeyRecord>;
    /** By id (the key's public prefix). Returns revoked and expired keys too: the caller decides. */
    get(id: string): Promise<ApiKeyRecord | null>;
    /** Returns revoked and expired keys too: the caller decides. */
    getByHash(hash: string): Promise<ApiKeyRecord | null>;
    /** Records a use (last_used_at). */
    touch(id: string, at?: EpochMs): Promise<void>;
    /** Ordered by creation. */
    list(): Promise<ApiKeyRecord[]>;
    /** true if the key was active and is now revoked; false if unknown or already revoked. */
    revoke(id: string, at?: EpochMs): Promise<boolean>;
  };
  readonly sessions: {
    create(rec: NewSession): Promise<SessionRecord>;
    get(id: string): Promise<SessionRecord | null>;
    /** true if the session was open and is now ended. */
    end(id: string, at: EpochMs): Promise<boolean>;
  };
  readonly events: {
    /**
     * Stores a batch atomically: the first seq must be the session's last stored seq + 1 (1 for
     * the first event) and the batch must be contiguous, else GW_STORE_CONFLICT and nothing is
     * stored. Unknown or ended session → GW_STORE_CONFLICT.
     */
    append(sessionId: string, events: readonly NewEvent[]): Promise<void>;
    /** Ordered by seq; events with seq > afterSeq (default 0), at most `limit` (default 1000, max 10000). */
    list(sessionId: string, options?: { afterSeq?: number; limit?: number }): Promise<EventRecord[]>;
  };
  readonly reviews: {
    /** status 'pending', createdAt = now. */
    create(rec: NewReview): Promise<ReviewRecord>;
    get(id: string): Promise<ReviewRecord | null>;
    /** Decides a pending review; false if it is unknown or already decided (one winner under races). */
    decide(id: string, decision: ReviewDecision): Promise<boolean>;
    /** Ordered by creation; includes pending reviews past expiresAt (the caller expires them). */
    listPending(): Promise<ReviewRecord[]>;
  };

  /** Closes connections; later calls fail with GW_STORE_UNAVAILABLE. Idempotent. */
  close(): Promise<void>;
}
