// The limits in force, applied: before a request (rate, cost, and whether an egress budget has
// room) and after its answer (egress: the sensitive values that left). Two phases before a
// request: every concerned limit is checked first and units are spent only when none is over, so
// a refused request costs nothing and a client that waits gets through.
import type { Logger } from '../../lib/log.ts';
import { GatewayError } from '../errors.ts';
import type { Finding } from '../inspect/types.ts';
import type { Store } from '../store/index.ts';
import { TokenBuckets } from './bucket.ts';
import type { CompiledLimit, LimitSubject } from './compile.ts';
import { WindowCounters } from './counters.ts';

/** One limit's usage as CEL sees it under `usage.<name>`. */
export interface Usage { readonly used: number; readonly remaining: number; readonly max: number }

/** A limit the request is over. */
export interface LimitHit {
  readonly limit: string;
  readonly policy: string;
  readonly kind: CompiledLimit['spec']['kind'];
  readonly action: 'deny' | 'review';
  readonly used: number;
  readonly max: number;
  /** Seconds until it has room again (Retry-After). */
  readonly retryAfter: number;
  readonly message: string;
  /** With action review: the limit's review settings, when it has any. */
  readonly review?: CompiledLimit['spec']['review'];
}

/** Disposable: `using` a gate releases it when the scope ends (the MCP firewall's tools/call). */
export interface Gate extends Disposable {
  readonly usage: Readonly<Record<string, Usage>>;
  readonly hits: readonly LimitHit[];
  /** Ends the request's place under its `concurrent` limits; call once when the request is over (idempotent). */
  readonly release: () => void;
}

export interface LimiterOptions {
  readonly counters: Store['counters'];
  readonly logger: Logger;
  /** Clock, epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Milliseconds between purges of ended windows (store and memory). Default 600000; 0 = never. */
  readonly purgeIntervalMs?: number;
}

