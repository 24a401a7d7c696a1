// Turning a request into a verified identity, or a 401/403/503 that tells an OAuth client how to
// get a token (RFC 6750 WWW-Authenticate with RFC 9728 resource_metadata).
//
//   token in the URL → refused │ Authorization: Bearer <credential> │ alk_… → API key (store)
//   │ otherwise → JWT verifier (after discovery) │ required scopes → 403 insufficient_scope
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/schema.ts';
import { GatewayError, type GatewayErrorCode } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { apiKeyCacheOf, looksLikeApiKey, verifyApiKey } from './apikeys.ts';
import { notePrincipal } from './principals.ts';
import type { Identity } from './identity.ts';
import type { Introspector } from './introspection.ts';
import type { JwtVerifier } from './jwt.ts';

/** Query parameters that carry tokens in RFC 6750 §2.3 and elsewhere: refused, never read. */
const TOKEN_PARAMS = ['access_token', 'token', 'id_token', 'api_key', 'apikey'];
const BEARER = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i;

export interface Authenticator {
  /** The identity behind the request; throws a GatewayError carrying WWW-Authenticate. */
  authenticate(req: IncomingMessage, url: URL): Promise<Identity>;
}

export interface AuthenticatorDeps {
  readonly config: Config;
  readonly store: Store;
  /** The JWT verifier once the issuer is discovered, else undefined. */
  readonly verifier: () => JwtVerifier | undefined;
  /** The introspector for opaque tokens when auth.introspection.enabled and discovered. */
  readonly introspector?: () => Introspector | undefined;
  /** Scopes every access token must carry (auth.requiredScopes). */
  readonly requiredScopes?: readonly string[];
  /** URL of the protected resource metadata for a request path (RFC 9728). */
  readonly resourceMetadataUrl: (path: string) => string;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const required = deps.requiredScopes ?? [];
  return {
    async authenticate(req, url) {
      const metadata = deps.resourceMetadataUrl(url.pathname);
      try {
        const param = TOKEN_PARAMS.find((p) => url.searchParams.has(p));
        if (param) throw new GatewayError('GW_AUTH_MALFORMED', `A credential in the URL ("${param}" parameter) is refused: URLs end up in logs and histories. Send it in the Authorization header instead.`);
        const header = req.headers.authorization;
        if (header === undefined || header === '') {
          throw new GatewayError('GW_AUTH_REQUIRED', 'Authentication required: send `Authorization: Bearer <token>` (get a token with `airlock login`, then `airlock token`).');
        }
        const m = BEARER.exec(header);
        if (!m) throw new GatewayError('GW_AUTH_MALFORMED', 'The Authorization header must be `Bearer <token>` with one token.');
        const credential = m[1]!;
        let identity: Identity;
        if (looksLikeApiKey(credential)) {
          identity = await verifyApiKey(credential, deps.store, Date.now(), apiKeyCacheOf(deps.store), deps.config.auth.roles);
        } else {
          const verifier = deps.verifier();
          if (!verifier) {
            throw new GatewayError('GW_IDP_UNAVAILABLE', deps.config.auth.issuer === undefined
              ? 'No identity provider is configured (auth.issuer), so no token can be verified; use an API key or configure one.'
              : `The identity provider ${deps.config.auth.issuer} has not been discovered yet; retry shortly.`);
          }
          const introspector = deps.introspector?.();
          identity = introspector && !looksLikeJwt(credential) ? await introspector.verify(credential) : await verifier.verify(credential);
        }
        const missing = identity.via === 'oidc' ? required.filter((s) => !identity.scopes.includes(s)) : [];
        if (missing.length > 0) {
          throw new GatewayError('GW_INSUFFICIENT_SCOPE', `The access token lacks the scope ${missing.join(' ')}; log in again asking for it.`, { detail: { missing } });
        }
        // What a person holds now is what their API keys may hold (./principals.ts).
        await notePrincipal(deps.store, identity);
        return identity;
      } catch (err) {
        if (err instanceof GatewayError) throw withChallenge(err, metadata, required);
        throw err;
      }
    },
  };
}

/** A JWS or JWE in compact form (dots between parts); anything else is an opaque token. */
function looksLikeJwt(token: string): boolean {
  return token.includes('.');
}

/** RFC 6750 §3 error codes for our 401/403 codes; GW_AUTH_REQUIRED carries none (§3.1). */
const BEARER_ERROR: Partial<Record<GatewayErrorCode, string>> = {
  GW_AUTH_MALFORMED: 'invalid_request',
  GW_TOKEN_INVALID: 'invalid_token',
  GW_TOKEN_EXPIRED: 'invalid_token',
  GW_TOKEN_TOO_LARGE: 'invalid_token',
  GW_API_KEY_INVALID: 'invalid_token',
  GW_INSUFFICIENT_SCOPE: 'insufficient_scope',
};

function withChallenge(err: GatewayError, metadata: string, required: readonly string[]): GatewayError {
  if (err.status !== 401 && err.status !== 403) return err;
  if (err.code === 'GW_FORBIDDEN') return err;
  const params = [`resource_metadata="${metadata}"`];
  const code = BEARER_ERROR[err.code];
  if (code) params.push(`error="${code}"`, `error_description="${quoted(err.message)}"`);
  if (code === 'insufficient_scope') params.push(`scope="${required.join(' ')}"`);
  return new GatewayError(err.code, err.message, { cause: err.cause, detail: err.detail, headers: { ...err.headers, 'www-authenticate': `Bearer ${params.join(', ')}` } });
}

/** error_description allows %x20-21 / %x23-5B / %x5D-7E (RFC 6750 §3): drop what is outside. */
function quoted(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** Throws GW_FORBIDDEN unless the identity holds one of `roles`. */
export function requireRole(identity: Identity, ...roles: Identity['roles'][number][]): void {
  if (!roles.some((r) => identity.roles.includes(r))) {
    throw new GatewayError('GW_FORBIDDEN', `This needs the ${roles.join(' or ')} role; ${identity.sub} has ${identity.roles.length ? identity.roles.join(', ') : 'no role'}. Ask an admin to map one of your groups to it (auth.roles).`);
  }
}
