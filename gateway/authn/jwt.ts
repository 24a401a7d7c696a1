// Verifying OIDC access tokens (JWTs) strictly, with jose against the issuer's JWKS.
//
//   size ≤ 16 KB → three base64url parts (no JWE, no stripped signature) → header: alg in the
//   allowlist, no jku/x5u/jwk/x5c (never fetched, never trusted) → signature against the JWKS
//   (unknown kid: one refetch per cooldown; stale cache: refetch, fail closed if the IdP is down)
//   → iss exact, aud contains ours, exp required, nbf/iat with skew, typ at+jwt when required
//   → not an ID token → identity.
import { hash } from 'node:crypto';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type FetchImplementation, type JWTPayload } from 'jose';
import { Lru } from '../../lib/lru.ts';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { rolesFor, type Identity } from './identity.ts';

/** Largest token read, in bytes: far above any real access token, far below a memory problem. */
export const MAX_TOKEN_BYTES = 16 * 1024;

/** Header parameters that point at keys elsewhere or embed one: never honoured, so refused. */
const KEY_POINTERS = ['jku', 'x5u', 'jwk', 'x5c'];

/** Claims that only ID tokens carry (OIDC Core §2, §3.1.3.6). */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash'];

const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;

/**
 * Verified tokens are remembered by their SHA-256 so a client repeating its token skips the
 * signature check: at most this many, each for at most VERIFIED_TTL_MS, never past its `exp`,
 * and only while the key set they were checked against is the one held and still fresh (a
 * refetch, or keys past auth.jwks.maxAge, sends every token through full verification again).
 */
const VERIFIED_CACHE_SIZE = 10_000;
const VERIFIED_TTL_MS = 60_000;

export interface JwtVerifierOptions {
  readonly issuer: string;
  readonly jwksUri: URL;
  readonly audience: string;
  readonly auth: Config['auth'];
  /** Fetch used for the JWKS (counted in metrics; injectable for tests). Default global fetch. */
  readonly fetch?: FetchImplementation;
  /** Clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
}

export interface JwtVerifier {
  /** Verifies `token` and returns the identity it proves, or throws a GatewayError (401/503). */
  verify(token: string): Promise<Identity>;
  /** How many times the JWKS was fetched (for metrics and tests). */
  readonly jwksFetches: number;
}

export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const { auth } = options;
  let fetches = 0;
  const baseFetch: FetchImplementation = options.fetch ?? ((url, init) => fetch(url, init));
  const jwks = createRemoteJWKSet(options.jwksUri, {
    cooldownDuration: auth.jwks.cooldown * 1000,
    cacheMaxAge: auth.jwks.maxAge * 1000,
    timeoutDuration: 5000,
    [customFetch]: (url, init) => {
      fetches++;
      return baseFetch(url, init);
    },
  });
  const algorithms = [...auth.algorithms];
  const now = options.now ?? Date.now;
  const verified = new Lru<string, { identity: Identity; until: number; keySet: number }>({ maxEntries: VERIFIED_CACHE_SIZE });

  return {
    get jwksFetches() { return fetches; },
    async verify(token) {
      if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) {
        throw new GatewayError('GW_TOKEN_TOO_LARGE', `The access token is larger than ${MAX_TOKEN_BYTES} bytes; the gateway does not read it.`);
      }
      const digest = hash('sha256', token, 'base64url');
      const hit = verified.get(digest);
      if (hit && now() < hit.until && hit.keySet === fetches && jwks.fresh) return hit.identity;
      if (hit) verified.delete(digest);
      const identity = await verifyFully(token);
      // exp is checked with the clock skew, so a token may be accepted slightly past it; the cache never extends that.
      verified.set(digest, { identity, until: Math.min(now() + VERIFIED_TTL_MS, identity.expiresAt ?? 0), keySet: fetches });
      return identity;
    },
  };

  async function verifyFully(token: string): Promise<Identity> {
    const parts = token.split('.');
    if (parts.length !== 3) {
      throw invalid(parts.length === 5 ? 'an encrypted token (JWE) is not accepted; send a signed access token' : 'the token is not a signed JWT (header.payload.signature)');
    }
    if (!parts.every((p) => BASE64URL_PART.test(p))) throw invalid('the token is not a signed JWT: a part is empty or not base64url (a stripped signature?)');
    const header = decodePart(parts[0]!);
    const pointer = KEY_POINTERS.find((k) => k in header);
    if (pointer) throw invalid(`the token header carries "${pointer}"; keys come only from the issuer's JWKS`);
    if (typeof header.alg !== 'string' || !algorithms.includes(header.alg as never)) {
      throw invalid(`algorithm ${JSON.stringify(header.alg)} is not accepted (allowed: ${algorithms.join(', ')})`);
    }

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance: auth.clockSkew,
        requiredClaims: ['exp', 'sub'],
        ...(auth.requireAtJwt ? { typ: 'at+jwt' } : {}),
      }));
    } catch (err) {
      throw mapJoseError(err, options.issuer);
    }
    const idClaim = ID_TOKEN_CLAIMS.find((c) => c in payload);
    if (idClaim || payload.token_use === 'id' || /^id[_+]/i.test(String(header.typ ?? ''))) {
      throw invalid(`this is an ID token${idClaim ? ` (it carries "${idClaim}")` : ''}, not an access token; send the access token`);
    }
    return identityFrom(payload, auth);
  }
}

