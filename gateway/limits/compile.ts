// A validated limit made ready for the hot path: its match filters as one predicate, its key as a
// function of the request, its cost and (egress) which findings it counts.
import { globToRegExp } from '../policy/compile.ts';
import type { Limit, LimitKey } from './schema.ts';

/** What a limit sees of a request: who, through which connection, which route or tool. */
export interface LimitSubject {
  readonly identity: { readonly sub: string; readonly groups: readonly string[]; readonly via: string; readonly tokenId: string | null };
  readonly connection: string;
  readonly direction: 'request' | 'response';
  readonly method?: string;
  readonly path?: string;
  readonly tool?: string;
}

export interface CompiledLimit {
  readonly name: string;
  readonly policy: string;
  readonly spec: Limit;
  readonly matches: (s: LimitSubject) => boolean;
  /** The counter's key: the limit and the values of its `key` fields (never a secret: an API key by its public id). */
  readonly keyOf: (s: LimitSubject) => string;
  readonly costOf: (s: LimitSubject) => number;
  /** egress: whether a finding kind counts. */
  readonly counts: (kind: string) => boolean;
  /** Units a replica reserves from the store at a time. */
  readonly block: number;
  /**
   * rate: the window counter in the store that all replicas share (DESIGN.md): `max` requests per
   * `windowMs` (the window holds one burst: burst / rate seconds, at least one second).
   */
  readonly shared?: { readonly windowMs: number; readonly max: number };
}

type Match = Limit['match'];

function anyOf(patterns: readonly string[] | undefined): ((v: string | undefined) => boolean) | undefined {
  if (!patterns) return undefined;
  const res = patterns.map(globToRegExp);
  return (v) => v !== undefined && res.some((re) => re.test(v));
}

export function matcherOf(m: Match): (s: LimitSubject) => boolean {
  const checks: Array<(s: LimitSubject) => boolean> = [];
  const connection = anyOf(m.connections);
  if (connection) checks.push((s) => connection(s.connection));
  const tool = anyOf(m.tools);
  if (tool) checks.push((s) => tool(s.tool));
  if (m.methods) { const methods = new Set(m.methods.map((x) => x.toUpperCase())); checks.push((s) => s.method !== undefined && methods.has(s.method.toUpperCase())); }
  const path = anyOf(m.paths);
  if (path) checks.push((s) => path(s.path));
  if (m.groups) { const groups = m.groups; checks.push((s) => s.identity.groups.some((g) => groups.includes(g))); }
  return (s) => checks.every((check) => check(s));
}

export function compileLimit(limit: Limit, policy: string): CompiledLimit {
  const groups = limit.match.groups;
  const part: Record<LimitKey, (s: LimitSubject) => string> = {
    identity: (s) => s.identity.sub,
    // The group the limit is about (its match.groups), else all of the caller's groups.
    group: (s) => (groups ? s.identity.groups.filter((g) => groups.includes(g)).sort()[0] : undefined) ?? [...s.identity.groups].sort().join(','),
    apiKey: (s) => (s.identity.via === 'apikey' ? s.identity.tokenId ?? s.identity.sub : '-'),
    connection: (s) => s.connection,
    route: (s) => `${s.method ?? ''} ${s.path ?? ''}`,
    tool: (s) => s.tool ?? '-',
  };
  const fields = [...new Set(limit.key)];
  const costs = (limit.costs ?? []).map((c) => ({ matches: matcherOf(c.match), cost: c.cost }));
  const kinds = limit.findings.map(globToRegExp);
  const shared = limit.kind === 'rate' ? sharedRate(limit.rate!, limit.burst ?? Math.max(1, Math.ceil(limit.rate!))) : undefined;
  const max = shared?.max ?? limit.max ?? 20;
  return {
    name: limit.name,
    policy,
    spec: limit,
    matches: matcherOf(limit.match),
    keyOf: (s) => JSON.stringify([limit.name, ...fields.map((f) => [f, part[f](s)])]),
    costOf: (s) => costs.find((c) => c.matches(s))?.cost ?? limit.cost,
    counts: (kind) => kinds.some((re) => re.test(kind)),
    block: limit.block ?? Math.min(100, Math.max(1, Math.floor(max / 20))),
    ...(shared === undefined ? {} : { shared }),
  };
}

/**
 * A rate's window in the store: long enough to hold one burst (burst / rate seconds, at least one,
 * whole seconds), allowing rate × window requests in it (rounded up).
 */
export function sharedRate(rate: number, burst: number): { windowMs: number; max: number } {
  const seconds = Math.max(1, Math.ceil(burst / rate));
  return { windowMs: seconds * 1000, max: Math.max(1, Math.ceil(rate * seconds - 1e-9)) };
}
