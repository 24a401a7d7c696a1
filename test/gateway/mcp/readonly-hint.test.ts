// Annotations never lower the risk of a call: the demo MCP server's `run_sql` says readOnlyHint,
// yet `DELETE FROM orders` through it is held for review like any unbounded write (the default
// policy pack), while a SELECT passes. A real upstream MCP server behind a real agent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { handleDemoMcp } from '../../../cli/dev/demo-mcp.ts';
import type { Running } from '../../support/process.ts';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, mcpConnect } from '../../support/mcp.ts';

let t: TestGateway;
let upstream: Server;
let agent: Running;
const statements: string[] = [];

before(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
      if (body?.method === 'tools/call') statements.push(String(body.params?.arguments?.sql ?? ''));
      void handleDemoMcp(req, res, body, () => []);
    });
  });
  const url = await listenLoopback(upstream);
  t = await startTestGateway({ config: { reviews: { pollInterval: 0.05 } } });
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const r = await t.call('POST', '/api/v1/connections', await t.token('alice', ['admins']), { name: 'orders', kind: 'mcp', agent: 'edge', target: { url: `${url}/mcp` }, groups: ['developers'] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await new Promise<void>((r) => upstream.close(() => r()));
});

test('a readOnlyHint tool running DELETE FROM orders is still held for review; its SELECT passes', async () => {
  const { client } = await mcpConnect(`${t.gw.url}/mcp/orders`, await t.token('bob', ['developers']), { name: 'hint-test' });
  const runSql = (await client.listTools()).tools.find((x) => x.name === 'run_sql')!;
  assert.equal(runSql.annotations?.readOnlyHint, true, 'the annotation is passed on');

  const read = await client.callTool({ name: 'run_sql', arguments: { sql: 'SELECT id FROM orders WHERE id = 7' } });
  assert.equal(read.isError, undefined);
  assert.deepEqual(statements, ['SELECT id FROM orders WHERE id = 7']);

  const held = client.callTool({ name: 'run_sql', arguments: { sql: 'DELETE FROM orders' } }, undefined, { timeout: 60_000 });
  const admin = await t.token('alice', ['admins']);
  const review = await eventually(async () => ((await t.call('GET', '/api/v1/reviews?status=pending', admin)).body.reviews as Array<{ id: string; detail: { tool: string; findings: Array<{ kind: string }> } }>)
    .find((r) => r.detail.tool === 'run_sql'), 10_000, 'a review of run_sql');
  assert.ok(review.detail.findings.some((f) => f.kind === 'sql.write.unbounded'), JSON.stringify(review.detail.findings));
  assert.equal((await t.call('POST', `/api/v1/reviews/${review.id}/deny`, admin, { reason: 'not without a WHERE' })).status, 200);
  const result = await held;
  assert.equal(result.isError, true);
  assert.match((result.content as Array<{ text: string }>)[0]!.text, new RegExp(`^airlock: Review ${review.id} of this request was denied by alice: not without a WHERE\\.$`));
  assert.deepEqual(statements, ['SELECT id FROM orders WHERE id = 7'], 'the DELETE never reached the upstream');
  await client.close();
});