function decodePart(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw invalid('the token header is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid('the token header is not a JSON object');
  return value as Record<string, unknown>;
}

function invalid(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_TOKEN_INVALID', `The access token is not valid: ${reason}.`, cause === undefined ? {} : { cause });
}

function mapJoseError(err: unknown, issuer: string): GatewayError {
  if (err instanceof errors.JWTExpired) {
    return new GatewayError('GW_TOKEN_EXPIRED', 'The access token has expired; run `airlock login` again (or refresh it).', { cause: err });
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = {
      iss: `it was not issued by ${issuer}`,
      aud: 'it is not meant for this gateway (aud)',
      nbf: 'it is not valid yet (nbf)',
      iat: 'its issue time (iat) is not acceptable',
      exp: 'it has no expiry (exp)',
      sub: 'it names no subject (sub)',
      typ: 'it is not an RFC 9068 access token (typ must be at+jwt)',
    };
    return invalid(reasons[err.claim] ?? `claim "${err.claim}" failed: ${err.reason}`, err);
  }
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('it was signed with a key the issuer does not publish', err);
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('the signature does not verify', err);
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('its algorithm is not accepted', err);
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC') || err instanceof TypeError) {
    return new GatewayError('GW_IDP_UNAVAILABLE', 'The identity provider\'s signing keys cannot be fetched, and those held are too old to trust; retry shortly.', { cause: err });
  }
  if (err instanceof errors.JOSEError) return invalid(err.message, err);
  return new GatewayError('GW_IDP_UNAVAILABLE', 'The identity provider\'s signing keys cannot be fetched; retry shortly.', { cause: err });
}

/** Groups from the configured claim: an exact claim name first (`https://x/groups`), else a dotted path (`realm_access.roles`). */
export function groupsFrom(payload: Record<string, unknown>, claim: string): string[] {
  let value: unknown = payload[claim];
  if (value === undefined && claim.includes('.')) {
    value = claim.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' && !Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined), payload);
  }
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string' && g.length > 0);
  return [];
}

function identityFrom(payload: JWTPayload, auth: Config['auth']): Identity {
  const groups = groupsFrom(payload, auth.groupsClaim);
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  return {
    sub: payload.sub!,
    email: str(payload.email),
    name: str(payload.name) ?? str(payload.preferred_username),
    groups,
    roles: rolesFor(groups, auth.roles),
    via: 'oidc',
    tokenId: str(payload.jti),
    expiresAt: payload.exp! * 1000,
    scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : Array.isArray(payload.scp) ? payload.scp.filter((s): s is string => typeof s === 'string') : [],
    connections: null,
  };
}
