// JSON-RPC bodies read as the firewall must read them: a body with two values for one key (which
// one would the SDK, the firewall and the upstream each take?) or nested past the guard's depth is
// refused with a coded 400 and recorded in the session, never a 500, and nothing reaches the
// service. Real gateway, real agent process, a real HTTP service behind an OpenAPI document.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Running } from '../../support/process.ts';
import { startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, mcpConnect } from '../../support/mcp.ts';

let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
const seen: string[] = [];

const openapi = {
  openapi: '3.0.3',
  info: { title: 'Reports', version: '1' },
  paths: {
    '/query': {
      post: {
        operationId: 'runQuery', summary: 'Run a SQL query against the reporting database',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['sql'], properties: { sql: { type: 'string', description: 'SQL statement' } } } } } },
        responses: { 200: { description: 'rows' } },
      },
    },
  },
};

before(async () => {
  target = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(Buffer.concat(chunks).toString());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"rows":[[1]]}');
    });
  });
  const url = await listenLoopback(target);
  t = await startTestGateway();
  const admin = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const r = await t.call('POST', '/api/v1/connections', admin, { name: 'reports', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});
after(() => stopAll(agent, t, target));

async function session(): Promise<{ client: Client; id: string }> {
  const { client, transport } = await mcpConnect(`${t.gw.url}/mcp/reports`, bob, { name: 'body-test' });
  return { client, id: transport.sessionId! };
}

function post(path: string, body: string, sessionId?: string): Promise<Response> {
  return fetch(`${t.gw.url}${path}`, {
    method: 'POST', body,
    headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(sessionId ? { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' } : {}) },
  });
}

async function errorEvents(): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const s of await t.gw.store.sessions.list({ connection: 'reports', limit: 100 })) {
    for (const e of await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 })) if (e.type === 'error') out.push(e.payload as Record<string, unknown>);
  }
  return out;
}

test('duplicate keys in a tools/call (the firewall and the upstream could each take another value) are a coded 400, recorded; the service sees nothing', async () => {
  const { client, id } = await session();
  const before = seen.length;
  const call = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"runQuery","arguments":{"body":{"sql":"select 1","sql":"drop table x"}}}}';
  const r = await post('/mcp/reports', call, id);
  assert.equal(r.status, 400);
  const error = ((await r.json()) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'GW_BAD_REQUEST');
  assert.match(error.message, /key twice \(at \$\.params\.arguments\.body\.sql\)/);
  // Spelt with an escape, it is the same key.
  const escaped = await post('/mcp/reports', call.replace('"sql":"drop', '"\\u0073ql":"drop'), id);
  assert.equal(escaped.status, 400);
  assert.equal(seen.length, before, 'the service saw nothing');
  assert.ok((await errorEvents()).some((e) => e.code === 'GW_BAD_REQUEST' && /key twice/.test(String(e.message))));
  // The session goes on: a well-formed call still works.
  const ok = await client.callTool({ name: 'runQuery', arguments: { body: { sql: 'select 1' } } });
  assert.equal(ok.isError, undefined, JSON.stringify(ok));
  assert.equal(seen.length, before + 1);
  await client.close();
});

test('a JSON-RPC body 10,000 levels deep is a coded 400 on /mcp and /mcp/<connection>, recorded in the session, never a 500', async () => {
  const deep = (inner: string) => `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"runQuery","arguments":{"body":{"sql":${inner}}}}}`;
  const body = deep('['.repeat(10_000) + ']'.repeat(10_000));
  const { client, id } = await session();
  const r = await post('/mcp/reports', body, id);
  assert.equal(r.status, 400);
  const error = ((await r.json()) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'GW_BAD_REQUEST');
  assert.match(error.message, /nested deeper than 64 levels/);
  assert.ok((await errorEvents()).some((e) => /nested deeper/.test(String(e.message))));
  await client.close();
  for (const path of ['/mcp', '/mcp/reports']) {
    const init = await post(path, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"},"deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`);
    assert.equal(init.status, 400, path);
    assert.equal(((await init.json()) as { error: { code: string } }).error.code, 'GW_BAD_REQUEST', path);
  }
});
