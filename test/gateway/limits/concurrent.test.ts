// A `concurrent` limit under load, end to end: 200 parallel requests through a real gateway and
// agent to a slow target never have more than the limit in flight at the target; the rest are
// refused with 429 GW_LIMIT_EXCEEDED and Retry-After, and once the burst is over the limit's
// places are all free again (each request released its place when its exchange ended).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { AUDIENCE, addConnections, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';

const MAX = 5;
let t: TestGateway;
let target: Server;
let agent: Running;
let inFlight = 0;
let peak = 0;

before(async () => {
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
  t = await startTestGateway({ config: { server: { port: 0, publicUrl: AUDIENCE, shutdownGrace: 1, limits: { maxConcurrentPerIdentity: 1000 } } } });
  const alice = await t.token('alice', ['admins']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'gentle.yaml');
  writeFileSync(policy, `name: gentle\nlimits:\n  - { name: target_load, kind: concurrent, max: ${MAX}, key: [connection], message: "The target takes ${MAX} requests at a time." }\n`);
  await addConnections(t, alice, [{ name: 'fragile', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } }]);
});
after(() => stopAll(agent, t, target));

test(`200 parallel requests: never more than ${MAX} at the target, the rest 429 with Retry-After, every place freed after`, async () => {
  const bob = await t.token('bob', ['developers']);
  const one = async () => {
    const res = await fetch(`${t.gw.url}/proxy/fragile/item`, { headers: { authorization: `Bearer ${bob}` } });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as Record<string, any> };
  };
  const results = await Promise.all(Array.from({ length: 200 }, one));
  assert.ok(peak <= MAX, `${peak} requests in flight at the target`);
  const ok = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 429);
  assert.ok(ok >= 1, 'some passed');
  assert.equal(ok + refused.length, 200, `statuses: ${[...new Set(results.map((r) => r.status))].join(',')}`);
  for (const r of refused) {
    assert.equal(r.body.error.code, 'GW_LIMIT_EXCEEDED');
    assert.equal(r.retryAfter, '1');
  }
  assert.match(refused[0]!.body.error.message, /over limit target_load: The target takes 5 requests at a time\. Retry after 1 s\.$/);
  // Every place was released: five at once pass again.
  const again = await Promise.all(Array.from({ length: MAX }, one));
  assert.deepEqual(again.map((r) => r.status), Array(MAX).fill(200));
});
