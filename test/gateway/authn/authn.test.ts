// Token validation end to end: a real gateway (startGateway) trusting the real development
// OpenID provider (oidc-provider) on loopback. Tokens are signed with the provider's own key
// (from its key file), so every negative case is exactly what the issue lists, and each one is
// refused with its stable code, over HTTP, as a client sees it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, CompactEncrypt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { startDevIdp, type DevIdp } from '../../../cli/dev/idp.ts';
import type { ConfigInput } from '../../../gateway/config/schema.ts';
import { startGateway, type RunningGateway } from '../../../gateway/main.ts';
import { silentLogger } from '../../../lib/log.ts';

const AUDIENCE = 'http://airlock.test';
const dir = mkdtempSync(join(tmpdir(), 'airlock-authn-'));

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
interface SigningKey { jwk: JWK; kid: string; key: PrivateKey }

async function newKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { jwk: { ...jwk, kid, alg: 'ES256', use: 'sig' }, kid, key: privateKey };
}

function keyFile(name: string, keys: SigningKey[]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ keys: keys.map((k) => k.jwk) }), { mode: 0o600 });
  return path;
}

async function gatewayFor(idp: DevIdp, auth: ConfigInput['auth'] = {}): Promise<RunningGateway> {
  const gw = await startGateway({
    env: {},
    cwd: dir,
    logger: silentLogger,
    overrides: { server: { port: 0, publicUrl: AUDIENCE }, store: { url: 'sqlite::memory:' }, auth: { issuer: idp.issuer, audience: AUDIENCE, ...auth } },
  });
  await gw.authn.discovery.done;
  return gw;
}

const now = () => Math.floor(Date.now() / 1000);

function claims(idp: DevIdp, extra: JWTPayload = {}): JWTPayload {
  return { iss: idp.issuer, aud: AUDIENCE, sub: 'alice', email: 'alice@airlock.dev', name: 'Alice (dev)', groups: ['admins'], scope: 'profile email groups', client_id: 'airlock-cli', jti: randomUUID(), iat: now(), exp: now() + 300, ...extra };
}

