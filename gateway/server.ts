// The gateway's HTTP server: routes, timeouts, listen, and graceful shutdown.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen, ListenError } from '../lib/listen.ts';
import type { Config } from './config/schema.ts';
import { GatewayError } from './errors.ts';
import { healthz, readyz, type ReadinessCheck } from './health.ts';
import { sendJson } from './http/respond.ts';
import { Router } from './http/router.ts';
import { createUpgradePipeline, takesUpgrade, UpgradeRouter, type UpgradePipeline } from './http/upgrade.ts';
import type { Logger } from '../lib/log.ts';
import { createPipeline, type PipelineState } from './pipeline.ts';
import { VERSION } from './version.ts';

/** What the server needs of the store: a liveness probe. The full Store lives in gateway/store. */
export interface StoreProbe {
  ping(): Promise<void>;
}

export interface GatewayDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: StoreProbe;
  /** More readiness checks (identity provider discovery, ...). */
  readonly readiness?: readonly ReadinessCheck[];
  /** Lets later layers add routes (API, data paths) before the server starts. */
  readonly routes?: (router: Router) => void;
  /**
   * Lets later layers add HTTP upgrade routes (the agents' WebSocket tunnel). A WebSocket upgrade
   * to any other path is refused with 404 GW_NOT_FOUND; other protocols (h2c) to other paths are
   * ordinary requests. At shutdown each route's close hook runs once in-flight requests have
   * drained (they may still use the upgraded connections).
   */
  readonly upgrades?: (router: UpgradeRouter) => void;
}

export interface Gateway {
  readonly server: Server;
  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(): Promise<AddressInfo>;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default
   * server.shutdownGrace), then cuts what is left. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
  /** Requests being handled right now. */
  inFlight(): number;
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, logger } = deps;
  const router = new Router()
    .add('/healthz', { GET: healthz })
    .add('/readyz', { GET: readyz([{ name: 'store', check: () => deps.store.ping() }, ...(deps.readiness ?? [])]) })
    .add('/api/v1/info', { GET: (_req, res) => sendJson(res, 200, publicInfo(config)) });
  deps.routes?.(router);
  const upgradeRouter = new UpgradeRouter();
  deps.upgrades?.(upgradeRouter);

  const state: PipelineState = { draining: false, inFlight: 0 };
  const server = createServer({
    headersTimeout: config.server.headersTimeout * 1000,
    requestTimeout: 0, // data paths hold requests open for reviews; they set their own deadlines
    keepAliveTimeout: config.server.keepAliveTimeout * 1000,
    maxHeaderSize: 32 * 1024,
    shouldUpgradeCallback: (req) => takesUpgrade(upgradeRouter, req),
  }, createPipeline(router, logger, state));
  const upgrades = createUpgradePipeline(upgradeRouter, logger, state);
  server.on('upgrade', upgrades.listener);

  let closing: Promise<void> | undefined;
  return {
    server,
    inFlight: () => state.inFlight,
    listen: () => listen(server, config.server.host, config.server.port, 'server.port in airlock.yaml or AIRLOCK_SERVER_PORT').catch((err: unknown) => {
      throw err instanceof ListenError ? new GatewayError('GW_PORT_IN_USE', err.message, { cause: err.cause }) : err;
    }),
    close: (graceMs = config.server.shutdownGrace * 1000) => {
      closing ??= drain(server, state, graceMs, logger, upgrades);
      return closing;
    },
  };
}

async function drain(server: Server, state: PipelineState, graceMs: number, logger: Logger, upgrades: UpgradePipeline): Promise<void> {
  state.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = Date.now() + graceMs;
  while (state.inFlight > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    server.closeIdleConnections();
  }
  if (state.inFlight > 0) logger.warn('shutdown grace period over; cutting in-flight requests', { inFlight: state.inFlight, graceMs });
  server.closeAllConnections();
  await upgrades.close(); // upgraded sockets keep server.close() waiting until they end
  await closed;
}

/** What any client may read without a token: enough for `airlock login` to start. */
function publicInfo(config: Config) {
  const publicUrl = config.server.publicUrl ?? `http://localhost:${config.server.port}`;
  return {
    name: 'airlock',
    version: VERSION,
    issuer: config.auth.issuer ?? null,
    cliClientId: config.auth.cliClientId,
    audience: config.auth.audience ?? publicUrl,
    resource: publicUrl,
    devIdp: config.dev.embeddedIdp,
  };
}
