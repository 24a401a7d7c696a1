// Token buckets for `kind: rate`, per key, in this replica's memory: `rate` tokens per second up
// to `burst`; a request takes one. This shapes the replica's own burst; the rate all replicas
// share is held by a window counter in the store (compile.ts sharedRate, counters.ts; DESIGN.md).

interface Bucket { tokens: number; at: number }

export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  /** `now`: clock, epoch ms (default Date.now). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #fill(key: string, rate: number, burst: number): Bucket {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: burst, at: now };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    return b;
  }

  /** Seconds until one token is there (0: one is there now). */
  waitFor(key: string, rate: number, burst: number): number {
    const b = this.#fill(key, rate, burst);
    return b.tokens >= 1 ? 0 : (1 - b.tokens) / rate;
  }

  take(key: string, rate: number, burst: number): void {
    this.#fill(key, rate, burst).tokens -= 1;
  }

  /** Whole tokens left now; read only: a key never taken from has a full bucket and costs no memory. */
  left(key: string, rate: number, burst: number): number {
    const b = this.#buckets.get(key);
    if (b === undefined) return burst;
    return Math.floor(Math.min(burst, b.tokens + ((this.#now() - b.at) / 1000) * rate));
  }

  /** Drops buckets idle for an hour (memory bound; a rate slower than one per hour refills early). */
  sweep(): void {
    const now = this.#now();
    for (const [k, b] of this.#buckets) if (now - b.at > 3_600_000) this.#buckets.delete(k);
  }
}
