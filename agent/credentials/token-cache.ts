// Tokens the agent minted or fetched, kept until shortly before they expire, so each caller (or
// each connection, for client credentials) costs one signature or one token-endpoint round trip
// per token lifetime, not per request. Concurrent misses for one key share one fetch; failures
// are not cached. Bounded by entry count (least recently used go first).
import { Lru } from '../../lib/lru.ts';

export interface IssuedToken {
  readonly value: string;
  /** When it expires, in ms since the epoch. */
  readonly expiresAt: number;
}

export interface TokenCacheOptions {
  /** Tokens kept at most. Default 10000. */
  readonly maxEntries?: number;
  /** Clock in ms. Default Date.now. */
  readonly now?: () => number;
}

/** How long before expiry a token is replaced: 20 % of its lifetime, at most 30 s. */
export function refreshMargin(lifetimeMs: number): number {
  return Math.min(30_000, lifetimeMs / 5);
}

export class TokenCache {
  readonly #entries: Lru<string, { value: string; freshUntil: number }>;
  readonly #pending = new Map<string, Promise<IssuedToken>>();
  readonly #now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.#entries = new Lru({ maxEntries: options.maxEntries ?? 10_000 });
    this.#now = options.now ?? Date.now;
  }

  /** The cached token for `key` while fresh, else the one `issue` makes (cached when it has a future expiry). */
  async get(key: string, issue: () => Promise<IssuedToken>): Promise<string> {
    const cached = this.#entries.get(key);
    if (cached !== undefined && this.#now() < cached.freshUntil) return cached.value;
    let flight = this.#pending.get(key);
    if (flight === undefined) {
      const started = this.#now();
      flight = issue().then((token) => {
        const lifetime = token.expiresAt - started;
        if (lifetime > 0) this.#entries.set(key, { value: token.value, freshUntil: token.expiresAt - refreshMargin(lifetime) });
        else this.#entries.delete(key);
        return token;
      }).finally(() => this.#pending.delete(key));
      this.#pending.set(key, flight);
    }
    return (await flight).value;
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
