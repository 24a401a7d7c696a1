// Compiling validated policies once: match filters become predicates, CEL conditions are parsed
// and type-checked against the variables a rule may use, so a typo fails at load, not mid-request.
import { Environment } from '@marcbachmann/cel-js';
import { GatewayError } from '../errors.ts';
import type { SourcedPolicy } from './load.ts';
import type { Action, MaskStrategy, Rule } from './schema.ts';
import type { EvalContext } from './context.ts';
import { compileLimit, type CompiledLimit } from '../limits/compile.ts';
import { unknownUsage } from '../limits/usage-names.ts';

/** The variables a `when` expression sees (see context.ts for their fields). */
const env = new Environment({ unlistedVariablesAreDyn: false })
  .registerVariable('identity', 'map')
  .registerVariable('connection', 'map')
  .registerVariable('request', 'map')
  .registerVariable('findings', 'list')
  // usage.<limit>.used / .remaining / .max: the limits in force (gateway/limits/).
  .registerVariable('usage', 'map')
  .registerVariable('now', 'google.protobuf.Timestamp');

export interface CompiledRule {
  readonly id: string;
  readonly policy: string;
  readonly action: Action;
  readonly reason: string;
  readonly message: string | undefined;
  readonly mask: Readonly<Record<string, MaskStrategy>> | undefined;
  readonly review: Rule['review'];
  /** Cheap filters on the request; false means the rule does not concern it. */
  readonly matches: (ctx: EvalContext) => boolean;
  /** The finding kinds the rule is about (match.findings); undefined = all. Masking applies to these. */
  readonly concerns: ((kind: string) => boolean) | undefined;
  /** The CEL condition, or undefined (always true). Throws on a runtime error. */
  readonly when: ((vars: Record<string, unknown>) => unknown) | undefined;
  readonly whenText: string | undefined;
}

export interface CompiledPolicy {
  readonly rules: readonly CompiledRule[];
  /** Names of the policies, in order. */
  readonly policies: readonly string[];
  /** The limits declared beside the rules (gateway/limits/), names unique across the policies. */
  readonly limits: readonly CompiledLimit[];
}

/**
 * `partial`: the sources are not the whole set in force (one file checked alone), so a rule may
 * read a limit another file declares: `usage.<name>` is not checked against the limits here.
 */
export function compilePolicies(sources: readonly SourcedPolicy[], options: { partial?: boolean } = {}): CompiledPolicy {
  const rules: CompiledRule[] = [];
  const ids = new Map<string, string>();
  const limits: CompiledLimit[] = [];
  const limitNames = new Map<string, string>();
  for (const { policy, file } of sources) {
    for (const [i, limit] of policy.limits.entries()) {
      const previous = limitNames.get(limit.name);
      if (previous) throw new GatewayError('GW_POLICY_INVALID', `${file}: limits.${i} (${limit.name}): limit name "${limit.name}" is already used in ${previous}; names must be unique across the policies in force`);
      limitNames.set(limit.name, file);
      limits.push(compileLimit(limit, policy.name));
    }
  }
  for (const { policy, file, ruleLines, whenLines } of sources) {
    policy.rules.forEach((rule, i) => {
      const where = `${file}${ruleLines[i] ? `:${ruleLines[i]}` : ''}: rules.${i} (${rule.id})`;
      const previous = ids.get(rule.id);
      if (previous) throw new GatewayError('GW_POLICY_INVALID', `${where}: rule id "${rule.id}" is already used in ${previous}; ids must be unique across the policies in force`);
      ids.set(rule.id, file);
      rules.push(compileRule(rule, policy.name, where));
      const unknown = rule.when === undefined || options.partial === true ? undefined : unknownUsage(rule.when, [...limitNames.keys()]);
      if (unknown !== undefined) throw new GatewayError('GW_POLICY_INVALID', `${file}${whenLines[i] ? `:${whenLines[i]}` : ''}: rules.${i}.when (${rule.id}): ${unknown}`);
    });
  }
  return { rules, policies: sources.map((s) => s.policy.name), limits };
}

function compileRule(rule: Rule, policy: string, where: string): CompiledRule {
  let when: CompiledRule['when'];
  if (rule.when !== undefined) {
    let checked;
    try {
      checked = env.check(rule.when);
    } catch (err) {
      throw new GatewayError('GW_POLICY_INVALID', `${where}: when: ${firstLine(err)}`, { cause: err });
    }
    if (!checked.valid) throw new GatewayError('GW_POLICY_INVALID', `${where}: when: ${firstLine(checked.error)}`);
    if (checked.type !== 'bool' && checked.type !== 'dyn') throw new GatewayError('GW_POLICY_INVALID', `${where}: when: the expression is a ${checked.type}, not a bool`);
    when = env.parse(rule.when) as (vars: Record<string, unknown>) => unknown;
  }
  return {
    id: rule.id,
    policy,
    action: rule.action,
    reason: rule.reason,
    message: rule.message,
    mask: rule.mask,
    review: rule.review,
    matches: matcher(rule.match),
    concerns: rule.match.findings ? ((res) => (kind: string) => res.some((re) => re.test(kind)))(rule.match.findings.map(globToRegExp)) : undefined,
    when,
    whenText: rule.when,
  };
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}

/** `*` matches any run of characters; everything else literally. */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*') + '$');
}

function anyOf(patterns: readonly string[] | undefined): ((value: string | undefined) => boolean) | undefined {
  if (!patterns) return undefined;
  const res = patterns.map(globToRegExp);
  return (value) => value !== undefined && res.some((re) => re.test(value));
}

function matcher(m: Rule['match']): (ctx: EvalContext) => boolean {
  const checks: Array<(ctx: EvalContext) => boolean> = [];
  const connection = anyOf(m.connections);
  if (connection) checks.push((c) => connection(c.connection?.name));
  if (m.kinds) { const kinds = new Set<string>(m.kinds); checks.push((c) => kinds.has(c.request.kind)); }
  if (m.directions) { const dirs = new Set<string>(m.directions); checks.push((c) => dirs.has(c.request.direction)); }
  const tool = anyOf(m.tools);
  if (tool) checks.push((c) => tool(c.request.tool));
  if (m.methods) { const methods = new Set(m.methods.map((x) => x.toUpperCase())); checks.push((c) => c.request.method !== undefined && methods.has(c.request.method.toUpperCase())); }
  const path = anyOf(m.paths);
  if (path) checks.push((c) => path(c.request.path));
  if (m.groups) { const groups = m.groups; checks.push((c) => c.identity !== null && c.identity.groups.some((g) => groups.includes(g))); }
  const finding = anyOf(m.findings);
  if (finding) checks.push((c) => c.findings.some((f) => finding(f.kind)));
  return (ctx) => checks.every((check) => check(ctx));
}
