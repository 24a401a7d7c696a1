// The connections API on a real gateway trusting the real development OpenID provider: admins
// write, everyone reads what they may use, a hidden connection is indistinguishable from a missing
// one, versions guard concurrent edits, API keys are held to their list, and a second gateway on
// the same SQLite file picks changes up without a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONNECTION_BODY_MAX_BYTES } from '../../../gateway/api/connections.ts';
import { verifyApiKey } from '../../../gateway/authn/apikeys.ts';
import type { ConnectionChange } from '../../../gateway/connections/registry.ts';
import type { RunningGateway } from '../../../gateway/main.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let gw: RunningGateway;
let gw2: RunningGateway;
let tokenFor: (sub: string, groups: string[]) => Promise<string>;

before(async () => {
  t = await startTestGateway({ config: { connections: { reloadInterval: 60 } } });
  gw = t.gw;
  gw2 = await t.replica({ connections: { reloadInterval: 0.1 } });
  tokenFor = t.token;
});
after(() => t.close());

async function call(method: string, path: string, bearer: string | undefined, body?: unknown, headers: Record<string, string> = {}, base = gw.url) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: await res.json() as Record<string, any> };
}

const http = (name: string, extra: Record<string, unknown> = {}) => ({ name, kind: 'http', agent: 'local', target: 'http://127.0.0.1:8090', ...extra });
const OPENAPI = { openapi: '3.1.0', info: { title: 'Demo', version: '1' }, paths: { '/customers': { get: { operationId: 'listCustomers' } } } };

test('an admin creates, reads, patches, replaces and removes a connection', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const created = await call('POST', '/api/v1/connections', alice, http('crud', { groups: ['developers'], tags: ['env=dev'], openapi: OPENAPI }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.headers.get('location'), '/api/v1/connections/crud');
  assert.equal(created.headers.get('etag'), '"1"');
  assert.equal(created.body.target, 'http://127.0.0.1:8090/');
  assert.equal(created.body.version, 1);
  assert.match(created.body.createdAt, /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(created.body.limits.timeouts, { connectMs: 5000, firstByteMs: 30000, idleMs: 60000 });
  assert.deepEqual(created.body.openapi, OPENAPI);

  const listed = await call('GET', '/api/v1/connections', alice);
  const entry = listed.body.connections.find((c: { name: string }) => c.name === 'crud');
  assert.equal(entry.kind, 'http');
  assert.equal('openapi' in entry, false, 'the list leaves OpenAPI documents out');

  const one = await call('GET', '/api/v1/connections/crud', alice);
  assert.equal(one.status, 200);
  assert.equal(one.headers.get('etag'), '"1"');
  assert.deepEqual(one.body.openapi, OPENAPI);

  const patched = await call('PATCH', '/api/v1/connections/crud', alice, { description: 'Demo customers', openapi: null, limits: { oversize: 'review' } }, { 'if-match': '"1"' });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.version, 2);
  assert.equal(patched.headers.get('etag'), '"2"');
  assert.equal(patched.body.description, 'Demo customers');
  assert.equal(patched.body.openapi, undefined);
  assert.equal(patched.body.limits.oversize, 'review');
  assert.deepEqual(patched.body.groups, ['developers']);

  const replaced = await call('PUT', '/api/v1/connections/crud', alice, { kind: 'mcp', agent: 'local', target: { command: ['demo-mcp', '--stdio'] }, groups: ['*'], version: 2 });
  assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
  assert.equal(replaced.body.kind, 'mcp');
  assert.deepEqual(replaced.body.target, { command: ['demo-mcp', '--stdio'] });
  assert.equal(replaced.body.description, undefined, 'PUT replaces: what it leaves out is gone');
  assert.equal(gw.connections.get('crud')?.version, 3, 'the running gateway serves the change at once');

  const removed = await call('DELETE', '/api/v1/connections/crud', alice);
  assert.equal(removed.status, 200);
  assert.equal(removed.body.name, 'crud');
  const gone = await call('GET', '/api/v1/connections/crud', alice);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.code, 'GW_CONNECTION_NOT_FOUND');
  assert.equal(gw.connections.get('crud'), undefined);
});

