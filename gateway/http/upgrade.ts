// HTTP upgrades (WebSocket) on the gateway's server: a route table by exact path or path prefix,
// the frame every upgrade passes, and refusals written to the raw socket as the same JSON errors
// as any response.
//
//   1. request id   a safe X-Request-Id or a fresh one (the rule of pipeline.ts)
//   2. drain        refused while shutting down (503 GW_SHUTTING_DOWN)
//   2b. limits      a ticket, as for any request (503 GW_OVERLOADED; the identity's 429 when the
//                   route authenticates), held until the socket closes: an open WebSocket counts
//                   as a request in flight for as long as it lives
//   3. route        exact path, then the prefix (e.g. /proxy owns /proxy/...), else 404
//                   GW_NOT_FOUND and the socket is destroyed
//   4. handle       the route authenticates and completes the upgrade itself, or throws
//   5. errors       GatewayError → its status and JSON body on the socket; else 500 GW_INTERNAL
//
// Sockets that were upgraded leave node:http's connection tracking (closeAllConnections() no
// longer sees them, while server.close() still waits for them), so this module keeps its own
// set, and close() ends them after each route's own close hook had its chance to do it cleanly.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { withRequestContext, type Logger } from '../../lib/log.ts';
import { withTelemetry, type RequestTelemetry } from '../telemetry/context.ts';
import { dataPathOf, type Telemetry } from '../telemetry/telemetry.ts';
import { GatewayError, errorBody } from '../errors.ts';
import { withTicket, type ServerBudget, type RequestTicket } from './budget.ts';
import type { RequestContext } from './router.ts';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/; // the same rule as pipeline.ts

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext) => Promise<void> | void;

export interface UpgradeRoute {
  /** Authenticates and completes the upgrade (e.g. ws's handleUpgrade), or throws a GatewayError. */
  readonly handle: UpgradeHandler;
  /** Ends the route's live connections cleanly at shutdown, after in-flight requests drained. */
  readonly close?: () => Promise<void>;
}

export class UpgradeRouter {
  readonly #routes = new Map<string, UpgradeRoute>();
  readonly #prefixes = new Map<string, UpgradeRoute>();
  /** Every route in the order added, for closing in reverse. */
  readonly #added: UpgradeRoute[] = [];

