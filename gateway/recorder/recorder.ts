// The recorder: every data path's events go through here into the store, hash-chained, durable
// before the data path moves on (fail closed), in batches.
//
//   record(session, type, summary, body) ─► queue ─► flush (one transaction for every queued
//   event of every session: seq + hash assigned here, from what is durable) ─► resolve callers
//                                                 └─► every `checkpointEvery` events: signed checkpoint
//
// Assigning seq and hash at flush time, from the last durable event, means a failed write leaves
// no gap: its callers are refused (GW_RECORDING_FAILED) and the chain continues from what is stored.
//
// Payload size: an event's `body` over `chunkBytes` (as JSON) is split over `chunk` events that
// follow it; over `maxEventBytes`, or past the session's `maxSessionBytes`, it is dropped and the
// event says so (`truncated`). Metadata-only connections record every event without its body.
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { EventBatch, Json, JsonObject, NewEvent, Store } from '../store/index.ts';
import type { Logger } from '../../lib/log.ts';
import { canonicalJson, canonicalJsonWith } from '../../lib/canonical-json.ts';
import { GENESIS_HASH, checkpointStatement, eventHashWithPayloadText } from './chain.ts';
import type { RecordingKey } from './keys.ts';

export interface RecorderOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly key: RecordingKey;
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
}

interface Pending {
  readonly session: SessionState;
  readonly events: Array<{ type: string; payload: Json; payloadText: string; at: number; offsetMs: number }>;
  readonly decision?: string;
  resolve(): void;
  reject(err: unknown): void;
}

export class Recorder {
  readonly instance: string;
  readonly #o: Required<Omit<RecorderOptions, 'instance'>>;
  readonly #open = new Map<string, SessionState>();
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #scheduled = false;

  constructor(options: RecorderOptions) {
    this.instance = options.instance ?? randomUUID();
    this.#o = {
      store: options.store, logger: options.logger, key: options.key, now: options.now ?? Date.now,
      checkpointEvery: options.checkpointEvery ?? 100, chunkBytes: options.chunkBytes ?? 256 * 1024,
      maxEventBytes: options.maxEventBytes ?? 8 * 1024 * 1024, maxSessionBytes: options.maxSessionBytes ?? 256 * 1024 * 1024,
    };
    if (this.#o.chunkBytes < 1024) throw new TypeError('chunkBytes must be at least 1024');
  }

  /** Creates the session and makes its session.start event durable. Throws GW_RECORDING_FAILED. */
  async open(meta: SessionMeta): Promise<RecordingSession> {
    const startedAt = this.#o.now();
    const id = `ses_${randomUUID().replaceAll('-', '')}`;
    try {
      await this.#o.store.sessions.create({ id, connection: meta.connection, subject: meta.subject, kind: meta.kind, startedAt, instance: this.instance, metadata: meta.metadata ?? {} });
    } catch (err) {
      throw failed(err);
    }
    const session: SessionState = { id, meta, startedAt, ended: false, startMono: performance.now(), seq: 0, hash: GENESIS_HASH, bodyBytes: 0, sinceCheckpoint: 0 };
    this.#open.set(id, session);
    await this.record(session, 'session.start', { connection: meta.connection, kind: meta.kind, subject: meta.subject, ...(meta.metadata ?? {}), metadataOnly: meta.metadataOnly ?? false });
    return session;
  }