export class Limiter {
  readonly #windows: WindowCounters;
  readonly #buckets: TokenBuckets;
  /** Requests in flight per `concurrent` limit key, on this replica. */
  readonly #inFlight = new Map<string, number>();
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(options: LimiterOptions) {
    this.#windows = new WindowCounters(options.counters, options.now);
    this.#buckets = new TokenBuckets(options.now);
    this.#logger = options.logger;
    const every = options.purgeIntervalMs ?? 600_000;
    if (every > 0) {
      this.#timer = setInterval(() => {
        this.#windows.sweep();
        this.#buckets.sweep();
        options.counters.purge().catch((err: unknown) => this.#logger.warn('limit counters not purged', { reason: (err as Error).message }));
      }, every);
      this.#timer.unref();
    }
  }

  /**
   * Before a request: whether the limits concerning it have room, spending their units when all
   * do. A response (`direction: response`) only reads usage. Throws GW_STORE_UNAVAILABLE when the
   * store cannot be reached for a limit that is `required` (the others pass, logged).
   */
  async before(limits: readonly CompiledLimit[], s: LimitSubject): Promise<Gate> {
    const hits: LimitHit[] = [];
    const spends: Array<() => void> = [];
    const givebacks: Array<() => void> = [];
    const held: string[] = [];
    const keys = limits.map((limit) => limit.keyOf(s)); // once: the checks below and the usage share them
    if (s.direction === 'request') {
      const concerned = limits.flatMap((limit, i) => (limit.matches(s) ? [{ limit, key: keys[i]!, spec: limit.spec }] : []));
      const hit = (limit: CompiledLimit, used: number, max: number, retryAfter: number) => hits.push({
        limit: limit.name, policy: limit.policy, kind: limit.spec.kind, action: limit.spec.action, used, max, retryAfter: Math.max(1, Math.ceil(retryAfter)),
        message: limit.spec.message ?? `Limit ${limit.name} (${describe(limit)}) is used up (${used} of ${max}).`,
        ...(limit.spec.review === undefined ? {} : { review: limit.spec.review }),
      });
      // Window limits first: they may wait for the store. Their units are taken at once (given
      // back below if the request is refused).
      for (const { limit, key, spec } of concerned) {
        if (spec.kind !== 'cost' && spec.kind !== 'egress') continue;
        const windowMs = spec.window * 1000;
        const amount = spec.kind === 'cost' ? limit.costOf(s) : 1;
        if (amount === 0) continue;
        const ok = await this.#guarded(limit, () => this.#windows.take(key, amount, spec.max!, limit.block, windowMs));
        if (!ok) {
          const v = this.#windows.view(key, windowMs);
          hit(limit, Math.min(v.used, spec.max!), spec.max!, v.resetIn);
        } else if (spec.kind === 'cost') {
          givebacks.push(() => this.#windows.giveBack(key, amount, windowMs));
        } else {
          this.#windows.giveBack(key, amount, windowMs); // egress: only whether there is room; the answer is counted after
        }
      }
      // Then the limits held in memory, checked and (below) taken with no await in between, so
      // concurrent requests never share a token or a place.
      for (const { limit, key, spec } of concerned) {
        if (spec.kind === 'rate') {
          const burst = burstOf(limit);
          const wait = this.#buckets.waitFor(key, spec.rate!, burst);
          if (wait > 0) hit(limit, burst, burst, wait);
          else spends.push(() => this.#buckets.take(key, spec.rate!, burst));
        } else if (spec.kind === 'concurrent') {
          const now = this.#inFlight.get(key) ?? 0;
          if (now >= spec.max!) hit(limit, now, spec.max!, 1);
          else spends.push(() => { this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1); held.push(key); });
        }
      }
      // Units are spent only when no limit is over: a refused request costs nothing.
      if (hits.length === 0) for (const spend of spends) spend();
      else for (const giveBack of givebacks) giveBack();
    }
    let released = held.length === 0;
    const release = () => {
      if (released) return;
      released = true;
      for (const key of held) {
        const left = (this.#inFlight.get(key) ?? 1) - 1;
        if (left <= 0) this.#inFlight.delete(key);
        else this.#inFlight.set(key, left);
      }
    };
    return { usage: this.#usage(limits, keys), hits, release, [Symbol.dispose]: release };
  }

  /** After an answer that left: each egress limit concerning it counts the sensitive values (or records) in `findings`. */
  async after(limits: readonly CompiledLimit[], s: LimitSubject, findings: readonly Finding[]): Promise<void> {
    for (const limit of limits) {
      if (limit.spec.kind !== 'egress' || !limit.matches(s)) continue; // a match never looks at the direction
      const counted = findings.filter((f) => limit.counts(f.kind));
      const amount = limit.spec.count === 'records' ? new Set(counted.map((f) => recordOf(f.path))).size : counted.length;
      if (amount === 0) continue;
      await this.#guarded(limit, () => this.#windows.force(limit.keyOf(s), amount, limit.spec.window * 1000).then(() => true));
    }
  }

  /** Every limit's usage for the caller whose counter `keys` are given, as this replica knows it (no store round trip). */
  #usage(limits: readonly CompiledLimit[], keys: readonly string[]): Record<string, Usage> {
    const out: Record<string, Usage> = {};
    for (const [i, limit] of limits.entries()) {
      const key = keys[i]!;
      if (limit.spec.kind === 'rate') {
        const burst = burstOf(limit);
        const left = this.#buckets.left(key, limit.spec.rate!, burst);
        out[limit.name] = { used: burst - left, remaining: left, max: burst };
      } else if (limit.spec.kind === 'concurrent') {
        const used = this.#inFlight.get(key) ?? 0;
        out[limit.name] = { used, remaining: Math.max(0, limit.spec.max! - used), max: limit.spec.max! };
      } else {
        const max = limit.spec.max!;
        const used = Math.min(max, this.#windows.view(key, limit.spec.window * 1000).used);
        out[limit.name] = { used, remaining: max - used, max };
      }
    }
    return out;
  }

  /** Stops the purge timer and gives this replica's unspent reserved units back to the store (best effort). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#windows.returnAll();
  }

  async #guarded(limit: CompiledLimit, fn: () => Promise<boolean>): Promise<boolean> {
    try {
      return await fn();
    } catch (err) {
      if (limit.spec.required) {
        throw new GatewayError('GW_STORE_UNAVAILABLE', `The store that counts limit ${limit.name} cannot be reached, and the limit is required, so the request is refused; retry shortly.`, { cause: err });
      }
      this.#logger.warn('limit not counted: the store is unreachable and the limit is not required, so the request passes', { limit: limit.name, reason: (err as Error).message });
      return true;
    }
  }
}

function burstOf(limit: CompiledLimit): number {
  return limit.spec.burst ?? Math.max(1, Math.ceil(limit.spec.rate!));
}

function describe(limit: CompiledLimit): string {
  const { spec } = limit;
  if (spec.kind === 'rate') return `${spec.rate} requests per second, burst ${burstOf(limit)}`;
  if (spec.kind === 'concurrent') return `${spec.max} requests in flight`;
  const what = spec.kind === 'cost' ? 'units' : spec.count === 'records' ? 'records with sensitive values' : 'sensitive values';
  return `${spec.max} ${what} per ${spec.window} s`;
}

/** The record a finding is in: the path up to its first array index (`$.customers[3]`), else the whole body. */
export function recordOf(path: string): string {
  const m = /^[^[]*\[\d+\]/.exec(path);
  return m ? m[0] : '$';
}
