// What the data paths write into a session for one step (a request or its answer): the payload as
// it leaves the gateway, the findings, the decision — all durable before the step goes on (fail
// closed: recorder.record throws GW_RECORDING_FAILED and nothing is forwarded or returned).
//
// A payload that is refused or held never left, but is still recorded for the auditor — with every
// PII and secret finding redacted, so the recording never holds what policy kept from leaving.
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import { unhidden } from '../inspect/hidden.ts';
import { maskJson, maskText } from '../inspect/mask.ts';
import { stringifyJson } from './json.ts';
import type { Finding } from '../inspect/types.ts';
import type { Outcome } from '../policy/decide.ts';
import type { Recorder, RecordingSession, SessionMeta } from '../recorder/recorder.ts';
import type { HttpSessions } from '../recorder/http-sessions.ts';
import type { Reviews } from '../reviews/reviews.ts';
import type { Json, JsonObject } from '../store/index.ts';
import { currentTraceId, noteSession, stage } from '../telemetry/context.ts';

/** Findings recorded one event each, per step; the decision event counts them all. */
const MAX_FINDING_EVENTS = 20;

/** What the data paths need to record and to hold reviews. */
export interface Recording {
  readonly recorder: Recorder;
  readonly httpSessions: HttpSessions;
  readonly reviews: Reviews;
}

export function sessionMeta(identity: Identity, connection: Connection, client: JsonObject = {}): SessionMeta {
  return {
    connection: connection.name, kind: connection.kind, subject: identity.sub, metadataOnly: connection.recording.metadataOnly,
    metadata: { email: identity.email ?? null, name: identity.name ?? null, via: identity.via, groups: [...identity.groups], ...client },
  };
}

/**
 * Records `type` (request | response | message), its findings and the decision. `payload` is the
 * body as inspected; `leaving` what leaves (masked) when the decision lets it.
 */
export async function recordStep(recorder: Recorder, session: RecordingSession, step: {
  readonly type: string;
  readonly direction: 'request' | 'response';
  readonly summary: JsonObject;
  readonly outcome: Outcome;
  readonly payload: unknown;
  readonly leaving: unknown;
  readonly maskKey: Uint8Array;
}): Promise<void> {
  const { outcome } = step;
  const passes = outcome.decision === 'allow' || outcome.decision === 'mask';
  const redacted = () => {
    // A value found only once hiding characters are gone is redacted without them (inspect/hidden.ts).
    const r = outcome.findings.some((f) => f.kind === 'inspect.hidden_text') ? unhidden(step.payload, step.maskKey) : redactFindings(step.payload, outcome.findings, step.maskKey);
    // The same form as what leaves (text), integers exact; a parsed body's BigInts as their digits (the recording is JSON).
    return typeof step.leaving === 'string' && typeof r !== 'string' ? stringifyJson(r) : withoutBigInts(r);
  };
  const body = step.payload === undefined ? undefined : (passes ? step.leaving : redacted()) as Json;
  // A call awaiting the caller's confirmation is recorded like a held one (redacted); what leaves once confirmed is in its `confirm` event.
  const flag: JsonObject = passes ? {} : outcome.decision === 'review' ? { held: true } : outcome.decision === 'confirm' ? { confirming: true } : { withheld: true };
  // The request's trace, when it is traced: from the recording to the trace, and back (airlock.session).
  const traceId = currentTraceId();
  if (traceId !== undefined) noteSession(session.id);
  const since = performance.now();
  const writes: Array<Promise<void>> = [recorder.record(session, step.type, { ...step.summary, direction: step.direction, ...flag, ...(traceId === undefined ? {} : { traceId }) }, body)];
  for (const f of outcome.findings.slice(0, MAX_FINDING_EVENTS)) {
    writes.push(recorder.record(session, 'finding', { direction: step.direction, kind: f.kind, path: f.path, severity: f.severity, detail: f.detail ?? null }));
  }
  writes.push(recorder.record(session, 'decision', {
    direction: step.direction, decision: outcome.decision, findings: outcome.findings.length,
    reasons: outcome.reasons.map((r) => ({ rule: r.rule, policy: r.policy, action: r.action, reason: r.reason })),
    ...(typeof step.summary.requestId === 'string' ? { requestId: step.summary.requestId } : {}),
    ...(outcome.limits === undefined ? {} : { limits: outcome.limits.map((h) => ({ limit: h.limit, kind: h.kind, action: h.action, used: h.used, max: h.max, retryAfter: h.retryAfter, ...(h.waitedMs === undefined ? {} : { waitedMs: h.waitedMs }) })) }),
    ...(outcome.delayed === undefined ? {} : { delayed: { limits: [...outcome.delayed.limits], waitedMs: outcome.delayed.waitedMs } }),
  }, undefined, outcome.decision));
  try {
    await Promise.all(writes);
  } catch (err) {
    stage('record', since, err);
    throw err;
  }
  stage('record', since);
}

/** A parsed value with every BigInt as its decimal string (JSON holds no BigInt). */
function withoutBigInts(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(withoutBigInts);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, child]) => [k, withoutBigInts(child)]));
  return v;
}

/** Every PII and secret value in the payload redacted (what a refused payload is recorded as). */
export function redactFindings(payload: unknown, findings: readonly Finding[], maskKey: Uint8Array): unknown {
  const sensitive = findings.filter((f) => f.kind.startsWith('pii.') || f.kind.startsWith('secret.'));
  if (sensitive.length === 0) return payload;
  return typeof payload === 'string' ? maskText(payload, sensitive, () => 'redact', maskKey) : maskJson(payload, sensitive, () => 'redact', maskKey);
}
