// Reconnect delays: exponential with "full jitter" (AWS Architecture Blog, "Exponential Backoff
// and Jitter"): attempt n waits a uniformly random time in [0, min(max, min · 2^n)). Agents that
// lost the same gateway at the same moment then spread their reconnects instead of arriving
// together. The caller resets it once a connection proved stable.

export interface BackoffOptions {
  /** Cap of the first delay, in ms. */
  readonly minMs: number;
  /** Largest cap, in ms. */
  readonly maxMs: number;
  /** Uniform random in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export class Backoff {
  readonly #min: number;
  readonly #max: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    if (!(options.minMs > 0) || !(options.maxMs >= options.minMs)) throw new TypeError(`Backoff needs 0 < minMs ≤ maxMs, not ${options.minMs}, ${options.maxMs}`);
    this.#min = options.minMs;
    this.#max = options.maxMs;
    this.#random = options.random ?? Math.random;
  }

  /** The cap of the next delay, in ms. */
  get cap(): number {
    return Math.min(this.#max, this.#min * 2 ** Math.min(this.#attempt, 52));
  }

  /** The next delay in ms, and one more attempt counted. */
  next(): number {
    const delay = Math.floor(this.#random() * this.cap);
    this.#attempt++;
    return delay;
  }

  /** Starts over from the minimum. */
  reset(): void {
    this.#attempt = 0;
  }
}
