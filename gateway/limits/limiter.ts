// The limits in force, applied: before a request (rate, concurrency, cost, and whether an egress
// budget has room) and after its answer (egress: the sensitive values that left). Two phases
// before a request: every concerned limit is checked first and units are spent only when none is
// over, so a refused request costs nothing and a client that waits gets through. Past a limit
// whose action is `delay`, the request waits here (delay.ts) and is checked again.
import type { Logger } from '../../lib/log.ts';
import { GatewayError } from '../errors.ts';
import type { Finding } from '../inspect/types.ts';
import type { Store } from '../store/index.ts';
import { TokenBuckets } from './bucket.ts';
import type { CompiledLimit, LimitSubject } from './compile.ts';
import { WindowCounters } from './counters.ts';
import { pause, Wakers } from './delay.ts';
import { Places } from './places.ts';
import type { LimitAction } from './schema.ts';

/** One limit's usage as CEL sees it under `usage.<name>`. */
export interface Usage { readonly used: number; readonly remaining: number; readonly max: number }

/** A limit the request is over. */
export interface LimitHit {
  readonly limit: string;
  readonly policy: string;
  readonly kind: CompiledLimit['spec']['kind'];
  /** What the limit does: a `delay` limit that could not wait (or waited in vain) refuses, as deny. */
  readonly action: 'deny' | 'review';
  readonly used: number;
  readonly max: number;
  /** Seconds until it has room again (Retry-After). */
  readonly retryAfter: number;
  readonly message: string;
  /** With action review: the limit's review settings, when it has any. */
  readonly review?: CompiledLimit['spec']['review'];
  /** A `delay` limit: how long the request waited before it was refused, ms (0: refused at once). */
  readonly waitedMs?: number;
}

/** Disposable: `using` a gate releases it when the scope ends (the MCP firewall's tools/call). */
export interface Gate extends Disposable {
  readonly usage: Readonly<Record<string, Usage>>;
  readonly hits: readonly LimitHit[];
  /** The request waited for `delay` limits and then passed: which, and how long (ms). */
  readonly delayed?: { readonly limits: readonly string[]; readonly waitedMs: number };
  /** Ends the request's place under its `concurrent` limits; call once when the request is over (idempotent). */
  readonly release: () => void;
}

/** What the limiter counted since it started (for metrics): plain numbers. */
export interface LimiterStats {
  /** Requests a limit stopped or slowed, by limit name, then by what happened: `deny` (refused, a delay that could not wait included), `review` (held), `delay` (waited, then passed). */
  readonly hits: Record<string, Partial<Record<LimitAction, number>>>;
  /** Requests let through uncounted because the store could not be reached and the limit is not `required`, by limit name. */
  readonly failOpen: Record<string, number>;
  /** Requests waiting now for `delay` limits on this replica, by limit name (a gauge). */
  readonly waiting: Record<string, number>;
}

export interface LimiterOptions {
  readonly counters: Store['counters'];
  readonly logger: Logger;
  /** Clock, epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Milliseconds between purges of ended windows (store and memory). Default 600000; 0 = never. */
  readonly purgeIntervalMs?: number;
  /** `concurrent` limits: length of a lease slot in the store, ms (places.ts). Default 4000. */
  readonly leaseSlotMs?: number;
}

/** A limit the request is over, before it becomes a LimitHit: `waitMs` is how long until it may have room (undefined: unknown, a place must free). */
interface Over { readonly limit: CompiledLimit; readonly key: string; readonly used: number; readonly max: number; readonly waitMs: number | undefined }
interface Concerned { readonly limit: CompiledLimit; readonly key: string }

/** How often a request waiting for a place re-checks, ms (a place freed on another replica wakes no one here). */
const PLACE_POLL_MS = 250;

