// The gateway's Prometheus metrics (prom-client), in a registry of its own (several gateways may
// run in one process: tests, `airlock dev`). Counted on the hot path: one counter increment per
// request and one histogram observation per stage, on label children bound at start; everything
// else (recorder queue, tunnels, reviews pending, whatever a subsystem adds with `gauge`) is read
// when Prometheus scrapes. The names are listed in docs/observability.md.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DATA_PATHS, STAGES, type DataPath, type Decision, type Stage } from './context.ts';

/** Seconds: 50 µs (an allow decision on a small body) to 10 s (a slow target). */
const STAGE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds: one store transaction, SQLite on a local disk to PostgreSQL across a network. */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type Observer = { observe(value: number): void };

/** One sample of a gauge read at scrape time. */
export type GaugeSample = readonly [labels: Readonly<Record<string, string>>, value: number];

export class Metrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'path' | 'connection' | 'decision' | 'status'>;
  readonly #errors: Counter<'path' | 'code'>;
  readonly #stages: Record<DataPath, Record<Stage, Observer>>;
  readonly #commits: { ok: Observer; failed: Observer };
  readonly #storeErrors: Counter<'operation'>;
  readonly #limitHits: Counter<'kind' | 'action'>;
  readonly #spans: Counter<'outcome'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#requests = new Counter({ name: 'airlock_requests_total', help: 'Requests answered, by data path, connection, the strictest decision made on them, and HTTP status (101 for a WebSocket opened).', labelNames: ['path', 'connection', 'decision', 'status'], registers });
    this.#errors = new Counter({ name: 'airlock_errors_total', help: 'Coded errors answered (docs/errors.md), by data path and code.', labelNames: ['path', 'code'], registers });
    const stages = new Histogram({ name: 'airlock_stage_duration_seconds', help: 'Time spent in each stage of a request: authn, inspect, policy, record (durable), forward (to the answer\'s headers).', labelNames: ['path', 'stage'], buckets: STAGE_BUCKETS, registers });
    this.#stages = Object.fromEntries(DATA_PATHS.map((p) => [p, Object.fromEntries(STAGES.map((s) => [s, stages.labels(p, s)]))])) as unknown as Record<DataPath, Record<Stage, Observer>>;
    const commits = new Histogram({ name: 'airlock_recorder_commit_duration_seconds', help: 'Time one recorder transaction (a batch of events, checkpoints and ledger entries) took to commit.', labelNames: ['outcome'], buckets: COMMIT_BUCKETS, registers });
    this.#commits = { ok: commits.labels('ok'), failed: commits.labels('failed') };
    this.#storeErrors = new Counter({ name: 'airlock_store_errors_total', help: 'Store operations that failed, by operation.', labelNames: ['operation'], registers });
    this.#spans = new Counter({ name: 'airlock_trace_spans_exported_total', help: 'Spans sent to the OTLP endpoint, by outcome (failed: the backend did not take them; they are dropped).', labelNames: ['outcome'], registers });
    this.#limitHits = new Counter({ name: 'airlock_limit_hits_total', help: 'Limits declared in policy found over for a request, by limit kind and action.', labelNames: ['kind', 'action'], registers });
  }

  /** A request answered (its response closed). `status`: the HTTP status; `code`: its error code, if it was refused with one. */
  request(path: DataPath, connection: string, decision: Decision, status: number, code: string | undefined): void {
    this.#requests.labels(path, connection, decision, String(status)).inc();
    if (code !== undefined) this.#errors.labels(path, code).inc();
  }

  /** `seconds` spent in `stage` of a request on `path`. */
  observeStage(path: DataPath, stage: Stage, seconds: number): void {
    this.#stages[path][stage].observe(seconds);
  }

  /** One recorder commit and how long it took, in seconds. */
  commit(seconds: number, ok: boolean): void {
    (ok ? this.#commits.ok : this.#commits.failed).observe(seconds);
    if (!ok) this.storeError('recording.commit');
  }

  storeError(operation: string): void {
    this.#storeErrors.labels(operation).inc();
  }

  /** An export of `spans` spans, taken by the backend or not. */
  spansExported(spans: number, ok: boolean): void {
    this.#spans.labels(ok ? 'ok' : 'failed').inc(spans);
  }

  limitHit(kind: string, action: string): void {
    this.#limitHits.labels(kind, action).inc();
  }

  /**
   * A gauge read when Prometheus scrapes: `read` gives its samples (labels bounded by
   * configuration, never users or paths). A read that throws is counted as a store error
   * (`operation` = the gauge's name; the gauges are read as the scrape is rendered, so the count
   * shows from the next scrape on) and the gauge has no sample in that scrape (NaN when it has no
   * labels).
   */
  gauge(name: string, help: string, labelNames: readonly string[], read: () => Iterable<GaugeSample> | Promise<Iterable<GaugeSample>>): void {
    const metrics = this;
    new Gauge({
      name, help, labelNames: [...labelNames], registers: [this.registry],
      async collect() {
        this.reset();
        let samples: Iterable<GaugeSample>;
        try {
          samples = await read();
        } catch {
          metrics.storeError(name);
          if (labelNames.length === 0) this.set(NaN); // unknown, not a made-up 0 (a gauge without labels always has a sample)
          return;
        }
        for (const [labels, value] of samples) this.set(labels, value);
      },
    });
  }

  /** The text Prometheus reads (its content type is `contentType`). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
