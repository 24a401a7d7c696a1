// A bounded cache of unwrapped data keys in front of a KMS, so a busy connection does not cost a
// KMS Decrypt (a network round trip, a quota, a bill) per request. The bound is the point: a
// key is kept at most `maxAgeMs` after it was unwrapped and for at most `maxUses` decrypts, then
// zeroed (`fill(0)`) and forgotten, by a timer as well as on use, so no plaintext key outlives
// the bound even when nobody asks again. Callers get a copy, which they zero as with any KMS.
//
// Entries are keyed by the wrapped key, the master key id asked for and the canonical context,
// so a cached key is only ever handed back for exactly the request that unwrapped it. Concurrent
// misses for one key share a single KMS call. Failures are never cached: with the KMS down, a
// request fails as soon as its key is not cached (fail closed), and a cached key still serves
// until its bound.
import { canonicalContext, type Kms } from './kms.ts';

export interface DataKeyCacheOptions {
  /** Milliseconds a data key stays cached after it was unwrapped; 0 disables the cache. */
  readonly maxAgeMs: number;
  /** Decrypts a cached key serves at most (the first included); 0 disables the cache. */
  readonly maxUses: number;
  /** Keys kept at most (least recently used go first). Default 1000. */
  readonly maxEntries?: number;
  /** Clock in ms, injectable for tests. Default Date.now. */
  readonly now?: () => number;
}

interface Entry { readonly key: Buffer; readonly expiresAt: number; uses: number; readonly timer: NodeJS.Timeout }

export interface CachingKms extends Kms {
  /** Keys held now. */
  readonly size: number;
  /** Zeroes and drops every cached key (the agent's stop). */
  clear(): void;
}

/** `kms` with a data-key cache on `decrypt`; the other calls pass through. With either bound 0 it is `kms` itself (plus a no-op clear). */
export function withDataKeyCache(kms: Kms, options: DataKeyCacheOptions): CachingKms {
  const { maxAgeMs, maxUses } = options;
  const maxEntries = options.maxEntries ?? 1000;
  if (!(maxAgeMs >= 0) || !Number.isInteger(maxUses) || maxUses < 0 || !Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError('withDataKeyCache: maxAgeMs >= 0, maxUses an integer >= 0, maxEntries an integer >= 1');
  }
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>(); // insertion order = least recently used first
  const pending = new Map<string, Promise<Buffer>>();

  const evict = (id: string) => {
    const entry = entries.get(id);
    if (entry === undefined) return;
    entries.delete(id);
    clearTimeout(entry.timer);
    entry.key.fill(0);
  };
  const clear = () => {
    for (const id of [...entries.keys()]) evict(id);
  };

  if (maxAgeMs === 0 || maxUses === 0) {
    return { provider: kms.provider, generateDataKey: (i) => kms.generateDataKey(i), decrypt: (i) => kms.decrypt(i), reEncrypt: (i) => kms.reEncrypt(i), size: 0, clear };
  }

  /** A copy of the cached key for this use, counting it; undefined (and evicted) when past its bound. */
  const take = (id: string): Buffer | undefined => {
    const entry = entries.get(id);
    if (entry === undefined) return undefined;
    if (now() >= entry.expiresAt || entry.uses >= maxUses) {
      evict(id);
      return undefined;
    }
    entry.uses++;
    const copy = Buffer.from(entry.key);
    if (entry.uses >= maxUses) evict(id);
    else {
      entries.delete(id);
      entries.set(id, entry);
    }
    return copy;
  };

  const store = (id: string, plaintext: Buffer) => {
    evict(id);
    const timer = setTimeout(() => evict(id), maxAgeMs);
    timer.unref();
    entries.set(id, { key: plaintext, expiresAt: now() + maxAgeMs, uses: 0, timer });
    // Each pass removes one entry, so this ends within maxEntries iterations.
    while (entries.size > maxEntries) evict(entries.keys().next().value!);
  };

  return {
    provider: kms.provider,
    generateDataKey: (input) => kms.generateDataKey(input),
    reEncrypt: (input) => kms.reEncrypt(input),
    async decrypt(input) {
      const id = `${input.keyId ?? ''}\u0000${input.ciphertext.toString('base64')}\u0000${canonicalContext(input.context).toString('utf8')}`;
      const hit = take(id);
      if (hit !== undefined) return hit;
      let flight = pending.get(id);
      if (flight === undefined) {
        flight = kms.decrypt(input).then((plaintext) => {
          store(id, plaintext);
          return plaintext;
        }).finally(() => pending.delete(id));
        pending.set(id, flight);
      }
      await flight;
      // The shared key may already be spent by the other waiters (maxUses): then it is unwrapped again.
      return take(id) ?? kms.decrypt(input);
    },
    get size() {
      return entries.size;
    },
    clear,
  };
}
