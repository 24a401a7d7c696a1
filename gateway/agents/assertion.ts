// Verifying the token an agent presents on every tunnel connect: a JWT it signed itself with the
// Ed25519 key it enrolled.
//
//   ≤ 8 KiB, three base64url parts → header: alg EdDSA, typ agent+jwt, no jku/x5u/jwk/x5c →
//   iss names an enrolled agent (unknown or pending: GW_AGENT_NOT_ENROLLED) → signature against
//   that agent's key → iss = sub = name, aud = the gateway's public URL, exp/iat/jti required,
//   exp at most 60 s after iat and after now (+ skew), iat not in the future → revoked:
//   GW_AGENT_REVOKED (said only to a key holder) → jti never seen before → version claim.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { GatewayError } from '../errors.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { AGENT_VERSION_TEXT } from './enrollment.ts';
import type { ReplayCache } from './replay.ts';
import { AGENT_NAME } from './token.ts';

/** The JWT `typ` of an agent connect token (explicit typing, RFC 8725 §3.11). */
export const AGENT_TOKEN_TYPE = 'agent+jwt';
/** Longest lifetime of a connect token, in seconds (exp − iat, and exp − now before skew). */
export const MAX_AGENT_TOKEN_LIFETIME_S = 60;
/** Largest connect token read, in bytes. */
const MAX_AGENT_TOKEN_BYTES = 8 * 1024;
const KEY_POINTERS = ['jku', 'x5u', 'jwk', 'x5c'];
const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;
const JTI = /^[A-Za-z0-9_-]{16,128}$/;

export interface VerifiedAgent {
  readonly agent: AgentRecord;
  /** The `version` claim: the airlock-agent version, or null when absent. */
  readonly version: string | null;
  readonly jti: string;
}

export interface AgentTokenVerifierOptions {
  readonly store: Store;
  /** The `aud` every connect token must carry: the gateway's public URL. */
  readonly audience: string;
  /** Clock skew tolerated, in seconds (auth.clockSkew). */
  readonly clockSkewSeconds: number;
  readonly replay: ReplayCache;
  /** Clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
}

export interface AgentTokenVerifier {
  /** The agent the token proves, or a GatewayError (401 / 403 / 429). */
  verify(token: string): Promise<VerifiedAgent>;
}

