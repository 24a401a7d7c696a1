// Verifying the ledger (ledger.ts) against the sessions in the store: what `airlock sessions verify
// --all` (and a single session's verify, for that session) adds to each session's own check.
//
// Per chain: the entries link (prevHash, hash), the last one is what the chain's signed head
// names, and every chain an `open` entry names still exists at least as far as it was then.
// Per session the ledger mentions: it still exists unless purged, and its newest checkpoint is the
// one the ledger recorded last (same digest), so a session deleted whole, cut back with its
// newest checkpoints, or restored from an older copy is named. Per session in the store: the
// ledger knows it (one recorded since the ledger exists has a start entry).
import type { JWK } from 'jose';
import { GENESIS_HASH, checkpointDigest, ledgerEntryHash, ledgerHeadStatement, type LedgerHeadFields } from './chain.ts';
import { verifySignature } from './keys.ts';
import { keyFor, type VerifiableCheckpoint } from './verify.ts';

export interface VerifiableEntry {
  readonly chain: string;
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly sessionId: string;
  readonly data: Record<string, any>;
  readonly prevHash: string;
  readonly hash: string;
}

/** A ledger chain's signed head as stored: its fields and their signature. */
export interface VerifiableHead extends LedgerHeadFields {
  readonly signature: string;
}

export interface LedgerChainInput {
  readonly chain: string;
  /** The first entry given (1: the whole chain). */
  readonly from: number;
  readonly head: VerifiableHead | null;
  readonly entries: readonly VerifiableEntry[];
}

/** A session as the store holds it; null for a session the ledger names but the store does not have. */
export interface LedgerSessionInput {
  readonly state: string;
  readonly checkpoints: readonly VerifiableCheckpoint[];
}

export interface LedgerResult {
  readonly ok: boolean;
  /** Every problem found, each naming its chain or session. */
  readonly problems: string[];
  readonly notes: string[];
  readonly chains: number;
  readonly entries: number;
}

