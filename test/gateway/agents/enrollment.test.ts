// Adding and enrolling agents through the real API of a real gateway: the one-time token is shown
// once, stored as a hash, works once, expires; wrong, unknown and mismatched tokens are refused
// with codes; only admins add, list and revoke.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hashEnrollmentToken } from '../../../gateway/agents/token.ts';
import { agentKey, startTestGateway, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let alice: string;

before(async () => {
  t = await startTestGateway();
  alice = await t.token('alice', ['admins']);
});
after(() => t.close());

const enroll = (name: string, token: string | undefined, body: unknown = { publicKey: agentKey().publicKey, version: '1.2.3' }) =>
  t.call('POST', `/api/v1/agents/${name}/enroll`, token, body);

test('an admin adds an agent: pending, a one-time token shown once and stored as a hash', async () => {
  const added = await t.call('POST', '/api/v1/agents', alice, { name: 'edge-1' });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  assert.equal(added.body.name, 'edge-1');
  assert.equal(added.body.status, 'pending');
  assert.equal(added.body.online, false);
  const token = added.body.enrollmentToken as string;
  assert.match(token, /^aet_edge-1_[A-Za-z0-9_-]{43}$/);
  const expires = Date.parse(added.body.enrollmentExpiresAt);
  assert.ok(expires > Date.now() + 890_000 && expires <= Date.now() + 900_000, 'expires after agents.enrollmentTtl (900 s)');

  const stored = await t.gw.store.agents.get('edge-1');
  assert.equal(stored?.enrollmentTokenHash, hashEnrollmentToken(token));
  assert.ok(!JSON.stringify(stored).includes(token.slice(-43)), 'the secret is not stored');

  const listed = await t.call('GET', '/api/v1/agents', alice);
  const row = listed.body.agents.find((a: { name: string }) => a.name === 'edge-1');
  assert.deepEqual([row.status, row.online, row.tunnels], ['pending', false, 0]);
  assert.ok(!JSON.stringify(listed.body).includes('aet_'), 'the list never shows a token');
});

test('enrollment registers the public key once: the token is consumed', async () => {
  const token = await t.addAgent('edge-2');
  const key = agentKey();
  const ok = await enroll('edge-2', token, { publicKey: key.publicKey, version: '1.2.3' });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body, { name: 'edge-2', status: 'active', audience: 'http://airlock.test', tunnelPath: '/api/v1/agents/tunnel' });
  const stored = await t.gw.store.agents.get('edge-2');
  assert.equal(stored?.status, 'active');
  assert.deepEqual(JSON.parse(stored!.publicKey!), key.publicKey);
  assert.equal(stored?.version, '1.2.3');
  assert.equal(stored?.enrollmentTokenHash, null);

  const again = await enroll('edge-2', token);
  assert.equal(again.status, 401);
  assert.equal(again.body.error.code, 'GW_ENROLLMENT_INVALID');
  assert.match(again.body.error.message, /not valid for agent edge-2 \(unknown, already used, or for another agent\)/);
  assert.deepEqual(JSON.parse((await t.gw.store.agents.get('edge-2'))!.publicKey!), key.publicKey, 'the key is unchanged');
});

test('two enrolments racing with one token: exactly one wins', async () => {
  const token = await t.addAgent('edge-race');
  const results = await Promise.all([enroll('edge-race', token), enroll('edge-race', token), enroll('edge-race', token)]);
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 401, 401]);
});

test('an expired token is GW_ENROLLMENT_EXPIRED; a wrong one, an unknown agent and another agent\'s token are GW_ENROLLMENT_INVALID', async () => {
  const token = await t.addAgent('edge-3');
  const wrong = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const other = await t.addAgent('edge-4');
  const cases: Array<[string, string, string]> = [
    ['edge-3', wrong, 'wrong secret'],
    ['nobody', 'aet_nobody_' + 'A'.repeat(43), 'unknown agent'],
    ['edge-3', other, 'a token for edge-4 on edge-3'],
    ['edge-3', 'not-a-token', 'not a token at all'],
  ];
  for (const [name, tok, what] of cases) {
    const r = await enroll(name, tok);
    assert.equal(r.status, 401, what);
    assert.equal(r.body.error.code, 'GW_ENROLLMENT_INVALID', what);
    assert.match(r.body.error.message, new RegExp(`^The enrollment token is not valid for agent ${name} `), what);
  }
  // Time passes: the expiry is behind us (written as the API would, with an earlier clock).
  await t.gw.store.agents.update('edge-3', { enrollmentExpiresAt: Date.now() - 1000 });
  const expired = await enroll('edge-3', token);
  assert.equal(expired.status, 401);
  assert.equal(expired.body.error.code, 'GW_ENROLLMENT_EXPIRED');
  assert.match(expired.body.error.message, /^The enrollment token for agent edge-3 expired at \d{4}-.*airlock agents add edge-3/);
  assert.equal((await t.gw.store.agents.get('edge-3'))?.status, 'pending', 'nothing was registered');
});

