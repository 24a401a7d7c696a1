// Refusals as a caller reads them: a decision that does not let a payload pass becomes a coded
// error (HTTP, WebSocket) or a sentence (an MCP tool result), naming the rule and its reason.
import type { Connection } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import type { Outcome } from '../policy/decide.ts';
import { CONFIRM_UNAVAILABLE } from './decide.ts';

/**
 * Throws GW_POLICY_DENIED (deny), GW_REVIEW_REQUIRED (review) or GW_CONFIRM_NEEDS_MCP (a confirm
 * the data path could not ask for: decideFor made it a deny); allow and mask pass.
 * `streamedAt`: the byte offset of a streamed body's window, which cannot wait for a review either.
 */
export function refuseUnlessAllowed(outcome: Outcome, connection: Connection, direction: 'request' | 'response', streamedAt?: number): void {
  if (outcome.decision === 'allow' || outcome.decision === 'mask') return;
  refuseOverLimit(outcome, connection);
  const first = outcome.reasons[0];
  const why = first?.message ?? `rule ${first?.rule} (${first?.reason})`;
  const detail = { reasons: outcome.reasons, findings: outcome.findings.map((f) => ({ kind: f.kind, path: f.path, detail: f.detail })) };
  if (first?.rule === CONFIRM_UNAVAILABLE) {
    throw new GatewayError('GW_CONFIRM_NEEDS_MCP', `The ${direction} on connection ${connection.name} needs the caller's confirmation (${outcome.reasons[1]?.reason ?? 'confirm'}), which only an MCP client can give: call the tool through /mcp/${connection.name} from a client that supports elicitation, or ask an admin to change the rule. It was refused.`, { detail });
  }
  if (outcome.decision === 'review') {
    const message = streamedAt === undefined
      ? `The ${direction} on connection ${connection.name} needs a human review (${first?.reason}): ${why} Only a request can be held for a review (an answer or a message cannot wait for one), so it was refused.`
      : `The streamed ${direction} on connection ${connection.name} needs a human review (${first?.reason}): ${why} A streamed body (limits.oversize: stream) is not kept whole, so it cannot be held for one; it was refused at byte ${streamedAt}.`;
    throw new GatewayError('GW_REVIEW_REQUIRED', message, { detail });
  }
  throw new GatewayError('GW_POLICY_DENIED', `The ${direction} on connection ${connection.name} was refused by policy (${first?.reason}): ${why}`, { detail });
}

/** "The call was refused by policy (reason): message" — the text an MCP caller (a model) reads. */
export function reasonText(what: string, outcome: Outcome, subject = 'The call'): string {
  const first = outcome.reasons[0];
  // A limit's refusal says when to try again (the MCP form of Retry-After).
  const hit = first?.rule.startsWith('(limit) ') === true ? outcome.limits?.find((h) => `(limit) ${h.limit}` === first.rule) : undefined;
  const retry = hit === undefined ? '' : ` Retry after ${hit.retryAfter} s.`;
  return `${subject} was ${what} (${first?.reason ?? 'policy'}): ${first?.message ?? `rule ${first?.rule ?? '?'}`}${retry}`;
}

/** A deny that a limit made (rather than a rule): GW_LIMIT_EXCEEDED, 429 with Retry-After (the longest wait among the limits over). */
function refuseOverLimit(outcome: Outcome, connection: Connection): void {
  const denying = (outcome.limits ?? []).filter((h) => h.action === 'deny');
  if (outcome.decision !== 'deny' || denying.length === 0 || outcome.reasons.some((r) => r.action === 'deny' && !r.rule.startsWith('(limit) '))) return;
  const retryAfter = Math.max(...denying.map((h) => h.retryAfter));
  const first = denying[0]!;
  throw new GatewayError('GW_LIMIT_EXCEEDED', `The request on connection ${connection.name} is over limit ${first.limit}: ${first.message} Retry after ${retryAfter} s.`, {
    headers: { 'retry-after': String(retryAfter) },
    detail: { limits: denying.map((h) => ({ limit: h.limit, used: h.used, max: h.max, retryAfter: h.retryAfter })) },
  });
}
