// Policy action `confirm`: before a risky tools/call runs, the human at the MCP client is asked to
// confirm it (MCP form elicitation, one boolean). They see what will run: the connection and tool,
// the arguments as they would leave (masked), the findings and the rules that asked. Their answer
// is recorded (a `confirm` event) before anything is forwarded; anything but a yes refuses the call.
//
// This is the caller confirming their own agent's call, not a second person's approval (that is
// `review`): the client's software could answer for the human, so confirm never stands in for review.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { ElicitRequestFormParams, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.ts';
import type { Outcome } from '../policy/decide.ts';
import { visibleText } from '../../lib/visible.ts';

/** How long the gateway waits for the human's answer, in ms (the MCP SDK's own default is 60 s). */
export const CONFIRM_WAIT_MS = 120_000;
/** Findings and rules listed in the question; the rest are counted. */
const MAX_LISTED = 20;

/** What the human answered: `accept` only when they confirmed (confirm: true). */
export type ConfirmAnswer = 'accept' | 'decline' | 'cancel' | 'unsupported' | 'unanswered';

/** Asks the human at the client; absent when the client did not declare form elicitation. */
export type Confirm = (question: ElicitRequestFormParams, signal: AbortSignal) => Promise<{ answer: ConfirmAnswer; detail?: string }>;

export interface ConfirmSubject {
  readonly connection: string;
  readonly tool: string;
  /** The arguments as they would leave (masked when mask rules applied). */
  readonly args: unknown;
  /** The agent's `_justification`, if any: shown as the agent's claim. */
  readonly justification?: string;
  readonly outcome: Outcome;
}

/** The form elicitation that shows what will run and asks for one boolean. */
export function confirmQuestion(s: ConfirmSubject): ElicitRequestFormParams {
  const asking = s.outcome.reasons.filter((r) => r.action === 'confirm');
  const rules = asking.slice(0, MAX_LISTED).map((r) => `  - rule ${r.rule} (${r.reason})${r.message ? `: ${r.message}` : ''}`);
  const findings = s.outcome.findings.slice(0, MAX_LISTED).map((f) => `  - ${f.kind} at ${f.path}${f.detail ? `: ${f.detail}` : ''}`);
  const more = (n: number) => (n > MAX_LISTED ? [`  … and ${n - MAX_LISTED} more`] : []);
  const lines = [
    `airlock asks you to confirm a tool call before it runs.`,
    `Connection: ${s.connection}`,
    `Tool: ${s.tool}`,
    `Arguments, exactly as they will be sent (masked where policy masks):`,
    shown(s.args),
    ...(s.justification === undefined ? [] : [`The agent's justification (written by the agent, not checked): ${shown(s.justification)}`]),
    `Why you are asked:`, ...rules, ...more(asking.length),
    ...(findings.length === 0 ? [] : [`What the inspection found:`, ...findings, ...more(s.outcome.findings.length)]),
    `Set confirm to true to run it; decline or cancel to refuse it. Your answer is recorded.`,
  ];
  return {
    mode: 'form',
    message: lines.map(visible).join('\n'),
    requestedSchema: {
      type: 'object',
      properties: { confirm: { type: 'boolean', title: visible(`Run ${s.tool.slice(0, 100)} on ${s.connection}?`), description: 'true runs the call as shown above', default: false } },
      required: ['confirm'],
    },
  };
}

/** A value as JSON (newlines and other control characters escaped by JSON itself; BigInts as digits). */
function shown(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * One line of the question with every invisible character escaped (lib/visible.ts): what the
 * agent or upstream wrote cannot reorder (bidi overrides), hide (zero-width, tag characters,
 * variation selectors, fillers) or push out of sight (line breaks) any part of what the human confirms.
 */
const visible = (line: string): string => visibleText(line);

/** Sends the question on the tools/call's own stream (`relatedRequestId`) and reads the answer strictly. */
export async function askOverMcp(server: Server, question: ElicitRequestFormParams, relatedRequestId: RequestId, signal: AbortSignal): Promise<{ answer: ConfirmAnswer; detail?: string }> {
  try {
    const r = await server.elicitInput(question, { relatedRequestId, signal, timeout: CONFIRM_WAIT_MS });
    if (r.action !== 'accept') return { answer: r.action };
    return { answer: r.content?.confirm === true ? 'accept' : 'decline' };
  } catch (err) {
    return { answer: 'unanswered', detail: String((err as Error)?.message ?? err).slice(0, 200) };
  }
}

/** The refusal for an answer that is not a yes (undefined for accept). */
export function confirmRefusal(answer: ConfirmAnswer, s: { connection: string; tool: string }, detail?: string): GatewayError | undefined {
  const call = `The call of ${s.tool} on ${s.connection}`;
  switch (answer) {
    case 'accept': return undefined;
    case 'decline': return new GatewayError('GW_CONFIRM_DECLINED', `${call} needs your confirmation, and it was declined, so it did not run. Do not retry it unless the user asks for it.`);
    case 'cancel': return new GatewayError('GW_CONFIRM_DECLINED', `${call} needs your confirmation, and the question was dismissed, so it did not run. Do not retry it unless the user asks for it.`);
    case 'unsupported': return new GatewayError('GW_CONFIRM_UNSUPPORTED', `${call} needs the user's confirmation, but this MCP client does not support form elicitation (it did not declare it at initialize), so nobody could be asked and it was refused. Use a client that supports elicitation.`);
    case 'unanswered': return new GatewayError('GW_CONFIRM_UNANSWERED', `${call} needs the user's confirmation, and the client gave no answer${detail ? ` (${detail})` : ''}, so it did not run. Call it again and answer the question.`);
  }
}
