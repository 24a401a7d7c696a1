// The development OpenID provider, driven as `airlock login` drives it: the real openid-client
// for the protocol, plain fetch as the browser (test/support/browser.ts), and jose for what the
// gateway checks on the access tokens.
import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { DEV_CALLBACK_PATH, startDevIdp, type DevIdp } from '../../../cli/dev/idp.ts';
import { CliError } from '../../../cli/errors.ts';
import { ListenError } from '../../../lib/listen.ts';
import { createLogger, silentLogger } from '../../../lib/log.ts';
import { Browser, forms, loginForm, page } from '../../support/browser.ts';

const AUDIENCE = 'http://localhost:8080';
const SCOPE = 'openid profile email groups offline_access';

let idp: DevIdp;
let config: client.Configuration;
const logLines: string[] = [];
const consoleCalls = ['log', 'info', 'warn', 'error'].map((name) => mock.method(console, name as 'log'));

before(async () => {
  idp = await startDevIdp({ audience: AUDIENCE, logger: createLogger({ level: 'debug', write: (line) => { logLines.push(line); } }) });
  config = await discover(idp);
});
after(async () => {
  await idp.close();
  mock.restoreAll();
});

function discover(provider: DevIdp): Promise<client.Configuration> {
  return client.discovery(new URL(provider.issuer), 'airlock-cli', undefined, client.None(), { execute: [client.allowInsecureRequests] });
}

// ---- flows --------------------------------------------------------------------------------------

const atCallback = (to: URL) => to.pathname === DEV_CALLBACK_PATH;

/**
 * Authorization Code + PKCE through the login page as `user`; returns the token response.
 * prompt=consent: without it an OpenID provider must ignore offline_access (OIDC Core §11).
 */
async function signIn(cfg: client.Configuration, user: string, options: { port?: number; prompt?: string | null; browser?: Browser } = {}) {
  const { port = 49152 + Math.floor(Math.random() * 10000), prompt = 'consent', browser = new Browser() } = options;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: `http://127.0.0.1:${port}${DEV_CALLBACK_PATH}`,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    resource: AUDIENCE,
    state,
    ...(prompt === null ? {} : { prompt }),
  });
  const login = loginForm(page(await browser.go(url)));
  const callback = await browser.go(login.action, { user }, atCallback);
  assert.ok(callback instanceof URL, `expected a redirect to the loopback callback, got ${JSON.stringify(callback).slice(0, 300)}`);
  assert.equal(callback.origin, `http://127.0.0.1:${port}`);
  return client.authorizationCodeGrant(cfg, callback, { pkceCodeVerifier: verifier, expectedState: state });
}

