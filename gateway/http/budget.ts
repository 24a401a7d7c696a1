// What one caller, and all of them together, may hold of the gateway process: requests in flight
// and body bytes in memory (server.limits): the server's budget. It protects the gateway itself,
// the same for every route and connection; the limits a policy declares (rate, concurrent, cost,
// egress: gateway/limits/, class Limiter) are about what a caller may do through a connection.
//
//   request arrives     enter(): past server.limits.maxConcurrent → 503 GW_OVERLOADED
//   identity known      admit(): past maxConcurrentPerIdentity → 429 GW_TOO_MANY_REQUESTS
//   body bytes read     take(): past maxInFlightBodyBytesPerIdentity → 429, past
//                       maxInFlightBodyBytes → 503 (every reader: gateway/http/respond.ts)
//   window passed on    give(): a streamed body holds only its window (gateway/proxy/body-stream.ts)
//   request over        release(): everything comes back, however the request ended
//
// The ticket of the request in progress travels with it in an AsyncLocalStorage, so the body
// readers and the authenticator find it without every data path passing it along.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Authenticator } from '../authn/authenticate.ts';
import { GatewayError } from '../errors.ts';

/** server.limits, in the units the checks use. */
export interface BudgetSettings {
  /** Requests (and upgraded connections) in flight on this gateway. */
  readonly maxConcurrent: number;
  /** Requests (and upgraded connections) in flight for one identity. */
  readonly maxConcurrentPerIdentity: number;
  /** Body bytes held in memory by all requests, in bytes. */
  readonly maxInFlightBodyBytes: number;
  /** Body bytes held in memory by one identity's requests, in bytes. */
  readonly maxInFlightBodyBytesPerIdentity: number;
  /** Longest wait for the next piece of a request body, in ms; 0: no limit. */
  readonly bodyIdleMs: number;
  /** Slowest average rate of a request body after the grace period, in bytes per second; 0: no limit. */
  readonly minBodyBytesPerSecond: number;
  /** Time a body may take before its rate is checked, in ms (TCP slow start, a client's first pause). */
  readonly minBodyRateGraceMs: number;
}

/** Seconds a refused caller is told to wait (Retry-After). */
export const RETRY_AFTER_SECONDS = 1;

interface Held { requests: number; bytes: number }

export class ServerBudget {
  readonly settings: BudgetSettings;
  #requests = 0;
  #bytes = 0;
  readonly #identities = new Map<string, Held>();

  constructor(settings: BudgetSettings) {
    for (const [k, v] of Object.entries(settings)) if (!(Number.isFinite(v) && v >= 0)) throw new TypeError(`limit ${k} must be a number >= 0`);
    this.settings = Object.freeze({ ...settings });
  }

  /** A ticket for a new request; throws 503 GW_OVERLOADED when the gateway already has maxConcurrent. */
  enter(): RequestTicket {
    if (this.#requests >= this.settings.maxConcurrent) {
      throw overloaded(`The gateway is handling its maximum of ${this.settings.maxConcurrent} requests (server.limits.maxConcurrent); retry in a moment.`);
    }
    this.#requests++;
    return new RequestTicket(this);
  }

