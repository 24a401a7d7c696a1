// One budget across two gateways on one store, on SQLite (one file shared by both) and on
// PostgreSQL: a real agent holds a tunnel to each, a scraper
// alternates between them page by page, and the records it receives stay within the documented
// bound — never more than the budget plus one answer's worth (a sequential client has one request
// in flight), never less than the budget minus each replica's unspent block.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningGateway } from '../../../gateway/main.ts';
import type { Running } from '../../support/process.ts';
import { addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { createDatabase, startPostgres, type TestPostgres } from '../../support/postgres.ts';

const MAX = 10;
const BLOCK = 3;
const PER_PAGE = 2;

for (const backend of ['sqlite', 'postgres'] as const) describe(backend, () => {
  let server: TestPostgres | undefined;
  let storeUrl: string | undefined;
  let t: TestGateway;
  let other: RunningGateway;
  let target: Server;
  let agent: Running;

  before(async () => {
    if (backend === 'postgres') {
      server = await startPostgres();
      storeUrl = await createDatabase(server, `airlock_replicas_${process.pid}`);
    }
    target = createServer((req, res) => {
      const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ customers: Array.from({ length: PER_PAGE }, (_, i) => ({ email: `c${page}-${i}@example.com` })) }));
    });
    const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
    t = await startTestGateway(storeUrl === undefined ? {} : { config: { store: { url: storeUrl } } });
    other = await t.replica();
    const alice = await t.token('alice', ['admins']);
    agent = await startTestAgent(t, 'edge', { allow: [url], config: [`gateway: { urls: ['${t.gw.url}', '${other.url}'] }`] });
    await eventually(() => other.agents.presence('edge').online || undefined, 15_000, 'agent online on the other replica');
    const policy = join(t.dir, 'budget.yaml');
    writeFileSync(policy, `name: budget\nlimits:\n  - { name: records, kind: egress, count: records, max: ${MAX}, block: ${BLOCK} }\n`);
    await addConnections(t, alice, [{ name: 'crm', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } }]);
    await eventually(() => other.connections.get('crm') ?? undefined, 15_000, 'the connection on the other replica');
  });
  after(async () => { await stopAll(agent, t, target); await server?.stop(); });

  test(`${backend}: a scraper alternating between two replicas gets one budget, within the documented bound`, async () => {
    const bob = await t.token('bob', ['developers']);
    let received = 0;
    const statuses: number[] = [];
    for (let page = 1; page <= 20; page++) {
      const base = page % 2 === 0 ? other.url : t.gw.url;
      const res = await fetch(`${base}/proxy/crm/customers?page=${page}`, { headers: { authorization: `Bearer ${bob}` } });
      const body = await res.json() as Record<string, any>;
      statuses.push(res.status);
      if (res.status === 200) received += body.customers.length;
      else assert.equal(body.error.code, 'GW_LIMIT_EXCEEDED');
    }
    assert.ok(statuses.includes(429), `the scraper was stopped: ${statuses.join(',')}`);
    assert.ok(statuses.some((s, i) => s === 429 && i % 2 === 0) && statuses.some((s, i) => s === 429 && i % 2 === 1), `both replicas refuse: ${statuses.join(',')}`);
    assert.ok(received <= MAX + PER_PAGE - 1, `${received} records received over a budget of ${MAX}`);
    assert.ok(received >= MAX - 2 * (BLOCK - 1), `${received} records: more lost to unspent blocks than 2 × (block - 1)`);
  });
});
