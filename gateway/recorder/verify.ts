// Verifying a recorded session: the hash chain links every event to the one before it, and the
// checkpoints' Ed25519 signatures (by a key the auditor trusts) pin the chain's head at intervals
// and at the end. Used by `airlock sessions verify` on the auditor's side, over what the API
// returned, so the gateway serving the events is not trusted to check itself.
//
// What each kind of tampering breaks:
//   an edited event            its recomputed hash differs from the stored one
//   a deleted event            a gap in seq (or, renumbered, the next event's prevHash)
//   reordered events           seq out of order / prevHash mismatch
//   truncated tail             a signed checkpoint names a seq past the last event, or the
//                              session says it ended but its last event is not a signed session.end
//   forged checkpoint          its signature does not verify under a trusted key
import type { JWK } from 'jose';
import { GENESIS_HASH, checkpointStatement, eventHash, type ChainedEvent } from './chain.ts';
import { verifySignature } from './keys.ts';

/** An event as stored: what its hash covers (chain.ts), and the hash. */
export type VerifiableEvent = Omit<ChainedEvent, 'sessionId'> & { readonly hash: string };

export interface VerifiableCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly at: number;
  readonly keyId: string;
  readonly signature: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Events checked. */
  readonly events: number;
  /** Checkpoints whose signature verified. */
  readonly checkpoints: number;
  /** The highest seq a verified signature covers (0: none). */
  readonly signedThrough: number;
  /** The first problem, by seq (0 when it is about the session as a whole). */
  readonly firstBad?: { readonly seq: number; readonly reason: string };
  /** Problems that do not make the chain false but an auditor should know (e.g. an incomplete session). */
  readonly notes: string[];
}

export function verifySession(input: {
  readonly sessionId: string;
  /** ended | incomplete | open, as the store says. */
  readonly state: string;
  readonly events: readonly VerifiableEvent[];
  readonly checkpoints: readonly VerifiableCheckpoint[];
  /** Public keys (JWK with kid) the auditor trusts. */
  readonly keys: readonly JWK[];
}): VerifyResult {
  const { sessionId, events } = input;
  const notes: string[] = [];
  let checkpoints = 0;
  let signedThrough = 0;
  const bad = (seq: number, reason: string): VerifyResult => ({ ok: false, events: events.length, checkpoints, signedThrough, firstBad: { seq, reason }, notes });

  let prev = GENESIS_HASH;
  const hashes = new Map<number, string>();
  for (const [i, e] of events.entries()) {
    const expectedSeq = i + 1;
    if (e.seq !== expectedSeq) return bad(expectedSeq, `event ${expectedSeq} is missing or out of order (found seq ${e.seq} in its place)`);
    if (e.prevHash !== prev) return bad(e.seq, `event ${e.seq} does not link to event ${e.seq - 1} (prevHash differs): an event before it was changed, removed or moved`);
    const hash = eventHash({ sessionId, seq: e.seq, type: e.type, at: e.at, offsetMs: e.offsetMs, payload: e.payload, prevHash: e.prevHash });
    if (hash !== e.hash) return bad(e.seq, `event ${e.seq} was altered: its content does not match its hash`);
    hashes.set(e.seq, hash);
    prev = hash;
  }

  const keys = new Map(input.keys.filter((k) => typeof k.kid === 'string').map((k) => [k.kid as string, k]));
  for (const c of [...input.checkpoints].sort((a, b) => a.seq - b.seq)) {
    const key = keys.get(c.keyId);
    if (!key) return bad(c.seq, `the checkpoint at event ${c.seq} is signed by key ${c.keyId}, which is not a trusted recording key`);
    if (!verifySignature(key, checkpointStatement({ sessionId, seq: c.seq, hash: c.hash, at: c.at, keyId: c.keyId }), c.signature)) {
      return bad(c.seq, `the checkpoint at event ${c.seq} has a signature that does not verify: it was forged or altered`);
    }
    const stored = hashes.get(c.seq);
    if (stored === undefined) return bad(c.seq, `the session was truncated: a signed checkpoint covers event ${c.seq}, but only ${events.length} events remain`);
    if (stored !== c.hash) return bad(c.seq, `event ${c.seq} differs from what the signed checkpoint recorded`);
    checkpoints++;
    signedThrough = Math.max(signedThrough, c.seq);
  }

  const last = events.at(-1);
  if (input.state === 'ended') {
    if (!last || last.type !== 'session.end') return bad(events.length + 1, 'the session ended but its session.end event is missing: the session was truncated');
    if (signedThrough !== last.seq) return bad(last.seq, `the session ended but no signed checkpoint covers its last event (${last.seq})`);
  } else if (input.state === 'incomplete') {
    notes.push(`the session is incomplete (its gateway stopped without ending it); events after ${signedThrough} are chained but not signed`);
  } else if (last && signedThrough < last.seq) {
    notes.push(`the session is still open; events after ${signedThrough} are chained but not yet signed`);
  }
  return { ok: true, events: events.length, checkpoints, signedThrough, notes };
}
