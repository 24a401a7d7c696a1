// `airlock login`, `token`, `whoami`, `logout` and `dev token` as a user runs them: the real command
// as a child process, against the real development identity provider and a real gateway (both in
// this process, wired as `airlock dev` wires them), with fetch playing the browser. Every command
// gets its own credentials directory (AIRLOCK_CONFIG_DIR), never the real home.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { startDevIdp, type DevIdp } from '../../cli/dev/idp.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { silentLogger } from '../../lib/log.ts';
import { approveDevice, Browser, forms, page, signInAt } from '../support/browser.ts';
import { AIRLOCK, run, start, type Finished } from '../support/process.ts';
import { freePort } from '../../lib/listen.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-login-'));
let idp: DevIdp;
let gateway: RunningGateway;
let gw: string; // the gateway URL, as `airlock dev` prints it
let bare: RunningGateway; // a gateway with no identity provider and no dev flag

before(async () => {
  const port = await freePort();
  gw = `http://127.0.0.1:${port}`;
  idp = await startDevIdp({ audience: gw, logger: silentLogger });
  gateway = await startGateway({
    env: {}, cwd: dir, logger: silentLogger,
    overrides: { server: { host: '127.0.0.1', port, publicUrl: gw }, store: { url: `sqlite:${join(dir, 'gw.db')}` }, auth: { issuer: idp.issuer, audience: gw }, dev: { embeddedIdp: true } },
  });
  bare = await startGateway({ env: {}, cwd: dir, logger: silentLogger, overrides: { server: { host: '127.0.0.1', port: 0 }, store: { url: `sqlite:${join(dir, 'bare.db')}` } } });
});
after(async () => {
  await Promise.all([gateway?.stop(), bare?.stop()]);
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

// ---- helpers --------------------------------------------------------------------------------------

/** A fresh credentials directory: the command's whole world. */
function configDir(): string {
  return mkdtempSync(join(dir, 'config-'));
}

function airlock(config: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return run(AIRLOCK, args, { cwd: dir, env: { AIRLOCK_CONFIG_DIR: config, ...env } });
}

interface Session { issuer: string; clientId: string; resource: string; accessToken: string; expiresAt: number; refreshToken?: string; scope?: string; user?: { sub: string } }
interface CredentialsFile { version: number; gateways: Record<string, Session> }

function credentials(config: string): CredentialsFile {
  return JSON.parse(readFileSync(join(config, 'credentials.json'), 'utf8')) as CredentialsFile;
}


/** What the gateway checks, done with jose against the provider's JWKS. */
async function verify(token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${idp.issuer}/jwks`)), { issuer: idp.issuer, audience: gw, typ: 'at+jwt', algorithms: ['ES256'] });
  return payload;
}

const AUTH_URL = /^  (http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m;

/** Runs `airlock login --no-browser`, signs in as `user` in the "browser"; returns the finished command. */
async function loginAs(t: TestContext, config: string, user: string): Promise<Finished & { authUrl: URL; page: string }> {
  const cmd = start(AIRLOCK, ['login', '--no-browser', '--gateway', gw], { cwd: dir, env: { AIRLOCK_CONFIG_DIR: config } });
  t.after(() => cmd.stop('SIGKILL'));
  const [, url = ''] = await cmd.waitFor(AUTH_URL);
  const authUrl = new URL(url);
  const callback = await signInAt(authUrl, user, '/callback');
  const answer = await fetch(callback); // the browser follows the redirect to the CLI
  const body = await answer.text();
  assert.equal(answer.status, 200, body);
  return { ...(await cmd.exited), authUrl, page: body };
}

function assertNoTokens(config: string, ...outputs: string[]): void {
  for (const session of Object.values(credentials(config).gateways)) {
    for (const secret of [session.accessToken, session.refreshToken].filter((s) => s !== undefined)) {
      for (const out of outputs) assert.ok(!out.includes(secret), 'no token in the output');
    }
  }
}

// ---- tests ----------------------------------------------------------------------------------------

// Concurrently: most of each test is waiting on child processes, and the device flow polls every 5 s.
describe('airlock login, token, whoami, logout, dev token', { concurrency: 3 }, () => {
  test('login (loopback + PKCE): alice signs in in the browser; the tokens land in a 0600 file keyed by gateway; token prints hers', async (t) => {
    const config = join(configDir(), 'airlock'); // not there yet: login creates it, 0700
    const cmd = start(AIRLOCK, ['login', '--no-browser', '--gateway', `${gw}/`], { cwd: dir, env: { AIRLOCK_CONFIG_DIR: config } });
    t.after(() => cmd.stop('SIGKILL'));
    const [, url = ''] = await cmd.waitFor(AUTH_URL);
    const authUrl = new URL(url);
    const p = authUrl.searchParams;
    assert.equal(authUrl.origin, idp.issuer);
    assert.equal(p.get('client_id'), 'airlock-cli');
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.match(p.get('code_challenge') ?? '', /^[\w-]{43}$/);
    assert.match(p.get('state') ?? '', /^[\w-]{43}$/);
    assert.equal(p.get('resource'), gw);
    assert.equal(p.get('scope'), 'openid profile email groups offline_access');
    assert.equal(p.get('prompt'), 'consent');
    const redirect = new URL(p.get('redirect_uri') ?? '');
    assert.equal(redirect.hostname, '127.0.0.1');
    assert.equal(redirect.pathname, '/callback');

    // something else reaching the loopback port (wrong state) is turned away; the login keeps waiting
    const stray = await fetch(`${redirect.href}?code=forged&state=not-ours`);
    assert.equal(stray.status, 400);
    assert.match(await stray.text(), /does not belong to the airlock login waiting here/);

    const callback = await signInAt(authUrl, 'alice', '/callback');
    assert.equal(callback.origin, redirect.origin);
    const answer = await fetch(callback);
    assert.equal(answer.status, 200);
    assert.match(await answer.text(), /You are signed in to airlock\. You can close this tab/);

    const done = await cmd.exited;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout, `Logged in to ${gw} as alice (Alice (dev), alice@airlock.dev).\n`);
    assert.match(done.stderr, /^To sign in, open this URL in a browser on this machine:\n/);
    assert.match(done.stderr, /Waiting for the sign-in \(up to 300 s; on a machine without a browser use --device\)\.\.\.\n$/);

    const file = join(config, 'credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(config).mode & 0o777, 0o700);
    const creds = credentials(config);
    assert.equal(creds.version, 1);
    assert.deepEqual(Object.keys(creds.gateways), [gw], 'keyed by the normalised gateway URL');
    const s = creds.gateways[gw]!;
    assert.deepEqual([s.issuer, s.clientId, s.resource, s.user?.sub], [idp.issuer, 'airlock-cli', gw, 'alice']);
    assert.ok(s.refreshToken, 'a refresh token was stored');
    assert.ok(Math.abs(s.expiresAt - (Date.now() / 1000 + 900)) < 30, 'expiry from expires_in');
    assertNoTokens(config, done.stdout, done.stderr, authUrl.href);

    // token: only the token on stdout, alice's claims; without --gateway, the one gateway logged in to
    const token = await airlock(config, ['token']);
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stderr, '');
    assert.equal(token.stdout, `${s.accessToken}\n`, 'a fresh token is not refreshed');
    const claims = await verify(s.accessToken);
    assert.deepEqual([claims.sub, claims.groups, claims.email], ['alice', ['admins'], 'alice@airlock.dev']);
  });

  test('whoami shows alice as the gateway sees her: groups and roles; --json is the gateway\'s answer', async (t) => {
    const config = configDir();
    assert.equal((await loginAs(t, config, 'alice')).code, 0);
    const human = await airlock(config, ['whoami', '--gateway', gw]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^gateway  ${gw}\\nuser     alice \\(Alice \\(dev\\)\\)\\nemail    alice@airlock\\.dev\\ngroups   admins\\nroles    admin, reviewer, auditor, user\\nvia      oidc\\ntoken    expires \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(in 1[45] min\\)\\n$`));
    const json = await airlock(config, ['whoami', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const me = JSON.parse(json.stdout) as { sub: string; groups: string[]; roles: string[]; via: string };
    assert.deepEqual([me.sub, me.groups, me.roles, me.via], ['alice', ['admins'], ['admin', 'reviewer', 'auditor', 'user'], 'oidc']);
    assertNoTokens(config, human.stdout, human.stderr, json.stdout, json.stderr);
  });

  test('refresh: an expiring token is renewed without interaction; concurrent commands share one refresh', async (t) => {
    const config = configDir();
    assert.equal((await loginAs(t, config, 'alice')).code, 0);
    const expire = () => {
      const creds = credentials(config);
      creds.gateways[gw]!.expiresAt = Math.floor(Date.now() / 1000) - 5;
      writeFileSync(join(config, 'credentials.json'), JSON.stringify(creds), { mode: 0o600 });
      return creds.gateways[gw]!;
    };
    const old = expire();
    const first = await airlock(config, ['token']);
    assert.equal(first.code, 0, first.stderr);
    const renewed = credentials(config).gateways[gw]!;
    assert.equal(first.stdout, `${renewed.accessToken}\n`);
    assert.notEqual(renewed.accessToken, old.accessToken);
    assert.notEqual(renewed.refreshToken, old.refreshToken, 'the rotated refresh token was stored');
    assert.ok(renewed.expiresAt > Date.now() / 1000 + 800);
    assert.equal((await verify(renewed.accessToken)).sub, 'alice');

    // three at once: one refreshes under the lock, the others find its token. Without the lock the
    // provider would see the rotated refresh token replayed and revoke the whole session.
    expire();
    const together = await Promise.all([1, 2, 3].map(() => airlock(config, ['token'])));
    for (const r of together) assert.equal(r.code, 0, r.stderr);
    assert.equal(new Set(together.map((r) => r.stdout)).size, 1, 'all three print the same new token');
    expire();
    const after3 = await airlock(config, ['whoami', '--json']);
    assert.equal(after3.code, 0, `the session survived: ${after3.stderr}`);
  });

  test('logout revokes the session at the provider and deletes the entry; then token says to log in', async (t) => {
    const config = configDir();
    assert.equal((await loginAs(t, config, 'alice')).code, 0);
    const { refreshToken } = credentials(config).gateways[gw]!;
    const out = await airlock(config, ['logout']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `Logged out of ${gw}.\n`);
    assert.equal(out.stderr, '', 'revocation worked: no warning');
    assert.deepEqual(credentials(config).gateways, {});

    const cfg = await client.discovery(new URL(idp.issuer), 'airlock-cli', undefined, client.None(), { execute: [client.allowInsecureRequests] });
    await assert.rejects(client.refreshTokenGrant(cfg, refreshToken!), (err: unknown) => {
      assert.ok(err instanceof client.ResponseBodyError);
      assert.equal(err.error, 'invalid_grant');
      return true;
    });

    const token = await airlock(config, ['token', '--gateway', gw]);
    assert.equal(token.code, 1);
    assert.equal(token.stdout, '');
    assert.equal(token.stderr, `airlock: You are not logged in to ${gw}; run \`airlock login --gateway ${gw}\`. (CLI_NOT_LOGGED_IN)\n`);
    const again = await airlock(config, ['logout', '--gateway', gw]);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, `You were not logged in to ${gw}.\n`);
  });

  test('a refresh the provider refuses (session revoked elsewhere) drops the entry and says to log in', async (t) => {
    const config = configDir();
    assert.equal((await loginAs(t, config, 'alice')).code, 0);
    const creds = credentials(config);
    const cfg = await client.discovery(new URL(idp.issuer), 'airlock-cli', undefined, client.None(), { execute: [client.allowInsecureRequests] });
    await client.tokenRevocation(cfg, creds.gateways[gw]!.refreshToken!);
    creds.gateways[gw]!.expiresAt = 0;
    writeFileSync(join(config, 'credentials.json'), JSON.stringify(creds), { mode: 0o600 });
    const { code, stderr } = await airlock(config, ['token', '--gateway', gw]);
    assert.equal(code, 1);
    assert.equal(stderr, `airlock: You are no longer logged in to ${gw}: your session expired or was revoked; run \`airlock login --gateway ${gw}\`. (CLI_NOT_LOGGED_IN)\n`);
    assert.deepEqual(credentials(config).gateways, {});
  });

  test('login --device: the code is entered in a browser, bob signs in, polling stores his tokens; a loopback provider is said to be one', async (t) => {
    const config = configDir();
    const cmd = start(AIRLOCK, ['login', '--device', '--gateway', gw], { cwd: dir, env: { AIRLOCK_CONFIG_DIR: config } });
    t.after(() => cmd.stop('SIGKILL'));
    const [, uri = '', code = ''] = await cmd.waitFor(/^To sign in, open (\S+) in a browser on this machine and enter the code: ([A-Z]{4}-[A-Z]{4})$/m);
    assert.equal(uri, `${idp.issuer}/device`);
    // the dev provider is on loopback: no other device can open the URL; say what works instead
    await cmd.waitFor(/^Waiting for the sign-in/m);
    const lines = cmd.output().stderr.split('\n');
    assert.ok(lines.includes('The identity provider listens on loopback, so no other device can open that URL; a terminal browser here works (w3m, lynx: open the first URL and type the code).'), cmd.output().stderr);
    assert.ok(lines.includes(`Without any browser: export AIRLOCK_TOKEN=$(airlock dev token --user alice --gateway ${gw})`), cmd.output().stderr);
    const done = await approveDevice(uri, code, 'bob');
    assert.match(done.body, /You are signed in/);
    const finished = await cmd.exited;
    assert.equal(finished.code, 0, finished.stderr);
    assert.equal(finished.stdout, `Logged in to ${gw} as bob (Bob (dev), bob@airlock.dev).\n`);
    const s = credentials(config).gateways[gw]!;
    assert.ok(s.refreshToken, 'the device flow also yields a refresh token');
    const claims = await verify(s.accessToken);
    assert.deepEqual([claims.sub, claims.groups], ['bob', ['developers']]);
    assertNoTokens(config, finished.stdout, finished.stderr);
  });

  test('login fails cleanly: cancelled at the provider, nobody signing in (--timeout), no gateway, no issuer', async (t) => {
    const config = configDir();
    const cmd = start(AIRLOCK, ['login', '--no-browser', '--gateway', gw], { cwd: dir, env: { AIRLOCK_CONFIG_DIR: config } });
    t.after(() => cmd.stop('SIGKILL'));
    const [, url = ''] = await cmd.waitFor(AUTH_URL);
    const browser = new Browser();
    const cancel = forms(page(await browser.go(url))).find((f) => f.action.pathname.endsWith('/abort'))!;
    const callback = await browser.go(cancel.action, {}, (to) => to.pathname === '/callback');
    assert.ok(callback instanceof URL);
    const answer = await fetch(callback);
    assert.equal(answer.status, 400);
    assert.match(await answer.text(), /The sign-in did not complete; your terminal says why/);
    const cancelled = await cmd.exited;
    assert.equal(cancelled.code, 1);
    assert.match(cancelled.stderr, /\nairlock: The sign-in did not complete: the user cancelled the sign-in \(access_denied\)\. \(CLI_LOGIN_FAILED\)\n$/);

    const waited = start(AIRLOCK, ['login', '--no-browser', '--timeout', '1', '--gateway', gw], { cwd: dir, env: { AIRLOCK_CONFIG_DIR: config } });
    t.after(() => waited.stop('SIGKILL'));
    const [, pending = ''] = await waited.waitFor(AUTH_URL);
    const timedOut = await waited.exited;
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /\nairlock: Nobody completed the sign-in within 1 s; run `airlock login` again\. \(CLI_LOGIN_FAILED\)\n$/);
    await assert.rejects(fetch(new URL(pending).searchParams.get('redirect_uri')!), 'the loopback listener is closed');

    const closed = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await airlock(config, ['login', '--gateway', closed]);
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr, `airlock: Cannot reach the gateway at ${closed} (ECONNREFUSED); check the URL (--gateway or $AIRLOCK_GATEWAY) and that it runs. (CLI_GATEWAY_UNREACHABLE)\n`);

    const noIssuer = await airlock(config, ['login', '--gateway', bare.url]);
    assert.equal(noIssuer.code, 1);
    assert.equal(noIssuer.stderr, `airlock: The gateway at ${bare.url} has no identity provider configured (auth.issuer is unset), so nobody can log in; ask its administrator. (CLI_LOGIN_FAILED)\n`);

    const badUrl = await airlock(config, ['login', '--gateway', 'ftp://x']);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /option '--gateway <url>' argument 'ftp:\/\/x' is invalid\. "ftp:\/\/x" is not a gateway URL/);
    assert.ok(!existsSync(join(config, 'credentials.json')), 'nothing was stored');
  });

  test('a corrupt credentials file is a clear error naming it, never quoting it', async (t) => {
    const config = configDir();
    const file = join(config, 'credentials.json');
    writeFileSync(file, '{"version":1,"gateways":{"x": eyJsecret-looking-token', { mode: 0o600 });
    const notJson = await airlock(config, ['token']);
    assert.equal(notJson.code, 2);
    assert.equal(notJson.stderr, `airlock: The credentials file ${file} is not valid (it is not JSON); fix it, or delete it and run \`airlock login\` again. (CLI_INPUT_INVALID)\n`);
    writeFileSync(file, JSON.stringify({ version: 1, gateways: { [gw]: { issuer: idp.issuer, accessToken: 'eyJsecret-looking-token' } } }), { mode: 0o600 });
    const wrongShape = await airlock(config, ['whoami', '--gateway', gw]);
    assert.equal(wrongShape.code, 2);
    assert.match(wrongShape.stderr, new RegExp(`^airlock: The credentials file ${file} is not valid \\(gateways\\.${gw.replace(/[.:/]/g, '\\$&')}\\.clientId: .+\\); fix it, or delete it and run \`airlock login\` again\\. \\(CLI_INPUT_INVALID\\)\\n$`));
    assert.ok(!wrongShape.stderr.includes('eyJsecret'));
  });

  test('a credentials file readable by others is restricted to 0600, with a warning', async (t) => {
    const config = configDir();
    const file = join(config, 'credentials.json');
    writeFileSync(file, JSON.stringify({ version: 1, gateways: {} }), { mode: 0o644 });
    const { code, stderr } = await airlock(config, ['token', '--gateway', gw]);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`^airlock: warning: ${file} was readable by other users; restricted it to mode 0600`));
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  test('logged in to several gateways and none named: an error listing them', async (t) => {
    const config = configDir();
    const session = { issuer: idp.issuer, clientId: 'airlock-cli', resource: gw, accessToken: 'a', expiresAt: 9999999999 };
    writeFileSync(join(config, 'credentials.json'), JSON.stringify({ version: 1, gateways: { [gw]: session, 'https://gw.example': session } }), { mode: 0o600 });
    const { code, stderr } = await airlock(config, ['whoami']);
    assert.equal(code, 2);
    assert.equal(stderr, `airlock: You are logged in to several gateways (${gw}, https://gw.example); choose one with --gateway URL or $AIRLOCK_GATEWAY. (CLI_USAGE)\n`);
    const picked = await airlock(config, ['token'], { AIRLOCK_GATEWAY: 'https://gw.example/' });
    assert.equal(picked.code, 0, picked.stderr);
    assert.equal(picked.stdout, 'a\n');
    // a stored token the gateway refuses: its reason, and what to do
    const refused = await airlock(config, ['whoami', '--gateway', gw]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^airlock: The gateway at ${gw} refused your credentials: .+ \\(GW_[A-Z_]+\\); run \`airlock login --gateway ${gw}\`\\. \\(CLI_NOT_LOGGED_IN\\)\\n$`));
  });

  test('a lock file left by a command that died is broken, not waited on forever', async () => {
    const config = configDir();
    const session = { issuer: idp.issuer, clientId: 'airlock-cli', resource: gw, accessToken: 'a', expiresAt: 9999999999 };
    writeFileSync(join(config, 'credentials.json'), JSON.stringify({ version: 1, gateways: { [gw]: session } }), { mode: 0o600 });
    const lock = join(config, 'credentials.json.lock');
    writeFileSync(lock, '12345\n');
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    const out = await airlock(config, ['logout']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `Logged out of ${gw}.\n`);
    assert.ok(!existsSync(lock), 'the lock is gone');
    assert.deepEqual(credentials(config).gateways, {});
  });

  test('$AIRLOCK_TOKEN stands in for a login: whoami, token and the API commands use it; a refused one says to fix it', async () => {
    const config = configDir(); // never logged in
    const minted = await airlock(config, ['dev', 'token', '--user', 'bob', '--gateway', gw]);
    assert.equal(minted.code, 0, minted.stderr);
    const env = { AIRLOCK_TOKEN: minted.stdout.trimEnd(), AIRLOCK_GATEWAY: gw };
    const me = await airlock(config, ['whoami'], env);
    assert.equal(me.code, 0, me.stderr);
    assert.match(me.stdout, /^gateway  http:\/\/127\.0\.0\.1:\d+\nuser     bob \(Bob \(dev\)\)\n/);
    const token = await airlock(config, ['token'], env);
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout, `${env.AIRLOCK_TOKEN}\n`);
    const listed = await airlock(config, ['connections', 'list'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(!existsSync(join(config, 'credentials.json')), 'no stored session was needed or made');

    const refused = await airlock(config, ['whoami'], { ...env, AIRLOCK_TOKEN: 'not-a-token' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^airlock: The gateway at ${gw} refused the token in \\$AIRLOCK_TOKEN: .+ \\(GW_[A-Z_]+\\); set it to a current token or API key, or unset it and run \`airlock login --gateway ${gw}\`\\. \\(CLI_NOT_LOGGED_IN\\)\\n$`));
    const refusedApi = await airlock(config, ['agents', 'list'], { ...env, AIRLOCK_TOKEN: 'not-a-token' });
    assert.equal(refusedApi.code, 1);
    assert.match(refusedApi.stderr, /refused the token in \$AIRLOCK_TOKEN/);
  });

  test('dev token --user alice: a token the gateway accepts, for scripts; unknown users and other gateways are refused', async () => {
    const config = configDir();
    const { code, stdout, stderr } = await airlock(config, ['dev', 'token', '--user', 'alice', '--gateway', gw]);
    assert.equal(code, 0, stderr);
    const claims = await verify(stdout.trimEnd());
    assert.deepEqual([claims.sub, claims.groups, claims.email, claims.name, claims.client_id], ['alice', ['admins'], 'alice@airlock.dev', 'Alice (dev)', 'airlock-cli']);
    const me = await fetch(`${gw}/api/v1/me`, { headers: { authorization: `Bearer ${stdout.trimEnd()}` } });
    assert.equal(me.status, 200, 'the gateway accepts it');
    assert.deepEqual(((await me.json()) as { roles: string[] }).roles, ['admin', 'reviewer', 'auditor', 'user']);


    const mallory = await airlock(config, ['dev', 'token', '--user', 'mallory', '--gateway', gw]);
    assert.equal(mallory.code, 2);
    assert.equal(mallory.stderr, 'airlock: The development identity provider refused: unknown user "mallory": the development provider knows only alice and bob (invalid_request). (CLI_USAGE)\n');
    const elsewhere = await airlock(config, ['dev', 'token', '--user', 'alice', '--gateway', bare.url]);
    assert.equal(elsewhere.code, 2);
    assert.equal(elsewhere.stderr, `airlock: The gateway at ${bare.url} does not use the embedded development identity provider: \`airlock dev token\` works only against \`airlock dev\` and its development identity provider; use \`airlock login\` and \`airlock token\` instead. (CLI_DEV_ONLY)\n`);
  });
});
