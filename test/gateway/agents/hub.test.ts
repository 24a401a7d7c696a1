// The hub on its own, over real tunnel session pairs (ws on loopback) and a real SQLite store:
// a tunnel becomes usable only once the store still says active after it was added (the revoke
// race), presence is written while connected, and closing the hub ends every tunnel.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentHub } from '../../../gateway/agents/hub.ts';
import { openStore, type Store } from '../../../gateway/store/index.ts';
import { silentLogger } from '../../../lib/log.ts';
import { connectPair, type Pair } from '../tunnel/pair.ts';

let store: Store;
const pairs: Pair[] = [];

before(async () => {
  store = await openStore('sqlite::memory:', { logger: silentLogger });
  for (const name of ['a', 'b', 'c']) await store.agents.create({ name, status: 'active', publicKey: '{}' });
  await store.agents.create({ name: 'gone', status: 'revoked', publicKey: '{}' });
});
after(async () => {
  await Promise.all(pairs.map((p) => p.close().catch(() => {})));
  await store.close();
});

async function pair(): Promise<Pair> {
  const p = await connectPair({ pingIntervalMs: 0 }, { pingIntervalMs: 0 });
  pairs.push(p);
  return p;
}

test('a tunnel whose agent the store no longer calls active is closed with 4100 and never used', async () => {
  const hub = new AgentHub({ store, logger: silentLogger });
  after(() => hub.close());
  const p = await pair();
  hub.attach('gone', p.server, { version: '1.0.0' });
  await p.client.closed;
  assert.equal(p.client.closeCode, 4100);
  assert.equal(hub.presence('gone').online, false);
  assert.throws(() => hub.open('gone', { kind: 'x' }), { code: 'GW_AGENT_OFFLINE' });
});

test('presence: online with version, last seen written at connect and every interval, offline after close', async () => {
  const hub = new AgentHub({ store, logger: silentLogger, presenceIntervalMs: 50 });
  after(() => hub.close());
  const p = await pair();
  hub.attach('a', p.server, { version: '2.0.0' });
  await hub.waitOnline('a', 2000);
  assert.deepEqual({ ...hub.presence('a'), connectedAt: typeof hub.presence('a').connectedAt }, { online: true, tunnels: 1, version: '2.0.0', connectedAt: 'number' });
  const first = (await store.agents.get('a'))!;
  assert.equal(first.version, '2.0.0', 'the reported version is recorded');
  await new Promise((r) => setTimeout(r, 200));
  const later = (await store.agents.get('a'))!;
  assert.ok(later.lastSeen! > first.lastSeen!, 'last seen advances while connected');
  const offline = new Promise<string>((resolve) => hub.once('offline', resolve));
  await p.client.close();
  assert.equal(await offline, 'a');
  assert.equal(hub.presence('a').online, false);
});

test('a revocation or a new key written by another replica closes the tunnels here within the presence interval', async () => {
  await store.agents.create({ name: 'elsewhere', status: 'active', publicKey: '{"k":1}' });
  await store.agents.create({ name: 'rekeyed', status: 'active', publicKey: '{"k":2}' });
  const hub = new AgentHub({ store, logger: silentLogger, presenceIntervalMs: 50 });
  after(() => hub.close());
  const [p1, p2] = [await pair(), await pair()];
  hub.attach('elsewhere', p1.server, { version: null, publicKey: '{"k":1}' });
  hub.attach('rekeyed', p2.server, { version: null, publicKey: '{"k":2}' });
  await Promise.all([hub.waitOnline('elsewhere', 2000), hub.waitOnline('rekeyed', 2000)]);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(p1.client.state, 'open', 'checks pass while nothing changed');
  await store.agents.update('elsewhere', { status: 'revoked', revokedAt: Date.now() });
  await store.agents.update('rekeyed', { publicKey: '{"k":3}' });
  await Promise.all([p1.client.closed, p2.client.closed]);
  assert.deepEqual([p1.client.closeCode, p2.client.closeCode], [4100, 4100]);
});

test('waitOnline is bounded: GW_AGENT_OFFLINE after the timeout', async () => {
  const hub = new AgentHub({ store, logger: silentLogger });
  after(() => hub.close());
  await assert.rejects(hub.waitOnline('b', 50), (err: { code: string; message: string }) => err.code === 'GW_AGENT_OFFLINE' && /did not connect within 50 ms/.test(err.message));
});

test('streams take turns over equally loaded tunnels; close() ends every tunnel with 4101 and refuses new ones', async () => {
  const hub = new AgentHub({ store, logger: silentLogger });
  const [p1, p2] = [await pair(), await pair()];
  const seen: string[] = [];
  p1.client.on('stream', (s) => { seen.push('1'); s.on('error', () => {}); s.destroy(); });
  p2.client.on('stream', (s) => { seen.push('2'); s.on('error', () => {}); s.destroy(); });
  hub.attach('c', p1.server, { version: null });
  hub.attach('c', p2.server, { version: null });
  await hub.waitOnline('c', 2000);
  for (let i = 0; i < 200 && hub.presence('c').tunnels < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(hub.presence('c').tunnels, 2);
  for (let i = 0; i < 4; i++) {
    const s = hub.open('c', { kind: 'x' });
    s.on('error', () => {});
    s.resume();
    s.end();
    await new Promise((r) => s.once('close', r)); // each finishes before the next, so loads stay equal
  }
  assert.deepEqual([...seen].sort(), ['1', '1', '2', '2']);

  await hub.close();
  await Promise.all([p1.client.closed, p2.client.closed]);
  assert.deepEqual([p1.client.closeCode, p2.client.closeCode], [4101, 4101]);
  const p3 = await pair();
  hub.attach('c', p3.server, { version: null });
  await p3.client.closed;
  assert.equal(p3.client.closeCode, 4101, 'a tunnel arriving during shutdown is closed at once');
});
