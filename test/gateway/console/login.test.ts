// The console's sign-in over plain HTTP: authorization code + PKCE at the development provider,
// the session cookie's flags, what the store keeps, CSRF on every POST, headers, sign-out, restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../../gateway/errors.ts';
import { createHash } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { consoleSignIn, csrfOf, startConsoleGateway } from '../../support/console.ts';
import type { IncomingMessage } from 'node:http';
import { CSP } from '../../../gateway/console/html.ts';
import { consoleLogin } from '../../../gateway/console/login.ts';
import { rowId, unseal, WebSessions, type SessionTokens } from '../../../gateway/console/web-session.ts';

test('console sign-in, cookie, CSRF, headers and sign-out', async (t) => {
  const gw = await startConsoleGateway();
  t.after(() => gw.close());
  const get = (path: string, cookie?: string) => fetch(`${gw.origin}${path}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });

  await t.test('a page without a sign-in goes to the sign-in and back', async () => {
    const res = await get('/console/sessions?decision=deny');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/console/login?return=%2Fconsole%2Fsessions%3Fdecision%3Ddeny');
    const start = await get('/console/login?return=%2Fconsole%2Fsessions');
    const to = new URL(start.headers.get('location')!);
    assert.equal(to.origin, gw.idp.issuer);
    assert.equal(to.searchParams.get('client_id'), 'airlock-console');
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(to.searchParams.get('redirect_uri'), `${gw.origin}/console/callback`);
    assert.match(start.headers.getSetCookie()[0]!, /^__Host-airlock-login=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=600$/);
  });

  const alice = await consoleSignIn(gw.origin, 'alice', '/console/sessions');

  await t.test('the session cookie is __Host-, HttpOnly, Secure, SameSite=Lax, Path=/, and the return path is kept', () => {
    assert.match(alice.setCookie, /^__Host-airlock=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=43200$/);
    assert.equal(alice.location, '/console/sessions');
  });

  await t.test('the store holds neither the cookie nor the tokens in the clear', () => {
    const db = new DatabaseSync(join(gw.dir, 'gw.db'), { readOnly: true });
    const rows = db.prepare('SELECT id, kind, subject, sealed FROM console_sessions').all() as Array<Record<string, string>>;
    db.close();
    const secret = alice.cookie.split('=')[1]!;
    const row = rows.find((r) => r.kind === 'session')!;
    assert.equal(row.subject, 'alice');
    assert.equal(row.id, createHash('sha256').update(`airlock console row\0${secret}`).digest('hex'));
    const all = JSON.stringify(rows);
    assert.ok(!all.includes(secret), 'no cookie secret in the store');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(all), 'no JWT in the store');
    assert.equal(rows.filter((r) => r.kind === 'login').length, 1, 'only the abandoned sign-in of the first test is in progress: the finished one was used up');
  });

  await t.test('pages carry a strict CSP and no-framing headers', async () => {
    const res = await get('/console/reviews', alice.cookie);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-security-policy'), CSP);
    assert.match(CSP, /default-src 'self'/);
    assert.match(CSP, /frame-ancestors 'none'/);
    assert.doesNotMatch(CSP, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.text();
    assert.doesNotMatch(body, /<script>|<style>| style="| on[a-z]+="/, 'nothing inline');
    const script = await get('/console/static/console.js');
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type')!, /^text\/javascript/);
  });

  await t.test('a POST without the form token, or from another origin, is refused with GW_CONSOLE_CSRF', async () => {
    const page = await (await get('/console/reviews', alice.cookie)).text();
    const csrf = csrfOf(page);
    const post = (body: string, origin: string | undefined) => fetch(`${gw.origin}/console/logout`, {
      method: 'POST', redirect: 'manual', body,
      headers: { cookie: alice.cookie, 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
    });
    for (const [body, origin, message] of [
      ['', gw.origin, /without the page&#39;s form token/],
      [`csrf=${'A'.repeat(43)}`, gw.origin, /without the page&#39;s form token/],
      [`csrf=${csrf}`, 'http://evil.test', /came from &#34;http:\/\/evil\.test&#34;, not from the console/],
      [`csrf=${csrf}`, undefined, /without an Origin header/],
      // A sandboxed frame or a redirect chain sends "null"; another port on the same host is another origin.
      [`csrf=${csrf}`, 'null', /came from &#34;null&#34;, not from the console/],
      [`csrf=${csrf}`, gw.origin.replace(/:(\d+)$/, (_m, p: string) => `:${Number(p) + 1}`), /not from the console/],
      [`csrf=${csrf}`, gw.origin.replace('127.0.0.1', 'localhost'), /not from the console/],
      [`csrf=${csrf}`, `${gw.origin}/`, /not from the console/],
    ] as const) {
      const res = await post(body, origin);
      const text = await res.text();
      assert.equal(res.status, 403, text);
      assert.match(text, /GW_CONSOLE_CSRF/);
      assert.match(text, message);
    }
    assert.equal((await get('/console/reviews', alice.cookie)).status, 200, 'still signed in');
  });

  await t.test('a token-like query parameter on a page neither signs in nor out', async () => {
    const res = await get('/console/reviews?access_token=x&token=y', alice.cookie);
    assert.equal(res.status, 200);
    assert.equal((await get('/console/reviews', alice.cookie)).status, 200);
  });

  await t.test('the sign-in survives a gateway restart (it lives in the store)', async () => {
    await gw.restart();
    assert.equal((await get('/console/reviews', alice.cookie)).status, 200);
  });

  await t.test('a callback with no sign-in in progress, or a forged state, is GW_CONSOLE_LOGIN_FAILED', async () => {
    const bare = await get('/console/callback?code=x&state=y');
    assert.equal(bare.status, 400);
    assert.match(await bare.text(), /GW_CONSOLE_LOGIN_FAILED.*unknown, expired or already used/s);
    const start = await get('/console/login');
    const loginCookie = start.headers.getSetCookie()[0]!.split(';')[0]!;
    const forged = await get('/console/callback?code=x&state=forged', loginCookie);
    assert.equal(forged.status, 400);
    assert.match(await forged.text(), /GW_CONSOLE_LOGIN_FAILED.*did not complete the sign-in/s);
  });

  await t.test('a return path elsewhere is not followed (no open redirect)', async () => {
    for (const evil of ['//evil.test/console', 'https://evil.test/console', '/console/../api/v1/me', '/consolex']) {
      const signedIn = await consoleSignIn(gw.origin, 'bob', evil);
      assert.equal(signedIn.location, '/console/reviews', evil);
    }
  });

  await t.test('sign-out ends the sign-in: the cookie opens nothing any more', async () => {
    const csrf = csrfOf(await (await get('/console/reviews', alice.cookie)).text());
    const res = await fetch(`${gw.origin}/console/logout`, {
      method: 'POST', redirect: 'manual', body: `csrf=${csrf}`,
      headers: { cookie: alice.cookie, 'content-type': 'application/x-www-form-urlencoded', origin: gw.origin },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.getSetCookie()[0]!, /^__Host-airlock=; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=0$/);
    assert.equal((await get('/console/reviews', alice.cookie)).status, 303);
    const after = await fetch(`${gw.origin}/console/logout`, { method: 'POST', body: `csrf=${csrf}`, headers: { cookie: alice.cookie, 'content-type': 'application/x-www-form-urlencoded', origin: gw.origin } });
    assert.equal(after.status, 401);
    assert.match(await after.text(), /GW_AUTH_REQUIRED/);
  });
});

test('an access token about to expire is refreshed at the provider; a revoked refresh token signs out', async (t) => {
  const gw = await startConsoleGateway();
  t.after(() => gw.close());
  const { cookie } = await consoleSignIn(gw.origin, 'alice');
  const secret = cookie.split('=')[1]!;
  // The console's own parts, over the gateway's store and authenticator, an hour later by their clock.
  const { config, authn, store, logger } = gw.gw;
  let sessions: WebSessions;
  const login = consoleLogin({ config, authn, sessions: () => sessions, publicUrl: gw.origin, resource: 'http://airlock.test', logger });
  let refreshed = 0;
  const later = () => Date.now() + 3_600_000;
  sessions = new WebSessions({ store, authenticator: authn.authenticator, refresh: async (r) => { refreshed++; return login.refresh(r); }, ttlS: 3600, now: later });
  const req = { headers: { cookie } } as IncomingMessage;
  const url = new URL(`${gw.origin}/console/reviews`);
  const before = unseal<SessionTokens>(secret, (await store.consoleSessions.get(rowId(secret)))!.sealed)!;
  const first = await sessions.identify(req, url);
  assert.equal(first?.identity.sub, 'alice');
  assert.equal(refreshed, 1);
  assert.notEqual(first.tokens.accessToken, before.accessToken, 'a new access token');
  const stored = unseal<SessionTokens>(secret, (await store.consoleSessions.get(rowId(secret)))!.sealed)!;
  assert.equal(stored.accessToken, first.tokens.accessToken, 'kept, sealed, in the row');

  await login.revoke(stored.refreshToken);
  assert.equal(await sessions.identify(req, url), null, 'the provider refuses the refresh: signed out');
  assert.equal(await store.consoleSessions.get(rowId(secret)), null, 'and the row is gone');
});

test('a sign-out that lands while a refresh is under way stays a sign-out: the refresh does not bring the row back', async (t) => {
  const gw = await startConsoleGateway();
  t.after(() => gw.close());
  const { cookie } = await consoleSignIn(gw.origin, 'alice');
  const secret = cookie.split('=')[1]!;
  const { config, authn, store, logger } = gw.gw;
  let sessions: WebSessions;
  const login = consoleLogin({ config, authn, sessions: () => sessions, publicUrl: gw.origin, resource: 'http://airlock.test', logger });
  // A stolen cookie's request refreshes (an hour later by its clock) while the owner signs out on another replica.
  sessions = new WebSessions({
    store, authenticator: authn.authenticator, ttlS: 3600, now: () => Date.now() + 3_600_000,
    refresh: async (r) => { const fresh = await login.refresh(r); await sessions.end(rowId(secret)); return fresh; },
  });
  const req = { headers: { cookie } } as IncomingMessage;
  assert.equal(await sessions.identify(req, new URL(`${gw.origin}/console/reviews`)), null, 'the ended sign-in signs nobody in');
  assert.equal(await store.consoleSessions.get(rowId(secret)), null, 'and its row stays gone');
});

test('sign-ins in progress are capped: a flood of GET /console/login cannot fill the store', async (t) => {
  const gw = await startConsoleGateway();
  t.after(() => gw.close());
  const { authn, store } = gw.gw;
  const sessions = new WebSessions({ store, authenticator: authn.authenticator, refresh: async () => null, ttlS: 3600, maxPendingLogins: 2 });
  const login = { verifier: 'v', state: 's', nonce: 'n', returnTo: '/console/reviews' };
  const first = await sessions.begin(login);
  await sessions.begin(login);
  await assert.rejects(sessions.begin(login), (err: GatewayError) => {
    assert.equal(err.code, 'GW_CONSOLE_BUSY');
    assert.equal(err.status, 503);
    assert.match(err.message, /Too many console sign-ins are in progress right now; try again in a few minutes\./);
    return true;
  });
  assert.equal(await store.consoleSessions.count('login'), 2, 'the refused one stored nothing');
  assert.deepEqual(await sessions.takeLogin(first), login, 'a finished sign-in frees its place');
  await sessions.begin(login);
});