export class Limiter {
  readonly #windows: WindowCounters;
  readonly #buckets: TokenBuckets;
  /** Requests in flight per `concurrent` limit key, places leased through the store. */
  readonly #places: Places;
  /** Requests waiting per `delay` limit key on this replica (bounded by delay.maxQueue). */
  readonly #queued = new Map<string, number>();
  /** The same, by limit name (stats). */
  readonly #waiting = new Map<string, number>();
  /** Who to wake when a place under a `concurrent` key frees here. */
  readonly #wakers = new Wakers();
  readonly #hits = new Map<string, Partial<Record<LimitAction, number>>>();
  readonly #failOpen = new Map<string, number>();
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(options: LimiterOptions) {
    this.#now = options.now ?? Date.now;
    this.#windows = new WindowCounters(options.counters, options.now);
    this.#buckets = new TokenBuckets(options.now);
    this.#logger = options.logger;
    this.#places = new Places(options.counters, {
      now: this.#now, slotMs: options.leaseSlotMs ?? 4000,
      onError: (err) => this.#logger.warn('limit places not renewed or given back in the store', { reason: (err as Error).message }),
    });
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
   * do; past a `delay` limit, waits (within its delay settings) and checks again. A response
   * (`direction: response`) only reads usage. `signal`: the client went away (a waiting request
   * leaves the queue; GW_BAD_REQUEST). Throws GW_STORE_UNAVAILABLE when the store cannot be
   * reached for a limit that is `required` (the others pass, logged and counted).
   */
  async before(limits: readonly CompiledLimit[], s: LimitSubject, signal?: AbortSignal): Promise<Gate> {
    const keys = limits.map((limit) => limit.keyOf(s)); // once: the checks below and the usage share them
    let over: readonly Over[] = [];
    let held: string[] = [];
    let delayed: Gate['delayed'];
    let waitedMs = 0;
    if (s.direction === 'request') {
      const concerned = limits.flatMap((limit, i) => (limit.matches(s) ? [{ limit, key: keys[i]! }] : []));
      ({ over, held } = await this.#attempt(concerned, s));
      if (over.length > 0 && over.every((o) => o.limit.spec.action === 'delay')) {
        const started = this.#now();
        const waited = await this.#wait(concerned, s, over, signal);
        ({ over, held } = waited);
        waitedMs = this.#now() - started;
        if (over.length === 0 && waited.waited) {
          delayed = { limits: waited.waited, waitedMs };
          for (const name of waited.waited) this.#count(name, 'delay');
        }
      }
    }
    const hits = over.map((o) => this.#hit(o, waitedMs));
    for (const h of hits) this.#count(h.limit, h.action);
    let released = held.length === 0;
    const release = () => {
      if (released) return;
      released = true;
      for (const key of held) {
        this.#places.release(key);
        this.#wakers.wake(key);
      }
    };
    return { usage: this.#usage(limits, keys), hits, ...(delayed === undefined ? {} : { delayed }), release, [Symbol.dispose]: release };
  }

  /**
   * Before an answer leaves that no request of its own announced (a WebSocket message from the
   * target, a window of a streamed answer): whether the egress budgets concerning it have room
   * (nothing is spent: `after` counts what left). Past one it is refused, whatever the limit's
   * action (an answer cannot wait, nor be held for a review). Throws GW_STORE_UNAVAILABLE like `before`.
   */
  async room(limits: readonly CompiledLimit[], s: LimitSubject): Promise<Gate> {
    const keys = limits.map((limit) => limit.keyOf(s));
    const egress = limits.flatMap((limit, i) => (limit.spec.kind === 'egress' && limit.matches(s) ? [{ limit, key: keys[i]! }] : []));
    const { over } = egress.length === 0 ? { over: [] } : await this.#attempt(egress, s);
    const hits = over.map((o) => ({ ...this.#hit(o, 0), action: 'deny' as const }));
    for (const h of hits) this.#count(h.limit, h.action);
    const release = () => {};
    return { usage: this.#usage(limits, keys), hits, release, [Symbol.dispose]: release };
  }

  /**
   * One check of every concerned limit. Units are taken as each is checked (no await between a
   * check and its take for the limits held in memory, so concurrent requests never share a token)
   * and given back when any limit is over: a refused request costs nothing.
   */
  async #attempt(concerned: readonly Concerned[], s: LimitSubject): Promise<{ over: Over[]; held: string[] }> {
    const over: Over[] = [];
    const givebacks: Array<() => void> = [];
    const held: string[] = [];
    // Limits counted in the store first: they may wait for it.
    for (const { limit, key } of concerned) {
      const { spec } = limit;
      if (spec.kind === 'concurrent') {
        const ok = await this.#guarded(limit, () => this.#places.take(key, spec.max!, limit.block));
        if (ok === 'open') continue;
        if (ok) { held.push(key); givebacks.push(() => this.#places.release(key)); } else over.push({ limit, key, used: this.#places.inUse(key), max: spec.max!, waitMs: undefined });
        continue;
      }
      const window = spec.kind === 'rate' ? limit.shared! : { windowMs: spec.window * 1000, max: spec.max! };
      const amount = spec.kind === 'cost' ? limit.costOf(s) : 1;
      if (amount === 0) continue;
      const ok = await this.#guarded(limit, () => this.#windows.take(key, amount, window.max, limit.block, window.windowMs));
      if (ok === false) {
        const v = this.#windows.view(key, window.windowMs);
        over.push({ limit, key, used: Math.min(v.used, window.max), max: window.max, waitMs: v.endsInMs });
      } else if (ok === true) {
        if (spec.kind === 'egress') this.#windows.giveBack(key, amount, window.windowMs); // egress: only whether there is room; the answer is counted after
        else givebacks.push(() => this.#windows.giveBack(key, amount, window.windowMs));
      }
    }
    // Then the buckets, in memory: this replica's share of a burst, checked and taken with no await.
    const takes: Array<() => void> = [];
    for (const { limit, key } of concerned) {
      const { spec } = limit;
      if (spec.kind !== 'rate') continue;
      const burst = burstOf(limit);
      const wait = this.#buckets.waitFor(key, spec.rate!, burst);
      if (wait > 0) {
        const i = over.findIndex((o) => o.limit === limit); // over its shared window too: the longer wait
        const waitMs = Math.max(wait * 1000, i === -1 ? 0 : over[i]!.waitMs ?? 0);
        if (i !== -1) over.splice(i, 1);
        over.push({ limit, key, used: burst, max: burst, waitMs });
      } else takes.push(() => this.#buckets.take(key, spec.rate!, burst));
    }
    if (over.length === 0) for (const take of takes) take();
    else for (const giveBack of givebacks) giveBack();
    return { over, held: over.length === 0 ? held : [] };
  }

  /**
   * A request over `delay` limits only: queued (within each limit's maxQueue on this replica)
   * and checked again when the wait it was told is over, a place frees here, or every 250 ms for
   * places, until it passes, is over a limit that does not delay, or would wait past the
   * smallest maxWait. A wait known to end after that is refused at once.
   */
  async #wait(concerned: readonly Concerned[], s: LimitSubject, first: readonly Over[], signal: AbortSignal | undefined): Promise<{ over: readonly Over[]; held: string[]; waited?: string[] }> {
    const deadline = this.#now() + Math.min(...first.map((o) => o.limit.spec.delay!.maxWait * 1000));
    const tooLong = (over: readonly Over[]) => over.some((o) => o.waitMs !== undefined && this.#now() + o.waitMs > deadline);
    const full = first.some((o) => (this.#queued.get(o.key) ?? 0) >= o.limit.spec.delay!.maxQueue);
    if (full || tooLong(first)) return { over: first, held: [] };
    const queued = first.map((o) => o.key);
    const names = first.map((o) => o.limit.name);
    for (const key of queued) this.#queued.set(key, (this.#queued.get(key) ?? 0) + 1);
    for (const name of names) this.#waiting.set(name, (this.#waiting.get(name) ?? 0) + 1);
    try {
      let over = first;
      for (;;) {
        const waitMs = Math.min(deadline - this.#now(), ...over.map((o) => o.waitMs ?? PLACE_POLL_MS));
        await pause(Math.max(0, waitMs), over.filter((o) => o.waitMs === undefined).map((o) => o.key), this.#wakers, signal);
        if (signal?.aborted) throw new GatewayError('GW_BAD_REQUEST', 'The client went away while its request waited for a limit to have room.');
        const next = await this.#attempt(concerned, s);
        if (next.over.length === 0) return { ...next, waited: first.map((o) => o.limit.name) };
        over = next.over;
        if (!over.every((o) => o.limit.spec.action === 'delay') || this.#now() >= deadline || tooLong(over)) return next;
      }
    } finally {
      for (const [map, ids] of [[this.#queued, queued], [this.#waiting, names]] as const) {
        for (const id of ids) {
          const left = (map.get(id) ?? 1) - 1;
          if (left <= 0) map.delete(id);
          else map.set(id, left);
        }
      }
    }
  }

  #hit(o: Over, waitedMs: number): LimitHit {
    const { limit, used, max } = o;
    const { spec } = limit;
    return {
      limit: limit.name, policy: limit.policy, kind: spec.kind, action: spec.action === 'review' ? 'review' : 'deny', used, max,
      retryAfter: Math.max(1, Math.ceil((o.waitMs ?? 1000) / 1000)),
      message: spec.message ?? `Limit ${limit.name} (${describe(limit)}) is used up (${used} of ${max}).`,
      ...(spec.review === undefined ? {} : { review: spec.review }),
      ...(spec.action === 'delay' ? { waitedMs } : {}),
    };
  }

  #count(name: string, action: LimitAction): void {
    const byAction = this.#hits.get(name) ?? {};
    byAction[action] = (byAction[action] ?? 0) + 1;
    this.#hits.set(name, byAction);
  }

  /** Hits by limit and action, and requests passed open by limit, since start; requests waiting now (plain numbers, a copy). */
  stats(): LimiterStats {
    return {
      hits: Object.fromEntries([...this.#hits].map(([name, byAction]) => [name, { ...byAction }])),
      failOpen: Object.fromEntries(this.#failOpen),
      waiting: Object.fromEntries(this.#waiting),
    };
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
        const used = this.#places.inUse(key);
        out[limit.name] = { used, remaining: Math.max(0, limit.spec.max! - used), max: limit.spec.max! };
      } else {
        const max = limit.spec.max!;
        const used = Math.min(max, this.#windows.view(key, limit.spec.window * 1000).used);
        out[limit.name] = { used, remaining: max - used, max };
      }
    }
    return out;
  }

  /** Stops the timers and gives this replica's unspent reserved units and leased places back to the store (best effort). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([this.#windows.returnAll(), this.#places.close()]);
  }

  /** `fn`'s answer, or 'open' when the store failed and the limit is not required (logged and counted). */
  async #guarded(limit: CompiledLimit, fn: () => Promise<boolean>): Promise<boolean | 'open'> {
    try {
      return await fn();
    } catch (err) {
      if (limit.spec.required) {
        throw new GatewayError('GW_STORE_UNAVAILABLE', `The store that counts limit ${limit.name} cannot be reached, and the limit is required, so the request is refused; retry shortly.`, { cause: err });
      }
      this.#failOpen.set(limit.name, (this.#failOpen.get(limit.name) ?? 0) + 1);
      this.#logger.warn('limit not counted: the store is unreachable and the limit is not required, so the request passes', { limit: limit.name, reason: (err as Error).message });
      return 'open';
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
