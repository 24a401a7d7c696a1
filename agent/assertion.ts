// The token the agent presents on every tunnel connect: a JWT it signs with its enrolled
// Ed25519 key (EdDSA), typed `agent+jwt`, iss = sub = its name, aud = the gateway's public URL
// (from the enrollment answer), living 60 s, with a random jti the gateway accepts once. A fresh
// one is minted for each connect, so a token seen on the wire is worth one connect for a minute
// (and TLS keeps it off the wire).
import { randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/** Seconds a connect token lives: the most the gateway accepts. */
export const CONNECT_TOKEN_LIFETIME_S = 60;
export const CONNECT_TOKEN_TYPE = 'agent+jwt';

export interface ConnectTokenClaims {
  readonly name: string;
  readonly audience: string;
  readonly version: string;
  readonly privateKey: KeyObject;
  /** Clock in epoch ms. Default Date.now(). */
  readonly now?: number;
}

export function mintConnectToken(claims: ConnectTokenClaims): Promise<string> {
  const iat = Math.floor((claims.now ?? Date.now()) / 1000);
  return new SignJWT({ version: claims.version })
    .setProtectedHeader({ alg: 'EdDSA', typ: CONNECT_TOKEN_TYPE })
    .setIssuer(claims.name)
    .setSubject(claims.name)
    .setAudience(claims.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + CONNECT_TOKEN_LIFETIME_S)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(claims.privateKey);
}
