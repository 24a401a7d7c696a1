// Deciding: every rule whose filters match and whose condition holds applies; the strictest action
// wins (deny > review > confirm > mask > allow) and the decision lists every rule that applied, with its
// reason. Nothing applied → the connection's default (allow unless set). Fail closed: a finding
// that says something could not be parsed or inspected turns allow, mask or confirm into deny (the
// caller confirming their own agent's call is no second look at what nobody could read), and a
// condition that fails to evaluate denies.
import type { Finding } from '../inspect/types.ts';
import type { CompiledPolicy, CompiledRule } from './compile.ts';
import type { EvalContext } from './context.ts';
import { STRICTNESS, type Action, type MaskStrategy, type Rule } from './schema.ts';

export interface AppliedRule {
  readonly rule: string;
  readonly policy: string;
  readonly action: Action;
  readonly reason: string;
  readonly message?: string;
  /** Set when the rule's condition failed to evaluate (the decision is then deny). */
  readonly error?: string;
}

export interface Decision {
  readonly decision: Action;
  /** Every rule that applied, strictest first; synthetic entries for defaults and fail-closed. */
  readonly reasons: readonly AppliedRule[];
  readonly findings: readonly Finding[];
  /** With mask, and with confirm when mask rules applied too (what the caller confirms leaves masked): the strategy per entity (`default` for the rest). */
  readonly mask?: Readonly<Record<string, MaskStrategy>>;
  /** With review: who may approve, how many, how long to wait (the strictest of the review rules). */
  readonly review?: NonNullable<Rule['review']>;
}

export interface EvaluateOptions {
  /** What applies when no rule does. Default allow. */
  readonly defaultAction?: Action;
}

/** Finding kinds that mean "not fully understood": never allowed through. */
export function isFailureFinding(kind: string): boolean {
  return kind.endsWith('.unparsed') || kind.startsWith('inspect.') || kind.endsWith('.obfuscation');
}

/** Information hidden, least to most: a conflict between mask rules takes the most hiding. */
const HIDING: Readonly<Record<MaskStrategy, number>> = { partial: 0, hash: 1, redact: 2 };

export function evaluate(policy: CompiledPolicy, ctx: EvalContext, options: EvaluateOptions = {}): Decision {
  const applied: AppliedRule[] = [];
  let vars: Record<string, unknown> | undefined;
  const masks: CompiledRule[] = [];
  const reviews: CompiledRule[] = [];
  for (const rule of policy.rules) {
    if (!rule.matches(ctx)) continue;
    if (rule.when) {
      vars ??= celVariables(ctx);
      let result: unknown;
      try {
        result = rule.when(vars);
      } catch (err) {
        applied.push({ rule: rule.id, policy: rule.policy, action: 'deny', reason: 'policy.eval_error', error: String((err as Error)?.message ?? err).split('\n')[0]! });
        continue;
      }
      if (result !== true) continue;
    }
    applied.push({ rule: rule.id, policy: rule.policy, action: rule.action, reason: rule.reason, ...(rule.message ? { message: rule.message } : {}) });
    if (rule.action === 'mask') masks.push(rule);
    if (rule.action === 'review') reviews.push(rule);
  }

  if (applied.length === 0) {
    applied.push({ rule: '(default)', policy: '(connection)', action: options.defaultAction ?? 'allow', reason: 'policy.default' });
  }
  let decision = applied.reduce<Action>((a, r) => (STRICTNESS[r.action] > STRICTNESS[a] ? r.action : a), 'allow');
  const failure = ctx.findings.find((f) => isFailureFinding(f.kind));
  if (failure && STRICTNESS[decision] < STRICTNESS.review) {
    applied.push({ rule: '(fail-closed)', policy: '(built-in)', action: 'deny', reason: 'inspect.failed', message: `The payload could not be fully inspected (${failure.kind}), so it is refused.` });
    decision = 'deny';
  }
  applied.sort((a, b) => STRICTNESS[b.action] - STRICTNESS[a.action]);

  const result: { -readonly [K in keyof Decision]: Decision[K] } = { decision, reasons: applied, findings: ctx.findings };
  if (decision === 'mask' || (decision === 'confirm' && masks.length > 0)) result.mask = mergeMasks(masks, ctx.findings);
  if (decision === 'review') result.review = mergeReviews(reviews);
  return result;
}

/**
 * The strategy per entity: each mask rule speaks for the findings it is about (its
 * match.findings, or all), with its entry for the entity, else its default, else redact; where
 * rules disagree the most hiding wins. `default` (redact) covers anything else found.
 */
function mergeMasks(rules: readonly CompiledRule[], findings: readonly Finding[]): Record<string, MaskStrategy> {
  const out: Record<string, MaskStrategy> = { default: 'redact' };
  for (const finding of findings) {
    const entity = finding.kind.slice(finding.kind.indexOf('.') + 1);
    for (const rule of rules) {
      if (rule.concerns && !rule.concerns(finding.kind)) continue;
      const strategy = rule.mask?.[entity] ?? rule.mask?.default ?? 'redact';
      const current = out[entity];
      if (current === undefined || HIDING[strategy] > HIDING[current]) out[entity] = strategy;
    }
  }
  return out;
}

function mergeReviews(rules: readonly CompiledRule[]): NonNullable<Rule['review']> {
  const reviewers = [...new Set(rules.flatMap((r) => r.review?.reviewers ?? []))];
  // A service key decides only what every review rule that applied names it for.
  const named = rules.map((r) => r.review?.serviceReviewers ?? []);
  const serviceReviewers = named.length === 0 ? [] : named.reduce((a, b) => a.filter((x) => b.includes(x)));
  return {
    ...(reviewers.length ? { reviewers } : {}),
    ...(serviceReviewers.length ? { serviceReviewers } : {}),
    approvals: Math.max(1, ...rules.map((r) => r.review?.approvals ?? 1)),
    wait: Math.min(...rules.map((r) => r.review?.wait ?? 120)),
    expires: Math.min(...rules.map((r) => r.review?.expires ?? 3600)),
    validity: Math.min(...rules.map((r) => r.review?.validity ?? 900)),
    uses: Math.min(...rules.map((r) => r.review?.uses ?? 1)),
  };
}

/** The CEL variables: plain data; `now` as a timestamp. */
function celVariables(ctx: EvalContext): Record<string, unknown> {
  return {
    identity: ctx.identity ?? { sub: '', email: null, name: null, groups: [], roles: [], via: 'none' },
    connection: ctx.connection ?? { name: '', kind: '', tags: [] },
    request: ctx.request,
    findings: ctx.findings,
    now: new Date(ctx.now),
    usage: ctx.usage ?? {},
  };
}
