// Places for `kind: concurrent`, shared by every replica through the store, leased locally: a
// replica leases places in blocks and admits requests against its lease from memory, so a request
// costs no store round trip while the lease has room.
//
// A lease lives in time slots (`slotMs`, default 4 s): the store's counter `<key>#places@<slot
// end>` holds the places every replica leased for that slot. A replica keeps its lease written in
// the current slot and the next one. Growing is conditional on the current slot (granted only up
// to `max`, the rest given back at once) and written to the next one as well; every quarter slot a
// heartbeat renews the lease into the next slot and gives back what it no longer needs (keeping a
// block of room above the requests in flight, none when idle). Since no replica ever writes more
// in the next slot than it holds in the current one, the next slot's total never passes the
// current one's, which never passes `max`: all replicas together never have more than `max`
// places. A replica that dies stops renewing: its places come back within two slots.
import type { Store } from '../store/index.ts';

/** How long a replica that found no place left trusts that before asking the store again, ms. */
const RECHECK_FULL_MS = 250;

interface Lease {
  inFlight: number;
  /** Places this replica holds in the store. */
  leased: number;
  /** What this replica wrote in each slot's counter (slot end → places), current and next. */
  readonly written: Map<number, number>;
  /** The slot (its end, epoch ms) the lease was last carried into. */
  slot: number;
  block: number;
  /** A store round trip in flight for this key: others wait for it. */
  pending?: Promise<void>;
  /** When the store last said no place was left, epoch ms. */
  fullAt?: number;
}

export interface PlacesOptions {
  /** Clock, epoch ms. */
  readonly now: () => number;
  /** Length of a lease slot, ms: a dead replica's places come back within two. */
  readonly slotMs: number;
  /** A heartbeat's renewal or give-back failed (the lease stays; the next heartbeat retries). */
  readonly onError: (err: unknown) => void;
}

export class Places {
  readonly #store: Store['counters'];
  readonly #o: PlacesOptions;
  readonly #leases = new Map<string, Lease>();
  readonly #timer: NodeJS.Timeout;

  constructor(store: Store['counters'], options: PlacesOptions) {
    this.#store = store;
    this.#o = options;
    this.#timer = setInterval(() => void this.#heartbeat(), Math.max(50, options.slotMs / 4));
    this.#timer.unref();
  }

  /** Requests in flight under `key` on this replica. */
  inUse(key: string): number {
    return this.#leases.get(key)?.inFlight ?? 0;
  }

  /** Takes a place under `key` (at most `max` across replicas), leasing `block` more from the store when this replica's lease is full. Throws when the store fails. */
  async take(key: string, max: number, block: number): Promise<boolean> {
    let l = this.#leases.get(key);
    if (l === undefined) this.#leases.set(key, l = { inFlight: 0, leased: 0, written: new Map(), slot: 0, block });
    l.block = block;
    for (;;) {
      while (l.pending) await l.pending;
      if (l.slot !== this.#slotEnd()) { await this.#serial(l, () => this.#carry(key, l!)); continue; }
      if (l.inFlight < l.leased) {
        l.inFlight++; // taken before any await: concurrent requests never share a place
        return true;
      }
      if (l.leased >= max || (l.fullAt !== undefined && this.#o.now() - l.fullAt < RECHECK_FULL_MS)) return false;
      const before = l.leased;
      await this.#serial(l, () => this.#grow(key, l!, Math.min(block, max - l!.leased), max));
      if (l.leased === before && l.inFlight >= l.leased) return false;
    }
  }

  /** Gives a place back (the request ended); the lease shrinks at the next heartbeat. */
  release(key: string): void {
    const l = this.#leases.get(key);
    if (l !== undefined && l.inFlight > 0) l.inFlight--;
  }

  /** Stops the heartbeat and gives every leased place back to the store (a replica stopping), best effort. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    const writes: Array<Promise<unknown>> = [];
    for (const [key, l] of this.#leases) {
      for (const [slot, places] of l.written) if (places > 0 && slot > this.#o.now()) writes.push(this.#store.add(storeKey(key, slot), -places, slot).catch(() => undefined));
      l.written.clear();
      l.leased = 0;
    }
    await Promise.all(writes);
  }

  #slotEnd(at = this.#o.now()): number {
    return (Math.floor(at / this.#o.slotMs) + 1) * this.#o.slotMs;
  }

  async #serial(l: Lease, fn: () => Promise<void>): Promise<void> {
    l.pending = fn().finally(() => { l.pending = undefined; });
    await l.pending;
  }

  async #write(key: string, l: Lease, slot: number, places: number): Promise<number> {
    const total = await this.#store.add(storeKey(key, slot), places, slot);
    l.written.set(slot, (l.written.get(slot) ?? 0) + places);
    return total;
  }

  /** Carries the lease into the current slot (normally written there already) and the next one. */
  async #carry(key: string, l: Lease): Promise<void> {
    const now = this.#slotEnd();
    const next = now + this.#o.slotMs;
    for (const slot of l.written.keys()) if (slot < now) l.written.delete(slot);
    // Late (a heartbeat missed a whole slot): written unconditionally, the one case the total may pass max.
    const missing = l.leased - (l.written.get(now) ?? 0);
    if (missing > 0) await this.#write(key, l, now, missing);
    const ahead = l.leased - (l.written.get(next) ?? 0);
    if (ahead > 0) await this.#write(key, l, next, ahead);
    l.slot = now;
  }

  /** Leases `want` more places if the current slot has them (granted only up to max), and writes them ahead. */
  async #grow(key: string, l: Lease, want: number, max: number): Promise<void> {
    const now = this.#slotEnd();
    const total = await this.#write(key, l, now, want);
    const got = Math.max(0, Math.min(want, max - (total - want)));
    if (got < want) {
      l.fullAt = this.#o.now();
      await this.#write(key, l, now, got - want); // what was not granted goes back at once
    }
    if (got > 0) await this.#write(key, l, now + this.#o.slotMs, got);
    l.leased += got;
  }

  /** Gives back what the lease no longer needs (a block of room above the requests in flight, none when idle), then renews it ahead. */
  async #shrink(key: string, l: Lease): Promise<void> {
    const keep = l.inFlight === 0 ? 0 : Math.min(l.leased, l.inFlight + l.block);
    const extra = l.leased - keep;
    if (extra > 0) {
      l.leased = keep; // first: no request takes a place being given back
      const current = this.#slotEnd();
      for (const [slot, places] of [...l.written]) {
        if (slot < current) continue; // ended: nothing to give back
        const back = Math.min(extra, places);
        if (back > 0) await this.#write(key, l, slot, -back);
      }
    }
    await this.#carry(key, l);
  }

  async #heartbeat(): Promise<void> {
    for (const [key, l] of this.#leases) {
      if (l.pending) continue; // busy: the next heartbeat
      try {
        await this.#serial(l, () => this.#shrink(key, l));
      } catch (err) {
        this.#o.onError(err);
      }
      if (l.leased === 0 && l.inFlight === 0 && !l.pending && [...l.written.values()].every((p) => p === 0)) this.#leases.delete(key);
    }
  }
}

/** Not a window counter's key (`<key>@<end>`): `/api/v1/usage` lists windows, not places. */
function storeKey(key: string, slot: number): string {
  return `${key}#places@${slot}`;
}
