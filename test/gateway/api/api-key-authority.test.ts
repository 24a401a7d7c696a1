// A key never holds more than its creator, on a real gateway trusting the real development
// provider: checked when a key is created (roles, and a scoped key's connections) and again on
// every use (the creator's roles as of their last sign-in; a creator key's revocation).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestGateway, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let alice: string;

before(async () => {
  t = await startTestGateway();
  alice = await t.token('alice', ['admins']);
  for (const [name, group] of [['demo', 'developers'], ['billing', 'developers'], ['finance', 'finance']] as const) {
    const r = await t.call('POST', '/api/v1/connections', alice, { name, kind: 'http', agent: 'edge', target: `http://127.0.0.1:9/${name}`, groups: [group] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
});
after(() => t.close());

async function mint(bearer: string, body: Record<string, unknown>) {
  return t.call('POST', '/api/v1/api-keys', bearer, { ttlSeconds: 3600, ...body });
}

test('a connection-scoped admin key mints keys only within its connections and roles', async () => {
  const scoped = await mint(alice, { name: 'demo-admin', roles: ['admin', 'user'], connections: ['demo'] });
  assert.equal(scoped.status, 201, JSON.stringify(scoped.body));
  assert.equal(scoped.body.creator, 'alice');
  assert.equal(scoped.body.owner, 'alice');
  const key = scoped.body.key as string;

  const otherConnection = await mint(key, { name: 'billing-bot', roles: ['user'], connections: ['billing'] });
  assert.equal(otherConnection.status, 403);
  assert.equal(otherConnection.body.error.code, 'GW_API_KEY_EXCEEDS_CREATOR');
  assert.equal(otherConnection.body.error.message, `A key cannot hold more than its creator: apikey:${scoped.body.id} is limited to demo, not billing.`);
  const moreRoles = await mint(key, { name: 'reviewer-bot', roles: ['user', 'reviewer'], connections: ['demo'] });
  assert.equal(moreRoles.status, 403);
  assert.equal(moreRoles.body.error.code, 'GW_API_KEY_EXCEEDS_CREATOR');
  assert.equal(moreRoles.body.error.message, `A key cannot hold more than its creator: apikey:${scoped.body.id} does not hold the role reviewer.`);

  const within = await mint(key, { name: 'demo-bot', roles: ['user'], connections: ['demo'] });
  assert.equal(within.status, 201, JSON.stringify(within.body));
  assert.equal(within.body.creator, `apikey:${scoped.body.id}`);
  assert.equal(within.body.owner, 'alice', 'a key minted by a key acts for the same person');
  const me = await t.call('GET', '/api/v1/me', within.body.key);
  assert.deepEqual([me.body.roles, me.body.owner, me.body.service], [['user'], 'alice', false]);
});

test('a key whose creator lost the admin role no longer acts as admin; a revoked creator key takes its keys with it', async () => {
  const admin = await mint(alice, { name: 'alice-admin', roles: ['admin', 'user'] });
  const key = admin.body.key as string;
  assert.equal((await t.call('GET', '/api/v1/api-keys', key)).status, 200);
  const child = await mint(key, { name: 'alice-child', roles: ['admin'] });
  assert.equal(child.status, 201, JSON.stringify(child.body));
  const user = await mint(alice, { name: 'alice-user', roles: ['user'], connections: ['demo', 'finance'] });
  const reach = async (connection: string) => (await t.call('GET', `/proxy/${connection}/x`, user.body.key)).body.error.code as string;
  assert.deepEqual([await reach('demo'), await reach('finance')], ['GW_AGENT_OFFLINE', 'GW_AGENT_OFFLINE'], 'both resolve (no agent behind them)');

  // Alice's admin group is taken away at the provider: her next call tells the gateway.
  const demoted = await t.token('alice', ['developers']);
  assert.deepEqual((await t.call('GET', '/api/v1/me', demoted)).body.roles, ['user']);
  const refused = await eventually(async () => {
    const r = await t.call('GET', '/api/v1/api-keys', key);
    return r.status === 403 ? r : undefined;
  }, 5000, 'the key losing admin');
  assert.equal(refused.body.error.code, 'GW_FORBIDDEN');
  assert.match(refused.body.error.message, new RegExp(`^This needs the admin role; apikey:${admin.body.id} has user\\.`));
  assert.deepEqual((await t.call('GET', '/api/v1/me', key)).body.roles, ['user']);
  assert.equal((await t.call('GET', '/api/v1/api-keys', child.body.key)).status, 403, 'down the chain too');
  assert.deepEqual([await reach('demo'), await reach('finance')], ['GW_AGENT_OFFLINE', 'GW_CONNECTION_NOT_FOUND'], 'her key reaches only what she may use now');

  // Given back: the keys hold it again.
  assert.equal((await t.call('GET', '/api/v1/me', alice)).status, 200);
  await eventually(async () => ((await t.call('GET', '/api/v1/api-keys', key)).status === 200 ? true : undefined), 5000, 'the key holding admin again');

  const revoked = await t.call('DELETE', `/api/v1/api-keys/${admin.body.id}`, alice);
  assert.equal(revoked.status, 200);
  const orphan = await eventually(async () => {
    const r = await t.call('GET', '/api/v1/me', child.body.key);
    return r.status === 401 ? r : undefined;
  }, 5000, 'the child key refused');
  assert.equal(orphan.body.error.code, 'GW_API_KEY_INVALID');
  assert.equal(orphan.body.error.message, `The API key is not accepted: key ${child.body.id} ("alice-child") was created by key ${admin.body.id}, which was revoked. Ask an admin for a new one (airlock api-keys create).`);
});
