// The decision of the shipped `default` policy pack for a list of findings, through the real
// policy engine: inspector tests judge their case tables by what the gateway would do.
import type { Finding } from '../../gateway/inspect/types.ts';
import { evaluate } from '../../gateway/policy/engine.ts';
import { loadPolicies } from '../../gateway/policy/load.ts';
import type { Action, RequestKind } from '../../gateway/policy/schema.ts';

const pack = loadPolicies({ packs: ['default'] });

export function defaultDecision(findings: readonly Finding[], kind: RequestKind = 'sql'): Action {
  return evaluate(pack, { identity: null, connection: null, request: { kind, direction: 'request' }, findings, now: Date.now() }).decision;
}
