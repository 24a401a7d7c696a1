// Credential injection and minting (agent/credentials/) over a real vault: static types, JWTs
// minted per caller (claims, cache, key replacement, JWKS), OAuth 2.0 client credentials and
// RFC 8693 token exchange against a real oidc-provider (the exchange grant registered on it with
// its public registerGrantType API), and the typed Postgres accessor.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations
import Provider from 'oidc-provider';
import { createCredentials, type Credentials } from '../../agent/credentials/index.ts';
import { generateSigningSecret } from '../../agent/credentials/jwt.ts';
import { TOKEN_EXCHANGE_GRANT } from '../../agent/credentials/oauth.ts';
import { loadAgentConfig, type ConnectionSettings } from '../../agent/config.ts';
import type { AgentError } from '../../agent/errors.ts';
import { createLocalKms, LOCAL_KEY_ID } from '../../agent/vault/local-kms.ts';
import { openVault, type Vault } from '../../agent/vault/vault.ts';
import { freePort } from '../../lib/listen.ts';
import { silentLogger } from '../../lib/log.ts';

const root = mkdtempSync(join(tmpdir(), 'airlock-credentials-'));
const CLIENT_SECRET = 'cl1ent-Sup3rSecret-oauth';
const TARGET = new URL('https://crm.internal:8443/api/x');
let counter = 0;

// ---- a real OAuth 2.0 authorization server: oidc-provider ------------------------------------
const idpServer = createServer();
let issuer: string;
let provider: { AccessToken: { find(v: string): Promise<{ accountId?: string; clientId: string; scope?: string } | undefined> }; ClientCredentials: { find(v: string): Promise<{ clientId: string; scope?: string } | undefined> } };
let tokenRequests: Array<{ grant: string | null }> = [];
/** The agent JWKS the exchange grant trusts (set by each test). */
let trustedAgentJwks: () => Promise<{ keys: JWK[] }> = async () => ({ keys: [] });

