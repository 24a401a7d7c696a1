// Verifying a recorded session: the hash chain links every event to the one before it, and the
// checkpoints' Ed25519 signatures (by a key the auditor trusts, within its validity) pin the
// chain's head at intervals and at the end. Used by `airlock sessions verify` on the auditor's
// side, over what the API returned, so the gateway serving the events is not trusted to check
// itself. What a session alone cannot show (it was deleted whole, or cut back to an older copy
// together with its newest checkpoints) the ledger shows: ledger-verify.ts.
//
// What each kind of tampering breaks:
//   an edited event            its recomputed hash differs from the stored one
//   a deleted event            a gap in seq (or, renumbered, the next event's prevHash)
//   reordered events           seq out of order / prevHash mismatch
//   truncated tail             a signed checkpoint names a seq past the last event; an ended or
//                              incomplete session has no final checkpoint covering its last event
//   a deleted checkpoint       the next checkpoint's `prev` names a digest no stored checkpoint has
//   the state edited           the session's state differs from its final checkpoint's signed state
//   forged checkpoint          its signature does not verify under a trusted key
import type { JWK } from 'jose';
import { FINAL_STATES, GENESIS_HASH, checkpointDigest, checkpointStatement, eventHash, type ChainedEvent } from './chain.ts';
import { validAt, verifySignature } from './keys.ts';

/** An event as stored: what its hash covers (chain.ts), and the hash. */
export type VerifiableEvent = Omit<ChainedEvent, 'sessionId'> & { readonly hash: string };

export interface VerifiableCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly at: number;
  readonly keyId: string;
  readonly signature: string;
  /** Null (or absent) in a version-1 checkpoint. */
  readonly state?: string | null;
  readonly prev?: string | null;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Events checked. */
  readonly events: number;
  /** Checkpoints whose signature verified. */
  readonly checkpoints: number;
  /** The highest seq a verified signature covers (0: none). */
  readonly signedThrough: number;
  /** The state the final checkpoint signs (null: no final checkpoint). */
  readonly signedState: string | null;
  /** The first problem, by seq (0 when it is about the session as a whole). */
  readonly firstBad?: { readonly seq: number; readonly reason: string };
  /** Problems that do not make the chain false but an auditor should know (e.g. an incomplete session). */
  readonly notes: string[];
}

/** The trusted key `kid` that accepts a signature dated `at`, or why none does. */
export function keyFor(keys: readonly JWK[], kid: string, at: number): JWK | string {
  const key = keys.find((k) => k.kid === kid);
  if (!key) return `is signed by key ${kid}, which is not a trusted recording key`;
  if (!validAt(key as { notBefore?: unknown; notAfter?: unknown }, at)) {
    return `is signed by key ${kid} at ${new Date(at).toISOString()}, outside that key's validity (${String((key as { notBefore?: unknown }).notBefore ?? '…')} to ${String((key as { notAfter?: unknown }).notAfter ?? '…')})`;
  }
  return key;
}

export function verifySession(input: {
  readonly sessionId: string;
  /** ended | incomplete | open, as the store says. */
  readonly state: string;
  readonly events: readonly VerifiableEvent[];
  readonly checkpoints: readonly VerifiableCheckpoint[];
  /** Public keys (JWK with kid; notBefore/notAfter honoured) the auditor trusts. */
  readonly keys: readonly JWK[];
}): VerifyResult {
  const { sessionId, events } = input;
  const notes: string[] = [];
  let checkpoints = 0;
  let signedThrough = 0;
  let signedState: string | null = null;
  const bad = (seq: number, reason: string): VerifyResult => ({ ok: false, events: events.length, checkpoints, signedThrough, signedState, firstBad: { seq, reason }, notes });

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

  let previousDigest = GENESIS_HASH;
  let chained = false; // whether any version-2 checkpoint (which names its predecessor) was seen
  const sorted = [...input.checkpoints].sort((a, b) => a.seq - b.seq);
  for (const [i, c] of sorted.entries()) {
    const fields = { sessionId, seq: c.seq, hash: c.hash, at: c.at, keyId: c.keyId, state: c.state ?? null, prev: c.prev ?? null };
    const key = keyFor(input.keys, c.keyId, c.at);
    if (typeof key === 'string') return bad(c.seq, `the checkpoint at event ${c.seq} ${key}`);
    if (!verifySignature(key, checkpointStatement(fields), c.signature)) {
      return bad(c.seq, `the checkpoint at event ${c.seq} has a signature that does not verify: it was forged or altered`);
    }
    if (fields.state !== null) {
      chained = true;
      if (fields.prev !== previousDigest) {
        return bad(c.seq, i === 0
          ? `the checkpoint at event ${c.seq} is not the session's first, but no earlier checkpoint is stored: a checkpoint was removed`
          : `the checkpoint at event ${c.seq} does not follow the one at event ${sorted[i - 1]!.seq}: a checkpoint between them was removed`);
      }
      if (signedState !== null) return bad(c.seq, `the checkpoint at event ${c.seq} follows the session's final checkpoint (${signedState}): it cannot be genuine`);
      if (FINAL_STATES.has(fields.state)) signedState = fields.state;
    }
    previousDigest = checkpointDigest(fields);
    const stored = hashes.get(c.seq);
    if (stored === undefined) return bad(c.seq, `the session was truncated: a signed checkpoint covers event ${c.seq}, but only ${events.length} events remain`);
    if (stored !== c.hash) return bad(c.seq, `event ${c.seq} differs from what the signed checkpoint recorded`);
    checkpoints++;
    signedThrough = Math.max(signedThrough, c.seq);
  }

  const last = events.at(-1);
  const lastSeq = last?.seq ?? 0;
  if (signedState !== null) {
    // A final checkpoint is the truth about how the session ended; the sessions row must agree.
    if (input.state !== signedState) return bad(0, `the session's state says ${input.state}, but its final signed checkpoint says ${signedState}: the state was edited after signing`);
    if (signedThrough !== lastSeq) return bad(lastSeq, `events after the final checkpoint (event ${signedThrough}) cannot be genuine`);
    const closing = signedState === 'ended' ? 'session.end' : 'session.incomplete';
    if (last!.type !== closing) return bad(lastSeq, `the session's final checkpoint says ${signedState}, but its last event is ${last!.type}, not ${closing}`);
    if (signedState === 'incomplete') notes.push('the session is incomplete: its gateway stopped without ending it, and another sealed it with what was stored');
  } else if (input.state === 'ended') {
    if (!last || last.type !== 'session.end') return bad(events.length + 1, 'the session ended but its session.end event is missing: the session was truncated');
    if (chained) return bad(lastSeq, `the session ended but no final signed checkpoint covers its end (the last signed event is ${signedThrough}): the session's tail or its final checkpoint was removed`);
    if (signedThrough !== last.seq) return bad(last.seq, `the session ended but no signed checkpoint covers its last event (${last.seq})`);
  } else if (input.state === 'incomplete') {
    if (chained) return bad(lastSeq, `the session is marked incomplete but no final signed checkpoint seals it (the last signed event is ${signedThrough}): its tail and final checkpoint were removed, or its state was edited`);
    notes.push(`the session is incomplete and was recorded before sessions were sealed (airlock before the ledger); events after ${signedThrough} are chained but not signed`);
  } else if (lastSeq > signedThrough) {
    notes.push(`the session is still open; events after ${signedThrough} are chained but not yet signed (ask for a fresh checkpoint with --checkpoint)`);
  }
  return { ok: true, events: events.length, checkpoints, signedThrough, signedState, notes };
}
