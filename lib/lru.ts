// A bounded least-recently-used map (Map keeps insertion order: a hit moves the entry to the end,
// an insert past the bound drops the first). O(1) per operation.

export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  readonly #max: number;

  /** `max`: entries kept, at least 1. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`Lru: max must be a positive integer, got ${max}`);
    this.#max = max;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  get size(): number {
    return this.#map.size;
  }
}