/** What the gateway will do with an access token. */
async function verifyAccessToken(provider: DevIdp, token: string): Promise<JWTPayload> {
  assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
  const jwks = createRemoteJWKSet(new URL(`${provider.issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: provider.issuer, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['ES256'], requiredClaims: ['exp'] });
  assert.equal(protectedHeader.alg, 'ES256');
  return payload;
}

async function authorizationError(params: Record<string, string>): Promise<URLSearchParams> {
  const url = client.buildAuthorizationUrl(config, { redirect_uri: `http://127.0.0.1:50000${DEV_CALLBACK_PATH}`, scope: SCOPE, state: 's', ...params });
  const to = await new Browser().go(url, undefined, atCallback);
  assert.ok(to instanceof URL, 'the error goes back to the (valid) redirect_uri');
  return to.searchParams;
}

// ---- tests --------------------------------------------------------------------------------------

test('start logs the DEV ONLY warning through the logger', () => {
  const records = logLines.map((l) => JSON.parse(l) as { level: string; msg: string; component?: string });
  assert.ok(records.some((r) => r.level === 'warn' && r.component === 'dev-idp'
    && r.msg === `DEV ONLY: embedded development identity provider at ${idp.issuer}; users alice (admins), bob (developers); never use it in production`));
  assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(idp.url, idp.issuer);
});

test('discovery over http: device flow, revocation, introspection, PKCE S256 only', () => {
  const m = config.serverMetadata();
  assert.equal(m.issuer, idp.issuer);
  assert.equal(m.device_authorization_endpoint, `${idp.issuer}/device/auth`);
  assert.equal(m.revocation_endpoint, `${idp.issuer}/token/revocation`);
  assert.equal(m.introspection_endpoint, `${idp.issuer}/token/introspection`);
  assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(m.grant_types_supported, ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']);
  assert.deepEqual(m.token_endpoint_auth_methods_supported, ['none']);
  for (const s of SCOPE.split(' ')) assert.ok(m.scopes_supported?.includes(s), `scope ${s} is supported`);
});

test('alice: code + PKCE on a loopback redirect, RFC 9068 access token for the gateway, refresh, revoke', async () => {
  const tokens = await signIn(config, 'alice');
  const at = await verifyAccessToken(idp, tokens.access_token);
  assert.equal(at.sub, 'alice');
  assert.equal(at.aud, AUDIENCE);
  assert.deepEqual(at.groups, ['admins']);
  assert.equal(at.email, 'alice@airlock.dev');
  assert.equal(at.name, 'Alice (dev)');
  assert.equal(at.client_id, 'airlock-cli');
  assert.equal(at.exp! - at.iat!, 900);
  assert.equal(tokens.expires_in, 900);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  const id = tokens.claims();
  assert.equal(id?.sub, 'alice');
  assert.deepEqual(id?.groups, ['admins']);
  assert.equal(id?.email, 'alice@airlock.dev');

  assert.ok(tokens.refresh_token, 'offline_access with prompt=consent yields a refresh token');
  const introspected = await client.tokenIntrospection(config, tokens.refresh_token);
  assert.equal(introspected.active, true);
  assert.equal(introspected.sub, 'alice');
  assert.equal(introspected.client_id, 'airlock-cli');
  assert.equal(introspected.scope, SCOPE);
  // JWT access tokens are self-contained: oidc-provider neither introspects nor revokes them
  for (const call of [client.tokenIntrospection, client.tokenRevocation]) {
    await assert.rejects(call(config, tokens.access_token), (err: unknown) => {
      assert.ok(err instanceof client.ResponseBodyError, String(err));
      assert.equal(err.error, 'unsupported_token_type');
      assert.match(err.error_description ?? '', /^Structured JWT Tokens cannot be (introspected|revoked) via the (introspection|revocation)_endpoint$/);
      return true;
    });
  }

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const at2 = await verifyAccessToken(idp, refreshed.access_token);
  assert.equal(at2.sub, 'alice');
  assert.deepEqual(at2.groups, ['admins']);
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'public clients get rotated refresh tokens');

  await client.tokenRevocation(config, refreshed.refresh_token);
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (err: unknown) => {
    assert.ok(err instanceof client.ResponseBodyError, String(err));
    assert.equal(err.error, 'invalid_grant');
    assert.equal(err.error_description, 'grant request is invalid');
    return true;
  });
  assert.equal((await client.tokenIntrospection(config, refreshed.refresh_token)).active, false);
});

test('bob gets groups [developers]; any loopback port is accepted', async () => {
  const tokens = await signIn(config, 'bob', { port: 61234 });
  const at = await verifyAccessToken(idp, tokens.access_token);
  assert.equal(at.sub, 'bob');
  assert.deepEqual(at.groups, ['developers']);
  assert.deepEqual(tokens.claims()?.groups, ['developers']);
});

test('the login page is shown on every authorization, so one browser can switch users', async () => {
  const browser = new Browser();
  const alice = await signIn(config, 'alice', { browser });
  assert.equal((await verifyAccessToken(idp, alice.access_token)).sub, 'alice');
  // switching ends alice's browser session (oidc-provider's self-submitting logout form) ...
  assert.equal((await verifyAccessToken(idp, (await signIn(config, 'bob', { browser })).access_token)).sub, 'bob');
  // ... but her offline_access grant outlives it
  assert.equal((await verifyAccessToken(idp, (await client.refreshTokenGrant(config, alice.refresh_token!)).access_token)).sub, 'alice');
});

test('without prompt=consent, offline_access is dropped: no refresh token (OIDC Core §11)', async () => {
  const tokens = await signIn(config, 'bob', { prompt: null });
  assert.equal(tokens.refresh_token, undefined);
  assert.deepEqual((await verifyAccessToken(idp, tokens.access_token)).groups, ['developers']);
});

test('device flow: enter the code, pick bob, polling returns his access token', async () => {
  const da = await client.initiateDeviceAuthorization(config, { scope: SCOPE, resource: AUDIENCE });
  assert.equal(da.verification_uri, `${idp.issuer}/device`);
  assert.match(da.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
  // RFC 8628's default interval is 5 s; 1 s keeps this test quick and still sees authorization_pending
  const polling = client.pollDeviceAuthorizationGrant(config, { ...da, interval: 1 });
  polling.catch(() => {}); // awaited below

  const browser = new Browser();
  const codePage = page(await browser.go(da.verification_uri));
  assert.match(codePage.body, /DEV ONLY — airlock development identity provider/);
  const codeForm = forms(codePage)[0];
  assert.ok(codeForm && codeForm.fields.xsrf, 'the code form carries its xsrf token');
  const login = loginForm(page(await browser.go(codeForm.action, { ...codeForm.fields, user_code: da.user_code.toLowerCase() })));
  const done = page(await browser.go(login.action, { user: 'bob' }));
  assert.equal(done.status, 200);
  assert.match(done.body, /You are signed in/);

  const tokens = await polling;
  const at = await verifyAccessToken(idp, tokens.access_token);
  assert.equal(at.sub, 'bob');
  assert.deepEqual(at.groups, ['developers']);
  assert.ok(tokens.refresh_token);
});

test('device flow: a prefilled verification_uri_complete link asks for confirmation first', async () => {
  const da = await client.initiateDeviceAuthorization(config, { scope: 'openid groups' });
  assert.ok(da.verification_uri_complete);
  const browser = new Browser();
  const confirmPage = page(await browser.go(da.verification_uri_complete)); // through a self-submitting form
  assert.match(confirmPage.body, new RegExp(`Continue only if your terminal shows this code`));
  assert.ok(confirmPage.body.includes(da.user_code), 'the code to compare is shown');
  // the buttons sit inside the form, so browsers without the form= attribute (w3m, lynx) submit it
  assert.match(confirmPage.body, /<form [^>]*id="op\.deviceConfirmForm"[^>]*>[\s\S]*<button type="submit">Continue<\/button>\n<button type="submit" name="abort" value="yes">Cancel<\/button><\/form>/);
  const confirm = forms(confirmPage).find((f) => f.fields.confirm === 'yes')!;
  const login = loginForm(page(await browser.go(confirm.action, confirm.fields)));
  assert.match(page(await browser.go(login.action, { user: 'alice' })).body, /You are signed in/);
  const tokens = await client.pollDeviceAuthorizationGrant(config, { ...da, interval: 0 });
  assert.deepEqual((await verifyAccessToken(idp, tokens.access_token)).groups, ['admins']);
  assert.equal(tokens.refresh_token, undefined, 'no offline_access, no refresh token');
});

test('device flow: a wrong user code is refused on the page', async () => {
  const browser = new Browser();
  const form = forms(page(await browser.go(`${idp.issuer}/device`)))[0]!;
  const again = page(await browser.go(form.action, { ...form.fields, user_code: 'BCDF-GHJK' }));
  assert.equal(again.status, 400);
  assert.match(again.body, /That code is not valid or has expired/);
});

test('the login page refuses an unknown user', async () => {
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `http://127.0.0.1:50001${DEV_CALLBACK_PATH}`, scope: SCOPE, state: 's',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const browser = new Browser();
  const login = loginForm(page(await browser.go(url)));
  const refused = page(await browser.go(login.action, { user: 'mallory' }));
  assert.equal(refused.status, 400);
  assert.match(refused.body, /Unknown user &#34;mallory&#34;: the development provider knows only alice and bob\./);
  // a cross-site post (foreign Origin) is refused before anything else
  const res = await fetch(login.action, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'user=alice' });
  assert.equal(res.status, 403);
  // without the interaction cookie (another browser) the form is refused too
  const stranger = page(await new Browser().go(login.action, { user: 'alice' }));
  assert.equal(stranger.status, 400);
  assert.match(stranger.body, /This sign-in request expired or was started in another browser/);
});

test('Cancel on the login page returns access_denied to the client', async () => {
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `http://127.0.0.1:50002${DEV_CALLBACK_PATH}`, scope: SCOPE, state: 'st',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const browser = new Browser();
  const p = page(await browser.go(url));
  const cancel = forms(p).find((f) => f.action.pathname.endsWith('/abort'))!;
  const to = await browser.go(cancel.action, {}, atCallback);
  assert.ok(to instanceof URL);
  assert.equal(to.searchParams.get('error'), 'access_denied');
  assert.equal(to.searchParams.get('error_description'), 'the user cancelled the sign-in');
  assert.equal(to.searchParams.get('state'), 'st');
});

test('a redirect_uri that is not a registered loopback callback is refused', async () => {
  const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  for (const redirect of ['https://app.example.com/callback', 'http://evil.example:50000/callback', 'http://127.0.0.1:50000/elsewhere']) {
    const url = client.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: SCOPE, code_challenge: challenge, code_challenge_method: 'S256' });
    const refused = page(await new Browser().go(url));
    assert.equal(refused.status, 400, redirect);
    assert.match(refused.body, /Sign-in failed: invalid_redirect_uri/, redirect);
    assert.match(refused.body, /redirect_uri did not match any of the client&#39;s registered redirect_uris/, redirect);
  }
});

test('authorization without PKCE, with plain PKCE, or for another resource is refused', async () => {
  let p = await authorizationError({});
  assert.equal(p.get('error'), 'invalid_request');
  assert.equal(p.get('error_description'), 'Authorization Server policy requires PKCE to be used for this request');
  p = await authorizationError({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
  assert.equal(p.get('error'), 'invalid_request');
  assert.equal(p.get('error_description'), 'not supported value of code_challenge_method');
  const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  p = await authorizationError({ code_challenge: challenge, code_challenge_method: 'S256', resource: 'https://other.example' });
  assert.equal(p.get('error'), 'invalid_target');
  assert.equal(p.get('error_description'), `this development provider issues tokens only for ${AUDIENCE}`);
});

test('keyFile: the signing key survives a restart (mode 0600); a token from before still verifies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-idp-'));
  const keyFile = join(dir, 'state', 'idp-keys.json');
  const first = await startDevIdp({ audience: AUDIENCE, keyFile, logger: silentLogger });
  t.after(() => first.close());
  const kids = async (p: DevIdp) => ((await (await fetch(`${p.issuer}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  const before = await kids(first);
  const { access_token: token } = await signIn(await discover(first), 'alice');
  const port = Number(new URL(first.issuer).port);
  await first.close();
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);

  const second = await startDevIdp({ audience: AUDIENCE, keyFile, port, logger: silentLogger });
  t.after(() => second.close());
  assert.equal(second.issuer, first.issuer);
  assert.deepEqual(await kids(second), before);
  assert.equal((await verifyAccessToken(second, token)).sub, 'alice');
  assert.notDeepEqual(await kids(idp), before, 'without keyFile the keys are fresh');
});

test('keyFile: a file that is not an ES256 JWKS is refused with CLI_INPUT_INVALID', async () => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'airlock-idp-')), 'idp-keys.json');
  writeFileSync(keyFile, '{"keys":[{"kty":"oct","k":"AAAA"}]}', { mode: 0o600 });
  await assert.rejects(startDevIdp({ audience: AUDIENCE, keyFile, logger: silentLogger }), (err: unknown) => {
    assert.ok(err instanceof CliError);
    assert.equal(err.code, 'CLI_INPUT_INVALID');
    assert.equal(err.message, `The development identity provider's key file ${keyFile} is not a JWKS with an ES256 private key; delete it and a new one is generated.`);
    return true;
  });
});

test('a port in use is refused with an error naming the port', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const { port } = blocker.address() as { port: number };
  await assert.rejects(startDevIdp({ audience: AUDIENCE, port, logger: silentLogger }), (err: unknown) => {
    assert.ok(err instanceof ListenError);
    assert.equal(err.errno, 'EADDRINUSE');
    assert.equal(err.message, `Port ${port} on 127.0.0.1 is already in use; stop what holds it, or choose another with --idp-port.`);
    return true;
  });
});

test('bad options are refused with TypeError', async () => {
  await assert.rejects(startDevIdp({ audience: 'not a url' }), TypeError);
  await assert.rejects(startDevIdp({ audience: AUDIENCE, accessTokenTtl: 0 }), TypeError);
});

test('close() is idempotent', async () => {
  const p = await startDevIdp({ audience: AUDIENCE, logger: silentLogger });
  await Promise.all([p.close(), p.close()]);
  await p.close();
  await assert.rejects(fetch(`${p.issuer}/jwks`));
});

// ---- dynamic client registration (RFC 7591), for MCP clients --------------------------------------

async function register(metadata: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${idp.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('a registered MCP client (public, native, loopback) signs in like the CLI and gets the same access tokens', async () => {
  assert.equal(config.serverMetadata().registration_endpoint, `${idp.issuer}/reg`);
  const registered = await client.dynamicClientRegistration(new URL(idp.issuer), {
    client_name: 'an MCP client', software_id: 'mcp-client-x', software_version: '1.2.3',
    redirect_uris: ['http://127.0.0.1:43110/callback'], // the port it had at registration ...
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
  }, client.None(), { execute: [client.allowInsecureRequests] });
  const m = registered.clientMetadata();
  assert.match(m.client_id, /^[\w-]{20,}$/);
  assert.equal(m.client_secret, undefined, 'a public client gets no secret');
  assert.equal(m.application_type, 'native');
  assert.equal(m.software_id, 'mcp-client-x');
  assert.equal(m.registration_access_token, undefined, 'no RFC 7592 management');

  const tokens = await signIn(registered, 'bob', { port: 51234 }); // ... and any other port later
  const at = await verifyAccessToken(idp, tokens.access_token);
  assert.deepEqual([at.sub, at.aud, at.groups, at.client_id, at.scope], ['bob', AUDIENCE, ['developers'], m.client_id, 'profile email groups']);
  assert.ok(tokens.refresh_token);
  const refreshed = await client.refreshTokenGrant(registered, tokens.refresh_token);
  assert.equal((await verifyAccessToken(idp, refreshed.access_token)).client_id, m.client_id);
  // another client (the CLI) cannot revoke it: the request is ignored or refused, and it still works
  await client.tokenRevocation(config, refreshed.refresh_token!).catch(() => {});
  const again = await client.refreshTokenGrant(registered, refreshed.refresh_token!);
  assert.equal((await verifyAccessToken(idp, again.access_token)).sub, 'bob');
});

test('registration refuses redirects off this machine, custom schemes and confidential clients', async () => {
  for (const redirect of ['https://app.example.com/callback', 'http://evil.example/callback', 'cursor://callback', 'http://user:pw@127.0.0.1/cb']) {
    const { status, body } = await register({ redirect_uris: [redirect] });
    assert.equal(status, 400, redirect);
    assert.equal(body.error, 'invalid_redirect_uri', redirect);
    assert.equal(body.error_description, 'redirect_uris must all be http loopback addresses (http://127.0.0.1:<port>/<path>, RFC 8252): this development provider registers only native clients', redirect);
  }
  const mixed = await register({ redirect_uris: ['http://127.0.0.1:1/cb', 'https://app.example.com/cb'] });
  assert.equal(mixed.body.error, 'invalid_redirect_uri');
  const confidential = await register({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'client_secret_basic' });
  assert.equal(confidential.status, 400);
  assert.equal(confidential.body.error, 'invalid_client_metadata');
  assert.match(String(confidential.body.error_description), /token_endpoint_auth_method/);
});

// ---- POST /dev/token ------------------------------------------------------------------------------

async function devToken(body: string, headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }, path = '/dev/token') {
  const res = await fetch(`${idp.issuer}${path}`, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

test('POST /dev/token (form or JSON) mints the provider\'s own kind of access token, advertised in discovery', async () => {
  assert.equal((config.serverMetadata() as Record<string, unknown>).airlock_dev_token_endpoint, `${idp.issuer}/dev/token`);
  const form = await devToken('user=alice');
  assert.equal(form.status, 200);
  assert.equal(form.headers.get('cache-control'), 'no-store');
  assert.deepEqual({ ...form.body, access_token: '' }, { access_token: '', token_type: 'Bearer', expires_in: 900, scope: 'profile email groups' });
  const token = form.body.access_token as string;
  const at = await verifyAccessToken(idp, token); // jose against the provider's JWKS
  const kids = ((await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  assert.deepEqual([decodeProtectedHeader(token).kid], kids, 'signed with the provider\'s key');
  assert.deepEqual([at.iss, at.sub, at.aud, at.groups, at.email, at.name, at.client_id, at.scope], [idp.issuer, 'alice', AUDIENCE, ['admins'], 'alice@airlock.dev', 'Alice (dev)', 'airlock-cli', 'profile email groups']);
  assert.equal(at.exp! - at.iat!, 900);
  assert.match(String(at.jti), /^[\w-]{43}$/);
  const fromLogin = await verifyAccessToken(idp, (await signIn(config, 'alice')).access_token);
  assert.deepEqual(Object.keys(at).sort(), Object.keys(fromLogin).sort(), 'the same claims as from the token endpoint');

  const json = await devToken('{"user":"bob"}', { 'content-type': 'application/json' });
  assert.equal(json.status, 200);
  assert.deepEqual((await verifyAccessToken(idp, json.body.access_token as string)).groups, ['developers']);
});

test('POST /dev/token refuses unknown users, GET, the URL, extra fields, web pages and other hosts', async () => {
  const refused = async (p: Promise<{ status: number; body: Record<string, unknown> }>, status: number, description: string) => {
    const r = await p;
    assert.equal(r.status, status, description);
    assert.deepEqual(r.body, { error: 'invalid_request', error_description: description });
  };
  await refused(devToken('user=mallory'), 400, 'unknown user "mallory": the development provider knows only alice and bob');
  await refused(devToken('user=alice', undefined, '/dev/token?user=alice'), 400, 'parameters in the URL are refused; send the user in the body');
  await refused(devToken('user=alice&scope=admin'), 400, 'the body must carry exactly one field, "user", a string');
  await refused(devToken('{"user":["alice"]}', { 'content-type': 'application/json' }), 400, 'the body must carry exactly one field, "user", a string');
  await refused(devToken('{"user":', { 'content-type': 'application/json' }), 400, 'the body is not valid JSON');
  await refused(devToken('alice', { 'content-type': 'text/plain' }), 400, 'send a form (application/x-www-form-urlencoded) or JSON body {"user": "<name>"}');
  await refused(devToken(`user=${'a'.repeat(5000)}`), 413, 'the body is larger than 4096 bytes');
  await refused(devToken('user=alice', { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }), 403, 'requests from web pages are refused');

  const get = await fetch(`${idp.issuer}/dev/token`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal(((await get.json()) as { error: string }).error, 'invalid_request');

  // DNS rebinding: a page at evil.example resolving to 127.0.0.1 would send Host: evil.example
  const { port } = new URL(idp.issuer);
  const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/dev/token', method: 'POST', headers: { host: `evil.example:${port}`, 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end('user=alice');
  });
  assert.equal(rebound.status, 403);
  assert.deepEqual(JSON.parse(rebound.body), { error: 'invalid_request', error_description: `requests must be addressed to 127.0.0.1:${port}` });
});

test('oidc-provider printed nothing to the console (everything went through the logger)', () => {
  assert.deepEqual(logLines.filter((l) => (JSON.parse(l) as { level: string }).level === 'error'), [], 'no server errors were logged');
  for (const m of consoleCalls) assert.deepEqual(m.mock.calls.map((c) => c.arguments), []);
});
