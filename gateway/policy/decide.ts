// One decision for one request or response, end to end: inspect → evaluate → mask. The data
// paths and `airlock policy eval` both go through here, so what the CLI shows is what the
// gateway does.
import { inspectRequest } from '../inspect/index.ts';
import { maskJson, maskText } from '../inspect/mask.ts';
import { PARTS, findingsOfPart, inAPart, type Part } from '../inspect/parts.ts';
import type { Finding } from '../inspect/types.ts';
import type { CompiledPolicy } from './compile.ts';
import type { LimitHit } from '../limits/limiter.ts';
import type { EvalContext } from './context.ts';
import { evaluate, type Decision, type EvaluateOptions } from './engine.ts';

export interface Outcome extends Decision {
  /**
   * The payload as it may leave: masked when the decision is mask (or confirm with mask rules), else unchanged. Set for
   * payloads the request carries (text, body, args); absent for SQL and shell, which are never
   * rewritten (a statement with masked literals would do something else).
   */
  readonly masked?: unknown;
  /** The request's parts (headers, query, path segments: inspect/parts.ts) as they may leave, when it has them: masked in place when the decision is mask. */
  readonly maskedParts?: Partial<Record<Part, unknown>>;
  /** Limits declared in policy that this request is over (gateway/limits/, set by the guard). */
  readonly limits?: readonly LimitHit[];
  /** The request waited for limits with action delay, then passed: which, and how long (ms). */
  readonly delayed?: { readonly limits: readonly string[]; readonly waitedMs: number };
}

/** How a review is held: reviewers, approvals, wait, expiry, validity, uses (policy `review:`). */
export type RuleReview = NonNullable<Decision['review']>;
/** The settings of a review no rule configured (a default action or the oversize rule). */
export const DEFAULT_REVIEW: RuleReview = { approvals: 1, wait: 120, expires: 3600, validity: 900, uses: 1 };

export interface DecideOptions extends EvaluateOptions {
  /** Key of the `hash` masking strategy (≥ 16 bytes): equal values give equal tokens under one key. */
  readonly maskKey: Uint8Array;
}

export function decide(policy: CompiledPolicy, ctx: Omit<EvalContext, 'findings'>, options: DecideOptions, extraFindings: readonly Finding[] = [], inspected?: readonly Finding[]): Outcome {
  // extraFindings: what was inspected apart from the request (an MCP tool's SQL- and
  // command-bearing arguments, inspected each with its own inspector). inspected: the request's
  // findings when the caller inspected it already (a streamed body's window, inspected with the
  // text around it: gateway/inspect/stream.ts); spans must then point into request.text.
  const findings = [...(inspected ?? inspectRequest(ctx.request)), ...extraFindings];
  const decision = evaluate(policy, { ...ctx, findings }, options);
  const payload = ctx.request.text ?? ctx.request.body ?? ctx.request.args;
  const parts = PARTS.filter((p) => ctx.request[p] !== undefined);
  if (payload === undefined && parts.length === 0) return decision;
  // A confirmed call leaves masked too: the caller confirms what would leave.
  if ((decision.decision !== 'mask' && decision.decision !== 'confirm') || !decision.mask) {
    return { ...decision, ...(payload === undefined ? {} : { masked: payload }), ...(parts.length === 0 ? {} : { maskedParts: Object.fromEntries(parts.map((p) => [p, ctx.request[p]])) }) };
  }
  const plan = decision.mask;
  const entityOf = (kind: string) => kind.slice(kind.indexOf('.') + 1);
  // Only what a mask rule spoke for is masked (mergeMasks lists exactly those entities).
  const concerned: Finding[] = findings.filter((f) => Object.hasOwn(plan, entityOf(f.kind)) && entityOf(f.kind) !== 'default');
  const strategy = (kind: string) => plan[entityOf(kind)] ?? plan.default ?? 'redact';
  const inPayload = concerned.filter((f) => !inAPart(f.path));
  const masked = payload === undefined ? undefined : typeof payload === 'string'
    ? maskText(payload, inPayload, strategy, options.maskKey)
    : maskJson(payload, inPayload, strategy, options.maskKey);
  const maskedParts = Object.fromEntries(parts.map((p) => [p, maskJson(ctx.request[p], findingsOfPart(p, concerned), strategy, options.maskKey)]));
  return { ...decision, ...(payload === undefined ? {} : { masked }), ...(parts.length === 0 ? {} : { maskedParts }) };
}
