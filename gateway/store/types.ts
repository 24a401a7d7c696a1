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

/** An MCP tool's pinned definition (the shape gateway/mcp/integrity.ts decides over). */
export interface PinRecord {
  readonly connection: string;
  readonly tool: string;
  readonly approved: string | null;
  readonly approvedBy: string | null;
  readonly approvedAt: EpochMs | null;
  readonly pending: string | null;
  readonly pendingSince: EpochMs | null;
  readonly firstSeen: EpochMs;
}

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
  /** Who created it, for people to read (the creator's email, else its subject). */
  readonly createdBy: string;
  /** The creator's subject: a person's `sub`, or `apikey:<id>` of the key that created it; null for keys made before owners were recorded. */
  readonly creator: string | null;
  /** The person the key acts for (their `sub`); `apikey:<id>` (the key itself) for a service key; null for keys made before owners were recorded. */
  readonly owner: string | null;
  /** personal: acts for its owner; service: automation, its own owner (and keys made before owners were recorded). */
  readonly kind: ApiKeyKind;
  readonly createdAt: EpochMs;
  readonly expiresAt: EpochMs | null;
  readonly revokedAt: EpochMs | null;
  readonly lastUsedAt: EpochMs | null;
}
export type ApiKeyKind = 'personal' | 'service';
export type NewApiKey = Pick<ApiKeyRecord, 'id' | 'name' | 'hash' | 'roles' | 'connections' | 'createdBy'>
  & { readonly expiresAt?: EpochMs | null; readonly creator?: string | null; readonly owner?: string | null; readonly kind?: ApiKeyKind };

/** The groups a person presented when they last authenticated: what their API keys are held to. */
export interface PrincipalRecord {
  readonly sub: string;
  readonly groups: string[];
  readonly seenAt: EpochMs;
}

export type SessionState = 'open' | 'ended' | 'incomplete';

export interface SessionRecord {
  readonly id: string;
  readonly connection: string;
  /** Who acted: the user's or service identity's subject. */
  readonly subject: string;
  readonly kind: ConnectionKind;
  readonly startedAt: EpochMs;
  readonly endedAt: EpochMs | null;
  /** open while recording; ended cleanly (last event session.end); incomplete when its gateway died. */
  readonly state: SessionState;
  readonly endReason: string | null;
  /** The gateway process that records it (gateway_instances.id). */
  readonly instance: string | null;
  /** Seq of the last stored event (0 before the first). */
  readonly lastSeq: number;
  /** Every decision taken in the session (allow, mask, review, deny), for filtering. */
  readonly decisions: string[];
  readonly metadata: JsonObject;
}
export type NewSession = Pick<SessionRecord, 'id' | 'connection' | 'subject' | 'kind' | 'startedAt'> &
  { readonly metadata?: JsonObject; readonly instance?: string | null };
export interface SessionFilter {
  readonly connection?: string;
  readonly subject?: string;
  /** Sessions started at or after, epoch ms. */
  readonly since?: EpochMs;
  /** Sessions started at or before, epoch ms (paging backwards). */
  readonly until?: EpochMs;
  /** Sessions in which this decision was taken at least once. */
  readonly decision?: string;
  /** Newest first; at most this many (default 100, max 1000). */
  readonly limit?: number;
}

export type EventType = string;

/** A console sign-in (kind session) or one in progress (kind login); `sealed` is opaque to the store. */
export interface ConsoleSessionRecord {
  /** Hash of the cookie's secret, hex. */
  readonly id: string;
  readonly kind: 'login' | 'session';
  /** Who signed in (for the operator's eyes); null while signing in. */
  readonly subject: string | null;
  readonly sealed: string;
  readonly createdAt: EpochMs;
  readonly expiresAt: EpochMs;
}
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
export type NewEvent = Omit<EventRecord, 'sessionId'> & {
  /** The payload's JSON text when the writer has it already (the recorder's canonical JSON); stored as is. */
  readonly payloadText?: string;
};
/** One session's part of a batch written in one transaction. */
export interface EventBatch {
  readonly sessionId: string;
  readonly events: readonly NewEvent[];
  /** Decisions taken in these events, added to the session's set. */
  readonly decisions?: readonly string[];
  /** Creates the session first (its session.start is in `events`), in the same transaction. */
  readonly create?: NewSession;
  /** Ends the session after these events (state, ended_at, end_reason), in the same transaction. */
  readonly end?: { readonly at: EpochMs; readonly state: 'ended' | 'incomplete'; readonly reason: string };
}

