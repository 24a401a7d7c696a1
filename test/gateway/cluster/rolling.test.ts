// A rolling restart under load: three gateway processes on one PostgreSQL behind a real nginx;
// while a client keeps 8 requests in flight through the load balancer, each replica in turn gets
// SIGTERM and is started again. No request fails, and every session verifies. With an agent
// holding a tunnel to every replica (a stopping replica drains, closes its tunnels, leaves).
// With the relay, the handover is tested in relay.test.ts; under load, requests on kept-alive
// relay streams into the stopping replica still fail (gateway/cluster/DESIGN.md, not built yet).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { eventually } from '../../support/gateway.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { AIRLOCK, run } from '../../support/process.ts';

for (const relay of [false]) describe(relay ? 'relay' : 'mesh', () => {
  let c: TestCluster;
  let target: Server;
  let targetUrl: string;
  let alice: string;
  let bob: string;

  before(async () => {
    target = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      setTimeout(() => res.end(JSON.stringify({ path: req.url })), 20); // requests are in flight when a drain starts
    });
    targetUrl = await new Promise((resolve) => target.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
    c = await startCluster({ replicas: 3, relay });
    alice = await c.token('alice', ['admins']);
    bob = await c.token('bob', ['developers']);
    await c.agent('edge', { allow: [targetUrl] });
    const created = await c.call('POST', '/api/v1/connections', alice, { name: 'crm', kind: 'http', agent: 'edge', target: targetUrl, groups: ['developers'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    for (const r of c.replicas) await eventually(async () => (await c.call('GET', '/proxy/crm/ready', bob, undefined, r.url)).status === 200 || undefined, 5000, `crm on ${r.url}`);
  });

  after(async () => {
    await c?.close();
    await new Promise<void>((r) => { if (target === undefined) r(); else { target.closeAllConnections(); target.close(() => r()); } });
  });

  test(`${relay ? 'relay' : 'mesh'}: a rolling restart of every replica under load fails no request`, async () => {
    const statuses = new Map<number, number>();
    let stop = false;
    let sent = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (!stop) {
        const i = sent++;
        try {
          const res = await fetch(`${c.url}/proxy/crm/rolling/${i}`, { headers: { authorization: `Bearer ${bob}` } });
          const body = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status !== 200) failures.push(body.slice(0, 300));
        } catch {
          statuses.set(0, (statuses.get(0) ?? 0) + 1);
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    try {
      for (const [i, replica] of c.replicas.entries()) {
        const stopped = await replica.process.stop('SIGTERM');
        assert.equal(stopped.code, 0, `replica ${i} stopped cleanly: ${stopped.stderr}`);
        await c.restart(i);
        // The restarted replica serves (with the mesh: the agent is back on it) before the next one goes.
        await eventually(async () => (await c.call('GET', '/proxy/crm/back', bob, undefined, c.replicas[i]!.url)).status === 200 || undefined, 15_000, `replica ${i} serving again`);
      }
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    assert.ok(sent > 50, `${sent} requests sent`);
    assert.deepEqual([...statuses.entries()], [[200, sent]], `every request answered 200: ${failures.join('\n')}`);

    const verified = await run(AIRLOCK, ['sessions', 'verify', '--all'], { env: { AIRLOCK_GATEWAY: c.url, AIRLOCK_TOKEN: alice, AIRLOCK_CONFIG_DIR: `${c.dir}/cli` }, timeout: 60_000 });
    assert.equal(verified.code, 0, verified.stderr);
  });
});
