// The relay between replicas: three gateway processes on one PostgreSQL behind a real nginx, with
// cluster listeners; the agent dials the load balancer, so it holds ONE tunnel, to whichever
// replica nginx chose. Requests landing on the other two are judged and recorded there and relayed
// to the replica with the tunnel. The cluster listener opens nothing without a fresh proof of the
// shared secret made for that replica; killing the replica with the tunnel moves the agent (it
// reconnects through the load balancer) and requests work again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { WebSocket } from 'ws';
import { callProof, CLUSTER_HEADER } from '../../../gateway/cluster/auth.ts';
import { RELAY_PATH } from '../../../gateway/cluster/relay.ts';
import { eventually } from '../../support/gateway.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import type { Running } from '../../support/process.ts';

let c: TestCluster;
let target: Server;
let targetUrl: string;
let bob: string;
let agent: Running;

before(async () => {
  target = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null }));
  });
  targetUrl = await new Promise((resolve) => target.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  c = await startCluster({ replicas: 3, relay: true });
  const alice = await c.token('alice', ['admins']);
  bob = await c.token('bob', ['developers']);
  agent = await c.agent('edge', { allow: [targetUrl], bearer: { crm: 'target-token' } });
  const created = await c.call('POST', '/api/v1/connections', alice, { name: 'crm', kind: 'http', agent: 'edge', target: targetUrl, groups: ['developers'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  for (const r of c.replicas) await eventually(async () => (await c.call('GET', '/proxy/crm/ready', bob, undefined, r.url)).status === 200 || undefined, 5000, `crm through ${r.url}`);
});

after(async () => {
  await c?.close();
  await new Promise<void>((r) => { if (target === undefined) r(); else { target.closeAllConnections(); target.close(() => r()); } });
});

/** The replica ids the presence table holds, by cluster listener port. */
async function replicaIds(): Promise<Map<number, string>> {
  const rows = await c.query('SELECT id, url FROM cluster_replicas');
  return new Map(rows.map((r) => [Number(new URL(r.url as string).port), r.id as string]));
}

test('one tunnel, three replicas: every request reaches the target, relayed where the tunnel is elsewhere', async () => {
  assert.equal(agent.output().stdout.match(/"tunnel connected"/g)?.length, 1, 'the agent holds one tunnel');
  const holders = await c.query("SELECT replica FROM cluster_tunnels WHERE agent = 'edge'");
  assert.equal(holders.length, 1);
  const answers = await Promise.all(Array.from({ length: 60 }, async (_, i) => {
    const res = await fetch(`${c.url}/proxy/crm/spread/${i}`, { headers: { authorization: `Bearer ${bob}` } });
    return { status: res.status, body: await res.json() as Record<string, any> };
  }));
  assert.deepEqual(answers.map((a) => a.status), answers.map(() => 200));
  assert.deepEqual(answers.map((a) => a.body.path).sort(), Array.from({ length: 60 }, (_, i) => `/spread/${i}`).sort());
  assert.deepEqual([...new Set(answers.map((a) => a.body.auth))], ['Bearer target-token'], 'the agent injected its credential');
  // Each replica judged and recorded what landed on it: three gateway instances recorded sessions.
  const instances = await c.query("SELECT DISTINCT instance FROM sessions WHERE connection = 'crm'");
  assert.equal(instances.length, 3);
});

/** Dials a cluster listener's relay path with `header`; resolves with the refusal (status, body) or 'open'. */
function dial(port: number, header: string | undefined): Promise<{ status: number; body: Record<string, any> } | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${RELAY_PATH}`, { headers: header === undefined ? {} : { [CLUSTER_HEADER]: header } });
    ws.on('open', () => { ws.terminate(); resolve('open'); });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => { ws.terminate(); resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, any> }); });
    });
    ws.on('error', (err) => { if (!String(err.message).includes('Unexpected server response')) reject(err); });
  });
}

test('the cluster listener opens nothing without a fresh proof of the secret made for that replica', async () => {
  const ids = await replicaIds();
  const port = c.clusterPorts[0]!;
  const self = ids.get(port)!;
  const other = ids.get(c.clusterPorts[1]!)!;
  const refused = (why: string) => `This is a replica's internal cluster listener: ${why}. Only replicas of the same deployment, holding the cluster secret, may call it.`;
  const cases: Array<[string, string | undefined, string | RegExp]> = [
    ['no proof', undefined, refused(`send one ${CLUSTER_HEADER} header`)],
    ['garbage', 'v1 nonsense', refused(`the ${CLUSTER_HEADER} header is malformed`)],
    ['the wrong secret', callProof('x'.repeat(44), other, self).header, refused('the proof does not verify with this deployment\'s cluster secret')],
    ['a proof for another replica', callProof(c.clusterSecret, self, other).header, refused('the proof was made for another replica')],
    // 300 s, or 301 when the second turned between making and checking it.
    ['a stale proof', callProof(c.clusterSecret, other, self, Date.now() - 5 * 60_000).header, /^This is a replica's internal cluster listener: the proof is 30[01] s away from this replica's clock \(at most 60 s\)\. Only replicas/],
  ];
  for (const [what, header, message] of cases) {
    const answer = await dial(port, header);
    assert.ok(answer !== 'open', what);
    assert.deepEqual([answer.status, answer.body.error.code], [401, 'GW_CLUSTER_AUTH'], what);
    if (typeof message === 'string') assert.equal(answer.body.error.message, message, what);
    else assert.match(answer.body.error.message, message, what);
  }
  const proof = callProof(c.clusterSecret, other, self).header;
  assert.equal(await dial(port, proof), 'open', 'a fresh proof opens');
  const replayed = await dial(port, proof);
  assert.deepEqual(replayed !== 'open' && [replayed.status, replayed.body.error.code, replayed.body.error.message], [401, 'GW_CLUSTER_AUTH', refused('the proof was used before')]);
  // Plain HTTP: nothing served, and authentication is said first.
  const plain = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(plain.status, 401);
  assert.equal(((await plain.json()) as Record<string, any>).error.code, 'GW_CLUSTER_AUTH');
});

