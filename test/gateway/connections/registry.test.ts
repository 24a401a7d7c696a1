// The connections registry over a real SQLite store: validated writes with optimistic concurrency,
// the in-memory snapshot and its change events, convergence of two registries sharing one store
// file (two gateway replicas), invalid stored records kept out, and the rule of who may use what.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Identity } from '../../../gateway/authn/identity.ts';
import { ConnectionRegistry, type ConnectionChange } from '../../../gateway/connections/registry.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { openStore, type Store } from '../../../gateway/store/index.ts';
import { createLogger, silentLogger } from '../../../lib/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-registry-'));
const file = join(dir, 'gw.db');
let storeA: Store;
let storeB: Store;
let a: ConnectionRegistry;
let b: ConnectionRegistry;
const logLines: string[] = [];

before(async () => {
  storeA = await openStore(`sqlite:${file}`);
  storeB = await openStore(`sqlite:${file}`);
  a = new ConnectionRegistry({ store: storeA, logger: silentLogger, reloadIntervalMs: 60_000 });
  b = new ConnectionRegistry({ store: storeB, logger: createLogger({ write: (l) => { logLines.push(l); } }), reloadIntervalMs: 100 });
  await a.start();
  await b.start();
});
after(async () => {
  a.stop();
  b.stop();
  await storeA.close();
  await storeB.close();
  rmSync(dir, { recursive: true, force: true });
});

const http = (name: string, extra: Record<string, unknown> = {}) => ({ name, kind: 'http', agent: 'local', target: 'http://127.0.0.1:8090', ...extra });

