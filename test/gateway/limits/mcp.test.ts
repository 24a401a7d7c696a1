// Limits on MCP tools/call, end to end: a real gateway, a real agent process, an HTTP service
// described by OpenAPI (its operations are the tools), the MCP SDK's own client. A model paging
// through customers one tool call at a time is stopped at its egress budget (counted from the
// masked results) with an isError result that says when to retry; the hit is a recorded decision.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { addConnections, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, mcpConnect, textOf } from '../../support/mcp.ts';

let t: TestGateway;
let target: Server;
let agent: Running;
let served = 0;

const openapi = {
  openapi: '3.0.3',
  info: { title: 'Customers', version: '1' },
  paths: {
    '/customers/{id}': { get: { operationId: 'getCustomer', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'ok' } } } },
  },
};

before(async () => {
  target = createServer((req, res) => {
    served++;
    const id = req.url?.split('/').pop();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id, name: 'Ada', email: `${id}@example.com` }));
  });
  const url = await listenLoopback(target);
  t = await startTestGateway();
  const admin = await t.token('alice', ['admins']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'crm-budget.yaml');
  writeFileSync(policy, [
    'name: crm-budget',
    'rules:',
    '  - { id: mask-pii, match: { directions: [response], findings: ["pii.*"] }, action: mask, reason: pii.mask }',
    'limits:',
    '  - { name: one_at_a_time, kind: concurrent, max: 1 }', // released when each call returns, or the next would be refused
    '  - { name: emails, kind: egress, findings: [pii.EMAIL_ADDRESS], max: 3, window: 3600, block: 1, match: { tools: [getCustomer] }, message: "At most 3 e-mail addresses an hour." }',
  ].join('\n'));
  const paced = join(t.dir, 'crm-paced.yaml');
  writeFileSync(paced, 'name: crm-paced\nlimits:\n  - { name: lookups, kind: rate, rate: 1, burst: 1, match: { tools: [getCustomer] } }\n');
  await addConnections(t, admin, [
    { name: 'crm', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi, policy: { files: [policy] } },
    { name: 'crm-paced', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi, policy: { files: [paced] } },
  ]);
});
after(() => stopAll(agent, t, target));

test('an MCP scraping loop is stopped at its egress budget with isError and the retry time', async () => {
  const { client } = await mcpConnect(`${t.gw.url}/mcp/crm`, await t.token('bob', ['developers']), { name: 'limits-test' });
  const results = [];
  for (let i = 1; i <= 6; i++) {
    const r = await client.callTool({ name: 'getCustomer', arguments: { id: `c-${i}` } });
    results.push(r);
    if (r.isError === true) break;
  }
  assert.deepEqual(results.map((r) => r.isError === true), [false, false, false, true]);
  assert.doesNotMatch(textOf(results[0]!), /c-1@example\.com/, 'the e-mail addresses counted were masked');
  assert.equal(served, 3, 'the refused call never reached the target');
  assert.match(textOf(results[3]!), /^airlock: The call was refused by policy \(limit\.exceeded\): At most 3 e-mail addresses an hour\. Retry after \d+ s\.$/);

  const events = [];
  for (const s of await t.gw.store.sessions.list({ connection: 'crm', limit: 100 })) events.push(...await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 }));
  const hit = events.find((e) => e.type === 'decision' && (e.payload as Record<string, any>).limits !== undefined);
  assert.ok(hit, 'the limit hit is a recorded decision');
  assert.deepEqual((hit.payload as Record<string, any>).limits.map((l: Record<string, unknown>) => [l.limit, l.used, l.max]), [['emails', 3, 3]]);
  await client.close();
});

test('a model that honours the retry time of a rate limit gets through later', async () => {
  const { client } = await mcpConnect(`${t.gw.url}/mcp/crm-paced`, await t.token('carol', ['developers']), { name: 'limits-test' });
  assert.equal((await client.callTool({ name: 'getCustomer', arguments: { id: 'p-1' } })).isError ?? false, false);
  const refused = await client.callTool({ name: 'getCustomer', arguments: { id: 'p-2' } });
  assert.equal(refused.isError, true);
  const [, wait] = /^airlock: The call was refused by policy \(limit\.exceeded\): Limit lookups \(1 requests per second, burst 1\) is used up \(1 of 1\)\. Retry after (\d+) s\.$/.exec(textOf(refused)) ?? [];
  assert.ok(wait, textOf(refused));
  const before = served;
  await new Promise((r) => setTimeout(r, Number(wait) * 1000));
  const later = await client.callTool({ name: 'getCustomer', arguments: { id: 'p-2' } });
  assert.equal(later.isError ?? false, false, textOf(later));
  assert.equal(served, before + 1, 'the retried call reached the target');
  await client.close();
});
