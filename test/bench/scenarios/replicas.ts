// Several replicas (gateway/cluster/DESIGN.md): 1 KB GETs through nginx in front of 1, 2 and 3
// gateway processes on one PostgreSQL, with agents holding a tunnel to every replica (mesh); then
// the same three replicas where the agent holds one tunnel and the others relay to it: through
// nginx, straight to the replica with the tunnel, and straight to one without (every request
// relayed), whose difference is the cost of one cross-replica relay.
// On a shared 2-core machine, 3 gateways + nginx + PostgreSQL + agent + load generator compete
// for the same cores: compare the figures with each other, not with other machines.
import { createServer, type Server } from 'node:http';
import type { Scenario } from '../scenario.ts';
import { latency, load } from '../lib/load.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';

const BODY = JSON.stringify({ items: Array.from({ length: 16 }, (_, i) => ({ id: i, name: `item ${i}`, note: 'x'.repeat(30) })) }).slice(0, 1024);

async function startTarget(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(BODY); });
  const url = await new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
  return { server, url };
}

async function setUp(relay: boolean, target: string): Promise<{ c: TestCluster; headers: Record<string, string> }> {
  const c = await startCluster({ replicas: 3, relay });
  const alice = await c.token('alice', ['admins']);
  await c.agent('edge', { allow: [target] });
  const made = await c.call('POST', '/api/v1/connections', alice, { name: 'bench', kind: 'http', agent: 'edge', target, groups: ['developers'] });
  if (made.status !== 201) throw new Error(`connection: ${JSON.stringify(made.body)}`);
  const headers = { authorization: `Bearer ${await c.token('bob', ['developers'])}` };
  // Until every replica serves it (NOTIFY makes that prompt; the relay needs the presence read).
  for (const r of c.replicas) {
    for (let i = 0; i < 100 && (await fetch(`${r.url}/proxy/bench/ready`, { headers })).status !== 200; i++) await new Promise((s) => setTimeout(s, 100));
  }
  return { c, headers };
}

const scenario: Scenario = {
  name: 'replicas',
  repeats: 1,
  async run() {
    const target = await startTarget();
    try {
      const mesh = await setUp(false, target.url);
      let meshFigures;
      try {
        const lbs = [await mesh.c.balancer([0]), await mesh.c.balancer([0, 1]), mesh.c.url];
        await load({ url: `${lbs[2]}/proxy/bench/warm`, headers: mesh.headers, duration: 1, connections: 4 });
        meshFigures = [];
        for (const lb of lbs) meshFigures.push(await load({ url: `${lb}/proxy/bench/one-kb`, headers: mesh.headers, duration: 3, connections: 16 }));
      } finally {
        await mesh.c.close();
      }
      const relayed = await setUp(true, target.url);
      let holderRps; let otherRps; let viaLb; let holderOne; let otherOne;
      try {
        const [holder] = await relayed.c.query("SELECT r.url FROM cluster_tunnels t JOIN cluster_replicas r ON r.id = t.replica WHERE t.agent = 'edge'");
        const index = relayed.c.clusterPorts.indexOf(Number(new URL(holder!.url as string).port));
        const direct = relayed.c.replicas[index]!.url;
        const other = relayed.c.replicas[(index + 1) % 3]!.url;
        await load({ url: `${other}/proxy/bench/warm`, headers: relayed.headers, duration: 1, connections: 4 });
        holderRps = await load({ url: `${direct}/proxy/bench/one-kb`, headers: relayed.headers, connections: 16 });
        otherRps = await load({ url: `${other}/proxy/bench/one-kb`, headers: relayed.headers, connections: 16 });
        viaLb = await load({ url: `${relayed.c.url}/proxy/bench/one-kb`, headers: relayed.headers, connections: 16 });
        holderOne = await latency({ url: `${direct}/proxy/bench/one-kb`, headers: relayed.headers });
        otherOne = await latency({ url: `${other}/proxy/bench/one-kb`, headers: relayed.headers });
      } finally {
        await relayed.c.close();
      }
      return [
        { name: 'mesh: 1 KB via nginx, 1 replica req/s', value: meshFigures[0]!.rps, unit: 'req/s' },
        { name: 'mesh: 1 KB via nginx, 2 replicas req/s', value: meshFigures[1]!.rps, unit: 'req/s', baseline: 'mesh: 1 KB via nginx, 1 replica req/s' },
        { name: 'mesh: 1 KB via nginx, 3 replicas req/s', value: meshFigures[2]!.rps, unit: 'req/s', baseline: 'mesh: 1 KB via nginx, 1 replica req/s' },
        { name: 'relay: 1 KB via nginx, 3 replicas, one tunnel req/s', value: viaLb.rps, unit: 'req/s', baseline: 'mesh: 1 KB via nginx, 3 replicas req/s' },
        { name: 'relay: 1 KB to the replica with the tunnel req/s', value: holderRps.rps, unit: 'req/s' },
        { name: 'relay: 1 KB to a replica without it (relayed) req/s', value: otherRps.rps, unit: 'req/s', baseline: 'relay: 1 KB to the replica with the tunnel req/s' },
        { name: 'relay: added p50 of one relay, 1 conn', value: otherOne.p50 - holderOne.p50, unit: 'ms' },
        { name: 'relay: added p99 of one relay, 1 conn', value: otherOne.p99 - holderOne.p99, unit: 'ms' },
      ];
    } finally {
      target.server.closeAllConnections();
      await new Promise<void>((r) => target.server.close(() => r()));
    }
  },
};
export default scenario;