  /** Adds an exact-path upgrade route. */
  add(path: string, route: UpgradeRoute): this {
    if (this.#routes.has(path)) throw new TypeError(`upgrade route ${path} is already defined`);
    this.#routes.set(path, route);
    this.#added.push(route);
    return this;
  }

  /**
   * Adds a prefix route: `prefix` (no trailing slash) owns every path under `prefix/`, for
   * WebSocket upgrades only (other upgrades there, such as h2c, stay ordinary requests).
   */
  addPrefix(prefix: string, route: UpgradeRoute): this {
    if (!/^\/[^?#]*[^/?#]$/.test(prefix)) throw new TypeError(`upgrade prefix ${prefix} must start with / and not end with one`);
    if (this.#prefixes.has(prefix)) throw new TypeError(`upgrade prefix ${prefix} is already defined`);
    this.#prefixes.set(prefix, route);
    this.#added.push(route);
    return this;
  }

  /** The route for a path: an exact route first, then a prefix route (unless `exactOnly`). */
  resolve(path: string, exactOnly = false): UpgradeRoute | undefined {
    const exact = this.#routes.get(path);
    if (exact !== undefined || exactOnly) return exact;
    for (const [prefix, route] of this.#prefixes) if (path.startsWith(prefix + '/')) return route; // bounded: one entry per data path
    return undefined;
  }

  /**
   * Runs every route's close hook, one after the other in reverse order of adding: a route may
   * ride on one added before it (/proxy sessions run over the agents' tunnels), so it closes first
   * while that one still carries its closing handshakes. Errors are the hook's to log.
   */
  async closeRoutes(): Promise<void> {
    for (const route of [...this.#added].reverse()) { // bounded: one entry per route
      try {
        await route.close?.();
      } catch {
        // the hook logs its own failures; the next route still closes
      }
    }
  }
}

/**
 * Which requests asking for an upgrade take the upgrade path (node:http's shouldUpgradeCallback):
 * every WebSocket request (to an exact or a prefix route; an unknown path is then a 404 and a
 * closed socket), and any upgrade to an exact route. Others, such as `Upgrade: h2c` from
 * `curl --http2` (to /proxy/... too), are ordinary requests whose Upgrade header is ignored, as
 * HTTP/1.1 allows.
 */
export function takesUpgrade(router: UpgradeRouter, req: IncomingMessage): boolean {
  if (isWebSocketUpgrade(req)) return true;
  return router.resolve(pathOf(req), true) !== undefined;
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

export interface UpgradePipeline {
  /** The server's 'upgrade' listener. */
  readonly listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Route close hooks, then destroys any upgraded socket still open. */
  close(): Promise<void>;
}

export function createUpgradePipeline(router: UpgradeRouter, logger: Logger, state: { readonly draining: boolean }, budget: ServerBudget, telemetry?: Telemetry): UpgradePipeline {
  const observed = telemetry?.active === true ? telemetry : undefined;
  const sockets = new Set<Duplex>();
  const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A client that drops the connection while we authenticate must not crash the process.
    socket.on('error', (err) => logger.debug('upgrade socket error', { err }));
    const offered = req.headers['x-request-id'];
    const requestId = typeof offered === 'string' && SAFE_REQUEST_ID.test(offered) ? offered : randomUUID();
    // Telemetry: a handshake is counted once, when it is answered (101, or the refusal's status).
    const rt: RequestTelemetry | undefined = observed?.begin(dataPathOf(pathOf(req), true), req.method ?? 'GET', requestId, req.headers.traceparent);
    const handleUpgrade = async () => {
      let ticket: RequestTicket | undefined;
      try {
        if (state.draining) throw new GatewayError('GW_SHUTTING_DOWN', 'The gateway is shutting down; reconnect in a moment (another replica will answer).');
        const t = ticket = budget.enter();
        t.hold(); // one hold for the socket, one for the handler
        if (socket.destroyed) t.release();
        else socket.once('close', () => t.release());
        const url = new URL(req.url ?? '/', 'http://gateway.invalid');
        const route = router.resolve(url.pathname, !isWebSocketUpgrade(req));
        if (route === undefined) throw new GatewayError('GW_NOT_FOUND', `No upgrade route for ${url.pathname}; see docs/reference/api.md for the gateway's endpoints.`);
        await withTicket(t, () => route.handle(req, socket, head, { requestId, path: url.pathname, url }));
        if (rt !== undefined) observed!.end(rt, socket.destroyed ? 499 : 101);
      } catch (err) {
        if (rt !== undefined) {
          rt.code = err instanceof GatewayError ? err.code : 'GW_INTERNAL';
          observed!.end(rt, err instanceof GatewayError ? err.status : 500);
        }
        if (err instanceof GatewayError) {
          if (err.code === 'GW_OVERLOADED') logger.debug(err.message, { code: err.code });
          else if (err.status >= 500) logger.error(err.message, { code: err.code, detail: err.detail, cause: err.cause });
          else logger.info('upgrade refused', { path: pathOf(req), code: err.code, error: err.message });
          refuseUpgrade(socket, err, requestId);
        } else {
          logger.error('unhandled error in an upgrade', { err });
          refuseUpgrade(socket, new GatewayError('GW_INTERNAL', `The gateway failed to handle this upgrade; report request id ${requestId} to your administrator.`), requestId);
        }
      } finally {
        ticket?.release();
      }
    };
    withRequestContext(requestId, rt === undefined ? handleUpgrade : () => withTelemetry(rt, handleUpgrade));
  };
  return {
    listener,
    close: async () => {
      await router.closeRoutes();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Writes the error as an HTTP response with the usual JSON body, then closes the socket. */
export function refuseUpgrade(socket: Duplex, err: GatewayError, requestId: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(err, requestId));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-request-id': requestId,
    connection: 'close',
    ...err.headers,
  };
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${String(v).replace(/[\r\n]/g, ' ')}\r\n`).join('');
  // Destroyed once written: a client that keeps its side open must not hold the socket.
  socket.end(`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\n${head}\r\n${body}`, () => socket.destroy());
}

function pathOf(req: IncomingMessage): string {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q); // never log the query: it may carry a token someone misplaced
}