export interface CheckpointRecord {
  readonly sessionId: string;
  /** The last event the checkpoint covers. */
  readonly seq: number;
  /** That event's hash. */
  readonly hash: string;
  readonly at: EpochMs;
  /** Which recording key signed it (its JWK thumbprint). */
  readonly keyId: string;
  /** Ed25519 signature, base64url, over the checkpoint's canonical JSON. */
  readonly signature: string;
  /** The session's state it signs (open, ended, incomplete); null in a version-1 checkpoint. */
  readonly state: SessionState | null;
  /** Digest of the session's previous checkpoint (recorder/chain.ts); null in a version-1 checkpoint. */
  readonly prev: string | null;
}

export type NewCheckpoint = Omit<CheckpointRecord, 'state' | 'prev'> & Partial<Pick<CheckpointRecord, 'state' | 'prev'>>;

/** One entry of a gateway process's ledger chain (recorder/ledger.ts says what each type means). */
export interface LedgerEntryRecord {
  /** The chain: the id of the gateway process that writes it. */
  readonly chain: string;
  /** 1, 2, 3... per chain, gapless. */
  readonly seq: number;
  readonly at: EpochMs;
  /** open, start, checkpoint, purge. */
  readonly type: string;
  /** The session it is about ('' for a chain's own entries). */
  readonly sessionId: string;
  readonly data: JsonObject;
  readonly prevHash: string;
  readonly hash: string;
}

/** A ledger chain's signed head (one per chain, replaced as the chain grows). */
export interface LedgerHeadRecord {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  readonly at: EpochMs;
  readonly keyId: string;
  /** Closed by its gateway, or sealed by the gateway that found it stopped: no entry follows. */
  readonly final: boolean;
  readonly signature: string;
}

/** Recording writes that go into one transaction. */
export interface RecordingWrite {
  readonly batches?: readonly EventBatch[];
  readonly checkpoints?: readonly CheckpointRecord[];
  readonly ledger?: readonly LedgerEntryRecord[];
  /** Stored in place of each chain's previous head. */
  readonly heads?: readonly LedgerHeadRecord[];
}

/** An open session of a stopped gateway, as the sweep finds it. */
export interface AbandonedSession {
  readonly id: string;
  readonly lastSeq: number;
  /** Hash of its last event; null when it has none (the recorder then chains from GENESIS_HASH). */
  readonly lastHash: string | null;
  readonly lastCheckpoint: CheckpointRecord | null;
}

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
  /** A pending review not decided by then is expired (denied). */
  readonly expiresAt: EpochMs;
  /** Approvals needed (distinct reviewers). */
  readonly approvalsNeeded: number;
  /** Groups a reviewer must belong to (one of); empty: any reviewer. */
  readonly reviewers: string[];
  /** Approved: how many more identical requests it releases. */
  readonly usesLeft: number;
  /** Approved: until when it releases them. */
  readonly validUntil: EpochMs | null;
  readonly votes: ReviewVote[];
  readonly detail: JsonObject;
}
/** `reviewer`: the person who voted (a key's owner); `credential`: the subject that cast it (a key's `apikey:<id>`), null when the same. */
export interface ReviewVote { readonly reviewer: string; readonly approve: boolean; readonly reason: string | null; readonly at: EpochMs; readonly credential?: string | null }
export type NewReview = Pick<ReviewRecord, 'id' | 'connection' | 'requester' | 'requestHash' | 'expiresAt'> & {
  readonly sessionId?: string | null;
  readonly detail?: JsonObject;
  readonly approvalsNeeded?: number;
  readonly reviewers?: readonly string[];
  readonly uses?: number;
};
export interface ReviewDecision {
  readonly status: Exclude<ReviewStatus, 'pending'>;
  /** The reviewer; null when the gateway expires the review. */
  readonly by: string | null;
  readonly reason?: string | null;
  readonly at: EpochMs;
}
export interface ReviewDelivery {
  readonly reviewId: string;
  readonly attempt: number;
  /** slack, teams or json. */
  readonly channel: string;
  /** The webhook's origin (never its path: incoming-webhook URLs are secrets). */
  readonly target: string;
  readonly ok: boolean;
  readonly status: number | null;
  readonly error: string | null;
  readonly at: EpochMs;
}

