// Agent pools: one connection served by two real `airlock-agent` processes (agent hosts), each
// holding its own credential for the same target, so the target's view of the Authorization
// header says which agent carried a request. Requests spread over both; when one agent host is
// killed (SIGKILL: no goodbye, the kernel drops its socket) the other serves every request; with
// both gone the caller gets a coded 503 naming the pool.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Running } from '../../support/process.ts';
import { addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let target: Server;
let targetUrl: string;
let agentA: Running;
let agentB: Running;
let bob: string;
const seen: string[] = [];

before(async () => {
  target = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  targetUrl = await new Promise((resolve) => target.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway();
  const alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agentA = await startTestAgent(t, 'edge-a', { allow: [targetUrl], bearer: { pooled: 'token-of-a' } });
  agentB = await startTestAgent(t, 'edge-b', { allow: [targetUrl], bearer: { pooled: 'token-of-b' } });
  await addConnections(t, alice, [{ name: 'pooled', kind: 'http', agent: 'edge-a', agents: ['edge-a', 'edge-b'], target: targetUrl, groups: ['developers'] }]);
});

after(async () => {
  await agentA?.stop('SIGKILL');
  await stopAll(agentB, t, target);
});

async function get(path: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${t.gw.url}/proxy/pooled${path}`, { headers: { authorization: `Bearer ${bob}` } });
  return { status: res.status, body: await res.json() as Record<string, any> };
}

test('a connection naming two agents is served by both while both are up', async () => {
  seen.length = 0;
  // Concurrent requests: the hub takes the least busy tunnel of the pool, so both carry some.
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => get(`/spread/${i}`)));
  assert.deepEqual(answers.map((a) => a.status), answers.map(() => 200));
  assert.ok(seen.includes('Bearer token-of-a') && seen.includes('Bearer token-of-b'), `both agents served: ${[...new Set(seen)].join(', ')}`);
  assert.deepEqual(seen.filter((s) => s !== 'Bearer token-of-a' && s !== 'Bearer token-of-b'), []);
});

test('an agent host killed: the other agent of the pool serves every request', async () => {
  await agentA.stop('SIGKILL');
  await eventually(() => !t.gw.agents.presence('edge-a').online || undefined, 10_000, 'edge-a offline');
  seen.length = 0;
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`/after-kill/${i}`)));
  assert.deepEqual(answers.map((a) => a.status), answers.map(() => 200));
  assert.deepEqual([...new Set(seen)], ['Bearer token-of-b']);
  assert.equal(seen.length, 20);
});

test('no agent of the pool connected: 503 GW_AGENT_OFFLINE naming the pool', async () => {
  await agentB.stop('SIGKILL');
  await eventually(() => !t.gw.agents.presence('edge-b').online || undefined, 10_000, 'edge-b offline');
  const answer = await get('/nobody');
  assert.equal(answer.status, 503);
  assert.equal(answer.body.error.code, 'GW_AGENT_OFFLINE');
  assert.match(answer.body.error.message, /^No agent of the pool edge-a, edge-b is connected to this gateway; check `airlock agents list` and the agents' logs, then retry\.$/);
});

test('a pool that lists an agent twice is refused', async () => {
  const r = await t.call('POST', '/api/v1/connections', await t.token('alice', ['admins']), { name: 'twice', kind: 'http', agent: 'edge-a', agents: ['edge-b', 'edge-b'], target: targetUrl });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'GW_CONNECTION_INVALID');
  assert.match(r.body.error.message, /agents: lists an agent twice/);
});