test('bob sees only the connections his groups allow; a hidden one is a 404 like a missing one', async () => {
  const alice = await tokenFor('alice', ['admins']);
  for (const [name, groups] of [['vis-devs', ['developers']], ['vis-all', ['*']], ['vis-ops', ['ops']], ['vis-admins', []]] as const) {
    assert.equal((await call('POST', '/api/v1/connections', alice, http(name, { groups }))).status, 201);
  }
  const bob = await tokenFor('bob', ['developers']);
  const listed = await call('GET', '/api/v1/connections', bob);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.connections.map((c: { name: string }) => c.name).filter((n: string) => n.startsWith('vis-')), ['vis-all', 'vis-devs']);
  assert.equal((await call('GET', '/api/v1/connections/vis-devs', bob)).status, 200);

  const hidden = await call('GET', '/api/v1/connections/vis-ops', bob);
  const missing = await call('GET', '/api/v1/connections/vis-nope', bob);
  for (const r of [hidden, missing]) {
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'GW_CONNECTION_NOT_FOUND');
  }
  assert.equal(hidden.body.error.message, 'There is no connection "vis-ops" that you may use; see `airlock connections list`.');
  assert.equal(missing.body.error.message, 'There is no connection "vis-nope" that you may use; see `airlock connections list`.');

  const admin = await call('GET', '/api/v1/connections', alice);
  assert.deepEqual(admin.body.connections.map((c: { name: string }) => c.name).filter((n: string) => n.startsWith('vis-')), ['vis-admins', 'vis-all', 'vis-devs', 'vis-ops']);
  assert.equal((await call('GET', '/api/v1/connections', undefined)).status, 401);
});

test('only admins write: bob gets 403 GW_FORBIDDEN for every write', async () => {
  const alice = await tokenFor('alice', ['admins']);
  await call('POST', '/api/v1/connections', alice, http('guarded', { groups: ['developers'] }));
  const bob = await tokenFor('bob', ['developers']);
  for (const [method, path, body] of [
    ['POST', '/api/v1/connections', http('mine')],
    ['PUT', '/api/v1/connections/guarded', http('guarded')],
    ['PATCH', '/api/v1/connections/guarded', { groups: ['*'] }],
    ['DELETE', '/api/v1/connections/guarded', undefined],
  ] as const) {
    const r = await call(method, path, bob, body);
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.body.error.code, 'GW_FORBIDDEN');
    assert.match(r.body.error.message, /needs the admin role; bob has user/);
  }
  assert.deepEqual(gw.connections.get('guarded')?.groups, ['developers'], 'nothing changed');
});

test('versions guard concurrent edits; a duplicate name is 409 too', async () => {
  const alice = await tokenFor('alice', ['admins']);
  await call('POST', '/api/v1/connections', alice, http('versioned'));
  assert.equal((await call('PATCH', '/api/v1/connections/versioned', alice, { description: 'first' }, { 'if-match': '"1"' })).status, 200);
  const stale = await call('PATCH', '/api/v1/connections/versioned', alice, { description: 'second' }, { 'if-match': '"1"' });
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error.code, 'GW_STORE_CONFLICT');
  assert.match(stale.body.error.message, /^Connection "versioned" is at version 2, not 1: it changed since you read it/);
  const staleBody = await call('PUT', '/api/v1/connections/versioned', alice, { ...http('versioned'), version: 1 });
  assert.equal(staleBody.status, 409);
  const disagree = await call('PATCH', '/api/v1/connections/versioned', alice, { version: 2 }, { 'if-match': '"1"' });
  assert.equal(disagree.status, 400);
  assert.match(disagree.body.error.message, /If-Match names version 1 and the body version 2/);
  const malformed = await call('PATCH', '/api/v1/connections/versioned', alice, {}, { 'if-match': 'yesterday' });
  assert.equal(malformed.status, 400);
  assert.match(malformed.body.error.message, /If-Match must name one version/);
  assert.equal(gw.connections.get('versioned')?.description, 'first');

  const dup = await call('POST', '/api/v1/connections', alice, http('versioned'));
  assert.equal(dup.status, 409);
  assert.equal(dup.body.error.code, 'GW_STORE_CONFLICT');
  assert.match(dup.body.error.message, /^A connection named "versioned" already exists/);
});