  /**
   * Records one event; resolves when it is durable. `summary` is always recorded; `body` (the
   * payload as it left the gateway: masked) is subject to metadata-only, the caps and chunking.
   * `decision` (allow/mask/review/deny) is added to the session's set for filtering.
   * Throws GW_RECORDING_FAILED when the store does not take it.
   */
  record(session: RecordingSession, type: string, summary: JsonObject, body?: Json, decision?: string): Promise<void> {
    const s = this.#open.get(session.id);
    if (!s || s.ended) return Promise.reject(new GatewayError('GW_RECORDING_FAILED', `Session ${session.id} has ended; nothing more can be recorded in it.`));
    const at = this.#o.now();
    const offsetMs = Math.max(0, Math.round(performance.now() - s.startMono));
    let events: Pending['events'];
    try {
      events = this.#shape(s, type, summary, body).map((e) => ({ ...e, at, offsetMs }));
    } catch (err) {
      return Promise.reject(err); // not JSON (a BigInt, a cycle): our own bug, refused like a failed write
    }
    if (type === 'session.end') s.ended = true;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ session: s, events, ...(decision ? { decision } : {}), resolve, reject });
      this.#schedule();
    });
  }

  /** Records session.end (and a checkpoint) and closes the session. Idempotent. */
  async end(session: RecordingSession, reason: string): Promise<void> {
    const s = this.#open.get(session.id);
    if (!s || s.ended) return;
    try {
      await this.record(s, 'session.end', { reason });
      await this.#checkpoint(s);
      await this.#o.store.sessions.end(s.id, this.#o.now(), { reason });
    } finally {
      this.#open.delete(s.id);
    }
  }

  /** Ends every open session (gateway shutdown); failures are logged. */
  async close(reason = 'the gateway stopped'): Promise<void> {
    await Promise.all([...this.#open.values()].map((s) => this.end(s, reason).catch((err: unknown) => {
      this.#o.logger.error('ending a recorded session failed', { session: s.id, err });
    })));
    await this.#flushing;
  }

  /**
   * The body as it will be stored: metadata only, capped, or split into chunk events; each with
   * its canonical JSON text, made here once (it is hashed and stored as it is). The body's text,
   * made to measure it, is reused in the event's text rather than serialised a second time.
   */
  #shape(s: SessionState, type: string, summary: JsonObject, body: Json | undefined): Array<{ type: string; payload: JsonObject; payloadText: string }> {
    const one = (payload: JsonObject) => [{ type, payload, payloadText: canonicalJson(payload) }];
    if (body === undefined) return one({ ...summary });
    if (s.meta.metadataOnly) return one({ ...summary, body: null, omitted: 'metadata-only' });
    const text = canonicalJson(body);
    const bytes = Buffer.byteLength(text);
    if (bytes > this.#o.maxEventBytes) return one({ ...summary, body: null, truncated: { bytes, limit: this.#o.maxEventBytes, why: 'event' } });
    if (s.bodyBytes + bytes > this.#o.maxSessionBytes) return one({ ...summary, body: null, truncated: { bytes, limit: this.#o.maxSessionBytes, why: 'session' } });
    s.bodyBytes += bytes;
    if (bytes <= this.#o.chunkBytes) return [{ type, payload: { ...summary, body }, payloadText: canonicalJsonWith(summary, { body: text }) }];
    // Chunks split the JSON text by UTF-16 units (a surrogate pair may straddle two chunks);
    // concatenated in order they give the text back exactly.
    const parts: string[] = [];
    for (let i = 0; i < text.length; i += this.#o.chunkBytes) parts.push(text.slice(i, i + this.#o.chunkBytes));
    return [
      ...one({ ...summary, body: null, chunked: { parts: parts.length, bytes } }),
      ...parts.map((data, part) => ({ type: 'chunk', payload: { part, data }, payloadText: `{"data":${JSON.stringify(data)},"part":${part}}` })),
    ];
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #flush(): Promise<void> {
    const taken = this.#queue;
    this.#queue = [];
    // Number and chain every taken event from each session's durable head, in queue order.
    const heads = new Map<SessionState, { seq: number; hash: string; events: NewEvent[]; decisions: Set<string> }>();
    for (const p of taken) {
      const head = heads.get(p.session) ?? { seq: p.session.seq, hash: p.session.hash, events: [], decisions: new Set<string>() };
      heads.set(p.session, head);
      for (const e of p.events) {
        const seq = head.seq + 1;
        // One canonical text per payload (made by #shape): hashed, and stored as it is.
        const hash = eventHashWithPayloadText({ sessionId: p.session.id, seq, type: e.type, at: e.at, offsetMs: e.offsetMs, prevHash: head.hash }, e.payloadText);
        head.events.push({ seq, type: e.type, at: e.at, offsetMs: e.offsetMs, payload: e.payload, payloadText: e.payloadText, prevHash: head.hash, hash });
        head.seq = seq;
        head.hash = hash;
      }
      if (p.decision) head.decisions.add(p.decision);
    }
    const batches: EventBatch[] = [...heads].map(([s, h]) => ({ sessionId: s.id, events: h.events, decisions: [...h.decisions] }));
    try {
      await this.#o.store.events.appendMany(batches);
    } catch (err) {
      const error = failed(err);
      this.#o.logger.error('recording failed: requests are refused until the store takes events again', { code: error.code, err });
      for (const p of taken) p.reject(error);
      return;
    }
    for (const [s, h] of heads) {
      s.sinceCheckpoint += h.seq - s.seq;
      s.seq = h.seq;
      s.hash = h.hash;
      if (s.sinceCheckpoint >= this.#o.checkpointEvery && !s.ended) {
        this.#checkpoint(s).catch((err: unknown) => this.#o.logger.error('signing a recording checkpoint failed', { session: s.id, err }));
      }
    }
    for (const p of taken) p.resolve();
  }

  async #checkpoint(s: SessionState): Promise<void> {
    if (s.seq === 0) return;
    s.sinceCheckpoint = 0;
    const c = { sessionId: s.id, seq: s.seq, hash: s.hash, at: this.#o.now(), keyId: this.#o.key.keyId };
    await this.#o.store.checkpoints.add({ ...c, signature: this.#o.key.sign(checkpointStatement(c)) });
  }
}

function failed(err: unknown): GatewayError {
  if (err instanceof GatewayError && err.code === 'GW_RECORDING_FAILED') return err;
  return new GatewayError('GW_RECORDING_FAILED', 'The gateway could not record this request, so it was not forwarded; retry, and tell your administrator if it persists (the store is not taking writes).', { cause: err });
}