before(async () => {
  await new Promise<void>((r) => idpServer.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(idpServer.address() as { port: number }).port}`;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const p = new Provider(issuer, {
    clients: [{ client_id: 'airlock-agent', client_secret: CLIENT_SECRET, grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT], redirect_uris: [], response_types: [], id_token_signed_response_alg: 'ES256' }],
    jwks: { keys: [{ ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' }] },
    features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } },
    scopes: ['crm.read'],
    ttl: { ClientCredentials: 120, AccessToken: 120 },
  });
  // RFC 8693 on the real provider: the subject token must be a JWT the agent signed (its JWKS),
  // addressed to this issuer; the access token is issued to its subject.
  p.registerGrantType(TOKEN_EXCHANGE_GRANT, async (ctx: { oidc: { params: Record<string, string>; client: unknown; provider: { AccessToken: new (o: object) => { save(): Promise<string>; expiration: number } } }; body: unknown; status: number }) => {
    const { params, client } = ctx.oidc;
    let sub: string;
    try {
      if (params.subject_token_type !== 'urn:ietf:params:oauth:token-type:jwt') throw new Error('subject_token_type');
      const { payload } = await jwtVerify(params.subject_token!, createLocalJWKSet(await trustedAgentJwks() as never), { issuer: 'edge-1', audience: issuer, maxTokenAge: 120 });
      sub = payload.sub!;
    } catch {
      ctx.status = 400;
      ctx.body = { error: 'invalid_grant', error_description: 'the subject token does not verify' };
      return;
    }
    const at = new ctx.oidc.provider.AccessToken({ accountId: sub, client, gty: 'token_exchange', scope: params.scope ?? 'crm.read' });
    ctx.body = { access_token: await at.save(), issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: at.expiration };
  }, ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope']);
  provider = p;
  const handle = p.callback() as (req: IncomingMessage, res: ServerResponse) => void;
  idpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/token') {
      let body = '';
      req.on('data', (c: Buffer) => { body += c; });
      req.on('end', () => tokenRequests.push({ grant: new URLSearchParams(body).get('grant_type') }));
    }
    handle(req, res);
  });
});
after(async () => {
  await new Promise<void>((r) => { idpServer.closeAllConnections(); idpServer.close(() => r()); });
  rmSync(root, { recursive: true, force: true });
});

function setup(options: { connections?: Record<string, unknown>; now?: () => number } = {}): { vault: Vault; credentials: Credentials } {
  const dataDir = join(root, `d${++counter}`);
  const vault = openVault({ dataDir, agent: 'edge-1', kms: createLocalKms({ dataDir }), keyId: LOCAL_KEY_ID });
  const credentials = createCredentials({
    vault, agent: 'edge-1', logger: silentLogger,
    connections: options.connections as Record<string, ConnectionSettings> | undefined,
    ...(options.now ? { now: options.now } : {}),
  });
  return { vault, credentials };
}
const bearerOf = (headers: Record<string, string>) => /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1] ?? assert.fail(`no bearer in ${JSON.stringify(headers)}`);
async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: AgentError) => {
    assert.equal(err.code, code);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(CLIENT_SECRET), 'no secret in the message');
    return true;
  });
}
const jwtSettings = (jwt: Record<string, unknown> = {}) => ({ jwt: { ttl: 300, ...jwt } });

test('static secrets become their headers; no entry and no config is no header', async () => {
  const { vault, credentials } = setup();
  await vault.set('a', { type: 'bearer', token: 't-1' });
  await vault.set('b', { type: 'basic', username: 'u', password: 'p:w' });
  await vault.set('c', { type: 'header', name: 'X-Api-Key', value: 'k-1' });
  assert.deepEqual(await credentials.headersFor('a', { caller: 'bob', target: TARGET }), { authorization: 'Bearer t-1' });
  assert.deepEqual(await credentials.headersFor('b', { caller: 'bob', target: TARGET }), { authorization: `Basic ${Buffer.from('u:p:w').toString('base64')}` });
  assert.deepEqual(await credentials.headersFor('c', { caller: undefined, target: TARGET }), { 'x-api-key': 'k-1' });
  assert.deepEqual(await credentials.headersFor('none', { caller: 'bob', target: TARGET }), {});
});

test('a minted JWT: iss the agent, sub the caller, aud the target, act the agent, exp ≤ 5 min, unique jti; it verifies against the JWKS', async () => {
  const { vault, credentials } = setup();
  await vault.set('crm', generateSigningSecret());
  const t0 = Math.floor(Date.now() / 1000);
  const bob = bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET }));
  const alice = bearerOf(await credentials.headersFor('crm', { caller: 'alice', target: TARGET }));
  const jwks = createLocalJWKSet(await credentials.jwks() as never);
  const { payload, protectedHeader } = await jwtVerify(bob, jwks, { issuer: 'edge-1', audience: 'https://crm.internal:8443', algorithms: ['ES256'] });
  assert.equal(payload.sub, 'bob');
  assert.deepEqual(payload.act, { sub: 'edge-1' });
  assert.equal(protectedHeader.typ, 'JWT');
  assert.ok(payload.iat! >= t0 && payload.exp! - payload.iat! === 300, 'exp is 5 minutes after iat');
  assert.match(payload.jti!, /^[\w-]{22}$/);
  const other = decodeJwt(alice);
  assert.equal(other.sub, 'alice');
  assert.notEqual(other.jti, payload.jti);
  assert.deepEqual(Object.keys(payload).sort(), ['act', 'aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
  await assert.rejects(jwtVerify(bob, jwks, { issuer: 'edge-1', audience: 'https://other.internal' }), /aud/);
});

test('configured issuer, audience and a shorter ttl; the token is cached per caller until shortly before expiry', async () => {
  let clock = Date.parse('2026-03-01T10:00:00Z');
  const { vault, credentials } = setup({ now: () => clock, connections: { crm: jwtSettings({ issuer: 'https://edge-1.example.com', audience: 'crm-api', ttl: 60 }) } });
  await vault.set('crm', generateSigningSecret());
  const first = bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET }));
  const claims = decodeJwt(first);
  assert.deepEqual([claims.iss, claims.aud, claims.exp! - claims.iat!, claims.iat], ['https://edge-1.example.com', 'crm-api', 60, clock / 1000]);
  clock += 47_000; // within 60 s − 20 % (12 s)
  assert.equal(bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET })), first, 'cached');
  assert.notEqual(bearerOf(await credentials.headersFor('crm', { caller: 'carol', target: TARGET })), first, 'per caller');
  clock += 2_000; // 49 s: less than 12 s left
  const renewed = bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET }));
  assert.notEqual(renewed, first);
  assert.equal(decodeJwt(renewed).iat, clock / 1000);
});

test('a replaced signing key mints at once; the JWKS keeps the old key while its tokens live, then drops it', async () => {
  let clock = Date.now();
  const { vault, credentials } = setup({ now: () => clock });
  await vault.set('crm', generateSigningSecret());
  const old = bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET }));
  const oldKid = decodeProtectedHeader(old).kid!;
  assert.deepEqual((await credentials.jwks()).keys.map((k) => k.kid), [oldKid]);
  await vault.set('crm', generateSigningSecret());
  const fresh = bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET }));
  const freshKid = decodeProtectedHeader(fresh).kid!;
  assert.notEqual(freshKid, oldKid);
  const both = await credentials.jwks();
  assert.deepEqual(both.keys.map((k) => k.kid).sort(), [oldKid, freshKid].sort());
  await jwtVerify(old, createLocalJWKSet(both as never));
  clock += 301_000;
  assert.deepEqual((await credentials.jwks()).keys.map((k) => k.kid), [freshKid]);
  for (const k of both.keys) assert.equal((k as Record<string, unknown>).d, undefined);
});

test('minting without a caller, or a postgres secret over HTTP, is AGENT_CREDENTIAL_FAILED', async () => {
  const { vault, credentials } = setup();
  await vault.set('crm', generateSigningSecret());
  await vault.set('orders', { type: 'postgres', username: 'app', password: 'pw' });
  await rejectsWith(credentials.headersFor('crm', { caller: undefined, target: TARGET }), 'AGENT_CREDENTIAL_FAILED', /^No credential for connection crm: the gateway named no caller to mint a token for\.$/);
  await rejectsWith(credentials.headersFor('crm', { caller: '', target: TARGET }), 'AGENT_CREDENTIAL_FAILED', /named no caller/);
  await rejectsWith(credentials.headersFor('orders', { caller: 'bob', target: TARGET }), 'AGENT_CREDENTIAL_FAILED', /its vault entry is a postgres login, which only the Postgres data path uses/);
});

test('the Postgres accessor returns the login of a postgres entry, undefined without one, and refuses another type', async () => {
  const { vault, credentials } = setup();
  await vault.set('orders', { type: 'postgres', username: 'app', password: 'pg-pw' });
  await vault.set('crm', { type: 'bearer', token: 't' });
  assert.deepEqual(await credentials.postgres('orders'), { username: 'app', password: 'pg-pw' });
  assert.equal(await credentials.postgres('none'), undefined);
  await rejectsWith(credentials.postgres('crm'), 'AGENT_CREDENTIAL_FAILED', /^No credential for connection crm: its vault entry is a bearer credential, not a postgres login\.$/);
});

test('OAuth client credentials at a real token endpoint: fetched once, cached, renewed before expiry', async () => {
  let clock = Date.now();
  const oauth = { tokenEndpoint: `${issuer}/token`, mode: 'client_credentials', scope: 'crm.read', auth: 'client_secret_basic', timeout: 5 };
  const { vault, credentials } = setup({ now: () => clock, connections: { crm: { ...jwtSettings(), oauth } } });
  await vault.set('crm', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: CLIENT_SECRET });
  tokenRequests = [];
  const token = bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET }));
  assert.equal(bearerOf(await credentials.headersFor('crm', { caller: 'alice', target: TARGET })), token, 'one token for the connection');
  const issued = await provider.ClientCredentials.find(token);
  assert.equal(issued?.clientId, 'airlock-agent');
  assert.equal(issued?.scope, 'crm.read');
  assert.deepEqual(tokenRequests, [{ grant: 'client_credentials' }]);
  clock += 100_000; // 120 s token: renewed within its last 24 s
  assert.notEqual(bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET })), token);
  assert.equal(tokenRequests.length, 2);

  const post = setup({ connections: { crm: { ...jwtSettings(), oauth: { ...oauth, auth: 'client_secret_post' } } } });
  await post.vault.set('crm', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: CLIENT_SECRET });
  assert.equal((await provider.ClientCredentials.find(bearerOf(await post.credentials.headersFor('crm', { caller: 'bob', target: TARGET }))))?.clientId, 'airlock-agent');
});

test('a refused, unreachable or unconfigured token endpoint is AGENT_CREDENTIAL_FAILED, never cached, never quoting the secret', async () => {
  const oauth = { tokenEndpoint: `${issuer}/token`, mode: 'client_credentials', auth: 'client_secret_basic', timeout: 5 };
  const closed = `http://127.0.0.1:${await freePort()}/token`;
  const { vault, credentials } = setup({ connections: { crm: { ...jwtSettings(), oauth }, down: { ...jwtSettings(), oauth: { ...oauth, tokenEndpoint: closed } } } });
  await vault.set('crm', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: 'wrong-secret' });
  await rejectsWith(credentials.headersFor('crm', { caller: 'bob', target: TARGET }), 'AGENT_CREDENTIAL_FAILED', new RegExp(`^The token endpoint ${issuer}/token refused a token for connection crm \\(HTTP 401, invalid_client: .*\\); check the client and the connections\\.crm\\.oauth settings\\.$`));
  await vault.set('crm', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: CLIENT_SECRET });
  assert.ok(bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET })), 'a failure was not cached');
  await vault.set('down', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: CLIENT_SECRET });
  await rejectsWith(credentials.headersFor('down', { caller: 'bob', target: TARGET }), 'AGENT_CREDENTIAL_FAILED', new RegExp(`^The token endpoint ${closed} gave no token for connection down \\(ECONNREFUSED\\)\\.$`));
  await vault.set('bare', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: CLIENT_SECRET });
  await rejectsWith(credentials.headersFor('bare', { caller: 'bob', target: TARGET }), 'AGENT_CREDENTIAL_FAILED', /connections\.bare\.oauth \(the token endpoint\) is not configured/);
});

