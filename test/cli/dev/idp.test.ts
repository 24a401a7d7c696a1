// The development OpenID provider, driven as `airlock login` will drive it: the real openid-client
// for the protocol, plain fetch as the browser (redirects followed by hand, cookies carried), and
// jose for what the gateway will check on the access tokens.
import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { DEV_CALLBACK_PATH, DEV_USERS, startDevIdp, type DevIdp } from '../../../cli/dev/idp.ts';
import { CliError } from '../../../cli/errors.ts';
import { ListenError } from '../../../lib/listen.ts';
import { createLogger, silentLogger } from '../../../lib/log.ts';

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

// ---- a browser: cookies by name and path, redirects followed by hand ------------------------------

interface Page { status: number; url: URL; body: string }
interface Form { action: URL; fields: Record<string, string> }

class Browser {
  readonly #jar = new Map<string, { name: string; value: string; path: string }>();

  /** Requests `url` and follows redirects; stops at (and returns) a redirect that `stop` accepts. */
  async go(url: URL | string, form?: Record<string, string>, stop: (to: URL) => boolean = () => false): Promise<Page | URL> {
    let target = new URL(url);
    let body = form === undefined ? undefined : new URLSearchParams(form);
    for (let hops = 0; hops < 15; hops++) {
      const cookie = [...this.#jar.values()].filter((c) => target.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
      const res = await fetch(target, {
        method: body ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { accept: 'text/html', ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(body ? { body } : {}),
      });
      this.#store(res.headers.getSetCookie());
      const location = res.headers.get('location');
      if (res.status < 300 || res.status > 399 || location === null) {
        const p: Page = { status: res.status, url: target, body: await res.text() };
        // oidc-provider's self-submitting form (form_post): a browser's script posts it at once
        const auto = p.body.includes('document.forms[0].submit()') ? forms(p)[0] : undefined;
        if (auto === undefined) return p;
        target = auto.action;
        body = new URLSearchParams(auto.fields);
        continue;
      }
      await res.body?.cancel();
      target = new URL(location, target);
      if (stop(target)) return target;
      body = undefined; // 302/303: the browser follows with GET
    }
    throw new Error('too many redirects');
  }

  #store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = (n: string) => attributes.find((a) => a.toLowerCase().startsWith(`${n}=`))?.slice(n.length + 1);
      const path = attr('path') ?? '/';
      const expires = attr('expires');
      const key = `${name}|${path}`;
      if (value === '' || (expires !== undefined && Date.parse(expires) <= Date.now())) this.#jar.delete(key);
      else this.#jar.set(key, { name, value, path });
    }
  }
}

function page(result: Page | URL): Page {
  assert.ok(!(result instanceof URL), `expected a page, got a redirect to ${String(result)}`);
  return result;
}

function forms(p: Page): Form[] {
  return [...p.body.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)].map(([, action = '', inner = '']) => ({
    action: new URL(action.replaceAll('&amp;', '&'), p.url),
    fields: Object.fromEntries([...inner.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map(([, n = '', v = '']) => [n, v])),
  }));
}

function loginForm(p: Page): Form {
  const form = forms(p).find((f) => f.action.pathname.endsWith('/login'));
  assert.ok(form, `no login form on ${p.url.href} (status ${p.status}): ${p.body.slice(0, 300)}`);
  assert.match(p.body, /DEV ONLY — airlock development identity provider/);
  for (const u of DEV_USERS) assert.ok(p.body.includes(`name="user" value="${u.sub}"`), `a button for ${u.sub}`);
  return form;
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

test('oidc-provider printed nothing to the console (everything went through the logger)', () => {
  assert.deepEqual(logLines.filter((l) => (JSON.parse(l) as { level: string }).level === 'error'), [], 'no server errors were logged');
  for (const m of consoleCalls) assert.deepEqual(m.mock.calls.map((c) => c.arguments), []);
});
