// A `concurrent` limit under load, end to end, on SQLite and on PostgreSQL: 200 parallel requests
// spread over two gateway replicas on one store (a real agent holds a tunnel to each) never have
// more than the limit in flight at a slow target, across both; the rest are refused with 429
// GW_LIMIT_EXCEEDED and Retry-After, and once the burst is over the limit's places are all free
// again (each request released its place when its exchange ended, each replica gave back its lease).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningGateway } from '../../../gateway/main.ts';
import type { Running } from '../../support/process.ts';
import { AUDIENCE, addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { createDatabase, startPostgres, type TestPostgres } from '../../support/postgres.ts';

const MAX = 5;

for (const backend of ['sqlite', 'postgres'] as const) describe(backend, () => {
  let server: TestPostgres | undefined;
  let t: TestGateway;
  let other: RunningGateway;
  let target: Server;
  let agent: Running;
  let inFlight = 0;
  let peak = 0;

  before(async () => {
    let storeUrl: string | undefined;
    if (backend === 'postgres') {
      server = await startPostgres();
      storeUrl = await createDatabase(server, `airlock_concurrent_${process.pid}`);
    }
    target = createServer((_req, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }, 50);
    });
    const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
    // The gateway's own per-identity cap (server.limits) is raised so that the policy's limit is what is tested.
    const config = { server: { port: 0, publicUrl: AUDIENCE, shutdownGrace: 1, limits: { maxConcurrentPerIdentity: 1000 } }, ...(storeUrl === undefined ? {} : { store: { url: storeUrl } }) };
    t = await startTestGateway({ config });
    other = await t.replica({ server: config.server });
    const alice = await t.token('alice', ['admins']);
    agent = await startTestAgent(t, 'edge', { allow: [url], config: [`gateway: { urls: ['${t.gw.url}', '${other.url}'] }`] });
    await eventually(() => other.agents.presence('edge').online || undefined, 15_000, 'agent online on the other replica');
    const policy = join(t.dir, 'gentle.yaml');
    writeFileSync(policy, `name: gentle\nlimits:\n  - { name: target_load, kind: concurrent, max: ${MAX}, key: [connection], message: "The target takes ${MAX} requests at a time." }\n`);
    await addConnections(t, alice, [{ name: 'fragile', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } }]);
    await eventually(() => other.connections.get('fragile') ?? undefined, 15_000, 'the connection on the other replica');
  });
  after(async () => { await stopAll(agent, t, target); await server?.stop(); });

  test(`${backend}: 200 parallel requests over two replicas: never more than ${MAX} at the target, the rest 429 with Retry-After, every place freed after`, async () => {
    const bob = await t.token('bob', ['developers']);
    const one = async (base: string) => {
      const res = await fetch(`${base}/proxy/fragile/item`, { headers: { authorization: `Bearer ${bob}` } });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as Record<string, any> };
    };
    // No warm-up: bob's first sight on both replicas at once (his groups noted twice) must not
    // fail either request.
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => one(i % 2 === 0 ? t.gw.url : other.url)));
    assert.ok(peak <= MAX, `${peak} requests in flight at the target`);
    const ok = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429);
    assert.ok(ok >= 1, 'some passed');
    assert.equal(ok + refused.length, 200, `statuses: ${JSON.stringify(results.filter((r) => r.status !== 200 && r.status !== 429))}`);
    for (const r of refused) {
      assert.equal(r.body.error.code, 'GW_LIMIT_EXCEEDED');
      assert.equal(r.retryAfter, '1');
    }
    assert.match(refused[0]!.body.error.message, /over limit target_load: The target takes 5 requests at a time\. Retry after 1 s\.$/);
    const hits = (gw: RunningGateway) => gw.limiter.stats().hits.target_load?.deny ?? 0;
    assert.equal(hits(t.gw) + hits(other), refused.length, 'each refusal is counted by its replica');
    // Every place was released and given back: five at once pass again, on either replica (a
    // replica gives back what it no longer needs at its next heartbeat, within a second).
    await eventually(async () => {
      const again = await Promise.all(Array.from({ length: MAX }, (_, i) => one(i % 2 === 0 ? other.url : t.gw.url)));
      return again.every((r) => r.status === 200) || undefined;
    }, 10_000, 'five places free across the replicas');
    assert.ok(peak <= MAX, `${peak} requests in flight at the target`);
  });
});
