// Who is using how much of the limits declared in policy (gateway/limits/), for admins and
// auditors: every counter of a window not yet ended, most used first, with the limit's bound as
// the policies in force declare it and whether the key is near (≥ 80 %) or over it.
//
//   GET /api/v1/usage?connection=&user=&since=&limit=
//
// `used` is what the store holds: units spent plus those replicas reserved and have not spent yet
// (at most block-1 per replica), and for egress every value that left (it may pass max).
import type { Authenticator } from '../authn/authenticate.ts';
import type { Config } from '../config/schema.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { policyFor } from '../guard/decide.ts';
import { sendJson } from '../http/respond.ts';
import { dateParam, intParam } from './wire.ts';
import type { Router } from '../http/router.ts';
import type { PolicyManager } from '../policy/manager.ts';
import type { Store } from '../store/index.ts';

export const USAGE_PATH = '/api/v1/usage';
/** Share of a bound from which a key is reported as near it. */
const NEAR = 0.8;

export interface UsageDeps {
  readonly config: Config;
  readonly policies: PolicyManager;
  readonly connections: ConnectionRegistry;
  readonly store: Store;
  readonly authenticator: Authenticator;
}

export function usageRoutes(router: Router, deps: UsageDeps): void {
  router.add(USAGE_PATH, {
    GET: async (req, res, ctx) => {
      const identity = await deps.authenticator.authenticate(req, ctx.url);
      if (!identity.roles.includes('auditor') && !identity.roles.includes('admin')) {
        throw new GatewayError('GW_FORBIDDEN', 'Only auditors and admins see the usage of limits.');
      }
      const q = ctx.url.searchParams;
      const after = dateParam(q.get('since'), 'since');
      const limit = intParam(q.get('limit'), 100, 1000, 'limit');
      const connection = q.get('connection') ?? undefined;
      const user = q.get('user') ?? undefined;

      const bounds = limitBounds(deps);
      const rows = await deps.store.counters.list({ ...(after === undefined ? {} : { after }), limit: 10_000 });
      const usage = [];
      for (const row of rows) {
        const parsed = parseKey(row.key);
        if (parsed === undefined) continue;
        if (connection !== undefined && parsed.key.connection !== connection) continue;
        if (user !== undefined && parsed.key.identity !== user) continue;
        const max = bounds.get(parsed.limit);
        const state = max === undefined ? 'unknown' : row.used >= max ? 'over' : row.used >= NEAR * max ? 'near' : 'ok';
        usage.push({ limit: parsed.limit, key: parsed.key, used: row.used, max: max ?? null, remaining: max === undefined ? null : Math.max(0, max - row.used), state, windowEnds: new Date(row.expiresAt).toISOString() });
        if (usage.length >= limit) break;
      }
      sendJson(res, 200, { usage });
    },
  });
}

/** Each window limit's bound by name, from the policies in force on any connection (a set that does not load is skipped). */
function limitBounds(deps: UsageDeps): Map<string, number> {
  const out = new Map<string, number>();
  for (const connection of deps.connections.list()) {
    try {
      for (const limit of policyFor(deps, connection).limits) if (limit.spec.max !== undefined) out.set(limit.name, limit.spec.max);
    } catch { /* an invalid policy set refuses its requests; its counters show without a bound */ }
  }
  return out;
}

/** A counter key (gateway/limits/compile.ts keyOf, then `@<window end>`) as its limit and key fields. */
function parseKey(key: string): { limit: string; key: Record<string, string> } | undefined {
  const at = key.lastIndexOf('@');
  try {
    const parts = JSON.parse(key.slice(0, at)) as unknown;
    if (!Array.isArray(parts) || typeof parts[0] !== 'string') return undefined;
    const fields: Record<string, string> = {};
    for (const p of parts.slice(1)) if (Array.isArray(p) && typeof p[0] === 'string') fields[p[0]] = String(p[1]);
    return { limit: parts[0], key: fields };
  } catch {
    return undefined;
  }
}
