// Kept-alive HTTP/1.1 over tunnel streams: http.Agent pools whose connections are streams, so a
// stream carries one request after another instead of being opened and torn down for each.
//
// A stream's open header is fixed when it is opened, and the far end reads it for every request
// the stream carries (node:http there sees one connection). So a pool is keyed by the agent name
// and the whole open header: every request on a pooled stream has exactly the header it would
// have had on a fresh one. What differs per request (the request id) must travel in the request.
//
// Bounds: idle streams still count against the far end's stream limit (maxStreams per session),
// so they are capped across all pools of an opener (`maxIdle`) and each closes after `idleMs`
// without use, which stays under the far end's keep-alive timeout (node:http's 5 s by default,
// announced as `Keep-Alive: timeout=5`; the shorter of the two wins). The pools themselves are
// remembered least-recently-used first, up to `maxPools`.
import { Agent, type ClientRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TunnelStream } from './stream.ts';

/**
 * What opens streams to an agent, or to any one of a pool of agents (a list of names): the
 * gateway's AgentHub. `open` throws when it cannot (agent offline).
 */
export interface StreamOpener {
  open(agent: string | readonly string[], header: Record<string, unknown>): TunnelStream;
}

export interface TunnelHttpPoolOptions {
  /** Idle streams kept across all pools; a stream freed beyond it is closed. Default 64. */
  readonly maxIdle?: number;
  /** Milliseconds an idle stream is kept before it is closed. Default 4000. */
  readonly idleMs?: number;
  /** Streams one pool has open at once; further requests wait for one to be free. Default 256. */
  readonly maxStreamsPerPool?: number;
  /** Pools remembered (distinct agent + open header); the least recently used is dropped beyond. Default 1024. */
  readonly maxPools?: number;
}

function int(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new TypeError(`TunnelHttpPools option ${name} must be an integer in ${min}–${max}, not ${String(value)}`);
  return v;
}

export class TunnelHttpPools {
  readonly #opener: StreamOpener;
  readonly #maxIdle: number;
  readonly #idleMs: number;
  readonly #maxStreams: number;
  readonly #maxPools: number;
  readonly #pools = new Map<string, PoolAgent>(); // insertion order = least recently used first
  readonly #idle = new Set<Duplex>();
  readonly #watched = new WeakSet<Duplex>(); // streams with our 'close' listener (one each)

  constructor(opener: StreamOpener, options: TunnelHttpPoolOptions = {}) {
    this.#opener = opener;
    this.#maxIdle = int('maxIdle', options.maxIdle, 64, 0, 65_536);
    this.#idleMs = int('idleMs', options.idleMs, 4000, 1, 3_600_000);
    this.#maxStreams = int('maxStreamsPerPool', options.maxStreamsPerPool, 256, 1, 65_536);
    this.#maxPools = int('maxPools', options.maxPools, 1024, 1, 1_000_000);
  }

  /** Idle streams held across all pools. */
  get idle(): number { return this.#idle.size; }
  /** Pools remembered. */
  get pools(): number { return this.#pools.size; }

  /**
   * The http.Agent for requests to `agent` on streams opened with `header` (a JSON object, as for
   * AgentHub.open). Pass it as the `agent` option of http.request. Opening a stream can throw
   * (the opener's error, e.g. GW_AGENT_OFFLINE): http.request then throws it synchronously.
   */
  agentFor(agent: string | readonly string[], header: Record<string, unknown>): Agent {
    // Agent names are DNS labels: a comma cannot occur in one.
    const key = `${typeof agent === 'string' ? agent : agent.join(',')}\n${JSON.stringify(header)}`;
    let pool = this.#pools.get(key);
    if (pool !== undefined) {
      this.#pools.delete(key); // re-inserted below: most recently used
    } else {
      pool = new PoolAgent(this, () => this.#opener.open(agent, header), { maxSockets: this.#maxStreams, timeout: this.#idleMs });
      if (this.#pools.size >= this.#maxPools) {
        const [oldestKey, oldest] = this.#pools.entries().next().value as [string, PoolAgent];
        this.#pools.delete(oldestKey);
        oldest.retire();
      }
    }
    this.#pools.set(key, pool);
    return pool;
  }

  /** Internal (PoolAgent): may `socket` be kept idle? Counts it when so. */
  keepIdle(socket: Duplex): boolean {
    if (this.#idle.size >= this.#maxIdle) return false;
    this.#idle.add(socket);
    if (!this.#watched.has(socket)) {
      this.#watched.add(socket);
      socket.once('close', () => this.#idle.delete(socket));
    }
    return true;
  }

  /** Internal (PoolAgent): `socket` is in use again. */
  reused(socket: Duplex): void {
    this.#idle.delete(socket);
  }
}

class PoolAgent extends Agent {
  readonly #pools: TunnelHttpPools;
  readonly #open: () => TunnelStream;
  #retired = false;

  constructor(pools: TunnelHttpPools, open: () => TunnelStream, options: { maxSockets: number; timeout: number }) {
    // lifo: the most recently used streams are reused, so the rest go idle and close.
    super({ keepAlive: true, scheduling: 'lifo', maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets, timeout: options.timeout });
    this.#pools = pools;
    this.#open = open;
  }

  override createConnection(): Duplex {
    return this.#open();
  }

  // Node calls this when a request is done with its stream: false closes the stream. (Node's own
  // returns a boolean, @types/node says void: false when the far end's keep-alive hint is too short.)
  override keepSocketAlive(socket: Duplex): boolean {
    if (this.#retired || (super.keepSocketAlive(socket) as unknown) === false) return false;
    return this.#pools.keepIdle(socket);
  }

  override reuseSocket(socket: Duplex, request: ClientRequest): void {
    this.#pools.reused(socket);
    super.reuseSocket(socket, request);
  }

  /** Dropped from the pools: idle streams close now, streams in use close when their request is done. */
  retire(): void {
    this.#retired = true;
    for (const list of Object.values(this.freeSockets)) for (const socket of [...(list ?? [])]) socket.destroy();
  }
}

/**
 * True when `err`, failing `request` before any answer, means the far end had already closed the
 * idle stream the request was sent on (the keep-alive race: its END crossed our request). The
 * request was never read there, so an idempotent request may be sent again (RFC 9110 §9.2.2). A
 * dropped tunnel fails with a TUNNEL_… code instead (TUNNEL_CLOSED, TUNNEL_CONNECTION_LOST, …).
 */
export function isStaleStreamFailure(request: ClientRequest, err: Error & { code?: string }): boolean {
  return request.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'TUNNEL_STREAM_RESET');
}

const byOpener = new WeakMap<StreamOpener, TunnelHttpPools>();

/** The pools of `opener` (one set per opener, made with default options on first use). */
export function tunnelHttpPools(opener: StreamOpener): TunnelHttpPools {
  let pools = byOpener.get(opener);
  if (pools === undefined) {
    pools = new TunnelHttpPools(opener);
    byOpener.set(opener, pools);
  }
  return pools;
}
