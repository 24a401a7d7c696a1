// Starting and stopping a whole gateway: config → logger → store → connections → server → listen.
// Used by `airlock gateway start` and `airlock dev`.
import { createAgents } from './agents/index.ts';
import type { AgentHub } from './agents/hub.ts';
import { apiKeyRoutes } from './api/api-keys.ts';
import { apiKeyCacheOf } from './authn/apikeys.ts';
import { connectionRoutes } from './api/connections.ts';
import { identityRoutes } from './api/identity.ts';
import { createAuthn, type Authn } from './authn/index.ts';
import { admitting } from './http/budget.ts';
import { loadConfig, type LoadOptions } from './config/load.ts';
import { ConnectionRegistry } from './connections/registry.ts';
import type { Config } from './config/schema.ts';
import type { ReadinessCheck } from './health.ts';
import type { Router } from './http/router.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { createGateway, type Gateway } from './server.ts';
import { openStore, redactUrl, type Store } from './store/index.ts';
import { PolicyManager } from './policy/manager.ts';
import { httpProxyRoutes, type HttpProxyDeps } from './proxy/http.ts';
import { websocketProxyRoute } from './proxy/websocket.ts';
import { initInspectors } from './inspect/index.ts';
import { startRecording, type RecordingSystem } from './recorder/index.ts';
import { sessionRoutes } from './api/sessions.ts';
import { reviewRoutes } from './api/reviews.ts';
import { mcpRoutes } from './mcp/server.ts';
import { toolRoutes } from './api/tools.ts';
import { openapiSource } from './mcp/openapi-source.ts';
import { upstreamSource } from './mcp/upstream.ts';
import { postgresSource } from './mcp/postgres.ts';
import { randomBytes } from 'node:crypto';
import { Limiter } from './limits/limiter.ts';
import { usageRoutes } from './api/usage.ts';
import { consoleRoutes } from './console/index.ts';
import { createPostgresListener, type PostgresListener } from './postgres/listener.ts';
import { startCluster, type Cluster } from './cluster/index.ts';
import { Telemetry, timedAuthenticator } from './telemetry/telemetry.ts';
import { metricsRoute, startMetricsListener, type MetricsListener } from './telemetry/routes.ts';
import { VERSION } from './version.ts';

export interface StartOptions extends LoadOptions {
  /** Logger to use; default a JSON logger on stdout at config.log.level. */
  readonly logger?: Logger;
  readonly readiness?: readonly ReadinessCheck[];
  readonly routes?: (router: Router, ctx: { config: Config; store: Store; logger: Logger; authn: Authn; connections: ConnectionRegistry }) => void;
}

export interface RunningGateway {
  readonly config: Config;
  readonly store: Store;
  readonly gateway: Gateway;
  readonly logger: Logger;
  readonly authn: Authn;
  /** The connections: `get(name)` from memory, `canUse`/`resolve` for the data paths, `onChange`. */
  readonly connections: ConnectionRegistry;
  /** The live agent tunnels: `agents.open(name, header)` gives a stream to an agent. */
  readonly agents: AgentHub;
  /** The recorder, HTTP sessions and reviews. */
  readonly recording: RecordingSystem;
  /** The limits declared in policy: `limiter.stats()` counts hits and fail-opens (for metrics). */
  readonly limiter: Limiter;
  /** The URL the gateway listens on (http://host:port). */
  readonly url: string;
  /** The PostgreSQL listener's port, when postgres.enabled. */
  readonly postgresPort?: number;
  /** Metrics (Prometheus) and traces (OpenTelemetry) of this process, as metrics.* and tracing.* ask. */
  readonly telemetry: Telemetry;
  /** The separate metrics listener's URL (http://host:port), when metrics.port is set. */
  readonly metricsUrl: string | undefined;
  /** Graceful stop: drain requests, then close the store. Idempotent. */
  stop(): Promise<void>;
}