test('no token, a malformed header, a private key or a bad key in the body are refused', async () => {
  const token = await t.addAgent('edge-5');
  const none = await enroll('edge-5', undefined);
  assert.deepEqual([none.status, none.body.error.code], [401, 'GW_AUTH_REQUIRED']);
  const basic = await t.call('POST', '/api/v1/agents/edge-5/enroll', undefined, { publicKey: agentKey().publicKey, version: '1' }, { authorization: `Basic ${token}` });
  assert.deepEqual([basic.status, basic.body.error.code], [401, 'GW_AUTH_MALFORMED']);
  const withPrivate = await enroll('edge-5', token, { publicKey: { ...agentKey().publicKey, d: 'A'.repeat(43) }, version: '1' });
  assert.equal(withPrivate.status, 400);
  assert.match(withPrivate.body.error.message, /^The body is not accepted: publicKey\.d: Unrecognized key/);
  const notOkp = await enroll('edge-5', token, { publicKey: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43) }, version: '1' });
  assert.equal(notOkp.status, 400);
  assert.match(notOkp.body.error.message, /^The body is not accepted: publicKey\.kty/);
  const badVersion = await enroll('edge-5', token, { publicKey: agentKey().publicKey, version: 'one two' });
  assert.equal(badVersion.status, 400);
  assert.match(badVersion.body.error.message, /^The body is not accepted: version: a version such as 1\.2\.3/);
  assert.equal((await enroll('edge-5', token)).status, 200, 'refused bodies did not consume the token');
});

test('adding a pending agent again issues a new token and kills the old one; an active agent is a conflict; a revoked one starts over', async () => {
  const first = await t.addAgent('edge-6');
  const second = await t.call('POST', '/api/v1/agents', alice, { name: 'edge-6' });
  assert.equal(second.status, 200, 'renewed, not created');
  assert.notEqual(second.body.enrollmentToken, first);
  assert.equal((await enroll('edge-6', first)).body.error.code, 'GW_ENROLLMENT_INVALID');
  assert.equal((await enroll('edge-6', second.body.enrollmentToken)).status, 200);

  const active = await t.call('POST', '/api/v1/agents', alice, { name: 'edge-6' });
  assert.equal(active.status, 409);
  assert.equal(active.body.error.code, 'GW_STORE_CONFLICT');
  assert.match(active.body.error.message, /enrolled and active; .*revoke it first \(airlock agents revoke edge-6\)/);

  const revoked = await t.call('DELETE', '/api/v1/agents/edge-6', alice);
  assert.equal(revoked.status, 200);
  assert.equal(revoked.body.status, 'revoked');
  assert.match(revoked.body.revokedAt, /^\d{4}-/);
  const readded = await t.call('POST', '/api/v1/agents', alice, { name: 'edge-6' });
  assert.equal(readded.status, 200);
  assert.equal(readded.body.status, 'pending');
  const stored = await t.gw.store.agents.get('edge-6');
  assert.deepEqual([stored?.publicKey, stored?.revokedAt], [null, null], 'the old key is forgotten');
});

test('names are DNS labels and "tunnel" is reserved; unknown agents are 404', async () => {
  for (const name of ['Edge', 'a_b', 'tunnel', '-x', 'x'.repeat(64)]) {
    const r = await t.call('POST', '/api/v1/agents', alice, { name });
    assert.equal(r.status, 400, name);
    assert.equal(r.body.error.code, 'GW_BAD_REQUEST');
  }
  assert.match((await t.call('POST', '/api/v1/agents', alice, { name: 'tunnel' })).body.error.message, /reserved/);
  for (const [method, path] of [['GET', '/api/v1/agents/ghost'], ['DELETE', '/api/v1/agents/ghost']] as const) {
    const r = await t.call(method, path, alice);
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(r.body.error.code, 'GW_NOT_FOUND');
  }
  const plain = await t.call('GET', '/api/v1/agents/tunnel', alice);
  assert.deepEqual([plain.status, plain.body.error.code], [400, 'GW_BAD_REQUEST']);
  assert.match(plain.body.error.message, /takes a WebSocket upgrade/);
});

test('only admins add, list, show and revoke: bob gets 403 naming the role; no token is 401', async () => {
  const bob = await t.token('bob', ['developers']);
  for (const [method, path, body] of [['GET', '/api/v1/agents', undefined], ['POST', '/api/v1/agents', { name: 'x' }], ['GET', '/api/v1/agents/edge-1', undefined], ['DELETE', '/api/v1/agents/edge-1', undefined]] as const) {
    const r = await t.call(method, path, bob, body);
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.body.error.code, 'GW_FORBIDDEN');
    assert.match(r.body.error.message, /needs the admin role; bob has user/);
    assert.equal((await t.call(method, path, undefined, body)).status, 401);
  }
});
