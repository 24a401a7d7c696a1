// What one request carries for metrics and traces, without being passed along: the pipeline
// starts it (data path, root span), the stages report into it (`stage`, `beginStage`), the guard
// notes the connection and the decision, and the pipeline counts the request when it closes.
// Outside a request, or with metrics and tracing both off, every function here is a no-op.
//
// Label values are bounded: the data path is one of five words, a connection name is one the
// registry resolved (bounded by configuration), a decision one of five; never a user or a path.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context, Span } from '@opentelemetry/api';
import type { Telemetry } from './telemetry.ts';

export const DATA_PATHS = ['http', 'websocket', 'mcp', 'api', 'other'] as const;
export type DataPath = (typeof DATA_PATHS)[number];

/** The stages a request's time is split into (docs/observability.md). */
export const STAGES = ['authn', 'inspect', 'policy', 'record', 'forward'] as const;
export type Stage = (typeof STAGES)[number];

/** A request's decision: the strictest the guard made on it; `none` when it was refused before one. */
// The policy's actions in its order of strictness (gateway/policy/schema.ts STRICTNESS; spelled out
// here because telemetry imports nothing it observes — test/architecture.test.ts).
export type Decision = 'none' | 'allow' | 'mask' | 'confirm' | 'review' | 'deny';
const RANK: Readonly<Record<Decision, number>> = { none: 0, allow: 1, mask: 2, confirm: 3, review: 4, deny: 5 };

/** The trace of one request: its span and the context its stage spans are children of. */
export interface RequestTrace {
  readonly span: Span;
  readonly context: Context;
  readonly traceId: string;
}

export interface RequestTelemetry {
  readonly telemetry: Telemetry;
  readonly path: DataPath;
  /** The connection the request resolved to (a name the registry knows); '' before that. */
  connection: string;
  decision: Decision;
  /** The error code the request was answered with, if any. */
  code: string | undefined;
  /** Absent when tracing is off (or for probes). */
  readonly trace: RequestTrace | undefined;
}

const current = new AsyncLocalStorage<RequestTelemetry>();

/** Runs `fn` with `rt` as the request's telemetry. */
export function withTelemetry<T>(rt: RequestTelemetry, fn: () => T): T {
  return current.run(rt, fn);
}

export function currentTelemetry(): RequestTelemetry | undefined {
  return current.getStore();
}

/**
 * `fn`, run later (a WebSocket's messages, long after its handshake was counted) with the
 * request's telemetry without its span: each message's stages are timed in the histograms, not
 * traced one span each under a handshake that ended. `fn` itself outside a request.
 */
export function forMessages<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  const rt = current.getStore();
  if (rt === undefined) return fn;
  const detached: RequestTelemetry = { ...rt, trace: undefined };
  return (...args) => current.run(detached, fn, ...args);
}

/** The trace id of the request in progress (recorded in its session's events), when it is traced. */
export function currentTraceId(): string | undefined {
  return current.getStore()?.trace?.traceId;
}

/**
 * A stage that ran from `since` (performance.now(), ms) until now: one histogram observation,
 * and a child span of the request's when it is traced. `error`: the stage failed (span status).
 */
export function stage(name: Stage, since: number, error?: unknown): void {
  const rt = current.getStore();
  if (rt === undefined) return;
  const end = performance.now();
  rt.telemetry.metrics?.observeStage(rt.path, name, (end - since) / 1000);
  if (rt.trace !== undefined) rt.telemetry.tracing?.stageSpan(rt.trace, name, since, end, error);
}

/** A stage whose span must exist while it runs (forward: its id goes to the target in traceparent). */
export interface OpenStage {
  /** The W3C traceparent naming this stage's span, when the request is traced. */
  readonly traceparent: string | undefined;
  end(error?: unknown): void;
}

/** Starts stage `name` now; undefined outside a request or with telemetry off. */
export function beginStage(name: Stage): OpenStage | undefined {
  const rt = current.getStore();
  if (rt === undefined) return undefined;
  const since = performance.now();
  const span = rt.trace === undefined ? undefined : rt.telemetry.tracing?.startStage(rt.trace, name, since);
  let ended = false;
  return {
    traceparent: span === undefined ? undefined : rt.telemetry.tracing?.traceparent(span),
    end(error) {
      if (ended) return;
      ended = true;
      const end = performance.now();
      rt.telemetry.metrics?.observeStage(rt.path, name, (end - since) / 1000);
      if (span !== undefined) rt.telemetry.tracing?.endStage(span, end, error);
    },
  };
}

/** The request resolved to connection `name` (one the registry holds and the caller may use). */
export function noteConnection(name: string): void {
  const rt = current.getStore();
  if (rt !== undefined) rt.connection = name;
}

/** The guard decided `decision` on connection `connection`: the request keeps the strictest. */
export function noteDecision(connection: string, decision: Exclude<Decision, 'none'>): void {
  const rt = current.getStore();
  if (rt === undefined) return;
  rt.connection = connection;
  if (RANK[decision] > RANK[rt.decision]) rt.decision = decision;
}

/** The request's recording session (an attribute of its span: from a trace to the recording). */
export function noteSession(sessionId: string): void {
  current.getStore()?.trace?.span.setAttribute('airlock.session', sessionId);
}

/** Limits over for the request (kind and action only: a limit's name is policy's, bounded, but kept out of labels). */
export function noteLimitHits(hits: ReadonlyArray<{ readonly kind: string; readonly action: string }>): void {
  const rt = current.getStore();
  if (rt === undefined) return;
  for (const h of hits) rt.telemetry.metrics?.limitHit(h.kind, h.action);
}
