// The registry of live agent tunnels on this gateway: which agents are connected, through how
// many tunnels, and a stream to an agent on request (`open`). The data paths call `open`; the
// tunnel endpoint calls `attach` once an agent has proven itself and its WebSocket is up.
//
// A tunnel becomes usable once the store still says the agent is active, with the key the tunnel
// authenticated with, *after* it was added here: revoke() writes the store first and then closes
// what is here, so a connect racing a revoke is either closed by revoke() or sees the revocation
// itself. Every presence interval the hub reads each connected agent back from the store: a
// revocation (or a new key) made through another replica closes the tunnels here within that
// interval; otherwise last seen is written, as it is at connect and at disconnect.
import { EventEmitter } from 'node:events';
import type { Logger } from '../../lib/log.ts';
import { GatewayError } from '../errors.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { TunnelError, type TunnelSession, type TunnelStream } from '../tunnel/index.ts';

/**
 * WebSocket close codes this layer sends (the tunnel leaves 4100–4999 to the layers above it).
 * The agent keeps the same numbers in agent/tunnel.ts; test/gateway/agents/hub.test.ts checks it.
 */
export const AGENT_CLOSE_CODES = Object.freeze({
  /** An admin revoked the agent: it must not reconnect. */
  REVOKED: 4100,
  /** The gateway is shutting down: reconnect (another replica may answer). */
  GATEWAY_SHUTDOWN: 4101,
  /** The agent already holds its maximum of tunnels here. */
  TOO_MANY_TUNNELS: 4102,
});

/**
 * The open header kind of the stream that tells an agent this gateway is going away: it dials
 * again (elsewhere) and keeps this tunnel until it closes. agent/tunnel.ts repeats it.
 */
export const GOAWAY_KIND = 'goaway';

export interface AgentHubOptions {
  readonly store: Store;
  readonly logger: Logger;
  /**
   * Milliseconds between two checks of each connected agent against the store (revoked or
   * re-keyed elsewhere: its tunnels close) and last-seen writes. Default 30000.
   */
  readonly presenceIntervalMs?: number;
  /** Tunnels one agent may hold here at once. Default 8. */
  readonly maxTunnelsPerAgent?: number;
  /** Clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
}

export interface AgentPresence {
  /** At least one usable tunnel. */
  readonly online: boolean;
  /** Usable tunnels. */
  readonly tunnels: number;
  /** Version the newest tunnel reported. */
  readonly version: string | null;
  /** When the oldest usable tunnel connected, epoch ms. */
  readonly connectedAt: number | null;
}

interface Tunnel {
  readonly session: TunnelSession;
  readonly version: string | null;
  readonly connectedAt: number;
  readonly remote: string | undefined;
  /** The registered key the tunnel's connect token verified against (null: not checked). */
  readonly publicKey: string | null;
  /** The store confirmed the agent active after the tunnel was added, and the handshake is done. */
  usable: boolean;
}

interface HubEvents {
  /** A tunnel of `agent` became usable. */
  online: [agent: string];
  /** `agent` has no usable tunnel any more. */
  offline: [agent: string];
}

const OFFLINE_PRESENCE: AgentPresence = Object.freeze({ online: false, tunnels: 0, version: null, connectedAt: null });

export class AgentHub extends EventEmitter<HubEvents> {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #maxTunnels: number;
  readonly #agents = new Map<string, Tunnel[]>();
  readonly #writes = new Map<string, Promise<void>>(); // last-seen writes in flight, one per agent
  readonly #timer: NodeJS.Timeout;
  #turn = 0;
  #closing: Promise<void> | undefined;
  #draining = false;

