// Three gateway processes on one real PostgreSQL behind a real nginx, two real agents each holding
// a tunnel to every replica (gateway/cluster/DESIGN.md says why this and not a relay):
// - requests through the load balancer reach the target whichever replica they land on;
// - a connect token used at one replica is refused at another; an enrollment token is redeemed once;
// - an API key's revocation and a connection's change reach every replica within 2 s, although
//   the replicas poll the config epoch only every 30 s (the NOTIFY path);
// - SIGKILL of a replica under 100 concurrent requests: every answered request's events are in
//   the store, and every session verifies with `airlock sessions verify --all` (the dead
//   replica's open sessions are sealed incomplete by a survivor).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { agentKey, connectToken, dialTunnel, eventually } from '../../support/gateway.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { AIRLOCK, run } from '../../support/process.ts';

let c: TestCluster;
let target: Server;
let targetUrl: string;
let alice: string;
let bob: string;
const hits: string[] = [];

before(async () => {
  target = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    // A little latency, so requests are in flight when a replica dies.
    setTimeout(() => res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null })), 5);
  });
  targetUrl = await new Promise((resolve) => target.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  c = await startCluster({ replicas: 3 });
  alice = await c.token('alice', ['admins']);
  bob = await c.token('bob', ['developers']);
  await c.agent('edge-1', { allow: [targetUrl], bearer: { crm: 'target-token-1' } });
  await c.agent('edge-2', { allow: [targetUrl], bearer: { crm: 'target-token-2' } });
  const created = await c.call('POST', '/api/v1/connections', alice, { name: 'crm', kind: 'http', agent: 'edge-1', agents: ['edge-2'], target: targetUrl, groups: ['developers'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  // Every replica knows the connection (NOTIFY, not the 30 s poll).
  for (const r of c.replicas) await eventually(async () => (await c.call('GET', '/proxy/crm/ready', bob, undefined, r.url)).status === 200 || undefined, 5000, `crm on ${r.url}`);
});

after(async () => {
  await c?.close();
  await new Promise<void>((r) => { if (target === undefined) r(); else { target.closeAllConnections(); target.close(() => r()); } });
});

test('requests through the load balancer reach the target whichever replica they land on', async () => {
  hits.length = 0;
  const answers = await Promise.all(Array.from({ length: 60 }, async (_, i) => {
    const res = await fetch(`${c.url}/proxy/crm/spread/${i}`, { headers: { authorization: `Bearer ${bob}` } });
    return { status: res.status, body: await res.json() as Record<string, any> };
  }));
  assert.deepEqual(answers.map((a) => a.status), answers.map(() => 200));
  assert.deepEqual(answers.map((a) => a.body.path).sort(), Array.from({ length: 60 }, (_, i) => `/spread/${i}`).sort());
  // Each replica served some (the sessions say which gateway instance recorded them).
  const instances = await c.query("SELECT DISTINCT instance FROM sessions WHERE connection = 'crm' AND instance IS NOT NULL");
  assert.equal(instances.length, 3, `sessions recorded by ${instances.length} replicas`);
});

test('a connect token used at one replica is refused at another (shared replay cache)', async () => {
  const added = await c.call('POST', '/api/v1/agents', alice, { name: 'replayed' });
  const key = agentKey();
  const enrolled = await c.call('POST', '/api/v1/agents/replayed/enroll', added.body.enrollmentToken as string, { publicKey: key.publicKey, version: '9.9.9' });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const token = await connectToken('replayed', key.privateKey);
  const first = await dialTunnel(c.replicas[0]!.url, { authorization: `Bearer ${token}` });
  assert.ok('session' in first, 'the first use connects');
  await first.session.close(1000, 'done');
  const again = await dialTunnel(c.replicas[1]!.url, { authorization: `Bearer ${token}` });
  assert.ok('refused' in again, 'the second use, at another replica, is refused');
  assert.equal(again.refused.status, 401);
  assert.equal(again.refused.body.error.code, 'GW_AGENT_TOKEN_INVALID');
  assert.equal(again.refused.body.error.message, "The agent's connect token is not valid: its jti was already used; every connect needs a fresh token (a replay?).");
});

test('an enrollment token redeemed at two replicas at once is redeemed once', async () => {
  const added = await c.call('POST', '/api/v1/agents', alice, { name: 'raced' });
  const token = added.body.enrollmentToken as string;
  const answers = await Promise.all(c.replicas.map((r) => c.call('POST', '/api/v1/agents/raced/enroll', token, { publicKey: agentKey().publicKey, version: '9.9.9' }, r.url)));
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401, 401]);
  for (const refused of answers.filter((a) => a.status === 401)) {
    assert.equal(refused.body.error.code, 'GW_ENROLLMENT_INVALID');
    assert.match(refused.body.error.message, /^The enrollment token is not valid for agent raced \(unknown, already used, or for another agent\)/);
  }
});