test('RFC 8693 token exchange: the agent-signed subject token names the caller; one token per caller', async () => {
  const oauth = { tokenEndpoint: `${issuer}/token`, mode: 'token_exchange', scope: 'crm.read', auth: 'client_secret_basic', timeout: 5, subjectTokenKey: 'crm-subject' };
  const { vault, credentials } = setup({ connections: { crm: { ...jwtSettings(), oauth } } });
  await vault.set('crm', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: CLIENT_SECRET });
  trustedAgentJwks = async () => ({ keys: [] });
  await vault.set('crm-subject', generateSigningSecret());
  await rejectsWith(credentials.headersFor('crm', { caller: 'bob', target: TARGET }), 'AGENT_CREDENTIAL_FAILED', /refused a token for connection crm \(HTTP 400, invalid_grant: the subject token does not verify\)/);
  trustedAgentJwks = () => credentials.jwks();
  tokenRequests = [];
  const bob = bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET }));
  const alice = bearerOf(await credentials.headersFor('crm', { caller: 'alice', target: TARGET }));
  assert.equal(bearerOf(await credentials.headersFor('crm', { caller: 'bob', target: TARGET })), bob, 'cached per caller');
  assert.deepEqual(tokenRequests, [{ grant: TOKEN_EXCHANGE_GRANT }, { grant: TOKEN_EXCHANGE_GRANT }]);
  assert.equal((await provider.AccessToken.find(bob))?.accountId, 'bob');
  assert.equal((await provider.AccessToken.find(alice))?.accountId, 'alice');
  await rejectsWith(credentials.headersFor('crm', { caller: undefined, target: TARGET }), 'AGENT_CREDENTIAL_FAILED', /named no caller/);

  const misnamed = setup({ connections: { crm: { ...jwtSettings(), oauth: { ...oauth, subjectTokenKey: 'crm' } } } });
  await misnamed.vault.set('crm', { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: CLIENT_SECRET });
  await rejectsWith(misnamed.credentials.headersFor('crm', { caller: 'bob', target: TARGET }), 'AGENT_CREDENTIAL_FAILED', /subjectTokenKey names crm, which is not a jwt-signing-key in the vault/);
});

