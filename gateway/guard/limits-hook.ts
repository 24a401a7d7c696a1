// Where the limits declared in policy (gateway/limits/) meet the data paths: a data path calls
// `limitsBefore` before the guard decides (the usage goes into CEL as `usage`, a limit that is
// over becomes part of the decision) and `limitsAfter` once an answer has left (egress budgets
// count what the answer carried, masked or not: a masked value was still asked for).
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import type { Finding } from '../inspect/types.ts';
import type { LimitSubject } from '../limits/compile.ts';
import type { Gate } from '../limits/limiter.ts';
import type { Outcome } from '../policy/decide.ts';
import { STRICTNESS } from '../policy/schema.ts';
import { policyFor, type GuardDeps } from './decide.ts';
import { noteLimitHits } from '../telemetry/context.ts';

export interface LimitedStep {
  readonly direction: 'request' | 'response';
  readonly method?: string;
  readonly path?: string;
  readonly tool?: string;
}

function subjectOf(identity: Identity, connection: Connection, step: LimitedStep): LimitSubject {
  return { identity: { sub: identity.sub, groups: identity.groups, via: identity.via, tokenId: identity.tokenId }, connection: connection.name, ...step };
}

/**
 * The limits' gate for one step; undefined when the gateway runs without limits or the
 * connection's policies declare none. `signal`: the client went away (a request waiting for a
 * `delay` limit leaves its queue).
 */
export async function limitsBefore(deps: GuardDeps, identity: Identity, connection: Connection, step: LimitedStep, signal?: AbortSignal): Promise<Gate | undefined> {
  if (deps.limiter === undefined) return undefined;
  const { limits } = policyFor(deps, connection);
  if (limits.length === 0) return undefined;
  return deps.limiter.before(limits, subjectOf(identity, connection, step), signal);
}

/**
 * Before an answer that no request announced leaves (a WebSocket message from the target, a window
 * of a streamed answer): the egress budgets concerning it must have room; undefined as for `limitsBefore`.
 */
export async function limitsRoom(deps: GuardDeps, identity: Identity, connection: Connection, step: LimitedStep): Promise<Gate | undefined> {
  if (deps.limiter === undefined) return undefined;
  const { limits } = policyFor(deps, connection);
  if (limits.length === 0) return undefined;
  return deps.limiter.room(limits, subjectOf(identity, connection, step));
}

/** After an answer left (allow or mask): egress budgets count its sensitive values. */
export async function limitsAfter(deps: GuardDeps, identity: Identity, connection: Connection, step: LimitedStep, outcome: Outcome): Promise<void> {
  if (deps.limiter === undefined || (outcome.decision !== 'allow' && outcome.decision !== 'mask')) return;
  const { limits } = policyFor(deps, connection);
  if (limits.length === 0) return;
  await deps.limiter.after(limits, subjectOf(identity, connection, step), outcome.findings as Finding[]);
}

/**
 * The decision with the limits that are over: the strictest of the policy's decision and the
 * limits' actions, each hit listed first among the reasons (rule `(limit) <name>`, reason
 * `limit.exceeded`) and kept in `limits` for the refusal (Retry-After) and the recording; a wait
 * for `delay` limits that then passed is kept in `delayed` for the recording.
 */
export function withLimits(outcome: Outcome, gate: Gate | undefined): Outcome {
  if (gate?.delayed !== undefined) outcome = { ...outcome, delayed: gate.delayed }; // recorded with the decision
  if (gate === undefined || gate.hits.length === 0) return outcome;
  noteLimitHits(gate.hits);
  const action = gate.hits.some((h) => h.action === 'deny') ? 'deny' : 'review';
  const decision = STRICTNESS[action] > STRICTNESS[outcome.decision] ? action : outcome.decision;
  const reasons = [...gate.hits.map((h) => ({ rule: `(limit) ${h.limit}`, policy: h.policy, action: h.action, reason: 'limit.exceeded', message: h.message })), ...outcome.reasons];
  // A review only a limit asks for is held as the limit says (else as a rule's defaults).
  const review = decision === 'review' && outcome.review === undefined ? gate.hits.find((h) => h.review !== undefined)?.review : undefined;
  return { ...outcome, decision, reasons, limits: gate.hits, ...(review === undefined ? {} : { review }) };
}
