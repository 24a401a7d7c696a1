// Minted JWTs: instead of one long-lived secret shared by every caller, the agent signs a token
// per caller with a private key held in its vault (`jwt-signing-key`), via jose:
//
//   iss  the agent (its name, or connections.<name>.jwt.issuer)
//   sub  the caller, as the gateway authenticated them (the stream's `caller`)
//   aud  the target (its origin, or connections.<name>.jwt.audience)
//   act  {sub: <agent>}: who acts on the caller's behalf (RFC 8693 §4.1)
//   iat, exp ≤ 5 minutes later, a unique jti
//
// Targets verify the signature against the agent's public JWKS (`/.well-known/jwks.json` on its
// health listener; `airlock-agent vault jwks` prints it), the `kid` being the key's RFC 7638
// thumbprint. The private key is parsed from the vault for each signature and never cached.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import { parseJson } from '../../lib/json.ts';
import { AgentError } from '../errors.ts';
import { SIGNING_ALGS, type JwtSigningSecret } from './schema.ts';

/** Longest lifetime of a minted token, in seconds: what a stolen one is worth at most. */
export const MAX_TTL_SECONDS = 300;

/** The algorithm a private key signs with; AGENT_INPUT_INVALID for a key type or size the agent does not mint with. */
function algOf(key: KeyObject): JwtSigningSecret['alg'] {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec' && details.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'ec' && details.namedCurve === 'secp384r1') return 'ES384';
  if (type === 'rsa' && (details.modulusLength ?? 0) >= 2048) return 'RS256';
  throw new AgentError('AGENT_INPUT_INVALID', `A jwt-signing-key must be an Ed25519, P-256, P-384 or RSA (2048 bits or more) private key, not ${type ?? 'this'}${details.namedCurve ? ` on ${details.namedCurve}` : ''}${details.modulusLength ? ` of ${details.modulusLength} bits` : ''}.`);
}

/** The vault form of a private key given as PEM (PKCS#8, SEC1 or PKCS#1) or as a private JWK in JSON. */
export function signingSecretFromText(text: string): JwtSigningSecret {
  let key: KeyObject;
  try {
    const trimmed = text.trim();
    key = trimmed.startsWith('{')
      ? createPrivateKey({ key: parseJson(trimmed) as import('node:crypto').JsonWebKey, format: 'jwk' })
      : createPrivateKey({ key: trimmed, format: 'pem' });
  } catch {
    // No detail: the parser's message could quote the key.
    throw new AgentError('AGENT_INPUT_INVALID', 'A jwt-signing-key is a private key in PEM (PKCS#8, SEC1 or PKCS#1) or a private JWK in JSON; this is neither.');
  }
  if (key.type !== 'private') throw new AgentError('AGENT_INPUT_INVALID', 'A jwt-signing-key must be a private key (this is a public one).');
  return { type: 'jwt-signing-key', alg: algOf(key), key: key.export({ format: 'jwk' }) as Record<string, string> };
}

/** A new P-256 key (ES256, which every JWT library verifies), made here so it never exists anywhere else. */
export function generateSigningSecret(): JwtSigningSecret {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { type: 'jwt-signing-key', alg: 'ES256', key: privateKey.export({ format: 'jwk' }) as Record<string, string> };
}

/** The public half as a JWK for a JWKS: `kid` (RFC 7638 thumbprint), `alg`, `use: sig`. */
export async function publicJwkOf(secret: JwtSigningSecret): Promise<JWK> {
  const pub = createPublicKey(privateKeyOf(secret)).export({ format: 'jwk' }) as JWK;
  return { ...pub, kid: await calculateJwkThumbprint(pub), alg: secret.alg, use: 'sig' };
}

function privateKeyOf(secret: JwtSigningSecret): KeyObject {
  if (!(SIGNING_ALGS as readonly string[]).includes(secret.alg)) throw new AgentError('AGENT_CREDENTIAL_FAILED', `The signing key's algorithm ${secret.alg} is not one the agent mints with.`);
  try {
    return createPrivateKey({ key: secret.key as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    throw new AgentError('AGENT_CREDENTIAL_FAILED', 'The vault\'s jwt-signing-key is not a usable private key; set it again.');
  }
}

export interface MintClaims {
  readonly issuer: string;
  /** The caller's identity (the gateway's `sub`). */
  readonly subject: string;
  readonly audience: string;
  /** The agent's name, for `act.sub`. */
  readonly actor: string;
  /** Lifetime in seconds, 1 to MAX_TTL_SECONDS. */
  readonly ttlSeconds: number;
}

/** A signed token and its expiry (ms since the epoch). `now` in ms; default Date.now(). */
export async function mintJwt(secret: JwtSigningSecret, claims: MintClaims, now: number = Date.now()): Promise<{ value: string; expiresAt: number }> {
  if (!Number.isInteger(claims.ttlSeconds) || claims.ttlSeconds < 1 || claims.ttlSeconds > MAX_TTL_SECONDS) throw new TypeError(`ttlSeconds must be an integer 1-${MAX_TTL_SECONDS}`);
  const key = privateKeyOf(secret);
  const pub = createPublicKey(key).export({ format: 'jwk' }) as JWK;
  const iat = Math.floor(now / 1000);
  const exp = iat + claims.ttlSeconds;
  const value = await new SignJWT({ act: { sub: claims.actor } })
    .setProtectedHeader({ alg: secret.alg, typ: 'JWT', kid: await calculateJwkThumbprint(pub) })
    .setIssuer(claims.issuer)
    .setSubject(claims.subject)
    .setAudience(claims.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(key);
  return { value, expiresAt: exp * 1000 };
}
