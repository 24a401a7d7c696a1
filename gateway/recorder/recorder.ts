// The recorder: every data path's events go through here into the store, hash-chained, durable
// before the data path moves on (fail closed), in batches.
//
//   record(session, type, summary, body) ─► queue ─► flush: ONE transaction holding every queued
//   event of every session (seq + hash assigned here, from what is durable), a new session's row,
//   the signed checkpoints that fall due (every `checkpointEvery` events, on request, and the final
//   one at session.end), their ledger entries and the ledger's signed head ─► resolve callers
//
// Assigning seq and hash at flush time, from the last durable event, means a failed write leaves
// no gap: its callers are refused (GW_RECORDING_FAILED) and the chain continues from what is stored.
// Checkpoints and ledger entries ride in the same transaction as the events they cover, so they
// add no store round trip of their own; a flush without a checkpoint writes what it wrote before.
//
// Payload size: an event's `body` over `chunkBytes` (as JSON) is split over `chunk` events that
// follow it; over `maxEventBytes`, or past the session's `maxSessionBytes`, it is dropped and the
// event says so (`truncated`). Metadata-only connections record every event without its body.
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { AbandonedSession, CheckpointRecord, EventBatch, Json, JsonObject, LedgerHeadRecord, NewEvent, NewSession, RecordingWrite, Store } from '../store/index.ts';
import type { Logger } from '../../lib/log.ts';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { GENESIS_HASH, checkpointDigest, checkpointStatement, eventHash, eventHashWithPayloadText, ledgerHeadStatement } from './chain.ts';
import { verifySignature, validAt, type PublishedKey, type RecordingKey } from './keys.ts';
import { LedgerChain, signHead, type Draft } from './ledger.ts';
import { shapeEvent } from './shape.ts';

export interface RecorderOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly key: RecordingKey;
  /** Keys whose ledger heads this process trusts when it seals a stopped gateway's chain. Default: `key` only. */
  readonly trusted?: readonly PublishedKey[];
  /** This gateway process's id (sessions it records name it). Default a random UUID. */
  readonly instance?: string;
  /** A signed checkpoint after this many events of a session (and at its end). Default 100. */
  readonly checkpointEvery?: number;
  /** An event body larger than this (bytes of JSON) is split into `chunk` events. Default 256 KiB. */
  readonly chunkBytes?: number;
  /** An event body larger than this is not recorded (the event says `truncated`). Default 8 MiB. */
  readonly maxEventBytes?: number;
  /** Bodies past this many bytes in one session are not recorded. Default 256 MiB. */
  readonly maxSessionBytes?: number;
  /** Epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Told of every commit of a batch: seconds it took, and whether the store took it (metrics). Default none. */
  readonly onCommit?: (seconds: number, ok: boolean) => void;
}

export interface SessionMeta {
  readonly connection: string;
  readonly kind: 'http' | 'mcp' | 'postgres';
  readonly subject: string;
  /** Recorded in session.start and the session row: email, via, client, header label… */
  readonly metadata?: JsonObject;
  /** Record events without their bodies (the connection's recording.metadataOnly). */
  readonly metadataOnly?: boolean;
}

/** An open session as the recorder tracks it. */
export interface RecordingSession {
  readonly id: string;
  readonly meta: SessionMeta;
  readonly startedAt: number;
  /** Whether session.end has been queued. */
  readonly ended: boolean;
}

interface SessionState extends RecordingSession {
  ended: boolean;
  startMono: number;
  seq: number;
  hash: string;
  bodyBytes: number;
  sinceCheckpoint: number;
  /** The newest durable checkpoint (null before the first). */
  checkpoint: CheckpointRecord | null;
}

interface Pending {
  readonly session: SessionState;
  readonly events: Array<{ type: string; payload: Json; payloadText: string; at: number; offsetMs: number }>;
  readonly decision?: string;
  /** session.start: the row to create with it. */
  readonly create?: NewSession;
  /** session.end: why (the session's final checkpoint follows). */
  readonly endReason?: string;
  /** A checkpoint asked for now (an auditor's fresh checkpoint). */
  readonly wantCheckpoint?: boolean;
  resolve(checkpoint: CheckpointRecord | null): void;
  reject(err: unknown): void;
}

/** Per session in one flush: its new head and what the transaction writes for it. */
interface Head {
  seq: number;
  hash: string;
  events: NewEvent[];
  decisions: Set<string>;
  create?: NewSession;
  endReason?: string;
  want: boolean;
  checkpoint?: CheckpointRecord;
}

