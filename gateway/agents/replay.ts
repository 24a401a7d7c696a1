// The jti values of agent connect tokens seen recently, so each token connects once. An entry
// lives until its token's expiry (plus the clock skew), after which the token is refused for its
// age anyway. Only tokens whose signature verified are recorded, so only a key holder can add
// entries; the count is still capped, and a full cache refuses (fail closed) rather than forgets.
// In memory: one gateway process. Replicas would share it through the store (see DESIGN.md).

export interface ReplayCacheOptions {
  /** Entries held at most; beyond that `use` answers 'full'. Default 100000. */
  readonly maxEntries?: number;
  /** Clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
}

/** Milliseconds between two sweeps of expired entries (each sweep is one pass over the map). */
const SWEEP_EVERY_MS = 10_000;

export class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(options: ReplayCacheOptions = {}) {
    this.#max = options.maxEntries ?? 100_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new TypeError(`ReplayCache maxEntries must be a positive integer, not ${String(options.maxEntries)}`);
    this.#now = options.now ?? Date.now;
  }

  /** Entries held (for tests and metrics). */
  get size(): number { return this.#seen.size; }

  /**
   * Records `key` (agent name + jti) until `until` (epoch ms). 'fresh' the first time;
   * 'replayed' when it is held already; 'full' when the cap is reached even after a sweep.
   */
  use(key: string, until: number): 'fresh' | 'replayed' | 'full' {
    const now = this.#now();
    if (now - this.#lastSweep >= SWEEP_EVERY_MS || this.#seen.size >= this.#max) this.#sweep(now);
    const held = this.#seen.get(key);
    if (held !== undefined && held > now) return 'replayed';
    if (this.#seen.size >= this.#max) return 'full';
    this.#seen.set(key, until);
    return 'fresh';
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, until] of this.#seen) if (until <= now) this.#seen.delete(key);
  }
}
