// The firewall on every MCP call, one downstream session's worth: which tools the caller sees,
// and what happens to each `tools/call`:
//
//   tools/list   source tools ─► pin (hidden when new under `approval`, or changed) ─► scan the
//                description (hidden Unicode stripped; instruction-like text hides the tool) ─►
//                + optional `_justification` ─► inspect + policy on the whole list ─► record ─►
//                masked, or an error
//   tools/call   known, visible tool? ─► arguments valid against its schema (extra properties
//                refused) ─► inspect (SQL/shell arguments with their inspectors, PII anywhere) +
//                policy ─► record (durable) ─► deny: isError with the reason │ review: held │
//                confirm: the human at the client asked (confirm.ts), the answer recorded ─►
//                allow/mask: call the source with the (masked) arguments ─► inspect + policy on
//                the result ─► record ─► the (masked) result; the upstream's progress during
//                the call: inspect + policy on each ─► record ─► relayed masked, or dropped
//   side channels  prompts, resources, completions and their lists, the upstream's log messages,
//                resource updates and sampling/elicitation requests: inspect + policy ─► record
//                ─► masked, or withheld (checkPayload: an error; checkNotification: dropped)
//
// Every string of a payload is also searched for values hidden between control or format
// characters (guard/normalise.ts hiddenText: UTF-16 text read as UTF-8 puts a NUL between
// digits), which policy refuses as a failure to inspect (`inspect.hidden_text`).
//
// Annotations such as readOnlyHint are passed to the caller but never read here: they never
// lower the risk of a call.
//
// Authority is re-checked on every use, not once per session: each list, call and result asks
// `authority()` for the caller's latest identity and the connection as the registry holds it now
// (GW_ACCESS_REVOKED / GW_TOKEN_EXPIRED when it no longer may), so a group removed, a key revoked
// or a policy replaced applies to the session's next call; a call held for review is re-checked
// again before it is sent.
import { randomUUID } from 'node:crypto';
import { McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { inspectRequest } from '../inspect/index.ts';
import type { Finding } from '../inspect/types.ts';
import { DEFAULT_REVIEW, type Outcome } from '../policy/decide.ts';
import type { PolicyRequest } from '../policy/context.ts';
import type { Gate } from '../limits/limiter.ts';
import { decideFor, hiddenInValue, inspectFor, limitsAfter, limitsBefore, reasonText, recordStep, withLimits, type GuardDeps } from '../guard/index.ts';
import type { RecordingSession } from '../recorder/recorder.ts';
import type { Json, JsonObject, Store } from '../store/index.ts';
import type { Logger } from '../../lib/log.ts';
import { noteDecision } from '../telemetry/context.ts';
import { argumentRoles, inspectionRequests, rebaseFindings, validateArguments, withJustification } from './arguments.ts';
import { decidePin, scanDescription, stripHidden, type PinMode } from './integrity.ts';
import type { CallContext, ToolSource } from './source.ts';
import { confirmQuestion, confirmRefusal, type Confirm } from './confirm.ts';

/** What a call carries from the MCP server besides the source's context: review and confirmation hooks. */
export interface CallerContext extends CallContext {
  /** Called once the call is held for a review (the review's id). */
  readonly onHeld?: (reviewId: string) => void;
  /** Asks the human at the client to confirm the call (policy action confirm); absent: the client cannot be asked. */
  readonly confirm?: Confirm;
}

export interface FirewallDeps extends GuardDeps {
  readonly store: Store;
  readonly logger: Logger;
  /** `first-use` (default) or `approval`: when a new upstream tool may be shown. */
  readonly pinMode: PinMode;
  /** What a suspicious tool description does: hidden Unicode stripped or the tool hidden; instruction-like text hides the tool or is only recorded. */
  readonly descriptions: { readonly hiddenUnicode: 'strip' | 'block'; readonly instructionText: 'block' | 'flag' };
}

interface Listed {
  /** As advertised to the caller. */
  readonly advertised: Tool;
  /** As the source defines it (validation runs against this schema). */
  readonly original: Tool;
}

/**
 * The caller and the connection as they are now: throws a GatewayError (GW_ACCESS_REVOKED,
 * GW_TOKEN_EXPIRED) when the caller may no longer use it. Called on every use; a Map read.
 */
export type Authority = () => { readonly identity: Identity; readonly connection: Connection };

export class Firewall {
  readonly #deps: FirewallDeps;
  readonly #authority: Authority;
  /** The connection's name, which never changes (its definition may: ask #authority). */
  readonly #name: string;
  readonly #source: ToolSource;
  readonly #session: RecordingSession;
  #tools = new Map<string, Listed>();

  constructor(deps: FirewallDeps, authority: Authority, source: ToolSource, session: RecordingSession) {
    this.#deps = deps;
    this.#authority = authority;
    this.#name = authority().connection.name;
    this.#source = source;
    this.#session = session;
  }

  /** The tools the caller may see, decorated; hidden ones are logged and recorded with their reason. */
  async listTools(signal?: AbortSignal): Promise<Tool[]> {
    this.#authority();
    const tools = await this.#source.listTools(signal).catch(async (err: unknown) => { throw err instanceof McpError ? await this.checkError('tools/list', err, randomUUID()) : err; });
    const next = new Map<string, Listed>();
    const hidden: Array<{ tool: string; reason: string }> = [];
    const flagged: Array<{ tool: string; findings: string[] }> = [];
    // A name the source lists twice is ambiguous: which definition would a call run? Both are refused.
    const counts = new Map<string, number>();
    for (const tool of tools) counts.set(tool.name, (counts.get(tool.name) ?? 0) + 1);
    for (const tool of tools.slice(0, 2000)) {
      if ((counts.get(tool.name) ?? 0) > 1) {
        if (!hidden.some((h) => h.tool === tool.name)) hidden.push({ tool: tool.name, reason: 'the upstream lists two tools under this name' });
        continue;
      }
      const pinned = await this.#deps.store.pins.get(this.#name, tool.name);
      const pin = decidePin({ pinned, mode: this.#deps.pinMode, connection: this.#name, tool });
      if (pin.update) await this.#deps.store.pins.put(pin.update);
      if (pin.visibility !== 'visible') {
        hidden.push({ tool: tool.name, reason: pin.reason });
        continue;
      }
      const findings = scanDescription(tool.description ?? '', { path: `tools.${tool.name}.description` });
      const instructions = findings.filter((f) => f.kind === 'mcp.instruction_text');
      const hiddenText = findings.some((f) => f.kind === 'mcp.hidden_unicode');
      const rules = this.#deps.descriptions;
      if (instructions.length > 0 && rules.instructionText === 'block') {
        hidden.push({ tool: tool.name, reason: `its description addresses the model (${instructions.map((f) => f.detail).join('; ')})` });
        continue;
      }
      if (hiddenText && rules.hiddenUnicode === 'block') {
        hidden.push({ tool: tool.name, reason: 'its description carries hidden Unicode (zero-width, bidi or tag characters)' });
        continue;
      }
      if (findings.length > 0) flagged.push({ tool: tool.name, findings: findings.map((f) => f.kind) });
      const clean: Tool = hiddenText && tool.description !== undefined ? { ...tool, description: stripHidden(tool.description) } : tool;
      next.set(tool.name, { advertised: withJustification(clean), original: tool });
    }
    if (hidden.length > 0) {
      this.#deps.logger.warn('mcp tools hidden', { connection: this.#name, hidden });
      await this.#deps.recording.recorder.record(this.#session, 'tools.hidden', { tools: hidden });
    }
    if (flagged.length > 0) await this.#deps.recording.recorder.record(this.#session, 'tools.flagged', { tools: flagged });
    // Names, descriptions and schemas come from the upstream: inspected and masked like its answers
    // (a list policy refuses is an error). Calls are still validated against the source's schema.
    const listed = [...next.values()];
    const { tools: shown } = await this.checkPayload('tools/list', { tools: listed.map((t) => t.advertised) }, randomUUID());
    this.#tools = new Map(listed.map((t, i) => [t.original.name, { advertised: shown[i]!, original: t.original }]));
    return shown;
  }

  /** One tools/call through the firewall. Policy refusals are tool results with isError (the model can act on them). */
  async callTool(name: string, rawArgs: unknown, justificationMeta: string | undefined, ctx: CallerContext): Promise<CallToolResult> {
    const summary = { tool: name, requestId: ctx.requestId };
    let now = await this.#recheck(summary);
    if ('refused' in now) return now.refused;
    if (!this.#tools.has(name)) await this.listTools(ctx.signal);
    const listed = this.#tools.get(name);
    if (!listed) return refusal(`There is no tool ${JSON.stringify(name.slice(0, 100))} on ${this.#name} (or it is hidden until an admin approves it); call tools/list.`);
    const valid = validateArguments(listed.original, rawArgs ?? {});
    if (!valid.ok) {
      await this.#deps.recording.recorder.record(this.#session, 'error', { ...summary, code: 'GW_TOOL_ARGUMENTS_INVALID', message: valid.errors.join('; ') });
      return refusal(`The arguments do not match the schema of ${name}: ${valid.errors.join('; ')}`);
    }
    const args = valid.args as Record<string, unknown>;
    const justification = valid.justification ?? justificationMeta;

    // Inspect: SQL- and command-bearing arguments with their own inspectors, everything for PII.
    const inspectStart = performance.now();
    const roles = argumentRoles(listed.original, args);
    const extra: Finding[] = inspectionRequests(listed.original, roles, now.connection.sql.dialect)
      .flatMap((r) => rebaseFindings(inspectRequest(r.request), r.path));
    const firstSql = roles.find((r) => r.role === 'sql')?.value;
    const firstCommand = roles.find((r) => r.role === 'shell')?.value;
    const request: PolicyRequest = {
      kind: 'mcp', direction: 'request', tool: name, args,
      ...(justification === undefined ? {} : { justification }),
      ...(firstSql === undefined ? {} : { dialect: now.connection.sql.dialect }),
    };
    const inspected = inspectFor(request, inspectStart);
    using gate = await limitsBefore(this.#deps, now.identity, now.connection, { direction: 'request', tool: name }, ctx.signal); // in flight until the call returns
    // A tools/call is the one message the human at the client can confirm (confirmable).
    const outcome = withLimits(decideFor(this.#deps, now.identity, now.connection, request, extra, inspected, gate?.usage, true), gate);
    noteDecision(now.connection.name, outcome.decision); // a limit's too
    const leaving = (outcome.decision === 'mask' || outcome.decision === 'confirm') && outcome.masked !== undefined ? outcome.masked : args;
    await recordStep(this.#deps.recording.recorder, this.#session, {
      type: 'request', direction: 'request', outcome, maskKey: this.#deps.maskKey, payload: args, leaving,
      summary: { ...summary, ...(justification === undefined ? {} : { justification }), ...(firstSql === undefined ? {} : { sql: true }), ...(firstCommand === undefined ? {} : { shell: true }) },
    });
    if (outcome.decision === 'deny') return refusal(reasonText('refused by policy', outcome));
    let released: string | undefined;
    if (outcome.decision === 'review') {
      try {
        released = (await this.#deps.recording.reviews.hold({
          connection: this.#name, requester: now.identity, session: this.#session, settings: outcome.review ?? DEFAULT_REVIEW,
          request: { tool: name, arguments: args as Json },
          shown: { payload: args, findings: outcome.findings, verbatim: roles.filter((r) => r.role !== 'text').map((r) => r.path) },
          detail: { tool: name, ...(justification === undefined ? {} : { justification }), reasons: outcome.reasons.map((r) => ({ rule: r.rule, reason: r.reason, message: r.message ?? null })), findings: outcome.findings.map((f) => ({ kind: f.kind, path: f.path })) },
          signal: ctx.signal,
          onWaiting: (review) => ctx.onHeld?.(review.id),
        })).id;
      } catch (err) {
        if (err instanceof GatewayError && (err.code === 'GW_REVIEW_PENDING' || err.code === 'GW_REVIEW_DENIED')) return refusal(err.message);
        throw err;
      }
    }

    if (outcome.decision === 'confirm') {
      const declined = await this.#confirm({ connection: this.#name, tool: name, args: leaving, ...(justification === undefined ? {} : { justification }), outcome }, ctx, summary);
      if (declined !== undefined) return declined;
      now = await this.#recheck(summary); // the question may have outlasted the caller's access
      if ('refused' in now) return now.refused;
    }
    if (released !== undefined) { // the wait may have outlasted the caller's access
      now = await this.#recheck(summary);
      if ('refused' in now) {
        await this.#deps.recording.reviews.refund(released, this.#session, 'GW_ACCESS_REVOKED');
        return now.refused;
      }
    }
    const started = performance.now();
    const progress = this.#progress(name, ctx);
    let result: CallToolResult;
    try {
      result = await this.#source.callTool(name, leaving as Record<string, unknown>, { ...ctx, ...progress.relay });
    } catch (err) {
      if (err instanceof McpError) throw await this.checkError(name, err, ctx.requestId);
      if (!(err instanceof GatewayError)) throw err;
      // Nothing reached the upstream: an approval this call used is given back for the retry.
      if (released !== undefined && err.code === 'GW_AGENT_OFFLINE') await this.#deps.recording.reviews.refund(released, this.#session, err.code);
      // The upstream, agent or target failed: a tool error the model can read, recorded.
      await this.#deps.recording.recorder.record(this.#session, 'error', { ...summary, code: err.code, message: err.message });
      return refusal(`${err.message} (${err.code})`);
    }
    await progress.flushed(); // every progress message relayed (or dropped) before the answer
    return this.#checkResult(name, result, ctx.requestId, started);
  }

  /**
   * Asks the human at the client to confirm the call as it would leave; the answer is recorded (a
   * `confirm` event, durable, with the arguments that leave when confirmed) before anything else.
   * Returns the refusal (a tool error naming its code) unless they confirmed.
   */
  async #confirm(subject: Parameters<typeof confirmQuestion>[0], ctx: CallerContext, summary: { tool: string; requestId: string }): Promise<CallToolResult | undefined> {
    const { answer, detail } = ctx.confirm === undefined ? { answer: 'unsupported' as const, detail: undefined } : await ctx.confirm(confirmQuestion(subject), ctx.signal);
    const refused = confirmRefusal(answer, subject, detail);
    await this.#deps.recording.recorder.record(this.#session, 'confirm', {
      ...summary, answer, ...(refused === undefined ? {} : { code: refused.code, message: refused.message }),
    }, refused === undefined ? subject.args as Json : undefined);
    return refused === undefined ? undefined : refusal(`${refused.message} (${refused.code})`);
  }

  /** The upstream's progress for one call, each through checkNotification, relayed in order. */
  #progress(tool: string, ctx: CallContext): { relay: Pick<CallContext, 'onProgress'>; flushed(): Promise<void> } {
    const send = ctx.onProgress;
    if (send === undefined) return { relay: {}, flushed: () => Promise.resolve() };
    let chain = Promise.resolve();
    return {
      relay: {
        onProgress: (p) => {
          chain = chain.then(async () => {
            const checked = await this.checkNotification(`progress:${tool}`, p, { notification: 'progress', tool, requestId: ctx.requestId });
            // A number masked into text is no progress any more: dropped like a refusal.
            if (checked !== undefined && typeof checked.progress === 'number' && (checked.total === undefined || typeof checked.total === 'number')) send(checked);
          }).catch((err: unknown) => this.#deps.logger.error('an upstream progress message was dropped: checking it failed', { connection: this.#name, err }));
        },
      },
      flushed: () => chain,
    };
  }

  /** The authority check of a call: the caller and connection now, or the refusal (recorded; a tool error naming its code). */
  async #recheck(summary: { tool: string; requestId: string }): Promise<ReturnType<Authority> | { refused: CallToolResult }> {
    try {
      return this.#authority();
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      await this.#deps.recording.recorder.record(this.#session, 'error', { ...summary, code: err.code, message: err.message });
      return { refused: refusal(`${err.message} (${err.code})`) };
    }
  }

  /** Inspects and decides on a result (tool result, prompt, resource): masked, or withheld with isError. */
  async #checkResult(tool: string, result: CallToolResult, requestId: string, started: number): Promise<CallToolResult> {
    const payload = { content: result.content, ...(result.structuredContent === undefined ? {} : { structuredContent: result.structuredContent }) };
    const now = await this.#recheck({ tool, requestId }); // access withdrawn during the call: its answer is withheld
    if ('refused' in now) return now.refused;
    const gate = await limitsBefore(this.#deps, now.identity, now.connection, { direction: 'response', tool });
    const { outcome, leaving } = this.#judge(tool, 'response', payload, now, gate?.usage);
    await recordStep(this.#deps.recording.recorder, this.#session, {
      type: 'response', direction: 'response', outcome, maskKey: this.#deps.maskKey, payload, leaving,
      summary: { tool, requestId, isError: result.isError === true, ms: Math.round(performance.now() - started) },
    });
    if (outcome.decision === 'deny' || outcome.decision === 'review') return refusal(reasonText('withheld by policy', outcome, 'The tool ran, but its answer'));
    await limitsAfter(this.#deps, now.identity, now.connection, { direction: 'response', tool }, outcome);
    return { ...result, ...leaving };
  }

  /**
   * Prompts, resources and completions pass through the same inspection as results (as a tool
   * named `prompt:<name>`, `resource:<uri>`, `completion`); so do the caller's answers to the
   * upstream's sampling and elicitation requests, going the other way (`direction: 'request'`).
   */
  async checkPayload<T extends object>(label: string, value: T, requestId: string, direction: 'request' | 'response' = 'response'): Promise<T> {
    const { outcome, leaving } = this.#judge(label, direction, value, this.#authority());
    await recordStep(this.#deps.recording.recorder, this.#session, { type: direction, direction, outcome, maskKey: this.#deps.maskKey, payload: value, leaving, summary: { tool: label, requestId } });
    if (outcome.decision === 'deny' || outcome.decision === 'review') throw new GatewayError('GW_POLICY_DENIED', reasonText('withheld by policy', outcome, `The answer to ${label}`));
    return leaving;
  }

  /**
   * A notification the upstream sends (a progress or log message, a resource update), inspected
   * like a result (as a tool named `label`) and recorded as a `notification` event with
   * `summary`. Returns what may be relayed (masked), or undefined when policy withholds it:
   * then it is dropped, never relayed (a notification has no answer to carry a refusal, and
   * cannot wait for a review).
   */
  async checkNotification<T extends object>(label: string, value: T, summary: JsonObject): Promise<T | undefined> {
    const { outcome, leaving } = this.#judge(label, 'response', value);
    await recordStep(this.#deps.recording.recorder, this.#session, { type: 'notification', direction: 'response', outcome, maskKey: this.#deps.maskKey, payload: value, leaving, summary });
    return outcome.decision === 'allow' || outcome.decision === 'mask' ? leaving : undefined;
  }

  /**
   * A JSON-RPC error the upstream answered: its message and data are its text too, so they are
   * inspected like an answer (as `error:<label>`). Returns the error for the caller: masked, or
   * with airlock's sentence instead when policy withholds it.
   */
  async checkError(label: string, err: McpError, requestId: string): Promise<McpError> {
    const said = { message: err.message.replace(/^MCP error -?\d+: /, ''), ...(err.data === undefined ? {} : { data: err.data }) };
    let shown: typeof said;
    try {
      shown = await this.checkPayload(`error:${label}`, said, requestId);
    } catch (refused) {
      if (!(refused instanceof GatewayError) || refused.code !== 'GW_POLICY_DENIED') throw refused;
      shown = { message: refused.message };
    }
    const out = new McpError(err.code, '', shown.data);
    out.message = String(shown.message); // as the upstream wrote it (McpError would prefix "MCP error <code>: " once more)
    return out;
  }

  /**
   * Inspect + policy on a payload of the upstream's (or an answer going to it): what may leave.
   * recordStep records a withheld payload without hiding characters and redacted.
   */
  #judge<T>(tool: string, direction: 'request' | 'response', value: T, now: ReturnType<Authority> = this.#authority(), usage?: Gate['usage']): { outcome: Outcome; leaving: T } {
    const outcome = decideFor(this.#deps, now.identity, now.connection, { kind: 'mcp', direction, tool, body: value }, hiddenInValue(value), undefined, usage);
    return { outcome, leaving: outcome.decision === 'mask' && outcome.masked !== undefined ? outcome.masked as T : value };
  }
}


function refusal(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `airlock: ${text}` }] };
}
