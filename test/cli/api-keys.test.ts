// `airlock api-keys` as an admin runs it: real commands against a real gateway trusting the real
// development provider; the admin's token comes from $AIRLOCK_TOKEN, as in CI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startDevIdp, type DevIdp } from '../../cli/dev/idp.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { silentLogger } from '../../lib/log.ts';
import { AIRLOCK, run } from '../support/process.ts';

const AUDIENCE = 'http://airlock.test';
const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-keys-'));
let idp: DevIdp;
let gw: RunningGateway;
let env: NodeJS.ProcessEnv;
let bobEnv: NodeJS.ProcessEnv;

before(async () => {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const file = join(dir, 'idp.json');
  writeFileSync(file, JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] }), { mode: 0o600 });
  idp = await startDevIdp({ audience: AUDIENCE, keyFile: file, logger: silentLogger });
  gw = await startGateway({ env: {}, cwd: dir, logger: silentLogger, overrides: { server: { port: 0, publicUrl: AUDIENCE }, store: { url: 'sqlite::memory:' }, auth: { issuer: idp.issuer, audience: AUDIENCE } } });
  await gw.authn.discovery.done;
  const token = (sub: string, groups: string[]) => new SignJWT({ iss: idp.issuer, aud: AUDIENCE, sub, groups, email: `${sub}@airlock.dev`, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).setIssuedAt().setExpirationTime('10m').sign(privateKey);
  const base = { AIRLOCK_GATEWAY: gw.url, AIRLOCK_CONFIG_DIR: join(dir, 'config') };
  env = { ...base, AIRLOCK_TOKEN: await token('alice', ['admins']) };
  bobEnv = { ...base, AIRLOCK_TOKEN: await token('bob', ['developers']) };
});
after(async () => {
  await gw.stop();
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

test('create prints only the key on stdout; list shows it; revoke ends it', async () => {
  const created = await run(AIRLOCK, ['api-keys', 'create', '--name', 'ci-bot', '--roles', 'user', '--connections', 'demo', '--ttl', '30d'], { env });
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  assert.match(key, /^alk_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /Store it now: it is not shown again/);
  const id = key.split('_')[1]!;

  const me = await fetch(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(me.status, 200);

  const listed = await run(AIRLOCK, ['api-keys', 'list'], { env });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${id}\\s+ci-bot\\s+user\\s+demo\\s+\\d{4}-\\S+\\s+active\\s`, 'm'));
  assert.ok(!listed.stdout.includes(key), 'list never shows the key');

  const revoked = await run(AIRLOCK, ['api-keys', 'revoke', id], { env });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, `Revoked API key ${id} ("ci-bot").\n`);
  assert.equal((await fetch(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } })).status, 401);
  assert.match((await run(AIRLOCK, ['api-keys', 'list'], { env })).stdout, new RegExp(`^${id}\\s.*\\srevoked\\s`, 'm'));
});

test('a non-admin is refused with the gateway\'s reason; bad arguments exit 2', async () => {
  const refused = await run(AIRLOCK, ['api-keys', 'list'], { env: bobEnv });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /needs the admin role.*GW_FORBIDDEN/);
  const badTtl = await run(AIRLOCK, ['api-keys', 'create', '--name', 'x', '--ttl', 'forever'], { env });
  assert.equal(badTtl.code, 2);
  assert.match(badTtl.stderr, /expected a duration such as 30d/);
  const badRole = await run(AIRLOCK, ['api-keys', 'create', '--name', 'x', '--roles', 'root'], { env });
  assert.equal(badRole.code, 2);
  assert.match(badRole.stderr, /unknown root; choose from admin, reviewer, auditor, user/);
  const noName = await run(AIRLOCK, ['api-keys', 'create'], { env });
  assert.equal(noName.code, 2);
  assert.match(noName.stderr, /required option '--name <name>' not specified/);
});

test('--ttl never makes a key without expiry; --json shows the whole answer', async () => {
  const created = await run(AIRLOCK, ['api-keys', 'create', '--name', 'forever', '--ttl', 'never', '--json'], { env });
  assert.equal(created.code, 0, created.stderr);
  const body = JSON.parse(created.stdout) as { expiresAt: string | null; key: string };
  assert.equal(body.expiresAt, null);
  assert.match(body.key, /^alk_/);
});