async function sign(key: SigningKey, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt', ...header }).sign(key.key);
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function me(gw: RunningGateway, headers: Record<string, string> = {}, query = '') {
  const res = await fetch(`${gw.url}/api/v1/me${query}`, { headers });
  const body = await res.json() as { error?: { code: string; message: string; requestId: string } } & Record<string, unknown>;
  return { status: res.status, body, challenge: res.headers.get('www-authenticate') };
}

async function refused(gw: RunningGateway, token: string, code: string, message: RegExp) {
  const r = await me(gw, { authorization: `Bearer ${token}` });
  assert.equal(r.status, 401, JSON.stringify(r.body));
  assert.equal(r.body.error?.code, code);
  assert.match(r.body.error!.message, message);
  assert.match(r.challenge ?? '', /^Bearer resource_metadata="http:\/\/airlock\.test\/\.well-known\/oauth-protected-resource", error="invalid_token", error_description="[^"]+"$/);
  return r;
}

let idpKey: SigningKey;
let idp: DevIdp;
let gw: RunningGateway;

before(async () => {
  idpKey = await newKey();
  idp = await startDevIdp({ audience: AUDIENCE, keyFile: keyFile('idp.json', [idpKey]), logger: silentLogger });
  gw = await gatewayFor(idp);
});
after(async () => {
  await gw.stop();
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('accepted', () => {
  test('a valid access token gives the identity with groups mapped to roles', async () => {
    const r = await me(gw, { authorization: `Bearer ${await sign(idpKey, claims(idp))}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.sub, 'alice');
    assert.equal(r.body.email, 'alice@airlock.dev');
    assert.deepEqual(r.body.groups, ['admins']);
    assert.deepEqual(r.body.roles, ['admin', 'reviewer', 'auditor', 'user']);
    assert.equal(r.body.via, 'oidc');
    assert.match(String(r.body.expiresAt), /^\d{4}-\d\d-\d\dT/);
  });

  test('bob (developers) is a plain user; the scheme name is case-insensitive', async () => {
    const token = await sign(idpKey, claims(idp, { sub: 'bob', email: 'bob@airlock.dev', groups: ['developers'] }));
    const r = await me(gw, { authorization: `bearer ${token}` });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.roles, ['user']);
  });

  test('/readyz includes the identity provider once discovered', async () => {
    const res = await fetch(`${gw.url}/readyz`);
    assert.deepEqual(await res.json(), { status: 'ready', checks: { store: 'ok', 'identity provider': 'ok' } });
  });
});

describe('refused with 401 and a stable code', () => {
  test('no token: GW_AUTH_REQUIRED with a challenge naming the resource metadata, no error code', async () => {
    const r = await me(gw);
    assert.equal(r.status, 401);
    assert.equal(r.body.error?.code, 'GW_AUTH_REQUIRED');
    assert.match(r.body.error!.message, /airlock login/);
    assert.equal(r.challenge, 'Bearer resource_metadata="http://airlock.test/.well-known/oauth-protected-resource"');
  });

  test('a malformed Authorization header: GW_AUTH_MALFORMED, invalid_request', async () => {
    const token = await sign(idpKey, claims(idp));
    for (const header of ['Basic YWxpY2U6eA==', 'Bearer', `Bearer ${token} extra`, `Token ${token}`, `Bearer\t${token}`]) {
      const r = await me(gw, { authorization: header });
      assert.equal(r.status, 401, header);
      assert.equal(r.body.error?.code, 'GW_AUTH_MALFORMED', header);
      assert.match(r.challenge ?? '', /error="invalid_request"/);
    }
  });

  test('a token in the query string is refused, even a valid one', async () => {
    const token = await sign(idpKey, claims(idp));
    const r = await me(gw, { authorization: `Bearer ${token}` }, `?access_token=${token}`);
    assert.equal(r.status, 401);
    assert.equal(r.body.error?.code, 'GW_AUTH_MALFORMED');
    assert.match(r.body.error!.message, /"access_token" parameter/);
  });

  test('alg none, in any case', async () => {
    for (const alg of ['none', 'NONE', 'nOnE']) {
      const token = `${b64({ alg, typ: 'at+jwt' })}.${b64(claims(idp))}.`;
      await refused(gw, token, 'GW_TOKEN_INVALID', /not a signed JWT|algorithm/);
      await refused(gw, `${b64({ alg, typ: 'at+jwt' })}.${b64(claims(idp))}.c2ln`, 'GW_TOKEN_INVALID', new RegExp(`algorithm "${alg}" is not accepted`));
    }
  });

  test('HS256 signed with the provider\'s public key as the secret', async () => {
    const { d: _d, ...publicJwk } = idpKey.jwk;
    for (const secret of [JSON.stringify(publicJwk), JSON.stringify(await (await fetch(`${idp.issuer}/jwks`)).json())]) {
      const token = await new SignJWT(claims(idp)).setProtectedHeader({ alg: 'HS256', kid: idpKey.kid, typ: 'at+jwt' }).sign(new TextEncoder().encode(secret));
      await refused(gw, token, 'GW_TOKEN_INVALID', /algorithm "HS256" is not accepted/);
    }
  });

  test('a valid signature from a key the issuer does not publish (same kid, and unknown kid)', async () => {
    const stranger = await newKey();
    await refused(gw, await sign(stranger, claims(idp), { kid: idpKey.kid }), 'GW_TOKEN_INVALID', /signature does not verify/);
    await refused(gw, await sign(stranger, claims(idp)), 'GW_TOKEN_INVALID', /signed with a key the issuer does not publish/);
  });

  test('100 concurrent tokens with unknown kids cause at most one JWKS refetch', async () => {
    const own = await gatewayFor(idp, { jwks: { cooldown: 30 } });
    after(() => own.stop());
    const ok = await me(own, { authorization: `Bearer ${await sign(idpKey, claims(idp))}` });
    assert.equal(ok.status, 200);
    const verifier = own.authn.verifier()!;
    await new Promise((r) => setTimeout(r, 50));
    const before = verifier.jwksFetches;
    const stranger = await newKey();
    const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => sign(stranger, claims(idp), { kid: `unknown-${i}` })));
    const results = await Promise.all(tokens.map((t) => me(own, { authorization: `Bearer ${t}` })));
    assert.ok(results.every((r) => r.status === 401 && r.body.error?.code === 'GW_TOKEN_INVALID'));
    assert.ok(verifier.jwksFetches - before <= 1, `JWKS fetched ${verifier.jwksFetches - before} times`);
  });

  test('expired (beyond the clock skew): GW_TOKEN_EXPIRED; within the skew it passes', async () => {
    await refused(gw, await sign(idpKey, claims(idp, { iat: now() - 600, exp: now() - 31 })), 'GW_TOKEN_EXPIRED', /expired/);
    const r = await me(gw, { authorization: `Bearer ${await sign(idpKey, claims(idp, { iat: now() - 600, exp: now() - 5 }))}` });
    assert.equal(r.status, 200, 'a token 5 s past exp is inside the default 30 s skew');
  });

  test('nbf in the future', async () => {
    await refused(gw, await sign(idpKey, claims(idp, { nbf: now() + 120 })), 'GW_TOKEN_INVALID', /not valid yet \(nbf\)/);
  });

  test('no exp at all', async () => {
    const { exp: _exp, ...rest } = claims(idp);
    await refused(gw, await sign(idpKey, rest), 'GW_TOKEN_INVALID', /no expiry \(exp\)/);
  });

  test('iss differing by a trailing slash, or another issuer', async () => {
    await refused(gw, await sign(idpKey, claims(idp, { iss: `${idp.issuer}/` })), 'GW_TOKEN_INVALID', /not issued by/);
    await refused(gw, await sign(idpKey, claims(idp, { iss: 'https://evil.example' })), 'GW_TOKEN_INVALID', /not issued by/);
  });

  test('wrong or missing aud', async () => {
    await refused(gw, await sign(idpKey, claims(idp, { aud: 'http://other.test' })), 'GW_TOKEN_INVALID', /not meant for this gateway/);
    const { aud: _aud, ...rest } = claims(idp);
    await refused(gw, await sign(idpKey, rest), 'GW_TOKEN_INVALID', /not meant for this gateway/);
    const r = await me(gw, { authorization: `Bearer ${await sign(idpKey, claims(idp, { aud: ['http://other.test', AUDIENCE] }))}` });
    assert.equal(r.status, 200, 'aud may list several audiences, ours among them');
  });

  test('an ID token is not an access token', async () => {
    await refused(gw, await sign(idpKey, claims(idp, { nonce: 'n-0S6_WzA2Mj' }), { typ: 'JWT' }), 'GW_TOKEN_INVALID', /ID token \(it carries "nonce"\)/);
    await refused(gw, await sign(idpKey, claims(idp, { at_hash: 'x' })), 'GW_TOKEN_INVALID', /ID token/);
  });

  test('a token over 16 KB', async () => {
    const token = await sign(idpKey, claims(idp, { pad: 'x'.repeat(17 * 1024) }));
    const r = await me(gw, { authorization: `Bearer ${token}` });
    assert.equal(r.status, 401);
    assert.equal(r.body.error?.code, 'GW_TOKEN_TOO_LARGE');
  });

  test('jku, x5u, jwk and x5c headers are refused and never fetched', async () => {
    let hits = 0;
    const trap = createServer((_req, res) => { hits++; res.end('{}'); });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    after(() => new Promise<void>((r) => trap.close(() => r())));
    const trapUrl = `http://127.0.0.1:${(trap.address() as { port: number }).port}/jwks`;
    const stranger = await newKey();
    const { d: _d, ...strangerPublic } = stranger.jwk;
    const headers = [{ jku: trapUrl }, { x5u: trapUrl }, { jwk: strangerPublic }, { x5c: ['MIIB'] }];
    for (const header of headers) {
      await refused(gw, await sign(stranger, claims(idp), header), 'GW_TOKEN_INVALID', new RegExp(`carries "${Object.keys(header)[0]}"`));
      await refused(gw, await sign(idpKey, claims(idp), header), 'GW_TOKEN_INVALID', /keys come only from the issuer's JWKS/);
    }
    assert.equal(hits, 0, 'nothing is fetched from a token header');
  });

  test('a stripped signature, a JWE, a tampered payload', async () => {
    const token = await sign(idpKey, claims(idp));
    const [h, p] = token.split('.');
    await refused(gw, `${h}.${p}.`, 'GW_TOKEN_INVALID', /stripped signature/);
    await refused(gw, `${h}.${p}`, 'GW_TOKEN_INVALID', /not a signed JWT/);
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims(idp)))).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(new Uint8Array(32));
    await refused(gw, jwe, 'GW_TOKEN_INVALID', /encrypted token \(JWE\)/);
    const tampered = `${h}.${b64({ ...claims(idp), sub: 'mallory', groups: ['admins'] })}.${token.split('.')[2]}`;
    await refused(gw, tampered, 'GW_TOKEN_INVALID', /signature does not verify/);
  });

  test('typ at+jwt is enforced when auth.requireAtJwt is set', async () => {
    const strict = await gatewayFor(idp, { requireAtJwt: true });
    after(() => strict.stop());
    await refused(strict, await sign(idpKey, claims(idp), { typ: 'JWT' }), 'GW_TOKEN_INVALID', /typ must be at\+jwt/);
    assert.equal((await me(strict, { authorization: `Bearer ${await sign(idpKey, claims(idp))}` })).status, 200);
  });
});

describe('scopes', () => {
  test('a token without a required scope gets 403 insufficient_scope naming it', async () => {
    const scoped = await gatewayFor(idp, { requiredScopes: ['airlock'] });
    after(() => scoped.stop());
    const r = await me(scoped, { authorization: `Bearer ${await sign(idpKey, claims(idp))}` });
    assert.equal(r.status, 403);
    assert.equal(r.body.error?.code, 'GW_INSUFFICIENT_SCOPE');
    assert.match(r.challenge ?? '', /error="insufficient_scope", error_description="[^"]+", scope="airlock"$/);
    const ok = await me(scoped, { authorization: `Bearer ${await sign(idpKey, claims(idp, { scope: 'groups airlock' }))}` });
    assert.equal(ok.status, 200);
  });
});

describe('keys over time', () => {
  test('rotation: a new key is accepted after a refetch; a removed key is refused once the cache expires', async () => {
    const oldKey = await newKey();
    const newer = await newKey();
    const file = keyFile('rotating.json', [oldKey]);
    let provider = await startDevIdp({ audience: AUDIENCE, keyFile: file, logger: silentLogger });
    const port = Number(new URL(provider.issuer).port);
    const rotating = await gatewayFor(provider, { jwks: { cooldown: 0, maxAge: 1 } });
    after(() => rotating.stop());
    const issuerClaims = claims(provider);
    const oldToken = await sign(oldKey, issuerClaims);
    assert.equal((await me(rotating, { authorization: `Bearer ${oldToken}` })).status, 200);

    // The provider now publishes only the new key (same issuer: same port).
    await provider.close();
    keyFile('rotating.json', [newer]);
    provider = await startDevIdp({ audience: AUDIENCE, keyFile: file, port, logger: silentLogger });
    after(() => provider.close());

    const fresh = await me(rotating, { authorization: `Bearer ${await sign(newer, { ...issuerClaims, jti: randomUUID() })}` });
    assert.equal(fresh.status, 200, 'the unknown kid triggered a refetch that found the new key');
    await refused(rotating, oldToken, 'GW_TOKEN_INVALID', /key the issuer does not publish/); // verified before, but against keys since replaced
    await new Promise((r) => setTimeout(r, 1100));
    await refused(rotating, await sign(oldKey, { ...issuerClaims, jti: randomUUID() }), 'GW_TOKEN_INVALID', /key the issuer does not publish/);
  });

  test('the provider down: cached keys work until their maximum age, then the gateway fails closed (503)', async () => {
    const key = await newKey();
    const provider = await startDevIdp({ audience: AUDIENCE, keyFile: keyFile('down.json', [key]), logger: silentLogger });
    const cached = await gatewayFor(provider, { jwks: { maxAge: 1 } });
    after(() => cached.stop());
    const token = await sign(key, claims(provider));
    assert.equal((await me(cached, { authorization: `Bearer ${token}` })).status, 200);
    await provider.close();
    assert.equal((await me(cached, { authorization: `Bearer ${token}` })).status, 200, 'cached keys keep working while fresh');
    await new Promise((r) => setTimeout(r, 1100));
    const r = await me(cached, { authorization: `Bearer ${token}` });
    assert.equal(r.status, 503);
    assert.equal(r.body.error?.code, 'GW_IDP_UNAVAILABLE');
  });

  test('before discovery succeeds the gateway is not ready and refuses tokens; it becomes ready when the provider appears', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const issuer = `http://127.0.0.1:${port}`;
    const early = await startGateway({ env: {}, cwd: dir, logger: silentLogger, overrides: { server: { port: 0, publicUrl: AUDIENCE }, store: { url: 'sqlite::memory:' }, auth: { issuer, audience: AUDIENCE } } });
    after(() => early.stop());
    const notReady = await fetch(`${early.url}/readyz`);
    assert.equal(notReady.status, 503);
    const body = await notReady.json() as { error: { message: string }; checks: Record<string, string> };
    assert.match(body.error.message, /identity provider/);
    assert.match(body.checks['identity provider']!, /^discovery of http:\/\/127\.0\.0\.1:\d+ has not succeeded/);
    const r = await me(early, { authorization: 'Bearer a.b.c' });
    assert.equal(r.status, 503);
    assert.equal(r.body.error?.code, 'GW_IDP_UNAVAILABLE');

    const late = await startDevIdp({ audience: AUDIENCE, port, logger: silentLogger });
    after(() => late.close());
    await early.authn.discovery.done;
    assert.equal((await fetch(`${early.url}/readyz`)).status, 200);
  });
});
