// Access-token verifications per second with a warm JWKS, on one core (issue: aim ≥ 20,000/s).
// Unique tokens measure full verification (signature included) for ES256 and RS256; a repeated
// token measures what a client reusing its token costs (the verified-token cache). Bare jose
// jwtVerify with local keys is the baseline: the cost of airlock's extra checks.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { configSchema } from '../../../gateway/config/schema.ts';
import { createJwtVerifier } from '../../../gateway/authn/jwt.ts';
import type { Scenario } from '../scenario.ts';

const ISSUER = 'http://idp.bench';
const AUDIENCE = 'http://airlock.bench';
/** Tokens signed up front per algorithm (bounds the unique-token loops). */
const UNIQUE = 3000;
/** Bounds of the repeated-token loop. */
const MAX_OPS = 300_000;
const MAX_MS = 1500;

async function perSecond(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let i = 0;
  while (i < n && performance.now() - t0 < MAX_MS) await fn(i++);
  return i / ((performance.now() - t0) / 1000);
}

async function signer(alg: 'ES256' | 'RS256') {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk: JWK = { ...(await exportJWK(publicKey)), alg, use: 'sig' };
  const kid = await calculateJwkThumbprint(jwk);
  const sign = () => new SignJWT({ sub: 'alice', groups: ['admins'], scope: 'profile groups', jti: randomUUID() })
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('1h').sign(privateKey);
  return { jwk: { ...jwk, kid }, sign };
}

const scenario: Scenario = {
  name: 'authn',
  async run() {
    const es = await signer('ES256');
    const rs = await signer('RS256');
    const jwks = { keys: [es.jwk, rs.jwk] };
    const server = createServer((_req, res) => res.end(JSON.stringify(jwks)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const auth = configSchema.parse({ auth: { issuer: ISSUER } }).auth;
      const verifier = createJwtVerifier({ issuer: ISSUER, jwksUri: new URL(`http://127.0.0.1:${port}/jwks`), audience: AUDIENCE, auth });
      const esTokens = await Promise.all(Array.from({ length: UNIQUE }, () => es.sign()));
      const rsTokens = await Promise.all(Array.from({ length: UNIQUE }, () => rs.sign()));
      await verifier.verify(await es.sign()); // warm the JWKS
      const local = createLocalJWKSet(jwks);
      const bare = await perSecond(UNIQUE, (i) => jwtVerify(esTokens[i]!, local, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'] }));
      const esUnique = await perSecond(UNIQUE, (i) => verifier.verify(esTokens[i]!));
      const rsUnique = await perSecond(UNIQUE, (i) => verifier.verify(rsTokens[i]!));
      const repeated = await perSecond(MAX_OPS, () => verifier.verify(esTokens[0]!));
      return [
        { name: 'jose jwtVerify ES256 (local keys)', value: bare, unit: 'ops/s' },
        { name: 'gateway verify ES256, unique tokens', value: esUnique, unit: 'ops/s', baseline: 'jose jwtVerify ES256 (local keys)' },
        { name: 'gateway verify RS256, unique tokens', value: rsUnique, unit: 'ops/s', baseline: 'jose jwtVerify ES256 (local keys)' },
        { name: 'gateway verify, repeated token', value: repeated, unit: 'ops/s', baseline: 'jose jwtVerify ES256 (local keys)', aim: '>= 20000' },
        { name: 'JWKS fetches during the run', value: verifier.jwksFetches, unit: 'count' },
      ];
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  },
};
export default scenario;