test('the replica holding the tunnel stopped (SIGTERM): the agent moves to another replica first, so no request waits for it', async () => {
  const [holder] = await c.query("SELECT t.replica, r.url FROM cluster_tunnels t JOIN cluster_replicas r ON r.id = t.replica WHERE t.agent = 'edge'");
  const index = c.clusterPorts.indexOf(Number(new URL(holder!.url as string).port));
  const before = agent.output().stdout.match(/"tunnel connected"/g)?.length ?? 0;
  const stopped = await c.replicas[index]!.process.stop('SIGTERM');
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /"handover done"/);
  assert.match(agent.output().stdout, /the gateway is going away; opening a tunnel elsewhere first/);
  assert.equal(agent.output().stdout.match(/"tunnel connected"/g)?.length, before + 1, 'the agent dialled once more, before the old tunnel closed');
  // At once, with no wait for a reconnect: the new tunnel was up before the old replica went.
  const rows = await c.query("SELECT replica FROM cluster_tunnels WHERE agent = 'edge'");
  assert.equal(rows.length, 1);
  assert.notEqual(rows[0]!.replica, holder!.replica);
  const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await fetch(`${c.url}/proxy/crm/moved/${i}`, { headers: { authorization: `Bearer ${bob}` } })).status));
  assert.deepEqual(answers, answers.map(() => 200));
  await c.restart(index);
});

test('the replica holding the tunnel killed: the agent reconnects through the load balancer and requests work again', async () => {
  const [holder] = await c.query("SELECT t.replica, r.url FROM cluster_tunnels t JOIN cluster_replicas r ON r.id = t.replica WHERE t.agent = 'edge'");
  const port = Number(new URL(holder!.url as string).port);
  const index = c.clusterPorts.indexOf(port);
  await c.replicas[index]!.process.stop('SIGKILL');
  await eventually(async () => {
    const rows = await c.query("SELECT replica FROM cluster_tunnels t JOIN cluster_replicas r ON r.id = t.replica WHERE t.agent = 'edge' AND t.replica <> $1 AND r.heartbeat_at > $2", [holder!.replica, Date.now() - 1000]);
    return rows.length > 0 || undefined;
  }, 15_000, 'the agent on another replica');
  await eventually(async () => (await c.call('GET', '/proxy/crm/probe', bob)).status === 200 || undefined, 10_000, 'requests working again');
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await fetch(`${c.url}/proxy/crm/after/${i}`, { headers: { authorization: `Bearer ${bob}` } })).status));
  assert.deepEqual(answers, answers.map(() => 200));
  await c.restart(index);
});
