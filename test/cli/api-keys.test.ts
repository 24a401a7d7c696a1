// `airlock api-keys` as an admin runs it: real commands against a real gateway trusting the real
// development provider; the admin's token comes from $AIRLOCK_TOKEN, as in CI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AIRLOCK, run } from '../support/process.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let t: TestGateway;
let gw: TestGateway['gw'];
let env: NodeJS.ProcessEnv;
let bobEnv: NodeJS.ProcessEnv;

before(async () => {
  t = await startTestGateway();
  gw = t.gw;
  const base = { AIRLOCK_GATEWAY: gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'config') };
  env = { ...base, AIRLOCK_TOKEN: await t.token('alice', ['admins']) };
  bobEnv = { ...base, AIRLOCK_TOKEN: await t.token('bob', ['developers']) };
});
after(() => t.close());

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

test('--service makes a service identity; a personal key names the person it acts for', async () => {
  const service = await run(AIRLOCK, ['api-keys', 'create', '--name', 'deploy-bot', '--roles', 'user', '--service'], { env });
  assert.equal(service.code, 0, service.stderr);
  assert.match(service.stderr, /^Created API key [a-z2-7]{16} \("deploy-bot", a service identity, roles user, expires /);
  const serviceId = service.stdout.trim().split('_')[1]!;
  const personal = await run(AIRLOCK, ['api-keys', 'create', '--name', 'alice-cli', '--roles', 'user'], { env });
  assert.match(personal.stderr, /\("alice-cli", acts for alice, never holding more than its creator, roles user, /);
  const personalId = personal.stdout.trim().split('_')[1]!;
  const listed = (await run(AIRLOCK, ['api-keys', 'list'], { env })).stdout;
  assert.match(listed, new RegExp(`^${serviceId}\\s+deploy-bot\\s.*\\sservice\\n`, 'm'));
  assert.match(listed, new RegExp(`^${personalId}\\s+alice-cli\\s.*\\salice\\n`, 'm'));
  const tooMuch = await run(AIRLOCK, ['api-keys', 'create', '--name', 'x', '--roles', 'admin'], { env: { ...env, AIRLOCK_TOKEN: service.stdout.trim() } });
  assert.equal(tooMuch.code, 1);
  assert.match(tooMuch.stderr, /needs the admin role.*GW_FORBIDDEN/);
});