  constructor(options: AgentHubOptions) {
    super();
    this.#store = options.store;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#maxTunnels = options.maxTunnelsPerAgent ?? 8;
    const interval = options.presenceIntervalMs ?? 30_000;
    if (!Number.isInteger(this.#maxTunnels) || this.#maxTunnels < 1) throw new TypeError(`AgentHub maxTunnelsPerAgent must be a positive integer, not ${String(options.maxTunnelsPerAgent)}`);
    if (!(interval >= 10)) throw new TypeError(`AgentHub presenceIntervalMs must be at least 10, not ${String(options.presenceIntervalMs)}`);
    this.#timer = setInterval(() => {
      for (const [agent, tunnels] of this.#agents) if (tunnels.some((t) => t.usable)) this.#recheck(agent);
    }, interval).unref();
  }

  /**
   * Set by gateway/cluster/: opens a stream to one of `agents` through another replica that holds
   * a tunnel of it; undefined when none is known to.
   */
  relay: ((agents: readonly string[], header: Record<string, unknown>) => TunnelStream | undefined) | undefined;

  /** Agents with a usable tunnel here. */
  onlineAgents(): string[] {
    return [...this.#agents.keys()].filter((a) => this.presence(a).online);
  }

  /** True once close() or goaway() was called: new tunnels are refused. */
  get closing(): boolean { return this.#closing !== undefined || this.#draining; }

  /**
   * The first step of a graceful stop: refuses new tunnels from now on and tells every connected
   * agent to open a tunnel elsewhere (a `goaway` stream), while the tunnels here keep serving
   * until close(). Agents that predate it reset the stream and reconnect after close(), as before.
   * Returns the agents told.
   */
  goaway(): string[] {
    this.#draining = true;
    const told = new Set<string>();
    for (const [agent, tunnels] of this.#agents) {
      for (const t of tunnels.filter((x) => x.usable && x.session.state === 'open')) {
        try {
          const stream = t.session.open({ kind: GOAWAY_KIND });
          stream.on('error', () => {}); // the agent closes it; an older one resets it
          stream.end();
          told.add(agent);
        } catch {
          // closing under us: nothing to tell
        }
      }
    }
    this.#logger.info('telling agents to reconnect elsewhere', { agents: told.size });
    return [...told];
  }

  /**
   * Opens a stream to `agent` with the open header `header` (a JSON object, at most 8 KiB) on the
   * usable tunnel carrying the fewest streams (ties take turns). `agent` may be a pool (a list of
   * names): the tunnels of all of them are one set, so the least busy agent serves and an agent
   * that went away is simply not chosen (failover). Throws GW_AGENT_OFFLINE when no agent named
   * has a usable tunnel here (and, with a relay set and without `localOnly`, no other replica
   * has one either); TunnelError TUNNEL_HEADER_INVALID for a bad header.
   */
  open(agent: string | readonly string[], header: Record<string, unknown>, options: { readonly localOnly?: boolean } = {}): TunnelStream {
    const names = typeof agent === 'string' ? [agent] : agent;
    const usable = names.flatMap((name) => this.#agents.get(name) ?? []).filter((t) => t.usable && t.session.state === 'open');
    const start = this.#turn++ % Math.max(1, usable.length);
    const ordered = [...usable.slice(start), ...usable.slice(0, start)].sort((a, b) => a.session.streamCount - b.session.streamCount);
    for (const tunnel of ordered) { // at most maxTunnelsPerAgent
      try {
        return tunnel.session.open(header);
      } catch (err) {
        if (err instanceof TunnelError && (err.code === 'TUNNEL_CLOSED' || err.code === 'TUNNEL_STREAM_IDS_EXHAUSTED')) continue; // closing under us: try the next
        throw err;
      }
    }
    // No tunnel here: another replica that has one carries the stream (gateway/cluster/relay.ts).
    // A relayed stream never relays again (localOnly), so two replicas cannot bounce it.
    const relayed = options.localOnly === true ? undefined : this.relay?.(names, header);
    if (relayed !== undefined) return relayed;
    if (names.length === 1) throw new GatewayError('GW_AGENT_OFFLINE', `Agent ${names[0]} is not connected to this gateway; check \`airlock agents list\` and the agent's log, then retry.`, { detail: { agent: names[0] } });
    throw new GatewayError('GW_AGENT_OFFLINE', `No agent of the pool ${names.join(', ')} is connected to this gateway; check \`airlock agents list\` and the agents' logs, then retry.`, { detail: { agents: names } });
  }

  /** Usable tunnels, version and connect time of `agent` on this gateway. */
  presence(agent: string): AgentPresence {
    const usable = (this.#agents.get(agent) ?? []).filter((t) => t.usable);
    if (usable.length === 0) return OFFLINE_PRESENCE;
    return { online: true, tunnels: usable.length, version: usable[usable.length - 1]!.version, connectedAt: Math.min(...usable.map((t) => t.connectedAt)) };
  }

  /** Tunnels of `agent` here, usable or still being confirmed (the connect limit counts these). */
  tunnelCount(agent: string): number {
    return this.#agents.get(agent)?.length ?? 0;
  }

  /** Per connected agent: its tunnels here (usable or being confirmed) and the streams open on them (metrics). */
  *stats(): Generator<{ agent: string; tunnels: number; streams: number }> {
    for (const [agent, tunnels] of this.#agents) {
      let streams = 0;
      for (const t of tunnels) streams += t.session.streamCount;
      yield { agent, tunnels: tunnels.length, streams };
    }
  }

  /** The most tunnels one agent may hold here. */
  get maxTunnelsPerAgent(): number { return this.#maxTunnels; }

  /** Resolves once `agent` has a usable tunnel; GW_AGENT_OFFLINE after `timeoutMs`. */
  async waitOnline(agent: string, timeoutMs: number): Promise<void> {
    if (this.presence(agent).online) return;
    await new Promise<void>((resolve, reject) => {
      const onOnline = (name: string) => {
        if (name !== agent) return;
        clearTimeout(timer);
        this.off('online', onOnline);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('online', onOnline);
        reject(new GatewayError('GW_AGENT_OFFLINE', `Agent ${agent} did not connect within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.on('online', onOnline);
    });
  }

  /**
   * Takes a tunnel of `agent`, whose connect token was verified, on a session created in the
   * WebSocket's connection callback. `version` is what the agent reported; `publicKey` the
   * registered key its token verified against (the tunnel closes if the store later holds
   * another); `remote` its address, for the log.
   */
  attach(agent: string, session: TunnelSession, info: { version: string | null; publicKey?: string | null; remote?: string }): void {
    if (this.closing) {
      void session.close(AGENT_CLOSE_CODES.GATEWAY_SHUTDOWN, 'the gateway is shutting down');
      return;
    }
    const tunnels = this.#agents.get(agent) ?? [];
    if (tunnels.length >= this.#maxTunnels) {
      void session.close(AGENT_CLOSE_CODES.TOO_MANY_TUNNELS, `agent ${agent} already has ${this.#maxTunnels} tunnels to this gateway`);
      return;
    }
    const tunnel: Tunnel = { session, version: info.version, connectedAt: this.#now(), remote: info.remote, publicKey: info.publicKey ?? null, usable: false };
    tunnels.push(tunnel);
    this.#agents.set(agent, tunnels);
    session.once('close', (err) => this.#detach(agent, tunnel, err));
    void this.#confirm(agent, tunnel);
  }

  /**
   * Revokes `name`: the store says revoked (and forgets any pending enrollment token), then every
   * tunnel of the agent here is closed with 4100, failing its open streams at once. Null when
   * there is no such agent.
   */
  async revoke(name: string): Promise<{ agent: AgentRecord; tunnelsClosed: number } | null> {
    const record = await this.#store.agents.get(name);
    if (record === null) return null;
    const agent = record.status === 'revoked' ? record
      : await this.#store.agents.update(name, { status: 'revoked', revokedAt: this.#now(), enrollmentTokenHash: null, enrollmentExpiresAt: null });
    if (agent === null) return null;
    const tunnels = [...(this.#agents.get(name) ?? [])];
    this.#logger.warn('agent revoked', { agent: name, tunnels: tunnels.length });
    await Promise.all(tunnels.map((t) => t.session.close(AGENT_CLOSE_CODES.REVOKED, 'the agent was revoked by an admin')));
    return { agent, tunnelsClosed: tunnels.length };
  }

  /**
   * Reads every connected agent back from the store now, as the presence interval does (a revoked
   * agent's tunnels close with 4100): called when the store's config epoch moved, so a revocation
   * made through another replica applies here within about a second.
   */
  recheckAll(): void {
    for (const agent of this.#agents.keys()) this.#recheck(agent);
  }

  /** Gateway shutdown: refuses new tunnels, closes every tunnel with 4101, writes last-seen times. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      const sessions = [...this.#agents.values()].flat().map((t) => t.session);
      await Promise.all(sessions.map((s) => s.close(AGENT_CLOSE_CODES.GATEWAY_SHUTDOWN, 'the gateway is shutting down')));
      await Promise.allSettled([...this.#writes.values()]);
    })();
    return this.#closing;
  }

  async #confirm(agent: string, tunnel: Tunnel): Promise<void> {
    try {
      const record = await this.#store.agents.get(agent);
      if (!stillValid(record, tunnel)) {
        this.#logger.warn('agent tunnel closed: the agent is no longer active with this key', { agent, status: record?.status ?? 'removed' });
        await tunnel.session.close(AGENT_CLOSE_CODES.REVOKED, 'the agent was revoked by an admin');
        return;
      }
      await tunnel.session.ready;
    } catch (err) {
      if (err instanceof TunnelError) return; // closed before its handshake finished: 'close' reports it
      this.#logger.error('agent tunnel closed: its state could not be confirmed', { agent, err });
      await tunnel.session.close(AGENT_CLOSE_CODES.GATEWAY_SHUTDOWN, 'the gateway could not confirm the agent; reconnect');
      return;
    }
    if (tunnel.session.state !== 'open' || !(this.#agents.get(agent) ?? []).includes(tunnel)) return;
    tunnel.usable = true;
    this.#logger.info('agent connected', { agent, version: tunnel.version, tunnels: this.presence(agent).tunnels, remote: tunnel.remote });
    this.#touch(agent, tunnel.version === null ? {} : { version: tunnel.version });
    this.emit('online', agent);
  }

  #detach(agent: string, tunnel: Tunnel, err: TunnelError | undefined): void {
    const tunnels = (this.#agents.get(agent) ?? []).filter((t) => t !== tunnel);
    if (tunnels.length === 0) this.#agents.delete(agent);
    else this.#agents.set(agent, tunnels);
    if (!tunnel.usable) return;
    const left = this.presence(agent).tunnels;
    this.#logger.info('agent tunnel closed', { agent, tunnels: left, closeCode: tunnel.session.closeCode, ...(err === undefined ? {} : { code: err.code, error: err.message }) });
    this.#touch(agent, {});
    if (left === 0) this.emit('offline', agent);
  }

  /** Reads `agent` back: tunnels no longer valid close with 4100; the others get a last-seen write. */
  #recheck(agent: string): void {
    if (this.#writes.has(agent)) return; // the previous check or write is still in flight
    const check = (async () => {
      const record = await this.#store.agents.get(agent);
      const tunnels = this.#agents.get(agent) ?? [];
      const stale = tunnels.filter((t) => !stillValid(record, t));
      if (stale.length > 0) {
        this.#logger.warn('agent tunnels closed: the store says the agent is revoked or has another key', { agent, status: record?.status ?? 'removed', tunnels: stale.length });
        await Promise.all(stale.map((t) => t.session.close(AGENT_CLOSE_CODES.REVOKED, 'the agent was revoked by an admin')));
      }
      if (stale.length < tunnels.length) await this.#store.agents.update(agent, { lastSeen: this.#now() });
    })()
      .catch((err: unknown) => this.#logger.warn('agent presence not checked', { agent, err }))
      .finally(() => { if (this.#writes.get(agent) === check) this.#writes.delete(agent); });
    this.#writes.set(agent, check);
  }

  /** Writes last-seen (and `extra`) for `agent`; skipped while the previous write is in flight. */
  #touch(agent: string, extra: { version?: string }): void {
    if (this.#writes.has(agent) && extra.version === undefined) return;
    const write = this.#store.agents.update(agent, { lastSeen: this.#now(), ...extra })
      .then(() => {}, (err: unknown) => this.#logger.warn('agent presence not recorded', { agent, err }))
      .finally(() => { if (this.#writes.get(agent) === write) this.#writes.delete(agent); });
    this.#writes.set(agent, write);
  }
}

/** The store still has the agent active, with the key the tunnel authenticated with. */
function stillValid(record: AgentRecord | null, tunnel: Tunnel): boolean {
  return record?.status === 'active' && (tunnel.publicKey === null || record.publicKey === tunnel.publicKey);
}
