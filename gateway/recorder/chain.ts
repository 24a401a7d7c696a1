// The tamper evidence, shared by the recorder that writes it and the verifier that checks it:
// canonical JSON (keys sorted, no spaces), each event's hash over its canonical form plus the
// previous hash, the signed checkpoint statement, and the ledger's entries and signed heads.
import { createHash, hash } from 'node:crypto';
import { canonicalJson } from '../../lib/canonical-json.ts';

/** Payload texts up to this many UTF-16 units are hashed in one call (see eventHashWithPayloadText). */
const ONE_SHOT_CHARS = 64 * 1024;

/** The hash a session's first event chains to. */
export const GENESIS_HASH = '0'.repeat(64);

/** What an event's hash covers: everything stored about it except the hash itself. */
export interface ChainedEvent {
  readonly sessionId: string;
  readonly seq: number;
  readonly type: string;
  readonly at: number;
  readonly offsetMs: number;
  readonly payload: unknown;
  readonly prevHash: string;
}

/** SHA-256 (hex) over the previous hash and the event's canonical JSON. */
export function eventHash(e: ChainedEvent): string {
  return eventHashWithPayloadText(e, canonicalJson(e.payload));
}

/**
 * The same hash, given the payload's canonical JSON already made (the recorder stores that very
 * text, so it is made once). The event's canonical JSON is spelled out here in sorted key order:
 * at, offsetMs, payload, prev, seq, session, type — exactly what canonicalJson writes.
 */
export function eventHashWithPayloadText(e: Omit<ChainedEvent, 'payload'>, payloadText: string): string {
  const head = `${e.prevHash}\n{"at":${JSON.stringify(e.at)},"offsetMs":${JSON.stringify(e.offsetMs)},"payload":`;
  const tail = `,"prev":${JSON.stringify(e.prevHash)},"seq":${JSON.stringify(e.seq)},"session":${JSON.stringify(e.sessionId)},"type":${JSON.stringify(e.type)}}`;
  // The one-shot hash is cheaper for the many small events; a large payload's text is hashed in
  // place instead of being copied into one more string.
  if (payloadText.length <= ONE_SHOT_CHARS) return hash('sha256', head + payloadText + tail, 'hex');
  return createHash('sha256').update(head).update(payloadText).update(tail).digest('hex');
}

/** A checkpoint as signed. `state` and `prev` are null in a version-1 checkpoint (before the ledger). */
export interface CheckpointFields {
  readonly sessionId: string;
  /** The last event it covers. */
  readonly seq: number;
  /** That event's hash: the chain head. */
  readonly hash: string;
  readonly at: number;
  readonly keyId: string;
  /** open (a periodic or requested checkpoint), ended or incomplete (final: nothing follows it). */
  readonly state: string | null;
  /** checkpointDigest of the session's previous checkpoint, GENESIS_HASH for its first. */
  readonly prev: string | null;
}

/**
 * The bytes a checkpoint's Ed25519 signature covers. Version 2 adds the session's state and the
 * previous checkpoint's digest, so a checkpoint cannot be removed from the middle of a session's
 * checkpoints, nor the state read from the sessions row be trusted over the signed one.
 */
export function checkpointStatement(c: CheckpointFields): Buffer {
  const v1 = { v: 1, kind: 'airlock.recording.checkpoint', session: c.sessionId, seq: c.seq, hash: c.hash, at: c.at, key: c.keyId };
  return Buffer.from(canonicalJson(c.state === null ? v1 : { ...v1, v: 2, state: c.state, prev: c.prev }), 'utf8');
}

/** SHA-256 (hex) of a checkpoint's statement: what the next checkpoint and the ledger name it by. */
export function checkpointDigest(c: CheckpointFields): string {
  return hash('sha256', checkpointStatement(c), 'hex');
}

/** The states a final checkpoint carries: nothing is recorded in the session after it. */
export const FINAL_STATES: ReadonlySet<string> = new Set(['ended', 'incomplete']);

/** What a ledger entry's hash covers (ledger.ts says what each type means). */
export interface LedgerEntryFields {
  readonly chain: string;
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly sessionId: string;
  readonly data: unknown;
  readonly prevHash: string;
}

/** SHA-256 (hex) over the previous entry's hash and the entry's canonical JSON. */
export function ledgerEntryHash(e: LedgerEntryFields): string {
  return hash('sha256', `${e.prevHash}\n${canonicalJson({ chain: e.chain, seq: e.seq, at: e.at, type: e.type, session: e.sessionId, data: e.data, prev: e.prevHash })}`, 'hex');
}

/** A ledger chain's signed head: the chain holds `seq` entries and the last one hashes to `hash`. */
export interface LedgerHeadFields {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  readonly at: number;
  readonly keyId: string;
  /** True once the chain is closed (its gateway stopped) or sealed (by the gateway that found it dead). */
  readonly final: boolean;
}

/** The bytes a ledger head's signature covers. */
export function ledgerHeadStatement(h: LedgerHeadFields): Buffer {
  return Buffer.from(canonicalJson({ v: 1, kind: 'airlock.recording.ledger', chain: h.chain, seq: h.seq, hash: h.hash, at: h.at, key: h.keyId, final: h.final }), 'utf8');
}
