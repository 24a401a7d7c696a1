// The gateway's HTTP server: routes, timeouts and limits, listen, and graceful shutdown.
//
// Timeouts on every request, every route: the headers within server.headersTimeout, the whole
// request (headers and body; the answer is the data path's business) within
// server.limits.requestTimeout, and a body without pauses over bodyIdleTimeout or an average rate
// under minBodyBytesPerSecond (gateway/http/respond.ts, where every body is read: a coded 408).
// Headers that run out of time are answered with a coded 408 and closed (`clientError` below); a
// request still arriving at requestTimeout is closed. Body bytes in memory and requests in
// flight are capped per identity and in total (gateway/http/budget.ts).
import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { listen, ListenError } from '../lib/listen.ts';
import type { Config } from './config/schema.ts';
import { GatewayError, errorBody } from './errors.ts';
import { ServerBudget, type BudgetSettings } from './http/budget.ts';
import { healthz, readyz, type ReadinessCheck } from './health.ts';
import { sendJson } from './http/respond.ts';
import { Router } from './http/router.ts';
import { createUpgradePipeline, takesUpgrade, UpgradeRouter, type UpgradePipeline } from './http/upgrade.ts';
import type { Logger } from '../lib/log.ts';
import { createPipeline, type PipelineState } from './pipeline.ts';
import type { Telemetry } from './telemetry/telemetry.ts';
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
  /** Metrics and traces of every request (gateway/telemetry/). Absent: none. */
  readonly telemetry?: Telemetry;
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
  /** Requests, WebSockets and body bytes counted against server.limits, in total and per identity. */
  readonly budget: ServerBudget;
}

/** server.limits in the units of gateway/http/budget.ts. */
function budgetSettings(config: Config): BudgetSettings {
  const l = config.server.limits;
  return {
    maxConcurrent: l.maxConcurrent,
    maxConcurrentPerIdentity: l.maxConcurrentPerIdentity,
    maxInFlightBodyBytes: l.maxInFlightBodyBytes,
    maxInFlightBodyBytesPerIdentity: l.maxInFlightBodyBytesPerIdentity,
    bodyIdleMs: l.bodyIdleTimeout * 1000,
    minBodyBytesPerSecond: l.minBodyBytesPerSecond,
    minBodyRateGraceMs: l.minBodyRateGrace * 1000,
  };
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
  const budget = new ServerBudget(budgetSettings(config));
  const headersMs = config.server.headersTimeout * 1000;
  const requestMs = config.server.limits.requestTimeout * 1000;
  const server = createServer({
    headersTimeout: headersMs,
    // Ends once the request is received whole: a review hold or a long answer comes after.
    requestTimeout: requestMs,
    // node:http looks for late headers and requests this often (its default, 30 s, would let a
    // slow client overstay a 15 s headersTimeout by twice as much).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, ...[headersMs, requestMs].filter((ms) => ms > 0).map((ms) => ms / 4))),
    keepAliveTimeout: config.server.keepAliveTimeout * 1000,
    maxHeaderSize: 32 * 1024,
    shouldUpgradeCallback: (req) => takesUpgrade(upgradeRouter, req),
  }, createPipeline(router, logger, state, budget, deps.telemetry));
  const upgrades = createUpgradePipeline(upgradeRouter, logger, state, budget, deps.telemetry);
  server.on('upgrade', upgrades.listener);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => refuseClient(err, socket, config));

  let closing: Promise<void> | undefined;
  return {
    server,
    budget,
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

/**
 * A client node:http gave up on before a request could be handled: out of time for its headers
 * or its whole request (408 GW_REQUEST_TIMEOUT), headers too large (431), or not HTTP/1.1 that
 * parses (400). Answered with the usual JSON body when nothing was written to it yet (a request
 * whose answer began is just closed), then closed: as node:http's own answers, with a code.
 */
function refuseClient(err: NodeJS.ErrnoException, socket: Duplex, config: Config): void {
  const s = socket as Duplex & { bytesWritten?: number; _httpMessage?: unknown };
  // A request being handled (its body late) is not answered here: its handler owns the response,
  // and the body reader it is waiting on fails when the socket goes.
  if (err.code === 'ECONNRESET' || !s.writable || s._httpMessage || (s.bytesWritten ?? 0) > 0) {
    socket.destroy();
    return;
  }
  const refusal = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? new GatewayError('GW_REQUEST_TIMEOUT', `The request did not arrive in time: its headers within ${config.server.headersTimeout} s (server.headersTimeout)${config.server.limits.requestTimeout > 0 ? `, or all of it within ${config.server.limits.requestTimeout} s (server.limits.requestTimeout)` : ''}.`)
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? new GatewayError('GW_HEADERS_TOO_LARGE', 'The request headers are larger than the 32 KiB the gateway reads; send fewer or shorter headers.')
      : new GatewayError('GW_BAD_REQUEST', `The request is not HTTP/1.1 the gateway accepts (${err.code ?? 'unparsable'}).`);
  const requestId = randomUUID();
  const body = JSON.stringify(errorBody(refusal, requestId));
  const head = `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n`;
  // Destroyed once written: a client that keeps its side open must not hold the socket.
  socket.end(head + body, () => socket.destroy());
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
