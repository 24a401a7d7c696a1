// The guard on one statement of the PostgreSQL listener: a Query's or Parse's SQL (inspected in the
// connection's dialect, every statement of a multi-statement string), or a Bind's parameters
// (PII and secrets; the statement's SQL was judged at its Parse). Limits, policy, the durable
// record, and a review held until decided (the session waits; the client got a NoticeResponse).
//
// A multi-statement Query is judged whole: PostgreSQL runs it as one implicit transaction, so
// refusing the string (when any statement in it is refused) is what the database would do had
// that statement failed, and nothing of it runs.
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { decideFor, hiddenInValue, limitsBefore, recordStep, refuseUnlessAllowed, withLimits, type GuardDeps } from '../guard/index.ts';
import { DEFAULT_REVIEW, type Outcome } from '../policy/decide.ts';
import type { PolicyRequest } from '../policy/context.ts';
import type { RecordingSession } from '../recorder/recorder.ts';
import type { Json, JsonObject } from '../store/index.ts';

export interface Judgement {
  /** Why the statement may not run; undefined when it may. */
  readonly refusal?: GatewayError;
  /** A Bind's parameters as they may leave, when policy masked them (SQL text is never rewritten). */
  readonly masked?: ReadonlyArray<string | null>;
}

export interface StatementInput {
  readonly identity: Identity;
  readonly connection: Connection;
  readonly session: RecordingSession;
  readonly what: { readonly sql: string; readonly params?: ReadonlyArray<string | null> };
  readonly protocol: 'simple' | 'parse' | 'bind';
  /** Aborts a review wait (the client went away). */
  readonly signal: AbortSignal;
  /** Called with the review id when the statement starts waiting for one. */
  readonly onHeld: (review: string) => void;
  /** The connection after a review wait (throws when the caller may no longer use it). */
  readonly recheck: () => Connection;
}

/** Most characters of a Bind's SQL kept in its event's summary. */
const SUMMARY_SQL_CHARS = 2000;

export async function judgeStatement(deps: GuardDeps, input: StatementInput): Promise<Judgement> {
  const { identity, connection, session, what, protocol } = input;
  const bind = protocol === 'bind';
  const payload: unknown = bind ? [...what.params!] : what.sql;
  const request: PolicyRequest = bind
    ? { kind: 'sql', direction: 'request', args: payload }
    : { kind: 'sql', direction: 'request', sql: what.sql, dialect: connection.sql.dialect };
  using gate = await limitsBefore(deps, identity, connection, { direction: 'request' });
  const outcome = withLimits(decideFor(deps, identity, connection, request, hiddenInValue(payload), undefined, gate?.usage), gate);
  await recordStep(deps.recording.recorder, session, {
    type: bind ? 'pg.bind' : 'pg.query', direction: 'request', outcome, maskKey: deps.maskKey, payload, leaving: bind && outcome.decision === 'mask' && outcome.masked !== undefined ? outcome.masked : payload,
    summary: { protocol, ...(bind ? { sql: what.sql.slice(0, SUMMARY_SQL_CHARS), params: what.params!.length } : {}) },
  });
  if (outcome.decision === 'mask' && bind && Array.isArray(outcome.masked)) return { masked: outcome.masked as Array<string | null> };
  if (outcome.decision === 'allow' || outcome.decision === 'mask') return {};
  if (outcome.decision === 'deny') return { refusal: refusalOf(outcome, connection) };

  const canonical: JsonObject = bind ? { sql: what.sql, params: what.params as Json } : { sql: what.sql };
  let released: string;
  try {
    released = (await deps.recording.reviews.hold({
      connection: connection.name, requester: identity, session, settings: outcome.review ?? DEFAULT_REVIEW,
      request: { postgres: canonical },
      shown: { payload: bind ? { sql: what.sql, params: what.params } : { sql: what.sql }, findings: outcome.findings, verbatim: ['$.sql'] },
      detail: { sql: what.sql.slice(0, SUMMARY_SQL_CHARS), protocol, reasons: outcome.reasons.map((r) => ({ rule: r.rule, reason: r.reason, message: r.message ?? null })), findings: outcome.findings.map((f) => ({ kind: f.kind, path: f.path })) },
      signal: input.signal,
      onWaiting: (review) => input.onHeld(review.id),
    })).id;
  } catch (err) {
    if (err instanceof GatewayError && (err.code === 'GW_REVIEW_PENDING' || err.code === 'GW_REVIEW_DENIED')) return { refusal: err };
    throw err;
  }
  try {
    input.recheck(); // the wait may have outlasted the caller's access
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    await deps.recording.reviews.refund(released, session, err.code);
    throw err;
  }
  return {};
}

/** The GatewayError a deny (by a rule or a limit) makes. */
function refusalOf(outcome: Outcome, connection: Connection): GatewayError {
  try {
    refuseUnlessAllowed(outcome, connection, 'request');
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  return new GatewayError('GW_POLICY_DENIED', `The statement on connection ${connection.name} was refused by policy.`);
}

/** Records a step of the database's answer (a result, an error, COPY data out) or of COPY data in (`direction` request) with its decision. */
export async function recordResult(deps: GuardDeps, session: RecordingSession, step: { type: string; outcome: Outcome; payload: unknown; leaving?: unknown; summary: JsonObject; direction?: 'request' | 'response' }): Promise<void> {
  await recordStep(deps.recording.recorder, session, {
    type: step.type, direction: step.direction ?? 'response', outcome: step.outcome, maskKey: deps.maskKey, payload: step.payload,
    leaving: step.leaving ?? (step.outcome.decision === 'mask' && step.outcome.masked !== undefined ? step.outcome.masked : step.payload), summary: step.summary,
  });
}
