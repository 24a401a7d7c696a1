// The tamper evidence, shared by the recorder that writes it and the verifier that checks it:
// canonical JSON (keys sorted, no spaces), each event's hash over its canonical form plus the
// previous hash, and the signed checkpoint statement.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../lib/canonical-json.ts';

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
  const body = `{"at":${JSON.stringify(e.at)},"offsetMs":${JSON.stringify(e.offsetMs)},"payload":${payloadText},"prev":${JSON.stringify(e.prevHash)},"seq":${JSON.stringify(e.seq)},"session":${JSON.stringify(e.sessionId)},"type":${JSON.stringify(e.type)}}`;
  return createHash('sha256').update(e.prevHash).update('\n').update(body).digest('hex');
}

/** The bytes a checkpoint's Ed25519 signature covers. */
export function checkpointStatement(c: { readonly sessionId: string; readonly seq: number; readonly hash: string; readonly at: number; readonly keyId: string }): Buffer {
  return Buffer.from(canonicalJson({ v: 1, kind: 'airlock.recording.checkpoint', session: c.sessionId, seq: c.seq, hash: c.hash, at: c.at, key: c.keyId }), 'utf8');
}