test('bad bodies are refused naming the field; bodies past the cap are 413', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const cases: Array<[unknown, string, RegExp]> = [
    [http('bad-1', { target: 'http://user:pw@x' }), 'GW_CONNECTION_INVALID', /^The connection is not valid: target: must not carry credentials/],
    [http('bad-2', { limits: { oversize: 'allow' } }), 'GW_CONNECTION_INVALID', /limits\.oversize: /],
    [http('bad-3', { credential: 'x' }), 'GW_CONNECTION_INVALID', /credential: unknown field/],
    [http('bad-4', { policy: { packs: ['nope'] } }), 'GW_CONNECTION_INVALID', /policy\.packs\.0: no policy pack "nope"/],
    [{ ...http('bad-5'), kind: 'ftp' }, 'GW_CONNECTION_INVALID', /kind: must be one of http, mcp, postgres/],
    ['[1,2]', 'GW_BAD_REQUEST', /^The body is not accepted: \(body\)/],
    ['{"name":', 'GW_BAD_REQUEST', /^The body is not valid JSON/],
  ];
  for (const [body, code, message] of cases) {
    const r = await call('POST', '/api/v1/connections', alice, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, code);
    assert.match(r.body.error.message, message);
  }
  const huge = await call('POST', '/api/v1/connections', alice, http('huge', { description: 'x'.repeat(CONNECTION_BODY_MAX_BYTES) }));
  assert.equal(huge.status, 413);
  assert.equal(huge.body.error.code, 'GW_BODY_TOO_LARGE');
  const badName = await call('PATCH', '/api/v1/connections/Not_A_Label', alice, {});
  assert.equal(badName.status, 404);
  assert.equal(badName.body.error.code, 'GW_CONNECTION_NOT_FOUND');
  const onCollection = await call('PUT', '/api/v1/connections', alice, http('x'));
  assert.equal(onCollection.status, 405);
});

test('an API key uses and sees exactly the connections its list names', async () => {
  const alice = await tokenFor('alice', ['admins']);
  await call('POST', '/api/v1/connections', alice, http('key-devs', { groups: ['developers'] }));
  await call('POST', '/api/v1/connections', alice, http('key-all', { groups: ['*'] }));
  const created = await call('POST', '/api/v1/api-keys', alice, { name: 'ci', roles: ['user'], connections: ['key-devs'], ttlSeconds: 3600 });
  const key = created.body.key as string;
  const listed = await call('GET', '/api/v1/connections', key);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.connections.map((c: { name: string }) => c.name), ['key-devs']);
  const other = await call('GET', '/api/v1/connections/key-all', key);
  assert.equal(other.status, 404, 'a "*" connection outside the key\'s list is not the key\'s');
  // The data paths ask the registry directly, with the identity the key authenticates as.
  const identity = await verifyApiKey(key, gw.store);
  assert.deepEqual(identity.connections, ['key-devs']);
  assert.equal(gw.connections.canUse(identity, gw.connections.get('key-devs')!), true);
  assert.equal(gw.connections.canUse(identity, gw.connections.get('key-all')!), false);
});

test('a second gateway on the same store sees a change within its reload interval, without a restart', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const seen = new Promise<ConnectionChange>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gw2 saw no change within 5 s')), 5000);
    const off = gw2.connections.onChange((c) => { if (c.name === 'replicated') { clearTimeout(timer); off(); resolve(c); } });
  });
  assert.equal((await call('POST', '/api/v1/connections', alice, http('replicated', { groups: ['developers'] }))).status, 201);
  const change = await seen;
  assert.equal(change.type, 'created');
  assert.equal(change.source, 'reload');
  const bob = await tokenFor('bob', ['developers']);
  const onSecond = await call('GET', '/api/v1/connections/replicated', bob, undefined, {}, gw2.url);
  assert.equal(onSecond.status, 200, JSON.stringify(onSecond.body));
  assert.equal(onSecond.body.target, 'http://127.0.0.1:8090/');
});

test('a body that names a key twice (groups given twice) is refused: the audit trail and the gateway must read one request', async () => {
  const alice = await tokenFor('alice', ['admins']);
  const text = '{"name":"twice","kind":"http","agent":"local","target":"http://127.0.0.1:8090","groups":["admins"],"groups":["developers"]}';
  const r = await call('POST', '/api/v1/connections', alice, text);
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'GW_BAD_REQUEST');
  assert.equal(r.body.error.message, 'The body names a key twice (at $.groups); send each key once.');
  assert.equal((await call('GET', '/api/v1/connections/twice', alice)).status, 404);
});
