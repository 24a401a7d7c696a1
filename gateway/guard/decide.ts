// The policy decision for one message of a data path: the connection's policies (the gateway's
// baseline first) over what the inspectors found, with the caller as CEL sees it.
import type { Identity } from '../authn/identity.ts';
import type { Config } from '../config/schema.ts';
import type { Connection } from '../connections/registry.ts';
import type { Finding } from '../inspect/types.ts';
import type { PolicyRequest } from '../policy/context.ts';
import { decide, type Outcome } from '../policy/decide.ts';
import type { PolicyManager, PolicySelection } from '../policy/manager.ts';
import type { Recording } from './record.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import type { Limiter, Usage } from '../limits/limiter.ts';
import { inspectRequest } from '../inspect/index.ts';
import { noteDecision, stage } from '../telemetry/context.ts';

/** What the guard needs from the gateway: configuration, policies, the masking key and the recording. */
export interface GuardDeps {
  readonly config: Config;
  readonly policies: PolicyManager;
  /** Key of the `hash` masking strategy. */
  readonly maskKey: Uint8Array;
  /** The recorder, the HTTP sessions and the reviews: every message is recorded (fail closed) and reviews are held. */
  readonly recording: Recording;
  /** The limits declared in policy, counted through the store (gateway/limits/). Absent: limits are not applied. */
  readonly limiter?: Limiter;
}

/**
 * The policy selection of a connection, worked out once per connection definition (the registry
 * replaces the object when the definition changes; the gateway's own packs are fixed at start):
 * the guard asks for it several times per request (limits before, the decision, limits after).
 */
const selections = new WeakMap<Connection, PolicySelection>();

/** The connection's compiled policy set: the gateway's packs and files first, then its own. */
export function policyFor(deps: Pick<GuardDeps, 'config' | 'policies'>, connection: Connection): CompiledPolicy {
  let selection = selections.get(connection);
  if (selection === undefined) {
    selection = {
      packs: [...new Set([...deps.config.policy.packs, ...connection.policy.packs])],
      files: [...new Set([...deps.config.policy.files, ...connection.policy.files])],
    };
    selections.set(connection, selection);
  }
  return deps.policies.get(selection);
}

/** The synthetic rule that refuses a `confirm` decision where nobody can be asked (see confirmable). */
export const CONFIRM_UNAVAILABLE = '(confirm-unavailable)';

/**
 * The connection's policies (the gateway's baseline first) applied to one request or answer, with
 * the caller as CEL sees it; `usage`: the limits' usage (`usage.<limit>` in CEL).
 * `confirmable`: the data path can ask the human at the client to confirm this message before it
 * leaves (only an MCP tools/call: MCP elicitation). Default false: a `confirm` decision is then a
 * deny (fail closed: HTTP, WebSocket, answers and notifications have nobody to ask).
 */
export function decideFor(deps: Pick<GuardDeps, 'config' | 'policies' | 'maskKey'>, identity: Identity, connection: Connection, request: PolicyRequest, extraFindings: readonly Finding[] = [], inspected?: readonly Finding[], usage?: Readonly<Record<string, Usage>>, confirmable = false): Outcome {
  const outcome = decideOnly(deps, identity, connection, request, extraFindings, inspected, usage);
  return outcome.decision === 'confirm' && !confirmable ? unconfirmable(outcome, request) : outcome;
}

/** A confirm decision where nobody can confirm: a deny under the synthetic rule, the confirm rules still listed. */
function unconfirmable(outcome: Outcome, request: PolicyRequest): Outcome {
  const { mask: _unused, ...rest } = outcome;
  const message = `A rule asks the human at the MCP client to confirm this ${request.direction}; only a tool call made through /mcp can be confirmed (MCP elicitation), so it was refused.`;
  return { ...rest, decision: 'deny', reasons: [{ rule: CONFIRM_UNAVAILABLE, policy: '(built-in)', action: 'deny', reason: 'confirm.unavailable', message }, ...outcome.reasons] };
}

function decideOnly(deps: Pick<GuardDeps, 'config' | 'policies' | 'maskKey'>, identity: Identity, connection: Connection, request: PolicyRequest, extraFindings: readonly Finding[], inspected: readonly Finding[] | undefined, usage: Readonly<Record<string, Usage>> | undefined): Outcome {
  const policy = policyFor(deps, connection);
  const found = inspected ?? inspectFor(request);
  const since = performance.now();
  const outcome = decide(policy, {
    identity: { sub: identity.sub, email: identity.email, name: identity.name, groups: identity.groups, roles: identity.roles, via: identity.via },
    connection: { name: connection.name, kind: connection.kind, tags: connection.tags },
    request,
    now: Date.now(),
    ...(usage === undefined ? {} : { usage }),
  }, { defaultAction: connection.policy.defaultAction, maskKey: deps.maskKey }, extraFindings, found);
  stage('policy', since);
  noteDecision(connection.name, outcome.decision);
  return outcome;
}

/**
 * The inspectors over a policy request: its findings, timed as the `inspect` stage from `since`
 * (performance.now(), ms; default now: a data path that read and normalised the message first
 * passes when it began).
 */
export function inspectFor(request: PolicyRequest, since = performance.now()): Finding[] {
  const findings = inspectRequest(request);
  stage('inspect', since);
  return findings;
}