export class Recorder {
  readonly instance: string;
  readonly #o: Required<Omit<RecorderOptions, 'instance' | 'onCommit'>>;
  readonly #onCommit: RecorderOptions['onCommit'];
  readonly #open = new Map<string, SessionState>();
  readonly #chain: LedgerChain;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #scheduled = false;
  /** Serialises everything that writes this process's ledger chain: flushes, sweeps, purges, close. */
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: RecorderOptions) {
    this.instance = options.instance ?? randomUUID();
    this.#chain = new LedgerChain(this.instance, options.key);
    this.#o = {
      store: options.store, logger: options.logger, key: options.key, now: options.now ?? Date.now,
      trusted: options.trusted ?? [{ ...options.key.publicJwk, kid: options.key.keyId, status: 'current', notBefore: null, notAfter: null }],
      checkpointEvery: options.checkpointEvery ?? 100, chunkBytes: options.chunkBytes ?? 256 * 1024,
      maxEventBytes: options.maxEventBytes ?? 8 * 1024 * 1024, maxSessionBytes: options.maxSessionBytes ?? 256 * 1024 * 1024,
    };
    if (this.#o.chunkBytes < 1024) throw new TypeError('chunkBytes must be at least 1024');
    this.#onCommit = options.onCommit;
  }

  /** Records waiting for the next commit (events, session starts and ends, checkpoints asked for). */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Creates the session and makes its row, session.start event and ledger start entry durable
   * (one transaction): a session the ledger does not know never carries a request.
   * Throws GW_RECORDING_FAILED.
   */
  async open(meta: SessionMeta): Promise<RecordingSession> {
    const startedAt = this.#o.now();
    const id = `ses_${randomUUID().replaceAll('-', '')}`;
    const session: SessionState = { id, meta, startedAt, ended: false, startMono: performance.now(), seq: 0, hash: GENESIS_HASH, bodyBytes: 0, sinceCheckpoint: 0, checkpoint: null };
    this.#open.set(id, session);
    const create: NewSession = { id, connection: meta.connection, subject: meta.subject, kind: meta.kind, startedAt, instance: this.instance, metadata: meta.metadata ?? {} };
    try {
      await this.#enqueue(session, 'session.start', { connection: meta.connection, kind: meta.kind, subject: meta.subject, ...(meta.metadata ?? {}), metadataOnly: meta.metadataOnly ?? false }, undefined, { create });
    } catch (err) {
      this.#open.delete(id);
      throw err;
    }
    return session;
  }

  /**
   * Records one event; resolves when it is durable. `summary` is always recorded; `body` (the
   * payload as it left the gateway: masked) is subject to metadata-only, the caps and chunking.
   * `decision` (allow/mask/review/deny) is added to the session's set for filtering.
   * Throws GW_RECORDING_FAILED when the store does not take it.
   */
  record(session: RecordingSession, type: string, summary: JsonObject, body?: Json, decision?: string): Promise<void> {
    // A session.end recorded here ends the session as end() does: with its final checkpoint.
    const extra = { ...(decision ? { decision } : {}), ...(type === 'session.end' ? { endReason: String(summary.reason ?? '') } : {}) };
    return this.#enqueue(session, type, summary, body, extra).then(() => undefined);
  }

  #enqueue(session: RecordingSession, type: string, summary: JsonObject, body: Json | undefined, extra: Pick<Pending, 'decision' | 'create' | 'endReason' | 'wantCheckpoint'>): Promise<CheckpointRecord | null> {
    const s = this.#open.get(session.id);
    if (!s || s.ended) return Promise.reject(new GatewayError('GW_RECORDING_FAILED', `Session ${session.id} has ended; nothing more can be recorded in it.`));
    const at = this.#o.now();
    const offsetMs = Math.max(0, Math.round(performance.now() - s.startMono));
    let events: Pending['events'];
    try {
      events = shapeEvent(s, this.#o, type, summary, body).map((e) => ({ ...e, at, offsetMs }));
    } catch (err) {
      return Promise.reject(err); // not JSON (a BigInt, a cycle): our own bug, refused like a failed write
    }
    if (type === 'session.end') s.ended = true;
    return new Promise<CheckpointRecord | null>((resolve, reject) => {
      this.#queue.push({ session: s, events, ...extra, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Records session.end with the session's final checkpoint (state ended), and the session row's
   * end, in one transaction; closes the session. Idempotent.
   */
  async end(session: RecordingSession, reason: string): Promise<void> {
    const s = this.#open.get(session.id);
    if (!s || s.ended) return;
    try {
      await this.#enqueue(s, 'session.end', { reason }, undefined, { endReason: reason });
    } finally {
      this.#open.delete(s.id);
    }
  }

  /**
   * A signed checkpoint of open session `id` covering its last durable event, made now (or the
   * newest one, when no event followed it). Null when the session is not open in this process.
   * Throws GW_RECORDING_FAILED when the store does not take it.
   */
  async checkpointNow(id: string): Promise<CheckpointRecord | null> {
    const s = this.#open.get(id);
    if (!s || s.ended) return null;
    const c = await new Promise<CheckpointRecord | null>((resolve, reject) => {
      this.#queue.push({ session: s, events: [], wantCheckpoint: true, resolve, reject });
      this.#schedule();
    });
    return c ?? s.checkpoint;
  }

  /**
   * Marks incomplete the open sessions of gateway processes silent since `staleBefore`, each sealed
   * with a session.incomplete event and a final signed checkpoint (state incomplete) over what the
   * store holds, and signs final the ledger heads of those processes. Resolves with the sessions.
   */
  sweep(staleBefore: number): Promise<string[]> {
    return this.#exclusive(async () => {
      const at = this.#o.now();
      const draft = await this.#draft(at);
      let wrote = false;
      const ids = await this.#o.store.instances.sweep(this.instance, staleBefore, at, (found) => {
        wrote = true;
        return this.#seal(draft, found.sessions, found.chains, at);
      });
      if (wrote) draft.applied();
      return ids;
    });
  }

  /** Deletes the sessions of `connection` started before `before` (epoch ms), with a ledger purge entry each. */
  purge(connection: string, before: number): Promise<number> {
    return this.#exclusive(async () => {
      const at = this.#o.now();
      const draft = await this.#draft(at);
      let wrote = false;
      const gone = await this.#o.store.sessions.purge(connection, before, (ids) => {
        wrote = true;
        for (const id of ids) draft.add('purge', id, { connection, before }, at);
        return { ledger: draft.entries, heads: draft.heads(at) };
      });
      if (wrote) draft.applied();
      return gone;
    });
  }

  /** Ends every open session (gateway shutdown), then signs this process's ledger head final; failures are logged. */
  async close(reason = 'the gateway stopped'): Promise<void> {
    await Promise.all([...this.#open.values()].map((s) => this.end(s, reason).catch((err: unknown) => {
      this.#o.logger.error('ending a recorded session failed', { session: s.id, err });
    })));
    await this.#flushing;
    await this.#exclusive(async () => {
      const head = this.#chain.head(this.#o.now(), true);
      if (head) await this.#o.store.events.commit({ heads: [head] });
    }).catch((err: unknown) => this.#o.logger.error('closing the recording ledger failed', { err }));
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushing = this.#exclusive(() => this.#flush()).finally(() => {
        this.#flushing = undefined;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /** A ledger draft for one transaction; a new chain's first draft opens it, naming the chains already in the store. */
  async #draft(at: number): Promise<Draft> {
    const draft = this.#chain.draft();
    if (!this.#chain.opened) {
      const others = await this.#o.store.ledger.heads();
      draft.add('open', '', { chains: others.filter((h) => h.chain !== this.#chain.id).map((h) => ({ chain: h.chain, seq: h.seq, hash: h.hash })) }, at);
    }
    return draft;
  }

  /** Signs `s`'s checkpoint at `head` (seq, hash) and adds its ledger entry. */
  #signCheckpoint(draft: Draft, sessionId: string, head: { seq: number; hash: string }, previous: CheckpointRecord | null, state: 'open' | 'ended' | 'incomplete', at: number): CheckpointRecord {
    const c = { sessionId, seq: head.seq, hash: head.hash, at, keyId: this.#o.key.keyId, state, prev: previous ? checkpointDigest(previous) : GENESIS_HASH };
    const checkpoint = { ...c, signature: this.#o.key.sign(checkpointStatement(c)) };
    draft.add('checkpoint', sessionId, { seq: c.seq, hash: c.hash, state, checkpoint: checkpointDigest(c) }, at);
    return checkpoint;
  }

  async #flush(): Promise<void> {
    const taken = this.#queue;
    this.#queue = [];
    const at = this.#o.now();
    let draft: Draft;
    try {
      draft = await this.#draft(at);
    } catch (err) {
      return this.#refuse(taken, err);
    }
    // Number and chain every taken event from each session's durable head, in queue order.
    const heads = new Map<SessionState, Head>();
    for (const p of taken) {
      let head = heads.get(p.session);
      if (!head) heads.set(p.session, head = { seq: p.session.seq, hash: p.session.hash, events: [], decisions: new Set<string>(), want: false });
      for (const e of p.events) {
        const seq = head.seq + 1;
        // One canonical text per payload (made by shapeEvent): hashed, and stored as it is.
        const hash = eventHashWithPayloadText({ sessionId: p.session.id, seq, type: e.type, at: e.at, offsetMs: e.offsetMs, prevHash: head.hash }, e.payloadText);
        head.events.push({ seq, type: e.type, at: e.at, offsetMs: e.offsetMs, payload: e.payload, payloadText: e.payloadText, prevHash: head.hash, hash });
        head.seq = seq;
        head.hash = hash;
      }
      if (p.decision) head.decisions.add(p.decision);
      if (p.create) head.create = p.create;
      if (p.endReason !== undefined) head.endReason = p.endReason;
      if (p.wantCheckpoint) head.want = true;
    }
    // Sessions started in this flush enter the ledger before anything is signed about them.
    for (const [s, h] of heads) if (h.create) draft.add('start', s.id, { connection: s.meta.connection, subject: s.meta.subject, kind: s.meta.kind, startedAt: s.startedAt }, s.startedAt);
    const checkpoints: CheckpointRecord[] = [];
    for (const [s, h] of heads) {
      const due = h.endReason !== undefined || h.want || s.sinceCheckpoint + (h.seq - s.seq) >= this.#o.checkpointEvery;
      if (!due || h.seq === 0 || h.seq === s.checkpoint?.seq) continue;
      h.checkpoint = this.#signCheckpoint(draft, s.id, h, s.checkpoint, h.endReason !== undefined ? 'ended' : 'open', at);
      checkpoints.push(h.checkpoint);
    }
    const batches: EventBatch[] = [...heads].filter(([, h]) => h.events.length > 0).map(([s, h]) => ({
      sessionId: s.id, events: h.events, decisions: [...h.decisions],
      ...(h.create ? { create: h.create } : {}),
      ...(h.endReason !== undefined ? { end: { at, state: 'ended' as const, reason: h.endReason } } : {}),
    }));
    if (batches.length > 0 || checkpoints.length > 0) {
      const since = performance.now();
      try {
        await this.#o.store.events.commit({ batches, checkpoints, ledger: draft.entries, heads: draft.heads(at) });
      } catch (err) {
        this.#onCommit?.((performance.now() - since) / 1000, false);
        return this.#refuse(taken, err);
      }
      this.#onCommit?.((performance.now() - since) / 1000, true);
      draft.applied();
    }
    for (const [s, h] of heads) {
      s.sinceCheckpoint += h.seq - s.seq;
      s.seq = h.seq;
      s.hash = h.hash;
      if (h.checkpoint) {
        s.checkpoint = h.checkpoint;
        s.sinceCheckpoint = 0;
      }
    }
    for (const p of taken) p.resolve(heads.get(p.session)?.checkpoint ?? null);
  }

  #refuse(taken: readonly Pending[], err: unknown): void {
    const error = failed(err);
    this.#o.logger.error('recording failed: requests are refused until the store takes events again', { code: error.code, err });
    for (const p of taken) p.reject(error);
  }

  /** What a sweep writes: each abandoned session sealed, each abandoned chain's head signed final. */
  #seal(draft: Draft, sessions: readonly AbandonedSession[], chains: readonly LedgerHeadRecord[], at: number): RecordingWrite {
    const batches: EventBatch[] = [];
    const checkpoints: CheckpointRecord[] = [];
    const reason = 'the gateway recording it stopped without ending it';
    for (const a of sessions) {
      // The event that says why the session stops here, chained after what the store holds.
      const prevHash = a.lastHash ?? GENESIS_HASH;
      const e = { seq: a.lastSeq + 1, type: 'session.incomplete', at, offsetMs: 0, payload: { reason, by: this.instance } as JsonObject, prevHash };
      const hash = eventHash({ sessionId: a.id, ...e });
      batches.push({ sessionId: a.id, events: [{ ...e, payloadText: canonicalJson(e.payload), hash }], end: { at, state: 'incomplete', reason } });
      checkpoints.push(this.#signCheckpoint(draft, a.id, { seq: e.seq, hash }, a.lastCheckpoint, 'incomplete', at));
    }
    const sealed: LedgerHeadRecord[] = [];
    for (const h of chains) {
      // Only a head this process can verify is sealed: it vouches for what its own keys signed.
      const key = this.#o.trusted.find((k) => k.kid === h.keyId);
      if (!key || !validAt(key, h.at) || !verifySignature(key, ledgerHeadStatement(h), h.signature)) {
        this.#o.logger.error('a stopped gateway\'s ledger head does not verify; it is left unsealed', { chain: h.chain });
        continue;
      }
      draft.add('seal', '', { chain: h.chain, seq: h.seq, hash: h.hash }, at);
      sealed.push(signHead(this.#o.key, { chain: h.chain, seq: h.seq, hash: h.hash, at, final: true }));
    }
    return { batches, checkpoints, ledger: draft.entries, heads: [...sealed, ...draft.heads(at)] };
  }
}

function failed(err: unknown): GatewayError {
  if (err instanceof GatewayError && err.code === 'GW_RECORDING_FAILED') return err;
  return new GatewayError('GW_RECORDING_FAILED', 'The gateway could not record this request, so it was not forwarded; retry, and tell your administrator if it persists (the store is not taking writes).', { cause: err });
}