  /** Now in flight: requests, and body bytes held; for one identity when `key` is given. */
  inFlight(key?: string): { requests: number; bytes: number } {
    if (key === undefined) return { requests: this.#requests, bytes: this.#bytes };
    const held = this.#identities.get(key);
    return { requests: held?.requests ?? 0, bytes: held?.bytes ?? 0 };
  }

  /** @internal the ticket's bookkeeping */
  _admit(key: string): void {
    const held = this.#identities.get(key) ?? { requests: 0, bytes: 0 };
    if (held.requests >= this.settings.maxConcurrentPerIdentity) {
      throw tooMany(`${key} already has ${held.requests} requests in flight, the most one identity may have (server.limits.maxConcurrentPerIdentity); wait for one to finish, then retry.`);
    }
    held.requests++;
    this.#identities.set(key, held);
  }

  /** @internal */
  _take(key: string | undefined, n: number): void {
    const held = key === undefined ? undefined : this.#identities.get(key);
    if (held !== undefined && held.bytes + n > this.settings.maxInFlightBodyBytesPerIdentity) {
      throw tooMany(`${key}'s requests in flight already hold ${held.bytes} bytes of bodies, and this one needs more than the ${this.settings.maxInFlightBodyBytesPerIdentity} one identity may hold (server.limits.maxInFlightBodyBytesPerIdentity); send smaller bodies, fewer at once, or retry when others finished.`);
    }
    if (this.#bytes + n > this.settings.maxInFlightBodyBytes) {
      throw overloaded(`The gateway holds its maximum of ${this.settings.maxInFlightBodyBytes} bytes of bodies in flight (server.limits.maxInFlightBodyBytes); retry in a moment.`);
    }
    this.#bytes += n;
    if (held !== undefined) held.bytes += n;
  }

  /** @internal */
  _give(key: string | undefined, n: number, requests: number): void {
    this.#bytes -= n;
    this.#requests -= requests;
    if (key === undefined) return;
    const held = this.#identities.get(key)!;
    held.bytes -= n;
    held.requests -= requests;
    if (held.requests === 0 && held.bytes === 0) this.#identities.delete(key);
  }
}

/**
 * One request's share: counted from enter() until release() was called once per hold (the
 * response's close, the handler's end: a handler may still hold its body after the client left).
 */
export class RequestTicket {
  readonly #budget: ServerBudget;
  #key: string | undefined;
  #bytes = 0;
  #holds = 1;

  constructor(budget: ServerBudget) {
    this.#budget = budget;
  }

  get settings(): BudgetSettings {
    return this.#budget.settings;
  }

  /** Counts the request against `key` (an identity); a second call with the same key does nothing. Throws 429 past the identity's cap. */
  admit(key: string): void {
    if (this.#holds === 0 || this.#key === key) return;
    if (this.#key !== undefined) throw new TypeError('a request is admitted for one identity only');
    this.#budget._admit(key);
    this.#key = key;
    if (this.#bytes > 0) {
      // Bytes read before authentication (none on the gateway's routes) move to the identity.
      const bytes = this.#bytes;
      this.#budget._give(undefined, bytes, 0);
      this.#bytes = 0;
      this.take(bytes);
    }
  }

  /** Reserves `n` body bytes now held in memory; throws 429 (identity) or 503 (gateway) past a budget. */
  take(n: number): void {
    if (this.#holds === 0 || n <= 0) return;
    this.#budget._take(this.#key, n);
    this.#bytes += n;
  }

  /** Gives back `n` bytes no longer held (a streamed window that went on). */
  give(n: number): void {
    const back = Math.min(n, this.#bytes);
    if (this.#holds === 0 || back <= 0) return;
    this.#budget._give(this.#key, back, 0);
    this.#bytes -= back;
  }

  /** One more release() is needed before the request's share comes back. */
  hold(): void {
    if (this.#holds > 0) this.#holds++;
  }

  /** Ends one hold; the last gives back the request and every byte it held. Extra calls do nothing. */
  release(): void {
    if (this.#holds === 0) return;
    if (--this.#holds > 0) return;
    this.#budget._give(this.#key, this.#bytes, 1);
    this.#bytes = 0;
  }
}

function tooMany(message: string): GatewayError {
  return new GatewayError('GW_TOO_MANY_REQUESTS', message, { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } });
}

function overloaded(message: string): GatewayError {
  return new GatewayError('GW_OVERLOADED', message, { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } });
}

const current = new AsyncLocalStorage<RequestTicket>();

/** Runs `fn` with `ticket` as the request in progress (pipeline.ts, upgrade.ts). */
export function withTicket<T>(ticket: RequestTicket, fn: () => T): T {
  return current.run(ticket, fn);
}

/** The ticket of the request in progress; undefined outside one (tests that call readers directly). */
export function currentTicket(): RequestTicket | undefined {
  return current.getStore();
}

/** Gives back `n` body bytes the request in progress no longer holds (gateway/proxy/body-stream.ts). */
export function released(n: number): void {
  current.getStore()?.give(n);
}

/**
 * The authenticator with admission: every identity it verifies is counted against its cap for
 * the request in progress (429 GW_TOO_MANY_REQUESTS past it), on every route that authenticates.
 */
export function admitting(authenticator: Authenticator): Authenticator {
  return {
    async authenticate(req, url) {
      const identity = await authenticator.authenticate(req, url);
      current.getStore()?.admit(identity.sub);
      return identity;
    },
  };
}
