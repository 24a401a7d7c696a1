// The tamper evidence, shared by the recorder that writes it and the verifier that checks it:
// canonical JSON (keys sorted, no spaces), each event's hash over its canonical form plus the
// previous hash, and the signed checkpoint statement.
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

/** The bytes a checkpoint's Ed25519 signature covers. */
export function checkpointStatement(c: { readonly sessionId: string; readonly seq: number; readonly hash: string; readonly at: number; readonly keyId: string }): Buffer {
  return Buffer.from(canonicalJson({ v: 1, kind: 'airlock.recording.checkpoint', session: c.sessionId, seq: c.seq, hash: c.hash, at: c.at, key: c.keyId }), 'utf8');
}