export async function startGateway(options: StartOptions = {}): Promise<RunningGateway> {
  const { config, file, warnings } = loadConfig(options);
  const logger = options.logger ?? createLogger({ level: config.log.level });
  for (const w of warnings) logger.warn(w, { insecure: true });
  logger.info('configuration loaded', { file: file ?? '(embedded defaults)' });

  await initInspectors(); // the SQL and shell parsers' WASM: the data paths refuse nothing for lack of them
  const maskKey = config.policy.maskKey === undefined ? randomBytes(32) : Buffer.from(config.policy.maskKey, 'base64');
  if (config.policy.maskKey === undefined) logger.warn('policy.maskKey is not set: hash-masked values get a new key on every start, so tokens from before a restart do not match; set AIRLOCK_POLICY_MASK_KEY');
  const store = await openStore(config.store.url, { logger: logger.child({ component: 'store' }) });
  const telemetry = new Telemetry(config, VERSION);
  const verified = createAuthn(config, store, logger.child({ component: 'authn' }));
  // Every identity verified on a request counts against its server.limits caps (gateway/http/budget.ts);
  // its time is the authn stage (gateway/telemetry/).
  const authn: Authn = { ...verified, authenticator: timedAuthenticator(admitting(verified.authenticator), telemetry) };
  const agents = createAgents(config, store, logger.child({ component: 'agents' }));
  const connections = new ConnectionRegistry({ store, logger: logger.child({ component: 'connections' }), reloadIntervalMs: config.connections.reloadInterval * 1000, epochIntervalMs: config.connections.epochInterval * 1000 });
  // A key revoked or changed on another replica: its next use here reads the store at once.
  connections.onEpoch(() => apiKeyCacheOf(store).forgetAll());
  // An agent revoked (or re-keyed) on another replica: its tunnels here close now, not at the next presence check.
  connections.onEpoch(() => agents.hub.recheckAll());
  const policies = new PolicyManager({ logger: logger.child({ component: 'policy' }), reloadIntervalMs: config.policy.reloadInterval * 1000 });
  let recording: RecordingSystem;
  try {
    await connections.start();
    const metrics = telemetry.metrics;
    recording = await startRecording(config, store, connections, logger.child({ component: 'recorder' }), config.server.publicUrl ?? `http://localhost:${config.server.port}`, metrics && ((seconds, ok) => metrics.commit(seconds, ok)));
  } catch (err) {
    await telemetry.close();
    connections.stop();
    policies.close();
    await agents.hub.close();
    authn.stop();
    await store.close();
    throw err;
  }
  // The limits declared in policy, counted through the store so every replica shares them.
  const limiter = new Limiter({ counters: store.counters, logger: logger.child({ component: 'limits' }) });
  telemetryGauges(telemetry, recording, agents.hub, store, limiter);
  const proxy: HttpProxyDeps = { config, logger, authenticator: authn.authenticator, connections, agents: agents.hub, policies, maskKey, recording, limiter };
  let mcp: { close(): Promise<void> } | undefined;
  const gateway = createGateway({
    config,
    logger,
    store,
    telemetry,
    readiness: [...authn.readiness, ...(options.readiness ?? [])],
    routes: (router) => {
      if (telemetry.metrics !== undefined && config.metrics.adminRoute) metricsRoute(router, telemetry.metrics, authn.authenticator);
      identityRoutes(router, config, authn.authenticator);
      apiKeyRoutes(router, config, store, authn.authenticator);
      connectionRoutes(router, connections, authn.authenticator);
      agents.routes(router, authn.authenticator);
      httpProxyRoutes(router, proxy);
      sessionRoutes(router, store, authn.authenticator, recording);
      reviewRoutes(router, store, recording.reviews, authn.authenticator);
      toolRoutes(router, store, connections, authn.authenticator);
      usageRoutes(router, { config, policies, connections, store, authenticator: authn.authenticator });
      mcp = mcpRoutes(router, { ...proxy, store, sources: { http: openapiSource, mcp: upstreamSource, postgres: postgresSource } });
      if (config.console.enabled) consoleRoutes(router, { config, logger, store, authn, connections, recording, hub: agents.hub, policies, maskKey });
      options.routes?.(router, { config, store, logger, authn, connections });
    },
    upgrades: (router) => {
      agents.upgrades(router);
      router.addPrefix('/proxy', websocketProxyRoute(proxy)); // WebSocket upgrades on the HTTP data path
    },
  });
  const postgres: PostgresListener | undefined = config.postgres.enabled
    ? createPostgresListener({ ...proxy, logger: logger.child({ component: 'postgres' }) })
    : undefined;
  let address;
  let postgresPort: number | undefined;
  let cluster: Cluster | undefined;
  let metricsListener: MetricsListener | undefined;
  try {
    // Several replicas: presence and the relay to replicas holding an agent's tunnel (cluster.port).
    cluster = await startCluster(config, store, agents.hub, logger.child({ component: 'cluster' }));
    address = await gateway.listen();
    if (postgres !== undefined) {
      postgresPort = (await postgres.listen()).port;
      logger.info('postgres listener started', { host: config.postgres.host, port: postgresPort, tls: config.postgres.tls !== undefined });
    }
    if (telemetry.metrics !== undefined && config.metrics.port !== undefined) metricsListener = await startMetricsListener(config.metrics, telemetry.metrics, logger);
  } catch (err) {
    await gateway.close(0);
    await cluster?.close();
    await telemetry.close();
    await recording.stop();
    await agents.hub.close();
    connections.stop();
    policies.close();
    authn.stop();
    await store.close();
    throw err;
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info('gateway listening', { url, store: redactUrl(config.store.url), ...(metricsListener === undefined ? {} : { metrics: `${metricsListener.url}/metrics` }), tracing: config.tracing.enabled });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('gateway stopping');
      await postgres?.close(); // PostgreSQL sessions end (recorded) before the drain
      // Several replicas: the agents move to another replica before this one drains.
      await cluster?.handover(Math.min(10_000, config.server.shutdownGrace * 1000));
      await mcp?.close(); // MCP sessions end (their upstreams and recordings with them) before the drain
      await gateway.close(); // drains requests, then closes every agent tunnel (the hub)
      await metricsListener?.close();
      await telemetry.close(); // the last spans exported
      await agents.hub.close();
      await cluster?.close(); // after the drain: requests relayed here had their tunnels until now
      await recording.stop(); // after the drain: every session's end is recorded and signed
      connections.stop();
      policies.close();
      await limiter.close(); // before the store closes: unspent reserved units go back
      authn.stop();
      await store.close();
      logger.info('gateway stopped');
    })();
    return stopping;
  };
  return { config, store, gateway, logger, authn, connections, agents: agents.hub, recording, limiter, url, ...(postgresPort === undefined ? {} : { postgresPort }), telemetry, metricsUrl: metricsListener?.url, stop };
}

