// API keys through the admin API and back through authentication, on a real gateway trusting the
// real development OpenID provider: shown once, stored as a hash, revocation and expiry enforced.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateApiKey, hashApiKey } from '../../../gateway/authn/apikeys.ts';
import { startTestGateway, AUDIENCE, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let gw: TestGateway['gw'];
let tokenFor: (sub: string, groups: string[]) => Promise<string>;

before(async () => {
  t = await startTestGateway();
  gw = t.gw;
  tokenFor = t.token;
});
after(() => t.close());

async function call(method: string, path: string, bearer: string | undefined, body?: unknown) {
  return t.call(method, path, bearer, body);
}

test('an admin creates a key; it is shown once, stored only as a hash, and authenticates as a service identity', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const created = await call('POST', '/api/v1/api-keys', alice, { name: 'ci-bot', roles: ['user'], connections: ['demo'], ttlSeconds: 3600 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const key = created.body.key as string;
  assert.match(key, /^alk_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
  assert.equal(created.body.createdBy, 'alice@airlock.dev');
  assert.deepEqual(created.body.connections, ['demo']);

  const stored = await gw.store.apiKeys.get(created.body.id);
  assert.equal(stored?.hash, hashApiKey(key));
  assert.ok(!JSON.stringify(stored).includes(key.split('_').slice(2).join('_')), 'the secret is not stored');

  const listed = await call('GET', '/api/v1/api-keys', alice);
  assert.equal(listed.status, 200);
  const entry = listed.body.apiKeys.find((k: { id: string }) => k.id === created.body.id);
  assert.equal(entry.name, 'ci-bot');
  assert.ok(!('key' in entry) && !('hash' in entry), 'listing never shows the key or its hash');

  const me = await call('GET', '/api/v1/me', key);
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.sub, `apikey:${created.body.id}`);
  assert.equal(me.body.via, 'apikey');
  assert.deepEqual(me.body.roles, ['user']);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok((await gw.store.apiKeys.get(created.body.id))?.lastUsedAt, 'use is recorded');
});

test('a revoked key and an expired key are refused with GW_API_KEY_INVALID', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const created = await call('POST', '/api/v1/api-keys', alice, { name: 'short', roles: ['user'], ttlSeconds: 3600 });
  const key = created.body.key as string;
  assert.equal((await call('GET', '/api/v1/me', key)).status, 200);
  const revoked = await call('DELETE', `/api/v1/api-keys/${created.body.id}`, alice);
  assert.equal(revoked.status, 200);
  assert.match(revoked.body.revokedAt, /^\d{4}-/);
  const refused = await call('GET', '/api/v1/me', key);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, 'GW_API_KEY_INVALID');
  assert.match(refused.body.error.message, /was revoked/);

  // Time passes: a key whose expiry is behind us (written as the API would, with an earlier clock).
  const old = generateApiKey();
  await gw.store.apiKeys.create({ id: old.id, name: 'expired', hash: old.hash, roles: ['user'], connections: [], createdBy: 'alice@airlock.dev', expiresAt: Date.now() - 1000 });
  const expired = await call('GET', '/api/v1/me', old.key);
  assert.equal(expired.status, 401);
  assert.equal(expired.body.error.code, 'GW_API_KEY_INVALID');
  assert.match(expired.body.error.message, /expired at \d{4}-/);
});

test('a key in busy use (its record cached) is refused by the first request after the revocation answers', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const created = await call('POST', '/api/v1/api-keys', alice, { name: 'busy', roles: ['user'], ttlSeconds: 3600 });
  const key = created.body.key as string;
  assert.equal((await call('GET', '/api/v1/me', key)).status, 200); // now cached
  const during = Array.from({ length: 10 }, () => call('GET', '/api/v1/me', key));
  const revoked = await call('DELETE', `/api/v1/api-keys/${created.body.id}`, alice);
  assert.equal(revoked.status, 200);
  await Promise.all(during); // concurrent with the revocation: either answer is right
  for (let i = 0; i < 3; i++) {
    const refused = await call('GET', '/api/v1/me', key);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'GW_API_KEY_INVALID');
    assert.match(refused.body.error.message, /was revoked/);
  }
});

test('an unknown key, a wrong secret and a malformed key are all GW_API_KEY_INVALID', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const created = await call('POST', '/api/v1/api-keys', alice, { name: 'probe', roles: ['user'], ttlSeconds: null });
  const key = created.body.key as string;
  assert.equal(created.body.expiresAt, null);
  const wrongSecret = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  for (const bad of [wrongSecret, 'alk_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43), 'alk_short']) {
    const r = await call('GET', '/api/v1/me', bad);
    assert.equal(r.status, 401, bad);
    assert.equal(r.body.error.code, 'GW_API_KEY_INVALID');
  }
});

test('only admins manage keys: bob gets 403 GW_FORBIDDEN naming the role', async () => {
  const bob = await tokenFor('bob', ['developers']);
  for (const [method, body] of [['GET', undefined], ['POST', { name: 'x', roles: ['user'], ttlSeconds: 60 }]] as const) {
    const r = await call(method, '/api/v1/api-keys', bob, body);
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'GW_FORBIDDEN');
    assert.match(r.body.error.message, /needs the admin role; bob has user/);
  }
  assert.equal((await call('GET', '/api/v1/api-keys', undefined)).status, 401);
});

test('bad bodies are refused naming the field; __proto__ is dropped', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const cases: Array<[unknown, RegExp]> = [
    [{ name: 'x', roles: ['root'], ttlSeconds: 60 }, /^The body is not accepted: roles\.0: /],
    [{ name: 'x', roles: ['user'] }, /^The body is not accepted: ttlSeconds: /],
    [{ name: 'x', roles: ['user'], ttlSeconds: 60, admin: true }, /^The body is not accepted: admin: Unrecognized key/],
    [{ name: 'x', roles: ['user'], ttlSeconds: 60, connections: ['Not_A_Label'] }, /connections\.0: a connection name/],
    ['{"name":', /^The body is not valid JSON/],
  ];
  for (const [body, message] of cases) {
    const r = await call('POST', '/api/v1/api-keys', alice, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, 'GW_BAD_REQUEST');
    assert.match(r.body.error.message, message);
  }
  const proto = await call('POST', '/api/v1/api-keys', alice, '{"name":"p","roles":["user"],"ttlSeconds":60,"__proto__":{"admin":true}}');
  assert.equal(proto.status, 201, 'a __proto__ key is dropped, not merged');
  assert.equal(({} as Record<string, unknown>).admin, undefined);
});

test('revoking an unknown key is a 404', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const r = await call('DELETE', '/api/v1/api-keys/aaaaaaaaaaaaaaaa', alice);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, 'GW_NOT_FOUND');
});

test('the protected resource metadata names the provider, for the gateway and per path', async () => {
  for (const path of ['', '/mcp/demo', '/proxy/demo']) {
    const res = await fetch(`${gw.url}/.well-known/oauth-protected-resource${path}`);
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), {
      resource: AUDIENCE,
      authorization_servers: [t.idp.issuer],
      scopes_supported: ['openid', 'profile', 'email', 'groups', 'offline_access'],
      bearer_methods_supported: ['header'],
      resource_name: 'airlock gateway',
    });
  }
});