/** The next change event on `registry` for `name` matching `type`, within `ms`. */
function nextChange(registry: ConnectionRegistry, name: string, type: ConnectionChange['type'], ms = 5000): Promise<ConnectionChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${type} of ${name} within ${ms} ms`)); }, ms);
    const off = registry.onChange((c) => {
      if (c.name === name && c.type === type) { clearTimeout(timer); off(); resolve(c); }
    });
  });
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<GatewayError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GatewayError, `expected ${code}, got ${String(err)}`);
  assert.equal(err.code, code);
  assert.match(err.message, message);
  return err;
}

test('create stores a validated connection, serves it from memory frozen, and tells listeners', async () => {
  const changes: ConnectionChange[] = [];
  const off = a.onChange((c) => changes.push(c));
  const created = await a.create(http('alpha', { groups: ['developers'] }));
  off();
  assert.equal(created.version, 1);
  assert.equal(created.target, 'http://127.0.0.1:8090/');
  assert.deepEqual(created.policy, { packs: ['default'], files: [], defaultAction: 'allow' });
  assert.equal(a.get('alpha'), created);
  assert.ok(Object.isFrozen(created) && Object.isFrozen(created.policy.packs), 'deeply frozen');
  assert.deepEqual(changes.map((c) => [c.type, c.name, c.source, c.previous]), [['created', 'alpha', 'local', undefined]]);
  const stored = await storeA.connections.get('alpha');
  assert.equal(stored?.kind, 'http');
  assert.equal(stored?.agent, 'local');
  assert.equal((stored?.spec as { target: string }).target, 'http://127.0.0.1:8090/');
  assert.equal('name' in (stored?.spec ?? {}), false, 'name, kind and agent live in their columns only');
});

test('a taken name is GW_STORE_CONFLICT; an invalid definition is GW_CONNECTION_INVALID naming the field', async () => {
  await a.create(http('dup'));
  await rejectsWith(a.create(http('dup')), 'GW_STORE_CONFLICT', /^A connection named "dup" already exists; change it with `airlock connections update dup`/);
  const err = await rejectsWith(a.create(http('bad', { target: 'http://u:p@x' })), 'GW_CONNECTION_INVALID', /^The connection is not valid: target: must not carry credentials/);
  assert.deepEqual((err.detail as { issues: Array<{ field: string }> }).issues.map((i) => i.field), ['target']);
  assert.equal(a.get('bad'), undefined);
});

test('policy sources are checked on write: unknown packs and unreadable or invalid files name their field', async () => {
  await rejectsWith(a.create(http('p1', { policy: { packs: ['default', 'sql'] } })), 'GW_CONNECTION_INVALID', /policy\.packs\.1: no policy pack "sql" \(the packs are .*sql-safety/);
  await rejectsWith(a.create(http('p2', { policy: { files: [join(dir, 'missing.yaml')] } })), 'GW_CONNECTION_INVALID', /policy\.files\.0: cannot read policy file .*missing\.yaml: ENOENT/);
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'name: mine\nrules:\n  - id: x\n    action: explode\n    reason: x\n');
  await rejectsWith(a.create(http('p3', { policy: { files: [broken] } })), 'GW_CONNECTION_INVALID', /policy\.files\.0: invalid policy: .*broken\.yaml:4:5: rules\.0\.action/);
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'name: mine\nrules:\n  - id: mine.deny-delete\n    match: { methods: [DELETE] }\n    action: deny\n    reason: mine.delete\n');
  const created = await a.create(http('p4', { policy: { packs: ['pii-masking'], files: [good], defaultAction: 'review' } }));
  assert.deepEqual(created.policy, { packs: ['pii-masking'], files: [good], defaultAction: 'review' });
});

test('update merges a patch; a stale expected version is GW_STORE_CONFLICT; the name cannot change', async () => {
  const v1 = await a.create(http('beta', { groups: ['developers'], tags: ['env=dev'] }));
  const changed = nextChange(a, 'beta', 'updated');
  const v2 = await a.update('beta', { limits: { inspectBytes: 4096 }, tags: null, description: 'Beta service' }, v1.version);
  const event = await changed;
  assert.equal(v2.version, 2);
  assert.equal(v2.limits.inspectBytes, 4096);
  assert.equal(v2.limits.maxRequestBytes, 10 * 1024 * 1024, 'untouched fields keep their values');
  assert.deepEqual(v2.tags, [], 'null removes a field: it gets its default back');
  assert.equal(v2.description, 'Beta service');
  assert.deepEqual(v2.groups, ['developers']);
  assert.equal(event.previous, v1);
  assert.equal(event.connection, v2);

  await rejectsWith(a.update('beta', { description: 'late' }, 1), 'GW_STORE_CONFLICT', /^Connection "beta" is at version 2, not 1: it changed since you read it/);
  assert.equal(a.get('beta')?.description, 'Beta service');
  const v3 = await a.update('beta', { description: 'no version given: applies to the current one' });
  assert.equal(v3.version, 3);

  await rejectsWith(a.update('beta', { name: 'gamma' }), 'GW_CONNECTION_INVALID', /^The connection is not valid: name: cannot be changed \(from "beta"\)/);
  await rejectsWith(a.update('beta', { kind: 'postgres' }), 'GW_CONNECTION_INVALID', /target: must be a postgres:\/\/host:port\/database URL/);
  await rejectsWith(a.update('nope', { description: 'x' }), 'GW_CONNECTION_NOT_FOUND', /^There is no connection "nope"; see `airlock connections list`\.$/);
});

test('replace swaps the whole definition: what it leaves out gets its default', async () => {
  await a.create(http('delta', { groups: ['developers'], description: 'old' }));
  const replaced = await a.replace('delta', { kind: 'postgres', agent: 'db-agent', target: 'postgres://db.internal/app' }, 1);
  assert.equal(replaced.kind, 'postgres');
  assert.equal(replaced.target, 'postgres://db.internal:5432/app');
  assert.deepEqual(replaced.groups, []);
  assert.equal(replaced.description, undefined);
  assert.equal((await storeA.connections.get('delta'))?.kind, 'postgres');
});

test('remove drops it from the snapshot and tells listeners; removing again is GW_CONNECTION_NOT_FOUND', async () => {
  const created = await a.create(http('epsilon'));
  const removed = nextChange(a, 'epsilon', 'removed');
  await rejectsWith(a.remove('epsilon', 7), 'GW_STORE_CONFLICT', /is at version 1, not 7/);
  assert.equal((await a.remove('epsilon'))?.name, 'epsilon');
  assert.equal((await removed).previous, created);
  assert.equal(a.get('epsilon'), undefined);
  assert.ok(!a.list().some((c) => c.name === 'epsilon'));
  await rejectsWith(a.remove('epsilon'), 'GW_CONNECTION_NOT_FOUND', /no connection "epsilon"/);
});

test('another registry on the same store sees creates, updates and removals within its reload interval', async () => {
  const created = nextChange(b, 'zeta', 'created');
  await a.create(http('zeta'));
  const seen = await created;
  assert.equal(seen.source, 'reload');
  assert.equal(b.get('zeta')?.version, 1);

  const updated = nextChange(b, 'zeta', 'updated');
  await a.update('zeta', { groups: ['*'] });
  assert.deepEqual((await updated).connection?.groups, ['*']);
  assert.deepEqual(b.get('zeta')?.groups, ['*']);

  const removed = nextChange(b, 'zeta', 'removed');
  await a.remove('zeta');
  await removed;
  assert.equal(b.get('zeta'), undefined);
  assert.deepEqual(b.list().map((c) => c.name), a.list().map((c) => c.name), 'both replicas converge');
});

test('a stored record that no longer validates is not served, is logged once, and can be fixed by a patch', async () => {
  await storeA.connections.create({ name: 'broken', kind: 'http', agent: 'local', spec: { target: 'ftp://old.internal/' } });
  await b.reload();
  await b.reload();
  assert.equal(b.get('broken'), undefined);
  const logged = logLines.filter((l) => l.includes('"connection":"broken"'));
  assert.equal(logged.length, 1, 'logged once, not on every reload');
  assert.match(logged[0]!, /"level":"error".*a stored connection is invalid and is not served.*"problems":"target: must be an absolute http:\/\/ or https:\/\/ URL"/);
  const fixed = await b.update('broken', { target: 'https://new.internal/' });
  assert.equal(fixed.version, 2);
  assert.equal(b.get('broken')?.target, 'https://new.internal/');
});

test('stop ends the periodic reload', async () => {
  const c = new ConnectionRegistry({ store: storeB, logger: silentLogger, reloadIntervalMs: 50 });
  await c.start();
  c.stop();
  await a.create(http('after-stop'));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.get('after-stop'), undefined, 'a stopped registry no longer reloads');
  assert.throws(() => new ConnectionRegistry({ store: storeB, logger: silentLogger, reloadIntervalMs: 10 }), { name: 'TypeError', message: 'reloadIntervalMs must be at least 50, got 10' });
});

const identity = (over: Partial<Identity>): Identity => ({
  sub: 'x', email: null, name: null, groups: [], roles: ['user'], via: 'oidc', tokenId: null, expiresAt: null, scopes: [], connections: null, ...over,
});

test('who may use what: groups, "*", admins, roles, and an API key\'s own list', () => {
  const adminsOnly = { name: 'admins-only', groups: [] };
  const devs = { name: 'devs', groups: ['developers'] };
  const everyone = { name: 'everyone', groups: ['*'] };
  const all = [adminsOnly, devs, everyone];
  const table: Array<[string, Identity, string[]]> = [
    ['an admin uses every connection', identity({ groups: ['admins'], roles: ['admin', 'reviewer', 'auditor', 'user'] }), ['admins-only', 'devs', 'everyone']],
    ['a developer uses developers and * connections', identity({ groups: ['developers'] }), ['devs', 'everyone']],
    ['a user without groups uses * connections', identity({}), ['everyone']],
    ['without the user role, groups give nothing', identity({ groups: ['developers'], roles: ['reviewer'] }), []],
    ['an API key uses exactly its list', identity({ via: 'apikey', roles: ['user'], connections: ['admins-only', 'devs'] }), ['admins-only', 'devs']],
    ['an API key with an empty list uses nothing', identity({ via: 'apikey', roles: ['user'], connections: [] }), []],
    ['an admin API key is limited by its list too', identity({ via: 'apikey', roles: ['admin'], connections: ['devs'] }), ['devs']],
    ['an API key without the user or admin role uses nothing', identity({ via: 'apikey', roles: ['auditor'], connections: ['devs'] }), []],
  ];
  for (const [what, who, expected] of table) {
    assert.deepEqual(all.filter((c) => a.canUse(who, c)).map((c) => c.name), expected, what);
  }
});

test('resolve answers the same for a missing connection and one the caller may not use', async () => {
  await a.create(http('secret-db', { groups: ['dba'] }));
  const bob = identity({ groups: ['developers'] });
  const hidden = await rejectsWith(Promise.resolve().then(() => a.resolve(bob, 'secret-db')), 'GW_CONNECTION_NOT_FOUND', /that you may use/);
  const missing = await rejectsWith(Promise.resolve().then(() => a.resolve(bob, 'no-such-db')), 'GW_CONNECTION_NOT_FOUND', /that you may use/);
  assert.equal(hidden.message.replace('secret-db', 'N'), missing.message.replace('no-such-db', 'N'));
  assert.equal(a.resolve(identity({ groups: ['dba'] }), 'secret-db').name, 'secret-db');
  assert.ok(!a.visibleTo(bob).some((c) => c.name === 'secret-db'));
  assert.ok(a.visibleTo(identity({ roles: ['admin'] })).some((c) => c.name === 'secret-db'), 'admins see every connection');
});

test('a change through another replica arrives by the config epoch long before the full reload; epoch listeners hear every authority change', async () => {
  const c = new ConnectionRegistry({ store: storeA, logger: silentLogger, reloadIntervalMs: 3_600_000, epochIntervalMs: 50 });
  await c.start();
  let epochs = 0;
  c.onEpoch(() => { epochs++; });
  try {
    await b.create(http('epoch-demo', { groups: ['developers'] }));
    await eventually(() => c.get('epoch-demo'), 'the created connection on the other replica');
    await b.update('epoch-demo', { groups: ['ops'] });
    await eventually(() => c.get('epoch-demo')?.groups.includes('ops') || undefined, 'the update on the other replica');

    // API keys and agents move the epoch too (not their bookkeeping columns).
    const before = await storeB.configEpoch();
    await storeB.apiKeys.create({ id: 'epochkey0000000a', name: 'ci', hash: 'sha256:epoch-demo', roles: ['user'], connections: ['epoch-demo'], createdBy: 'alice' });
    const created = await storeB.configEpoch();
    assert.ok(created > before, 'creating a key moves the epoch');
    await storeB.apiKeys.touch('epochkey0000000a');
    assert.equal(await storeB.configEpoch(), created, 'a key\'s last use does not');
    const heard = epochs;
    await storeB.apiKeys.revoke('epochkey0000000a');
    assert.ok(await storeB.configEpoch() > created, 'revoking a key moves the epoch');
    await eventually(() => epochs > heard || undefined, 'the epoch listener after a revocation');
    await storeB.agents.create({ name: 'epoch-agent' });
    const agentEpoch = await storeB.configEpoch();
    await storeB.agents.update('epoch-agent', { lastSeen: Date.now() });
    assert.equal(await storeB.configEpoch(), agentEpoch, 'an agent\'s presence does not');
    await storeB.agents.update('epoch-agent', { status: 'revoked', revokedAt: Date.now() });
    assert.ok(await storeB.configEpoch() > agentEpoch, 'revoking an agent does');
  } finally {
    c.stop();
  }
  assert.throws(() => new ConnectionRegistry({ store: storeB, logger: silentLogger, epochIntervalMs: 10 }), { name: 'TypeError', message: 'epochIntervalMs must be at least 50, got 10' });
});

test('recheck, on every use of a live session: the connection as it is now, or GW_ACCESS_REVOKED / GW_TOKEN_EXPIRED', async () => {
  await a.create(http('recheck-demo', { groups: ['developers'] }));
  const dev = identity({ sub: 'dev', groups: ['developers'] });
  assert.deepEqual(a.recheck(dev, 'recheck-demo').groups, ['developers']);
  await a.update('recheck-demo', { groups: ['ops'] });
  const revoked = await rejectsWith(Promise.resolve().then(() => a.recheck(dev, 'recheck-demo')), 'GW_ACCESS_REVOKED', /^You may no longer use connection "recheck-demo": it was changed or removed while this session was open/);
  assert.equal(revoked.status, 403);
  const ops = identity({ sub: 'op', groups: ['ops'], expiresAt: 1_000 });
  await rejectsWith(Promise.resolve().then(() => a.recheck(ops, 'recheck-demo', 1_000)), 'GW_TOKEN_EXPIRED', /^The access token this session was opened with expired at 1970-01-01T00:00:01.000Z; authenticate again/);
  assert.equal(a.recheck(ops, 'recheck-demo', 999).name, 'recheck-demo');
  await a.remove('recheck-demo');
  await rejectsWith(Promise.resolve().then(() => a.recheck(identity({ roles: ['admin'] }), 'recheck-demo')), 'GW_ACCESS_REVOKED', /recheck-demo/);
});

test('credentialProblem reads an API key from the store: revoked or expired ends a live session; a token holds until exp', async () => {
  await storeA.apiKeys.create({ id: 'credkey00000000a', name: 'bot', hash: 'sha256:cred-demo', roles: ['user'], connections: [], createdBy: 'alice' });
  const key = identity({ sub: 'apikey:credkey00000000a', via: 'apikey', tokenId: 'credkey00000000a', connections: [] });
  assert.equal(await a.credentialProblem(key), undefined);
  await storeA.apiKeys.revoke('credkey00000000a');
  const problem = await a.credentialProblem(key);
  assert.equal(problem?.code, 'GW_API_KEY_INVALID');
  assert.equal(problem?.message, 'API key credkey00000000a was revoked while this session was open; ask an admin for a new one.');
  assert.equal((await a.credentialProblem(identity({ expiresAt: 5_000 }), 5_000))?.code, 'GW_TOKEN_EXPIRED');
  assert.equal(await a.credentialProblem(identity({ expiresAt: 5_000 }), 4_999), undefined);
});

async function eventually<T>(check: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
