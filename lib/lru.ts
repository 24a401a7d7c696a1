// A small least-recently-used cache, bounded by entry count and optionally by a total weight (for
// inspectors: the summed length of the cached texts), so a cache keyed by payload text cannot
// grow with what a client sends. Built on Map's insertion order: a hit re-inserts the key at
// the end, eviction takes from the front.

export interface LruOptions<K, V> {
  /** Most entries kept. Required, ≥ 1. */
  readonly maxEntries: number;
  /** Most total weight kept (unit is whatever `weigh` returns). Default: unbounded. */
  readonly maxWeight?: number;
  /** Weight of one entry. Default: 1 per entry. An entry heavier than `maxWeight` is not stored. */
  readonly weigh?: (key: K, value: V) => number;
}

export class Lru<K, V> {
  readonly #map = new Map<K, { value: V; weight: number }>();
  readonly #maxEntries: number;
  readonly #maxWeight: number;
  readonly #weigh: (key: K, value: V) => number;
  #weight = 0;

  constructor(options: LruOptions<K, V>) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) throw new TypeError('Lru: maxEntries must be an integer >= 1');
    if (options.maxWeight !== undefined && !(options.maxWeight > 0)) throw new TypeError('Lru: maxWeight must be > 0');
    this.#maxEntries = options.maxEntries;
    this.#maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    this.#weigh = options.weigh ?? (() => 1);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Summed weight of the entries held. */
  get weight(): number {
    return this.#weight;
  }

  /** The value for `key`, marking it most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, entry);
    return entry.value;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Stores `value` as most recently used, evicting the least recently used entries to fit. */
  set(key: K, value: V): void {
    const weight = this.#weigh(key, value);
    this.delete(key);
    if (!(weight <= this.#maxWeight)) return;
    this.#map.set(key, { value, weight });
    this.#weight += weight;
    // Each pass removes one entry, so this ends within size iterations.
    while (this.#map.size > this.#maxEntries || this.#weight > this.#maxWeight) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    const entry = this.#map.get(key);
    if (entry === undefined) return false;
    this.#map.delete(key);
    this.#weight -= entry.weight;
    return true;
  }

  clear(): void {
    this.#map.clear();
    this.#weight = 0;
  }
}