test('an API key revoked through one replica is refused by every replica within 2 s', async () => {
  const created = await c.call('POST', '/api/v1/api-keys', alice, { name: 'ci', roles: ['user'], connections: ['crm'], ttlSeconds: 3600, kind: 'service' }, c.replicas[0]!.url);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const key = created.body.key as string;
  // Used (so cached) on every replica first.
  for (const r of c.replicas) assert.equal((await c.call('GET', '/proxy/crm/with-key', key, undefined, r.url)).status, 200);
  assert.equal((await c.call('DELETE', `/api/v1/api-keys/${created.body.id as string}`, alice, undefined, c.replicas[0]!.url)).status, 200);
  for (const r of c.replicas) {
    const refused = await eventually(async () => {
      const a = await c.call('GET', '/proxy/crm/with-key', key, undefined, r.url);
      return a.status === 401 ? a : undefined;
    }, 2000, `the revocation on ${r.url}`);
    assert.equal(refused.body.error.code, 'GW_API_KEY_INVALID');
    assert.match(refused.body.error.message, /^The API key is not accepted: key [a-z2-7]{16} \("ci"\) was revoked\./);
  }
});

test('a connection change through one replica applies on every replica within 2 s', async () => {
  const got = await c.call('GET', '/api/v1/connections/crm', alice, undefined, c.replicas[1]!.url);
  const res = await fetch(`${c.replicas[1]!.url}/api/v1/connections/crm`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', 'if-match': `"${String(got.body.version)}"` },
    body: JSON.stringify({ groups: ['nobody-here'] }),
  });
  assert.equal(res.status, 200, await res.text());
  for (const r of c.replicas) {
    const refused = await eventually(async () => {
      const a = await c.call('GET', '/proxy/crm/after-change', bob, undefined, r.url);
      return a.status === 200 ? undefined : a;
    }, 2000, `the change on ${r.url}`);
    assert.equal(refused.status, 404, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'GW_CONNECTION_NOT_FOUND');
    assert.match(refused.body.error.message, /^There is no connection "crm"/);
  }
  const back = await c.call('GET', '/api/v1/connections/crm', alice);
  const restored = await fetch(`${c.url}/api/v1/connections/crm`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', 'if-match': `"${String(back.body.version)}"` },
    body: JSON.stringify({ groups: ['developers'] }),
  });
  assert.equal(restored.status, 200);
  for (const r of c.replicas) await eventually(async () => (await c.call('GET', '/proxy/crm/restored', bob, undefined, r.url)).status === 200 || undefined, 2000, `restored on ${r.url}`);
});

test('SIGKILL of a replica under 100 concurrent requests loses no answered request\'s events, and every session verifies', async () => {
  const answered: string[] = [];
  const failed: number[] = [];
  const one = async (i: number) => {
    const res = await fetch(`${c.url}/proxy/crm/load/${i}`, { headers: { authorization: `Bearer ${bob}` } });
    await res.arrayBuffer();
    if (res.status === 200) answered.push(res.headers.get('x-request-id')!);
    else failed.push(res.status);
  };
  const instancesBefore = new Set((await c.query('SELECT id FROM gateway_instances')).map((r) => r.id as string));
  const load = Promise.all(Array.from({ length: 100 }, (_, i) => new Promise((r) => setTimeout(r, i)).then(() => one(i))));
  await new Promise((r) => setTimeout(r, 40));
  await c.replicas[2]!.process.stop('SIGKILL');
  await load;
  assert.ok(answered.length >= 90, `${answered.length} of 100 answered (failures: ${failed.join(',')})`);

  // A survivor finds the dead replica (3 missed 0.5 s heartbeats) and seals its open sessions.
  const dead = await eventually(async () => {
    const now = new Set((await c.query('SELECT id FROM gateway_instances')).map((r) => r.id as string));
    const gone = [...instancesBefore].filter((id) => !now.has(id));
    return gone.length === 1 ? gone[0]! : undefined;
  }, 10_000, 'the dead replica swept');
  const stillOpen = await c.query("SELECT id FROM sessions WHERE instance = $1 AND state = 'open'", [dead]);
  assert.deepEqual(stillOpen, [], 'the sweep sealed every session of the dead replica');
  const rows = await c.query("SELECT e.payload FROM events e JOIN sessions s ON s.id = e.session_id WHERE s.connection = 'crm' AND e.type = 'response'");
  const recorded = new Set(rows.map((r) => (JSON.parse(r.payload as string) as { requestId?: string }).requestId));
  assert.deepEqual(answered.filter((id) => !recorded.has(id)), [], 'every answered request has its response recorded');

  const verified = await run(AIRLOCK, ['sessions', 'verify', '--all'], { env: { AIRLOCK_GATEWAY: c.url, AIRLOCK_TOKEN: alice, AIRLOCK_CONFIG_DIR: `${c.dir}/cli` }, timeout: 60_000 });
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, /verif/i);
  await c.restart(2);
});
