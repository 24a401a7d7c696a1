// Window counters shared through the store, spent locally: a replica reserves a block of units
// from the store's counter (one round trip per block, never per request) and spends them from
// memory. The store never grants past the limit's max: a reservation that finds the counter at or
// over max gets nothing, one that finds it short of max gets only what is left. So the units spent
// by all replicas together never exceed max; what a replica reserved and did not spend (at most
// block-1 per replica and key) is refused to the others until it stops (and gives it back) or the
// window ends (see DESIGN.md).
import type { Store } from '../store/index.ts';

/** How long a replica that saw a limit used up trusts that before asking the store again, ms. */
const RECHECK_FULL_MS = 1000;

interface Slot {
  /** End of the window this slot counts, epoch ms. */
  readonly windowEnd: number;
  /** Units reserved from the store and not yet spent here. */
  local: number;
  /** The store's total as this replica last saw it, capped at what was granted (units really handed out). */
  granted: number;
  /** A reservation in flight: others wait for it instead of reserving twice. */
  pending?: Promise<void>;
  /** When the store last said the limit was used up, epoch ms (asked again at most once a second). */
  fullAt?: number;
}

export interface CounterView {
  /** Units used in the window as far as this replica knows (every replica's reservations included). */
  readonly used: number;
  /** Seconds until the window ends (at least 1: a Retry-After). */
  readonly resetIn: number;
  /** Milliseconds until the window ends (what a delayed request waits). */
  readonly endsInMs: number;
}

export class WindowCounters {
  readonly #store: Store['counters'];
  readonly #now: () => number;
  readonly #slots = new Map<string, Slot>();

  /** `now`: clock, epoch ms (default Date.now). */
  constructor(store: Store['counters'], now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  #slot(key: string, windowMs: number): { slot: Slot; storeKey: string } {
    const now = this.#now();
    const windowEnd = (Math.floor(now / windowMs) + 1) * windowMs;
    const storeKey = `${key}@${windowEnd}`;
    let slot = this.#slots.get(storeKey);
    if (!slot) {
      // A new window: the previous one's slot for this key is dropped (its leftovers end with it).
      this.#slots.delete(`${key}@${windowEnd - windowMs}`);
      slot = { windowEnd, local: 0, granted: 0 };
      this.#slots.set(storeKey, slot);
    }
    return { slot, storeKey };
  }

  /**
   * Takes `amount` units for `key` in the current window of `windowMs` from the local ones,
   * reserving a block (at least `block`) from the store when they do not cover it. Resolves false
   * (nothing taken) when the limit `max` leaves too few. Throws GW_STORE_UNAVAILABLE.
   */
  async take(key: string, amount: number, max: number, block: number, windowMs: number): Promise<boolean> {
    const { slot, storeKey } = this.#slot(key, windowMs);
    while (slot.pending) await slot.pending;
    if (slot.local >= amount) {
      slot.local -= amount; // taken before any await: concurrent requests never share a unit
      return true;
    }
    // Seen used up: asked again at most once a second (a reload may raise max, another replica give units back).
    if (slot.granted >= max && slot.fullAt !== undefined && this.#now() - slot.fullAt < RECHECK_FULL_MS) return false;
    const want = Math.max(block, amount - slot.local);
    const reservation = this.#store.add(storeKey, want, slot.windowEnd).then(async (total) => {
      const before = total - want;
      const got = Math.max(0, Math.min(want, max - before));
      slot.local += got;
      slot.granted = Math.min(max, before + got);
      if (got < want) {
        slot.fullAt = this.#now();
        await this.#store.add(storeKey, got - want, slot.windowEnd); // what was not granted goes back at once
      }
    });
    slot.pending = reservation.finally(() => { slot.pending = undefined; });
    await slot.pending;
    return this.take(key, amount, max, block, windowMs);
  }

  /** Gives back `amount` units taken for a request that was then refused for another reason. */
  giveBack(key: string, amount: number, windowMs: number): void {
    const { slot } = this.#slot(key, windowMs);
    slot.local += amount;
  }

  /**
   * Counts `amount` units that were already used (egress: values that left): from the local
   * units first, the rest added to the store as they are, over max if so (they left already).
   */
  async force(key: string, amount: number, windowMs: number): Promise<void> {
    const { slot, storeKey } = this.#slot(key, windowMs);
    const fromLocal = Math.min(slot.local, amount);
    slot.local -= fromLocal;
    const rest = amount - fromLocal;
    if (rest === 0) return;
    const total = await this.#store.add(storeKey, rest, slot.windowEnd);
    slot.granted = Math.max(slot.granted, total);
  }

  /** What this replica knows of `key`'s current window, without a store round trip. */
  view(key: string, windowMs: number): CounterView {
    const now = this.#now();
    const windowEnd = (Math.floor(now / windowMs) + 1) * windowMs;
    const slot = this.#slots.get(`${key}@${windowEnd}`); // read only: a caller never seen here costs no memory
    const used = slot === undefined ? 0 : Math.max(0, slot.granted - slot.local);
    return { used, resetIn: Math.max(1, Math.ceil((windowEnd - now) / 1000)), endsInMs: windowEnd - now };
  }

  /** Gives every unspent local unit of the current windows back to the store (a replica stopping), best effort. */
  async returnAll(): Promise<void> {
    const now = this.#now();
    const returns = [...this.#slots].filter(([, slot]) => slot.windowEnd > now && slot.local > 0).map(([storeKey, slot]) => {
      const units = slot.local;
      slot.local = 0;
      return this.#store.add(storeKey, -units, slot.windowEnd).catch(() => undefined);
    });
    await Promise.all(returns);
  }

  /** Forgets slots of windows that ended (memory only; the store purges its own). */
  sweep(): void {
    const now = this.#now();
    for (const [k, slot] of this.#slots) if (slot.windowEnd <= now) this.#slots.delete(k);
  }
}