test('connections settings are checked at load: https token endpoints (http only on loopback), token_exchange needs its signing key', () => {
  const file = join(root, 'agent.yaml');
  const load = (yaml: string) => { writeFileSync(file, yaml); return loadAgentConfig({ file, env: {} }); };
  const ok = load('connections:\n  crm: { oauth: { tokenEndpoint: "https://idp.example.com/token" } }\n  wiki: { jwt: { ttl: 60 } }\n').config.connections;
  assert.deepEqual(ok.crm!.oauth, { tokenEndpoint: 'https://idp.example.com/token', mode: 'client_credentials', auth: 'client_secret_basic', timeout: 10 });
  assert.deepEqual(ok.wiki!.jwt, { ttl: 60 });
  assert.throws(() => load('connections:\n  crm: { oauth: { tokenEndpoint: "http://idp.example.com/token" } }\n'), /agent\.yaml:2:\d+: connections\.crm\.oauth\.tokenEndpoint: must be https:\/\/ \(http:\/\/ only to a loopback address\)/);
  assert.throws(() => load('connections:\n  crm: { oauth: { tokenEndpoint: "https://idp.example.com/token", mode: token_exchange } }\n'), /connections\.crm\.oauth\.subjectTokenKey: token_exchange needs subjectTokenKey/);
  assert.throws(() => load('connections:\n  crm: { jwt: { ttl: 600 } }\n'), /connections\.crm\.jwt\.ttl: Too big: expected number to be <=300/);
});
