// Metrics and traces for one gateway process, as the configuration asks (metrics.enabled,
// tracing.enabled), and the two ends of a request's telemetry: `begin` when the pipeline takes
// it, `end` when its response (or WebSocket handshake) is over.
import type { Authenticator } from '../authn/authenticate.ts';
import type { Config } from '../config/schema.ts';
import { stage, type DataPath, type RequestTelemetry } from './context.ts';
import { Metrics } from './metrics.ts';
import { markFailed, Tracing } from './tracing.ts';

/** The data path of a request, from the first segment of its path (the routes of gateway/main.ts). */
export function dataPathOf(pathname: string, upgrade = false): DataPath {
  if (upgrade) return pathname.startsWith('/proxy/') ? 'websocket' : 'other';
  if (pathname.startsWith('/proxy/')) return 'http';
  if (pathname === '/mcp' || pathname.startsWith('/mcp/')) return 'mcp';
  if (pathname.startsWith('/api/')) return 'api';
  return 'other';
}

export class Telemetry {
  /** Undefined when metrics.enabled is false. */
  readonly metrics: Metrics | undefined;
  /** Undefined when tracing.enabled is false. */
  readonly tracing: Tracing | undefined;

  constructor(config: Pick<Config, 'metrics' | 'tracing'>, version: string) {
    this.metrics = config.metrics.enabled ? new Metrics() : undefined;
    const metrics = this.metrics;
    this.tracing = config.tracing.enabled ? new Tracing(config.tracing, version, metrics && ((spans, ok) => metrics.spansExported(spans, ok))) : undefined;
  }

  /** Whether requests carry telemetry at all (else the pipeline skips it). */
  get active(): boolean {
    return this.metrics !== undefined || this.tracing !== undefined;
  }

  /**
   * A request's telemetry, traced unless it is a probe or a scrape (`other`): they would bury the
   * traces that matter. `traceparent`: the caller's header (used only with tracing.trustIncoming).
   */
  begin(path: DataPath, method: string, requestId: string, traceparent: string | string[] | undefined): RequestTelemetry {
    const trace = this.tracing === undefined || path === 'other' ? undefined : this.tracing.startRequest(path, method, requestId, traceparent);
    return { telemetry: this, path, connection: '', decision: 'none', code: undefined, trace };
  }

  /** The request is over: counted, its span ended with what it came to. */
  end(rt: RequestTelemetry, status: number): void {
    this.metrics?.request(rt.path, rt.connection, rt.decision, status, rt.code);
    const span = rt.trace?.span;
    if (span === undefined) return;
    span.setAttribute('http.response.status_code', status);
    span.setAttribute('airlock.decision', rt.decision);
    if (rt.connection !== '') span.setAttribute('airlock.connection', rt.connection);
    if (rt.code !== undefined) markFailed(span, rt.code);
    span.end();
  }

  /** Exports the spans still buffered and stops the exporter; a backend that does not take them does not fail the stop (they are counted as failed). */
  async close(): Promise<void> {
    await this.tracing?.close().catch(() => {});
  }
}

/** The authenticator with its time observed as the authn stage (itself when telemetry is off). */
export function timedAuthenticator(authenticator: Authenticator, telemetry: Telemetry): Authenticator {
  if (!telemetry.active) return authenticator;
  return {
    async authenticate(req, url) {
      const since = performance.now();
      try {
        const identity = await authenticator.authenticate(req, url);
        stage('authn', since);
        return identity;
      } catch (err) {
        stage('authn', since, err);
        throw err;
      }
    },
  };
}
