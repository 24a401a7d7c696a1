// A replica in a cluster of gateways on one PostgreSQL store (DESIGN.md beside this file):
//
//   start → internal listener (cluster.port, relay.ts) → heartbeat row (id, internal URL)
//   every cluster.heartbeat: heartbeat, sweep replicas silent for 3 heartbeats, read who holds
//   which agent's tunnel, put right this replica's own tunnel rows
//   hub online/offline → tunnel row written at once
//   hub.open with no tunnel here → relay to a replica that has one
//   stop → handover: agents told to dial elsewhere; once they hold a tunnel there, this
//     replica's rows go → drain (main.ts) → relay sessions and listener closed, rows removed
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../lib/log.ts';
import type { AgentHub } from '../agents/hub.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/types.ts';
import type { TunnelStream } from '../tunnel/index.ts';
import { RelayClient, startRelayListener } from './relay.ts';

export interface Cluster {
  /** This replica's id in the presence table. */
  readonly id: string;
  /** The internal listener's URL as the other replicas use it. */
  readonly url: string;
  /**
   * The first step of a rolling restart, before the drain: new tunnels are refused here, every
   * agent is told to dial elsewhere, and once each holds a tunnel on another live replica (or
   * `timeoutMs` passed) this replica's tunnel rows go, and it waits two heartbeats so the others
   * stop relaying here. Requests keep being served meanwhile. Idempotent.
   */
  handover(timeoutMs: number): Promise<void>;
  /** Stops relaying and leaves the presence table. Idempotent. */
  close(): Promise<void>;
}

/** Starts the cluster side of a replica, or nothing when cluster.port is 0. */
export async function startCluster(config: Config, store: Store, hub: AgentHub, logger: Logger): Promise<Cluster | undefined> {
  const c = config.cluster;
  if (c.port === 0 || c.secret === undefined) return undefined;
  const id = `gw_${randomBytes(12).toString('base64url')}`;
  const secret = c.secret;
  const heartbeatMs = Math.round(c.heartbeat * 1000);
  const listener = await startRelayListener({ host: c.host, port: c.port, secret, self: id, hub, logger });
  const url = c.url ?? `http://${c.host.includes(':') ? `[${c.host}]` : c.host}:${listener.port}`;

  // agent → replicas (other than this one) holding a usable tunnel of it, as last read.
  let routes = new Map<string, Array<{ replica: string; url: string }>>();
  const relay = new RelayClient({
    self: id, secret, logger,
    // A peer whose relay session broke: stop choosing it until the next read says otherwise.
    onPeerLost: (replica) => {
      for (const [agent, list] of routes) routes.set(agent, list.filter((r) => r.replica !== replica));
    },
  });
  let turn = 0;
  hub.relay = (agents, header): TunnelStream | undefined => {
    const candidates = agents.flatMap((a) => routes.get(a) ?? []);
    if (candidates.length === 0) return undefined;
    const peer = candidates[turn++ % candidates.length]!;
    return relay.open(peer.replica, peer.url, agents, header);
  };

  let leaving = false; // handing over: this replica no longer claims any tunnel
  const mark = (agent: string, online: boolean) => {
    if (leaving && online) return;
    store.cluster.tunnel(agent, id, online, Date.now()).catch((err: unknown) => logger.warn('agent tunnel presence not recorded; the next heartbeat puts it right', { agent, err }));
  };
  const onOnline = (agent: string) => mark(agent, true);
  const onOffline = (agent: string) => mark(agent, false);
  hub.on('online', onOnline);
  hub.on('offline', onOffline);

  let failing = false;
  const beat = async () => {
    const now = Date.now();
    await store.cluster.beat(id, url, now);
    await store.cluster.sweep(now - 3 * heartbeatMs);
    const rows = await store.cluster.routes(now - 3 * heartbeatMs);
    const next = new Map<string, Array<{ replica: string; url: string }>>();
    const mine = new Set<string>();
    for (const r of rows) {
      if (r.replica === id) mine.add(r.agent);
      else next.set(r.agent, [...(next.get(r.agent) ?? []), { replica: r.replica, url: r.url }]);
    }
    routes = next;
    // Put right what a failed write left wrong: the table says what this hub really holds.
    const online = new Set(leaving ? [] : hub.onlineAgents());
    for (const a of online) if (!mine.has(a)) mark(a, true);
    for (const a of mine) if (!online.has(a)) mark(a, false);
  };
  let beating: Promise<void> | undefined;
  const tick = () => {
    if (beating !== undefined) return;
    beating = beat().then(() => {
      if (failing) logger.info('cluster presence works again');
      failing = false;
    }, (err: unknown) => {
      if (!failing) logger.warn('cluster presence not recorded; relays use the last routes read', { err });
      failing = true;
    }).finally(() => { beating = undefined; });
  };
  await beat();
  const timer = setInterval(tick, heartbeatMs).unref();
  logger.info('cluster listener up', { id, url });

  let closing: Promise<void> | undefined;
  let handingOver: Promise<void> | undefined;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const handover = async (timeoutMs: number) => {
    const agents = hub.goaway();
    // Alone (no other live replica): nowhere to go, nothing to wait for.
    const others = (await store.cluster.replicas(Date.now() - 3 * heartbeatMs).catch(() => [])).filter((r) => r.id !== id);
    if (others.length === 0 || agents.length === 0) return;
    const deadline = Date.now() + timeoutMs;
    let missing = agents;
    while (missing.length > 0 && Date.now() < deadline) {
      await sleep(50);
      const rows = await store.cluster.routes(Date.now() - 3 * heartbeatMs).catch(() => []);
      const elsewhere = new Set(rows.filter((r) => r.replica !== id).map((r) => r.agent));
      missing = missing.filter((a) => !elsewhere.has(a));
    }
    if (missing.length > 0) logger.warn('handover: some agents hold no tunnel elsewhere yet; their requests wait for them to reconnect', { agents: missing });
    leaving = true;
    await Promise.allSettled(agents.map((a) => store.cluster.tunnel(a, id, false, Date.now())));
    await sleep(2 * heartbeatMs + 50); // the others' next reads no longer route here
    logger.info('handover done', { agents: agents.length, elsewhere: agents.length - missing.length });
  };
  return {
    id,
    url,
    handover: (timeoutMs) => {
      handingOver ??= handover(timeoutMs);
      return handingOver;
    },
    close: () => {
      closing ??= (async () => {
        clearInterval(timer);
        hub.off('online', onOnline);
        hub.off('offline', onOffline);
        hub.relay = undefined;
        await beating;
        await store.cluster.leave(id).catch((err: unknown) => logger.warn('cluster presence not removed; the others find it stale in 3 heartbeats', { err }));
        await relay.close();
        await listener.close();
      })();
      return closing;
    },
  };
}