export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /** Resolves when the store answers a trivial query (readiness). */
  ping(): Promise<void>;
  /** Highest applied migration version. */
  schemaVersion(): Promise<number>;
  /**
   * The authority epoch: a number the store's own triggers raise with every change to a
   * connection, an API key (not its last use) or an agent (not its presence). One single-row read;
   * a gateway polls it to learn that another replica changed who may use what.
   */
  configEpoch(): Promise<number>;
  /**
   * Calls `onChange` soon after the config epoch moved on any replica (PostgreSQL: a NOTIFY from
   * the epoch's trigger; see gateway/cluster/DESIGN.md), so readers need not wait for their next
   * poll. Best effort: it may also call when nothing moved, and calls nothing on SQLite; polling
   * configEpoch() stays the guarantee. Returns the unsubscribe function.
   */
  onConfigEpoch(onChange: () => void): () => void;

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
    /**
     * Writes `patch`; null when there is no such agent. With `ifEnrollmentTokenHash`, only while the
     * stored enrollment token hash is exactly that (one statement: of two replicas redeeming one
     * token at once, one wins and the other gets null).
     */
    update(name: string, patch: AgentPatch, options?: { readonly ifEnrollmentTokenHash?: string }): Promise<AgentRecord | null>;
    remove(name: string): Promise<boolean>;
  };
  /** Replicas with a cluster listener and the agent tunnels each holds (gateway/cluster/). Times in epoch ms. */
  readonly cluster: {
    /** Inserts or refreshes replica `id` at internal `url`. */
    beat(id: string, url: string, at: EpochMs): Promise<void>;
    /** Forgets replica `id` and its tunnels (clean shutdown). */
    leave(id: string): Promise<void>;
    /** Records that replica `replica` holds (online) or no longer holds a usable tunnel of `agent`. */
    tunnel(agent: string, replica: string, online: boolean, at: EpochMs): Promise<void>;
    /** Which replica, alive at `aliveAfter` or later, holds a tunnel of which agent. */
    routes(aliveAfter: EpochMs): Promise<Array<{ agent: string; replica: string; url: string }>>;
    /** Replicas alive at `aliveAfter` or later, by id. */
    replicas(aliveAfter: EpochMs): Promise<Array<{ id: string; url: string; startedAt: EpochMs; heartbeatAt: EpochMs }>>;
    /** Forgets replicas whose heartbeat is older than `staleBefore`, with their tunnels; resolves with how many. */
    sweep(staleBefore: EpochMs): Promise<number>;
  };
  /** MCP sessions, so any replica can serve one (gateway/mcp/sessions.ts). Times in epoch ms. */
  readonly mcpSessions: {
    /** Duplicate id → GW_STORE_CONFLICT. */
    create(rec: McpSessionRecord): Promise<void>;
    get(id: string): Promise<McpSessionRecord | null>;
    /** Moves last_used_at forward to `at` (never back). */
    touch(id: string, at: EpochMs): Promise<void>;
    remove(id: string): Promise<boolean>;
    /** Deletes sessions last used before `before`; resolves with how many. */
    sweep(before: EpochMs): Promise<number>;
  };
  /** Agent connect tokens used, shared by every replica (gateway/agents/replay.ts). */
  readonly connectTokens: {
    /**
     * Records that `agent` connected with `jti`, kept until `expiresAt` (epoch ms). True the first
     * time, false when it was recorded before (a replay, on any replica). Also forgets the agent's
     * expired entries.
     */
    claim(agent: string, jti: string, expiresAt: EpochMs): Promise<boolean>;
    /** Forgets every entry that expired before `before` (epoch ms, default now); resolves with how many. */
    purge(before?: EpochMs): Promise<number>;
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
  readonly principals: {
    /** Writes the groups person `sub` presented at `seenAt` (insert or replace). */
    put(rec: PrincipalRecord): Promise<void>;
    get(sub: string): Promise<PrincipalRecord | null>;
  };
  readonly sessions: {
    create(rec: NewSession): Promise<SessionRecord>;
    get(id: string): Promise<SessionRecord | null>;
    /** Ends an open session (state ended, or incomplete); true if it was open. */
    end(id: string, at: EpochMs, options?: { readonly state?: 'ended' | 'incomplete'; readonly reason?: string }): Promise<boolean>;
    list(filter?: SessionFilter): Promise<SessionRecord[]>;
    /**
     * Deletes sessions of `connection` that started before `before` and are no longer open, with
     * their events and checkpoints; resolves with how many sessions went. `record` (given the ids)
     * says what to write in the same transaction (the ledger's purge entries).
     */
    purge(connection: string, before: EpochMs, record?: (ids: readonly string[]) => RecordingWrite): Promise<number>;
  };
  readonly events: {
    /**
     * Stores a batch atomically: the first seq must be the session's last stored seq + 1 (1 for
     * the first event) and the batch must be contiguous, else GW_STORE_CONFLICT and nothing is
     * stored. Unknown or ended session → GW_STORE_CONFLICT.
     */
    append(sessionId: string, events: readonly NewEvent[]): Promise<void>;
    /** Several sessions' batches in one transaction (the recorder's group commit): all or nothing. */
    appendMany(batches: readonly EventBatch[]): Promise<void>;
    /** Batches, checkpoints, ledger entries and heads in one transaction: all or nothing. */
    commit(write: RecordingWrite): Promise<void>;
    /** Ordered by seq; events with seq > afterSeq (default 0), at most `limit` (default 1000, max 10000). */
    list(sessionId: string, options?: { afterSeq?: number; limit?: number }): Promise<EventRecord[]>;
  };
  readonly checkpoints: {
    /** A checkpoint written on its own (the recorder writes them with its events, through events.commit). */
    add(rec: NewCheckpoint): Promise<void>;
    /** Ordered by seq. */
    list(sessionId: string): Promise<CheckpointRecord[]>;
  };
  readonly ledger: {
    /**
     * The chains with an entry at or after `since` (or naming `session`; no filter: every chain),
     * each with the first such entry's seq and its signed head (null when it has none).
     */
    chains(filter?: { readonly since?: EpochMs; readonly session?: string }): Promise<Array<{ chain: string; from: number; head: LedgerHeadRecord | null }>>;
    /** Ordered by seq; entries with seq > afterSeq (default 0), at most `limit` (default 1000, max 10000). */
    entries(chain: string, options?: { afterSeq?: number; limit?: number }): Promise<LedgerEntryRecord[]>;
    /** Every chain's head (for a new chain's open entry), newest first, at most `limit` (default 1000). */
    heads(limit?: number): Promise<LedgerHeadRecord[]>;
  };
  readonly instances: {
    /** Records that gateway process `id` is alive at `at`. */
    beat(id: string, at: EpochMs): Promise<void>;
    /**
     * Marks `incomplete` every open session whose gateway process has not beaten since
     * `staleBefore` (or never registered), except `self`'s; resolves with their ids. `seal` (given
     * those sessions and the non-final ledger heads of such processes) says what to write in the
     * same transaction: their final checkpoints, ledger entries, sealed heads.
     */
    sweep(self: string, staleBefore: EpochMs, at: EpochMs, seal?: (found: { sessions: readonly AbandonedSession[]; chains: readonly LedgerHeadRecord[] }) => RecordingWrite): Promise<string[]>;
    /** Forgets process `id` (clean shutdown). */
    remove(id: string): Promise<void>;
  };
  readonly reviews: {
    /** status 'pending', createdAt = now. */
    create(rec: NewReview): Promise<ReviewRecord>;
    get(id: string): Promise<ReviewRecord | null>;
    /** Decides a pending review; false if it is unknown or already decided (one winner under races). */
    decide(id: string, decision: ReviewDecision): Promise<boolean>;
    /**
     * One reviewer's vote on a pending review: a deny decides it denied; enough approvals decide it
     * approved (valid until at + validityMs). The same reviewer twice → GW_STORE_CONFLICT.
     * Resolves with the review after the vote (null if unknown).
     */
    vote(id: string, vote: ReviewVote, options: { readonly validityMs: number }): Promise<ReviewRecord | null>;
    /** Takes one use of an approved, still valid review; false when none is left (one winner under races). */
    consume(id: string, at: EpochMs): Promise<boolean>;
    /** Gives back a use taken by `consume` (the released request never reached its target). */
    refund(id: string): Promise<boolean>;
    /** Reviews of this exact request by this requester: pending, or approved and still usable; newest first. */
    forRequest(requestHash: string, requester: string, at: EpochMs): Promise<ReviewRecord[]>;
    /** Reviews of requests held in session `sessionId`, oldest first. */
    forSession(sessionId: string): Promise<ReviewRecord[]>;
    /** Ordered by creation; includes pending reviews past expiresAt (the caller expires them). */
    listPending(): Promise<ReviewRecord[]>;
    /** Newest first, at most `limit` (default 100, max 1000). */
    list(filter?: { readonly status?: ReviewStatus; readonly limit?: number }): Promise<ReviewRecord[]>;
  };
  /** MCP tool pins (gateway/mcp/integrity.ts): the approved and pending fingerprint of each upstream tool. */
  readonly pins: {
    get(connection: string, tool: string): Promise<PinRecord | undefined>;
    /** Inserts or replaces the record of (connection, tool). */
    put(record: PinRecord): Promise<void>;
    /** Ordered by tool name. */
    list(connection: string): Promise<PinRecord[]>;
  };
  readonly deliveries: {
    add(rec: ReviewDelivery): Promise<void>;
    /** Ordered by time. */
    list(reviewId: string): Promise<ReviewDelivery[]>;
  };

  /** Usage of the limits declared in policy, shared by every replica (gateway/limits/). */
  readonly counters: {
    /** Adds `amount` (negative: units given back) to `key` (created with `expiresAt`, epoch ms) and resolves with its new total. */
    add(key: string, amount: number, expiresAt: EpochMs): Promise<number>;
    /** The total of `key`; 0 when it has none. */
    get(key: string): Promise<number>;
    /** Counters of windows not yet ended at `after` (epoch ms, default now) with some use, most used first; at most `limit` (default 1000, at most 10000). */
    list(options?: { readonly after?: EpochMs; readonly limit?: number }): Promise<Array<{ key: string; used: number; expiresAt: EpochMs }>>;
    /** Deletes counters whose window ended before `before` (epoch ms, default now); resolves with how many. */
    purge(before?: EpochMs): Promise<number>;
  };

  /** The web console's sign-ins and sign-ins in progress (gateway/console/web-session.ts). */
  readonly consoleSessions: {
    /** Inserts, or replaces the content and expiry of, the row `id`. */
    put(rec: ConsoleSessionRecord): Promise<void>;
    /** Replaces the sealed content of the row `id` only if it still exists (never re-creates a removed one); true if it did. */
    reseal(id: string, sealed: string): Promise<boolean>;
    /** The row, or null when there is none or it has expired. */
    get(id: string): Promise<ConsoleSessionRecord | null>;
    /** true if there was such a row. */
    remove(id: string): Promise<boolean>;
    /** How many unexpired rows of `kind` there are. */
    count(kind: ConsoleSessionRecord['kind']): Promise<number>;
    /** Deletes rows expired before `before` (epoch ms, default now); resolves with how many. */
    purge(before?: EpochMs): Promise<number>;
  };

  /** Closes connections; later calls fail with GW_STORE_UNAVAILABLE. Idempotent. */
  close(): Promise<void>;
}

/** An MCP session as every replica sees it: whose it is, where, and what the client said at initialize. */
export interface McpSessionRecord {
  readonly id: string;
  /** The identity's `sub`: only the same subject may use the session. */
  readonly subject: string;
  /** The connection name, or '*' for /mcp. */
  readonly connection: string;
  /** The client's initialize params (protocolVersion, capabilities, clientInfo), JSON text. */
  readonly init: string;
  /** The recording session opened at initialize (later ones on other replicas name it). */
  readonly recording: string;
  readonly createdAt: EpochMs;
  readonly lastUsedAt: EpochMs;
}