/**
 * The gauges Prometheus reads at scrape time: the recorder's queue, tunnels and streams per agent
 * (agents are registered by admins: a bounded label), reviews pending in the store (every
 * replica's), and from the limiter's `stats()` the requests let through because the store could
 * not be reached (limits not `required`) and the requests waiting in `delay` queues, by limit name
 * (names come from policy files: bounded).
 */
function telemetryGauges(telemetry: Telemetry, recording: RecordingSystem, hub: AgentHub, store: Store, limiter: Limiter): void {
  const m = telemetry.metrics;
  if (m === undefined) return;
  m.gauge('airlock_recorder_queue_depth', 'Records waiting for the recorder\'s next commit.', [], () => [[{}, recording.recorder.queued]]);
  m.gauge('airlock_agent_tunnels', 'Tunnels each agent holds to this gateway.', ['agent'], () => [...hub.stats()].map((s) => [{ agent: s.agent }, s.tunnels] as const));
  m.gauge('airlock_tunnel_streams', 'Streams open on each agent\'s tunnels to this gateway.', ['agent'], () => [...hub.stats()].map((s) => [{ agent: s.agent }, s.streams] as const));
  m.gauge('airlock_reviews_pending', 'Reviews waiting for a decision, in the store (every replica\'s).', [], async () => [[{}, (await store.reviews.listPending()).length]]);
  m.gauge('airlock_limit_fail_opens', 'Requests let through since start because the store could not be reached for a limit that is not required, by limit.', ['limit'], () => Object.entries(limiter.stats().failOpen).map(([limit, n]) => [{ limit }, n] as const));
  m.gauge('airlock_limit_waiting', 'Requests waiting in a limit\'s delay queue now, by limit.', ['limit'], () => Object.entries(limiter.stats().waiting).map(([limit, n]) => [{ limit }, n] as const));
}