export function verifyLedger(input: {
  readonly chains: readonly LedgerChainInput[];
  /** Every chain's head (to check the chains an open entry names, fetched or not). */
  readonly heads: readonly VerifiableHead[];
  /** The sessions to check against the ledger, by id; null: the store does not have it. */
  readonly sessions: ReadonlyMap<string, LedgerSessionInput | null>;
  /** Sessions of the store the ledger must know (all of them in --all; those since --since). */
  readonly mustBeKnown?: readonly string[];
  readonly keys: readonly JWK[];
}): LedgerResult {
  const problems: string[] = [];
  const notes: string[] = [];
  const heads = new Map(input.heads.map((h) => [h.chain, h]));
  let entries = 0;
  /** Per session: started (chain/seq), newest checkpoint entry, purged. */
  const known = new Map<string, { start?: VerifiableEntry; checkpoint?: VerifiableEntry; purged?: VerifiableEntry }>();
  const about = (id: string) => known.get(id) ?? known.set(id, {}).get(id)!;

  for (const c of input.chains) {
    const where = `ledger chain ${c.chain}`;
    const chainProblems = problems.length;
    if (c.head) {
      const key = keyFor(input.keys, c.head.keyId, c.head.at);
      if (typeof key === 'string') problems.push(`${where}: its head ${key}`);
      else if (!verifySignature(key, ledgerHeadStatement(c.head), c.head.signature)) problems.push(`${where}: its signed head does not verify: it was forged or altered`);
    } else if (c.entries.length > 0) {
      problems.push(`${where} has entries but no signed head: its head was removed`);
    }
    let prev: string | undefined = c.from === 1 ? GENESIS_HASH : c.entries[0]?.prevHash;
    for (const [i, e] of c.entries.entries()) {
      const expected = c.from + i;
      if (e.seq !== expected) { problems.push(`${where}: entry ${expected} is missing (found ${e.seq} in its place): the ledger was edited`); break; }
      if (e.prevHash !== prev) { problems.push(`${where}: entry ${e.seq} does not link to entry ${e.seq - 1}: an entry was changed, removed or moved`); break; }
      if (ledgerEntryHash(e) !== e.hash) { problems.push(`${where}: entry ${e.seq} was altered: its content does not match its hash`); break; }
      prev = e.hash;
      entries++;
    }
    const last = c.entries.at(-1);
    if (c.head && problems.length === chainProblems) {
      if ((last?.seq ?? c.from - 1) < c.head.seq) problems.push(`${where} was truncated: its signed head covers entry ${c.head.seq}, but the chain ends at entry ${last?.seq ?? c.from - 1}`);
      else if (last && last.seq > c.head.seq) problems.push(`${where}: entries after ${c.head.seq} are not covered by its signed head: they were added behind the gateway's back`);
      else if (last && last.hash !== c.head.hash) problems.push(`${where}: entry ${last.seq} differs from what its signed head recorded`);
    }
    if (c.head && !c.head.final) notes.push(`${where} is open (its gateway is running, or stopped and not yet sealed by another): proven up to its signed head, entry ${c.head.seq} at ${new Date(c.head.at).toISOString()}`);
    if (problems.length !== chainProblems) continue; // an unproven chain proves nothing about sessions
    for (const e of c.entries) {
      if (e.type === 'open') {
        for (const named of (e.data.chains ?? []) as Array<{ chain: string; seq: number }>) {
          const h = heads.get(named.chain);
          if (!h) problems.push(`ledger chain ${named.chain} is missing: chain ${c.chain} named it (at entry ${named.seq}) when it opened; a gateway's whole ledger was deleted`);
          else if (h.seq < named.seq) problems.push(`ledger chain ${named.chain} was cut back to entry ${h.seq}: chain ${c.chain} saw it at entry ${named.seq}`);
        }
      } else if (e.type === 'seal') {
        const h = heads.get(String(e.data.chain));
        if (!h || h.seq < Number(e.data.seq)) problems.push(`ledger chain ${String(e.data.chain)} was cut back: chain ${c.chain} sealed it at entry ${String(e.data.seq)}`);
      } else if (e.type === 'start') about(e.sessionId).start = e;
      else if (e.type === 'purge') about(e.sessionId).purged = e;
      else if (e.type === 'checkpoint') {
        const k = about(e.sessionId);
        if (!k.checkpoint || Number(e.data.seq) > Number(k.checkpoint.data.seq)) k.checkpoint = e;
      }
    }
  }

  for (const [id, session] of input.sessions) {
    const k = known.get(id);
    if (!k) continue;
    if (k.purged) continue; // retention deleted it, and said so in the ledger
    const cite = (e: VerifiableEntry) => `chain ${e.chain} entry ${e.seq}`;
    if (!session) {
      const e = k.start ?? k.checkpoint!;
      problems.push(`session ${id} was deleted: the ledger recorded it (${cite(e)}, ${new Date(e.at).toISOString()}) and no purge`);
      continue;
    }
    if (!k.checkpoint) continue;
    const want = k.checkpoint.data as { seq: number; state: string; checkpoint: string };
    const newest = [...session.checkpoints].sort((a, b) => a.seq - b.seq).at(-1);
    const digest = newest ? checkpointDigest({ sessionId: id, seq: newest.seq, hash: newest.hash, at: newest.at, keyId: newest.keyId, state: newest.state ?? null, prev: newest.prev ?? null }) : undefined;
    if (digest !== want.checkpoint) {
      problems.push(`session ${id} is not what the ledger recorded: its newest checkpoint should be at event ${want.seq} (state ${want.state}, ${cite(k.checkpoint)}), but the store's ${newest ? `is at event ${newest.seq}` : 'are all gone'}: the session was cut back, restored from an older copy, or its checkpoint removed`);
    }
  }
  for (const id of input.mustBeKnown ?? []) {
    const k = known.get(id);
    if (k?.start || k?.checkpoint) continue;
    const s = input.sessions.get(id);
    if (s && s.checkpoints.some((c) => c.state !== null && c.state !== undefined)) problems.push(`session ${id} is not in the ledger: no gateway recorded its start; it was added to the store`);
    else notes.push(`session ${id} is not in the ledger (recorded before it existed): its completeness is not proven`);
  }
  return { ok: problems.length === 0, problems, notes, chains: input.chains.length, entries };
}
