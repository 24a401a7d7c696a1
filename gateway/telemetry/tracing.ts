// OpenTelemetry traces, exported over OTLP/HTTP (JSON) in batches: a span per request (the data
// path, the connection, the decision, the status; never the path, the query or the caller) and
// a child span per stage. A provider of its own, never registered globally (several gateways may
// run in one process), and spans are parented explicitly, not through a context manager.
//
// The gateway owns trace context on the way to a target: the caller's trace headers never cross
// (gateway/proxy/headers.ts), and the target gets the gateway's own traceparent, naming the
// forward span. A caller's traceparent is the parent of the request's span only with
// tracing.trustIncoming; its tracestate never is (vendor data a caller could forge).
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { DataPath, RequestTrace, Stage } from './context.ts';

/** traceparent version 00 (W3C Trace Context §3.2), lower-case hex only. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The parent a traceparent header names, or undefined when it is absent or not exactly one valid version-00 value. */
export function parseTraceparent(value: string | string[] | undefined): SpanContext | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
}

/** `name=value,…` (OTEL_EXPORTER_OTLP_HEADERS, values percent-encoded) as headers. */
export function parseOtlpHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === '') return out;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    try {
      out[pair.slice(0, eq).toLowerCase()] = decodeURIComponent(pair.slice(eq + 1));
    } catch {
      throw new GatewayError('GW_CONFIG_INVALID', `tracing.otlp.headers: the value of ${pair.slice(0, eq)} is not valid percent-encoding.`);
    }
  }
  return out;
}

/** performance.now() ms → epoch ms (what OpenTelemetry takes as a time). */
const epochMs = (t: number) => performance.timeOrigin + t;

export class Tracing {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #trustIncoming: boolean;

  /** `onExport`: told how many spans each export carried and whether the backend took them (metrics). */
  constructor(config: Config['tracing'], version: string, onExport?: (spans: number, ok: boolean) => void) {
    const otlp = new OTLPTraceExporter({ url: config.otlp.endpoint, headers: parseOtlpHeaders(config.otlp.headers), timeoutMillis: config.otlp.timeout * 1000 });
    const exporter = onExport === undefined ? otlp : counted(otlp, onExport);
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': version }),
      // A caller's sampling decision counts only when its traceparent is trusted (else there is no remote parent).
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxQueueSize: 4096, maxExportBatchSize: 512 })],
    });
    this.#tracer = this.#provider.getTracer('airlock-gateway', version);
    this.#trustIncoming = config.trustIncoming;
  }

  /** The span of one request, its parent the caller's traceparent when trusted; ended by the pipeline. */
  startRequest(path: DataPath, method: string, requestId: string, traceparent: string | string[] | undefined): RequestTrace {
    const remote = this.#trustIncoming ? parseTraceparent(traceparent) : undefined;
    const parent = remote === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, remote);
    const span = this.#tracer.startSpan(`airlock ${path}`, {
      kind: SpanKind.SERVER,
      attributes: { 'airlock.data_path': path, 'airlock.request_id': requestId, 'http.request.method': method },
    }, parent);
    return { span, context: trace.setSpan(ROOT_CONTEXT, span), traceId: span.spanContext().traceId };
  }

  /** A stage that is over, from `start` to `end` (performance.now() ms). */
  stageSpan(parent: RequestTrace, name: Stage, start: number, end: number, error?: unknown): void {
    this.endStage(this.startStage(parent, name, start), end, error);
  }

  startStage(parent: RequestTrace, name: Stage, start: number): Span {
    return this.#tracer.startSpan(name, { kind: name === 'forward' ? SpanKind.CLIENT : SpanKind.INTERNAL, startTime: epochMs(start) }, parent.context);
  }

  endStage(span: Span, end: number, error?: unknown): void {
    if (error !== undefined) failed(span, error);
    span.end(epochMs(end));
  }

  /** The W3C traceparent that names `span` (its trace, its id, whether it is sampled). */
  traceparent(span: Span): string {
    const c = span.spanContext();
    return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & TraceFlags.SAMPLED) === 0 ? '00' : '01'}`;
  }

  /** Exports what is buffered. */
  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  /** Exports what is buffered, then stops. */
  close(): Promise<void> {
    return this.#provider.shutdown();
  }
}

/** The exporter, with each export's outcome told (a backend that is down drops spans silently otherwise). */
function counted(exporter: SpanExporter, onExport: (spans: number, ok: boolean) => void): SpanExporter {
  return {
    export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]) {
      exporter.export(spans, (result) => {
        onExport(spans.length, result.code === 0); // ExportResultCode.SUCCESS
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

/** Marks `span` failed: a coded error keeps its code (never its message: it may quote the request). */
export function failed(span: Span, error: unknown): void {
  markFailed(span, error instanceof GatewayError ? error.code : 'internal');
}

export function markFailed(span: Span, code: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  span.setAttribute('airlock.error_code', code);
}
