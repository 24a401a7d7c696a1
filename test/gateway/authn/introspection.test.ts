// Opaque access tokens through RFC 7662 introspection, against a real oidc-provider that issues
// opaque client-credentials tokens for the gateway's audience and lets the gateway's own
// confidential client introspect them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations
import Provider from 'oidc-provider';
import { startGateway, type RunningGateway } from '../../../gateway/main.ts';
import { silentLogger } from '../../../lib/log.ts';

const AUDIENCE = 'http://airlock.test';
let issuer: string;
const server = createServer();

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'svc', client_secret: 'svc-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], id_token_signed_response_alg: 'ES256' },
      { client_id: 'gateway', client_secret: 'gateway-secret', grant_types: [], redirect_uris: [], response_types: [], id_token_signed_response_alg: 'ES256' },
    ],
    jwks: { keys: [{ ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' }] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ audience: AUDIENCE, scope: 'read', accessTokenFormat: 'opaque' }),
      },
    },
  });
  const handle = provider.callback() as (req: IncomingMessage, res: ServerResponse) => void;
  server.on('request', handle);
});
after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

async function gateway(cacheTtl: number): Promise<RunningGateway> {
  const gw = await startGateway({
    env: {}, logger: silentLogger,
    overrides: {
      server: { port: 0, publicUrl: AUDIENCE }, store: { url: 'sqlite::memory:' },
      auth: { issuer, audience: AUDIENCE, introspection: { enabled: true, clientId: 'gateway', clientSecret: 'gateway-secret', cacheTtl } },
    },
  });
  after(() => gw.stop());
  await gw.authn.discovery.done;
  return gw;
}

async function opaqueToken(): Promise<string> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('svc:svc-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: AUDIENCE }),
  });
  const body = await res.json() as { access_token: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(!body.access_token.includes('.'), 'the provider issued an opaque token');
  return body.access_token;
}

async function me(gw: RunningGateway, token: string) {
  const res = await fetch(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() as Record<string, any> };
}

test('an active opaque token for our audience is accepted, and answers are cached', async () => {
  const gw = await gateway(30);
  const token = await opaqueToken();
  const first = await me(gw, token);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.sub, 'client:svc');
  assert.equal(first.body.via, 'oidc');
  assert.equal((await me(gw, token)).status, 200);
  assert.equal(gw.authn.introspector()?.calls, 1, 'the second request was answered from the cache');
});

test('a revoked token is refused once the cache no longer holds it; an unknown token is refused', async () => {
  const gw = await gateway(0);
  const token = await opaqueToken();
  assert.equal((await me(gw, token)).status, 200);
  const revoked = await fetch(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('svc:svc-secret').toString('base64')}` },
    body: new URLSearchParams({ token }),
  });
  assert.equal(revoked.status, 200);
  const after = await me(gw, token);
  assert.equal(after.status, 401);
  assert.equal(after.body.error.code, 'GW_TOKEN_INVALID');
  assert.match(after.body.error.message, /not active/);
  const unknown = await me(gw, 'not-a-token-the-provider-issued');
  assert.equal(unknown.status, 401);
  assert.equal(unknown.body.error.code, 'GW_TOKEN_INVALID');
});

test('with introspection off, an opaque token is refused as not a JWT', async () => {
  const gw = await startGateway({ env: {}, logger: silentLogger, overrides: { server: { port: 0, publicUrl: AUDIENCE }, store: { url: 'sqlite::memory:' }, auth: { issuer, audience: AUDIENCE } } });
  after(() => gw.stop());
  await gw.authn.discovery.done;
  const r = await me(gw, await opaqueToken());
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'GW_TOKEN_INVALID');
  assert.match(r.body.error.message, /not a signed JWT/);
});
