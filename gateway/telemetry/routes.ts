// Where Prometheus reads the metrics: GET /metrics on the main listener for admins
// (metrics.adminRoute), and a listener of its own that serves only GET /metrics without
// authentication (metrics.port, on metrics.host: loopback by default, a private network at most).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen, ListenError } from '../../lib/listen.ts';
import type { Logger } from '../../lib/log.ts';
import { requireRole, type Authenticator } from '../authn/authenticate.ts';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { Router } from '../http/router.ts';
import type { Metrics } from './metrics.ts';

/** GET /metrics on the main listener, for callers with the admin role. */
export function metricsRoute(router: Router, metrics: Metrics, authenticator: Authenticator): void {
  router.add('/metrics', {
    GET: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      const text = await metrics.render();
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      res.end(text);
    },
  });
}

export interface MetricsListener {
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The separate metrics listener on metrics.host:metrics.port: GET /metrics and nothing else (404
 * for other paths, 405 for other methods), no request body read, short timeouts.
 */
export async function startMetricsListener(config: Config['metrics'], metrics: Metrics, logger: Logger): Promise<MetricsListener> {
  const server: Server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return plain(res, 404, 'Not found: this listener serves GET /metrics only.\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method not allowed: GET /metrics.\n', { allow: 'GET, HEAD' });
    metrics.render().then((text) => {
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    }, (err: unknown) => {
      logger.error('rendering the metrics failed', { err });
      plain(res, 500, 'The metrics could not be rendered; see the gateway log.\n');
    });
  });
  let address: AddressInfo;
  try {
    address = await listen(server, config.host, config.port ?? 0, 'metrics.port in airlock.yaml or AIRLOCK_METRICS_PORT');
  } catch (err) {
    throw err instanceof ListenError ? new GatewayError('GW_PORT_IN_USE', err.message, { cause: err.cause }) : err;
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function plain(res: import('node:http').ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}