export function createAgentTokenVerifier(options: AgentTokenVerifierOptions): AgentTokenVerifier {
  const now = options.now ?? Date.now;
  const skew = options.clockSkewSeconds;
  return {
    async verify(token) {
      if (Buffer.byteLength(token) > MAX_AGENT_TOKEN_BYTES) throw invalid(`it is larger than ${MAX_AGENT_TOKEN_BYTES} bytes`);
      const parts = token.split('.');
      if (parts.length !== 3 || !parts.every((p) => BASE64URL_PART.test(p))) throw invalid('it is not a signed JWT (header.payload.signature)');
      let header: Record<string, unknown>;
      let claims: JWTPayload;
      try {
        header = decodeProtectedHeader(token) as Record<string, unknown>;
        claims = decodeJwt(token);
      } catch (err) {
        throw invalid('its header or payload is not JSON', err);
      }
      const pointer = KEY_POINTERS.find((k) => k in header);
      if (pointer !== undefined) throw invalid(`its header carries "${pointer}"; the key is the one the agent enrolled`);
      if (header.alg !== 'EdDSA') throw invalid(`algorithm ${JSON.stringify(header.alg)} is not accepted (EdDSA only)`);
      if (header.typ !== AGENT_TOKEN_TYPE) throw invalid(`its type (typ) is not ${AGENT_TOKEN_TYPE}`);
      const name = claims.iss;
      if (typeof name !== 'string' || !AGENT_NAME.test(name)) throw invalid('its issuer (iss) is not an agent name');

      const agent = await options.store.agents.get(name);
      if (agent === null || agent.publicKey === null || agent.status === 'pending') {
        throw new GatewayError('GW_AGENT_NOT_ENROLLED', `Agent ${name} is not enrolled at this gateway (unknown, or added and not yet enrolled); enroll it with a token from airlock agents add ${name}.`);
      }
      let key: KeyObject;
      try {
        key = createPublicKey({ key: JSON.parse(agent.publicKey) as Record<string, string>, format: 'jwk' });
      } catch (err) {
        throw new GatewayError('GW_INTERNAL', `The stored public key of agent ${name} cannot be read.`, { cause: err });
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['EdDSA'],
          typ: AGENT_TOKEN_TYPE,
          issuer: name,
          subject: name,
          audience: options.audience,
          requiredClaims: ['exp', 'iat', 'jti', 'sub'],
          clockTolerance: skew,
          currentDate: new Date(now()),
        }));
      } catch (err) {
        throw mapJoseError(err, name);
      }
      const exp = payload.exp!;
      const iat = payload.iat!;
      const nowS = now() / 1000;
      if (exp - iat > MAX_AGENT_TOKEN_LIFETIME_S) throw invalid(`it lives ${exp - iat} s (exp − iat); at most ${MAX_AGENT_TOKEN_LIFETIME_S} s is accepted`);
      if (exp - nowS > MAX_AGENT_TOKEN_LIFETIME_S + skew) throw invalid(`it expires more than ${MAX_AGENT_TOKEN_LIFETIME_S} s from now; is the agent's clock right?`);
      if (iat > nowS + skew) throw invalid('it was issued in the future (iat); is the agent\'s clock right?');
      if (agent.status === 'revoked') {
        throw new GatewayError('GW_AGENT_REVOKED', `Agent ${name} was revoked${agent.revokedAt === null ? '' : ` at ${new Date(agent.revokedAt).toISOString()}`}; an admin must add it again (airlock agents add ${name}) and it must enroll anew.`);
      }
      const jti = payload.jti!;
      if (!JTI.test(jti)) throw invalid('its jti is not 16–128 base64url characters');
      const version = payload.version;
      if (version !== undefined && (typeof version !== 'string' || !AGENT_VERSION_TEXT.test(version))) throw invalid('its version claim is not a version such as 1.2.3');
      const seen = options.replay.use(`${name}\n${jti}`, (exp + skew) * 1000);
      if (seen === 'replayed') throw invalid(`its jti was already used; every connect needs a fresh token (a replay?)`);
      if (seen === 'full') throw new GatewayError('GW_AGENT_CONNECT_LIMITED', 'The gateway is taking too many tunnel connects right now; retry shortly.');
      // The memory cache answers replays to this process at once; the store's answers them for
      // every replica (a captured token must not connect once to each). A store that cannot
      // answer refuses the connect (GW_STORE_UNAVAILABLE): fail closed.
      if (!(await options.store.connectTokens.claim(name, jti, (exp + skew) * 1000))) throw invalid('its jti was already used; every connect needs a fresh token (a replay?)');
      return { agent, version: version ?? null, jti };
    },
  };
}

function invalid(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_AGENT_TOKEN_INVALID', `The agent's connect token is not valid: ${reason}.`, cause === undefined ? {} : { cause });
}

function mapJoseError(err: unknown, name: string): GatewayError {
  if (err instanceof errors.JWTExpired) return invalid('it has expired; is the agent\'s clock right?', err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = {
      iss: 'its issuer (iss) is wrong',
      sub: `its subject (sub) is not ${name}`,
      aud: 'it is not meant for this gateway (aud); the agent takes the audience from its enrollment',
      exp: 'it has no expiry (exp)',
      iat: 'it has no issue time (iat), or an invalid one',
      jti: 'it has no jti',
      nbf: 'it is not valid yet (nbf)',
      typ: `its type (typ) is not ${AGENT_TOKEN_TYPE}`,
    };
    return invalid(reasons[err.claim] ?? `claim "${err.claim}" failed: ${err.reason}`, err);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid(`the signature does not verify with the key agent ${name} enrolled`, err);
  if (err instanceof errors.JOSEError) return invalid(err.message, err);
  return new GatewayError('GW_INTERNAL', 'The agent\'s connect token could not be checked.', { cause: err });
}
