// The ledger: one hash-chained list of entries per gateway process (its chain id is the process's
// instance id), so that the set of sessions, not just each session's events, is tamper-evident.
// Its entries, in order:
//
//   open        the chain's first entry: the heads of the chains this process found in the store
//               (so deleting a whole earlier chain is seen: a later chain names it)
//   start       a session was created (same transaction as its session.start event)
//   checkpoint  a session checkpoint was signed: its seq, chain head, state and digest (same
//               transaction as the checkpoint), so the newest checkpoint of every session is known
//   seal        this process found another's chain abandoned and signed its head final
//   purge       retention deleted a session (same transaction as the delete)
//
// Every transaction that adds entries also stores the chain's head signed by the recording key, so
// no entry is ever durable without a signature over it. One chain per process means no two
// replicas ever contend for a ledger sequence number: each assigns its own, in memory, in the one
// place that writes (the recorder's serialised flush), and the store's primary key (chain, seq)
// refuses a second writer. A Draft collects entries for one transaction and is applied to the
// chain only once that transaction committed.
import type { LedgerEntryRecord, LedgerHeadRecord, JsonObject } from '../store/index.ts';
import { GENESIS_HASH, ledgerEntryHash, ledgerHeadStatement } from './chain.ts';
import type { RecordingKey } from './keys.ts';

export class LedgerChain {
  readonly id: string;
  readonly #key: RecordingKey;
  #seq = 0;
  #hash = GENESIS_HASH;
  /** Whether the chain's open entry is durable (the first draft carries it). */
  opened = false;

  constructor(id: string, key: RecordingKey) {
    this.id = id;
    this.#key = key;
  }

  get seq(): number {
    return this.#seq;
  }

  /** A new draft from the chain's durable head. */
  draft(): Draft {
    return new Draft(this, this.#key, this.#seq, this.#hash);
  }

  /** The chain's head, signed (final: nothing will follow it). Null before the first entry. */
  head(at: number, final: boolean): LedgerHeadRecord | null {
    return this.#seq === 0 ? null : signHead(this.#key, { chain: this.id, seq: this.#seq, hash: this.#hash, at, final });
  }

  /** Called by Draft.applied once its transaction committed. */
  advance(seq: number, hash: string, opened: boolean): void {
    this.#seq = seq;
    this.#hash = hash;
    this.opened ||= opened;
  }
}

export class Draft {
  readonly entries: LedgerEntryRecord[] = [];
  readonly #chain: LedgerChain;
  readonly #key: RecordingKey;
  #seq: number;
  #hash: string;
  #opens = false;

  constructor(chain: LedgerChain, key: RecordingKey, seq: number, hash: string) {
    this.#chain = chain;
    this.#key = key;
    this.#seq = seq;
    this.#hash = hash;
  }

  /** Appends an entry (sessionId '' for the chain's own). */
  add(type: 'open' | 'start' | 'checkpoint' | 'seal' | 'purge', sessionId: string, data: JsonObject, at: number): void {
    const seq = this.#seq + 1;
    const entry = { chain: this.#chain.id, seq, at, type, sessionId, data, prevHash: this.#hash };
    const hash = ledgerEntryHash(entry);
    this.entries.push({ ...entry, hash });
    this.#seq = seq;
    this.#hash = hash;
    if (type === 'open') this.#opens = true;
  }

  /** The signed head after this draft's entries: stored in the same transaction. None when the draft is empty. */
  heads(at: number): LedgerHeadRecord[] {
    return this.entries.length === 0 ? [] : [signHead(this.#key, { chain: this.#chain.id, seq: this.#seq, hash: this.#hash, at, final: false })];
  }

  /** The transaction committed: the chain moves to this draft's head. */
  applied(): void {
    if (this.entries.length > 0) this.#chain.advance(this.#seq, this.#hash, this.#opens);
  }
}

/** A head signed by `key`. */
export function signHead(key: RecordingKey, h: { chain: string; seq: number; hash: string; at: number; final: boolean }): LedgerHeadRecord {
  const fields = { ...h, keyId: key.keyId };
  return { ...fields, signature: key.sign(ledgerHeadStatement(fields)) };
}
