// Opaque access tokens, verified by asking the provider (RFC 7662 introspection, openid-client)
// when auth.introspection.enabled. The answer must say active, name our audience and carry a
// future exp; positive answers are cached by the token's SHA-256 for auth.introspection.cacheTtl
// (never past exp), so a busy client costs one round trip per TTL, not one per request.
import { hash } from 'node:crypto';
import * as oidc from 'openid-client';
import { Lru } from '../../lib/lru.ts';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { rolesFor, type Identity } from './identity.ts';
import { groupsFrom } from './jwt.ts';

/** Introspection answers remembered at most. */
const CACHE_SIZE = 10_000;

export interface Introspector {
  verify(token: string): Promise<Identity>;
  /** Round trips made to the provider (metrics, tests). */
  readonly calls: number;
}

export interface IntrospectorOptions {
  readonly configuration: oidc.Configuration;
  readonly audience: string;
  readonly auth: Config['auth'];
  readonly now?: () => number;
}

export function createIntrospector(options: IntrospectorOptions): Introspector {
  const { auth, audience } = options;
  const now = options.now ?? Date.now;
  const cache = new Lru<string, { identity: Identity; until: number }>({ maxEntries: CACHE_SIZE });
  let calls = 0;
  return {
    get calls() { return calls; },
    async verify(token) {
      const digest = hash('sha256', token, 'base64url');
      const hit = cache.get(digest);
      if (hit && now() < hit.until) return hit.identity;
      calls++;
      let answer: oidc.IntrospectionResponse;
      try {
        answer = await oidc.tokenIntrospection(options.configuration, token);
      } catch (err) {
        throw new GatewayError('GW_IDP_UNAVAILABLE', 'The identity provider did not answer the token introspection; retry shortly.', { cause: err });
      }
      if (answer.active !== true) throw invalid('the identity provider says it is not active (revoked, expired or unknown)');
      const exp = typeof answer.exp === 'number' ? answer.exp * 1000 : undefined;
      if (exp === undefined) throw invalid('the introspection answer has no expiry (exp)');
      if (exp + auth.clockSkew * 1000 <= now()) throw new GatewayError('GW_TOKEN_EXPIRED', 'The access token has expired; run `airlock login` again (or refresh it).');
      const aud = answer.aud === undefined ? [] : Array.isArray(answer.aud) ? answer.aud : [answer.aud];
      if (!aud.includes(audience)) throw invalid('it is not meant for this gateway (aud)');
      if (answer.token_type !== undefined && !/^(access_token|bearer|dpop)$/i.test(String(answer.token_type))) {
        throw invalid(`it is a ${String(answer.token_type)}, not an access token`);
      }
      const sub = typeof answer.sub === 'string' && answer.sub !== '' ? answer.sub
        : typeof answer.client_id === 'string' ? `client:${answer.client_id}` : undefined;
      if (sub === undefined) throw invalid('the introspection answer names neither a subject nor a client');
      const groups = groupsFrom(answer as Record<string, unknown>, auth.groupsClaim);
      const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
      const identity: Identity = {
        sub,
        email: str(answer.email),
        name: str(answer.name) ?? str(answer.username),
        groups,
        roles: rolesFor(groups, auth.roles),
        via: 'oidc',
        tokenId: str(answer.jti),
        expiresAt: exp,
        scopes: typeof answer.scope === 'string' ? answer.scope.split(' ').filter(Boolean) : [],
        connections: null,
      };
      cache.set(digest, { identity, until: Math.min(now() + auth.introspection.cacheTtl * 1000, exp) });
      return identity;
    },
  };
}

function invalid(reason: string): GatewayError {
  return new GatewayError('GW_TOKEN_INVALID', `The access token is not valid: ${reason}.`);
}
