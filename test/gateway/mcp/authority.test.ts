// Authority on every use of an open MCP session (issue #15): a real gateway (and a second one on
// the same SQLite file), a real agent process, an HTTP service described by an OpenAPI document,
// the MCP SDK's own client. Once a session is open, removing the caller's group from the
// connection refuses its next call (GW_ACCESS_REVOKED) on /mcp/<conn> and /mcp alike; replacing
// the connection's policy with a deny-all denies the next call; a change made through the other
// replica reaches the open session through the store's config epoch (the full reload is an hour
// away); an expired token gets the 401 challenge, and a fresh token for the same `sub` continues
// the session; the standalone GET stream ends at the token's expiry.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RunningGateway } from '../../../gateway/main.ts';
import type { Running } from '../../support/process.ts';
import { addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, mcpConnect, textOf } from '../../support/mcp.ts';

let t: TestGateway;
let replica: RunningGateway;
let target: Server;
let agent: Running;
let admin: string;
let bob: string;
let denyAll: string;
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
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: req.url?.split('/').pop(), name: 'Ada' }));
  });
  const url = await listenLoopback(target);
  // The full reload is an hour away and tokens get no clock skew: what these tests see comes from
  // the per-use re-check and the config epoch alone.
  t = await startTestGateway({ config: { connections: { reloadInterval: 3600 }, auth: { clockSkew: 0 }, reviews: { pollInterval: 0.05 } } });
  replica = await t.replica();
  admin = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  denyAll = join(t.dir, 'deny-all.yaml');
  writeFileSync(denyAll, 'name: deny-all\nrules:\n  - { id: nothing, match: { kinds: [mcp] }, action: deny, reason: demo.deny_all, message: Nothing passes here any more. }\n');
  const review = join(t.dir, 'review-all.yaml');
  writeFileSync(review, 'name: review-all\nrules:\n  - { id: look, match: { kinds: [mcp], directions: [request] }, action: review, reason: demo.look_first, review: { wait: 30 } }\n');
  await addConnections(t, admin, ['crm', 'ledger', 'billing', 'hr', 'audit'].map((name) => ({ name, kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi })));
  await addConnections(t, admin, [{ name: 'vault', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi, policy: { files: [review] } }]);
});
after(() => stopAll(agent, t, target));

async function connect(token: string, path: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  return mcpConnect(`${t.gw.url}${path}`, token, { name: 'authority-test' });
}

/** PATCH a connection as the admin, through `via` (this gateway by default). */
async function patch(name: string, body: object, via: string = t.gw.url): Promise<void> {
  const res = await fetch(`${via}/api/v1/connections/${name}`, { method: 'PATCH', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
}

/** One JSON-RPC request on a session with `token`, read whole (JSON or an SSE stream's data lines). */
async function rpc(token: string, path: string, sessionId: string, method: string, params: object): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${t.gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sessionId, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }),
  });
  const text = await res.text();
  const data = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).at(-1);
  return { status: res.status, headers: res.headers, body: JSON.parse(data ?? text) };
}

test('/mcp/<conn>: the caller\'s group removed from the connection refuses the open session\'s next call, coded, and ends the session', async () => {
  const { client, transport } = await connect(bob, '/mcp/crm');
  const ok = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-1' } });
  assert.equal(ok.isError, undefined, textOf(ok));
  await patch('crm', { groups: ['ops'] });
  const refused = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-2' } }).then(() => assert.fail('the call passed'), (err: Error) => err);
  assert.match(refused.message, /"code":"GW_ACCESS_REVOKED"/);
  assert.match(refused.message, /You may no longer use connection \\"crm\\": it was changed or removed while this session was open/);
  // The session ended with it: giving the group back does not revive it.
  await patch('crm', { groups: ['developers'] });
  const after = await rpc(bob, '/mcp/crm', transport.sessionId!, 'tools/list', {});
  assert.equal(after.status, 404);
  assert.match(after.body.error.message, /^Session not found/);
});

test('/mcp/<conn>: the connection\'s policy replaced with a deny-all denies the open session\'s next call', async () => {
  const { client } = await connect(bob, '/mcp/ledger');
  const ok = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-1' } });
  assert.equal(ok.isError, undefined, textOf(ok));
  await patch('ledger', { policy: { files: [denyAll] } });
  const denied = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-1' } });
  assert.equal(denied.isError, true);
  assert.equal(textOf(denied), 'airlock: The call was refused by policy (demo.deny_all): Nothing passes here any more.');
  await client.close();
});

test('/mcp: a connection no longer the caller\'s refuses its tools with GW_ACCESS_REVOKED; the others keep working', async () => {
  const { client } = await connect(bob, '/mcp');
  const ok = await client.callTool({ name: 'billing__getCustomer', arguments: { id: 'c-1' } });
  assert.equal(ok.isError, undefined, textOf(ok));
  await patch('billing', { groups: ['ops'] });
  const refused = await client.callTool({ name: 'billing__getCustomer', arguments: { id: 'c-1' } });
  assert.equal(refused.isError, true);
  assert.match(textOf(refused), /^airlock: You may no longer use connection "billing": it was changed or removed while this session was open .* \(GW_ACCESS_REVOKED\)$/);
  const other = await client.callTool({ name: 'hr__getCustomer', arguments: { id: 'c-1' } });
  assert.equal(other.isError, undefined, textOf(other));
  const { tools } = await client.listTools();
  assert.ok(!tools.some((x) => x.name.startsWith('billing__')), 'its tools are no longer listed');
  assert.ok(tools.some((x) => x.name === 'hr__getCustomer'));
  await client.close();
});

test('a call held for review is re-checked when released: access withdrawn meanwhile refuses it, and nothing reaches the service', async () => {
  const { client } = await connect(bob, '/mcp/vault');
  const held = client.callTool({ name: 'getCustomer', arguments: { id: 'c-7' } }, undefined, { timeout: 60_000 });
  const pending = await eventually(async () => ((await t.call('GET', '/api/v1/reviews?status=pending', admin)).body.reviews as Array<{ id: string; connection: string }>).find((r) => r.connection === 'vault'), 10_000, 'the review');
  const before = served;
  await patch('vault', { groups: ['ops'] });
  assert.equal((await t.call('POST', `/api/v1/reviews/${pending.id}/approve`, admin, {})).status, 200);
  const result = await held;
  assert.equal(result.isError, true);
  assert.match(textOf(result), /^airlock: You may no longer use connection "vault".*\(GW_ACCESS_REVOKED\)$/);
  assert.equal(served, before, 'the released call never reached the service');
  await client.close().catch(() => {});
});

test('a group removed through another replica reaches the open session through the config epoch', async () => {
  const { client } = await connect(bob, '/mcp');
  const ok = await client.callTool({ name: 'audit__getCustomer', arguments: { id: 'c-1' } });
  assert.equal(ok.isError, undefined, textOf(ok));
  await patch('audit', { groups: ['ops'] }, replica.url);
  // Bounded poll, no timing asserted: this gateway's full reload is an hour away, so only the epoch can bring it.
  const refused = await eventually(async () => {
    const r = await client.callTool({ name: 'audit__getCustomer', arguments: { id: 'c-1' } });
    return r.isError ? r : undefined;
  }, 10_000, 'the revocation made on the replica');
  assert.match(textOf(refused), /You may no longer use connection "audit".*\(GW_ACCESS_REVOKED\)$/);
  await client.close();
});

test('an expired token gets the 401 challenge on its session; a fresh token for the same sub continues it; the GET stream ends at expiry', async () => {
  const short = await t.token('bob', ['developers'], 3);
  const init = await fetch(`${t.gw.url}/mcp/hr`, {
    method: 'POST',
    headers: { authorization: `Bearer ${short}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });
  assert.equal(init.status, 200);
  await init.text();
  const sessionId = init.headers.get('mcp-session-id')!;
  const ok = await rpc(short, '/mcp/hr', sessionId, 'tools/call', { name: 'getCustomer', arguments: { id: 'c-1' } });
  assert.equal(ok.body.result?.isError, undefined, JSON.stringify(ok.body));
  const stream = await fetch(`${t.gw.url}/mcp/hr`, { headers: { authorization: `Bearer ${short}`, 'mcp-session-id': sessionId, accept: 'text/event-stream' } });
  assert.equal(stream.status, 200);
  const ended = stream.text(); // resolves when the gateway ends the stream

  const expired = await eventually(async () => {
    const r = await rpc(short, '/mcp/hr', sessionId, 'tools/call', { name: 'getCustomer', arguments: { id: 'c-1' } });
    return r.status === 401 ? r : undefined;
  }, 10_000, 'the token to expire');
  assert.equal(expired.body.error.code, 'GW_TOKEN_EXPIRED');
  assert.match(expired.headers.get('www-authenticate') ?? '', /^Bearer resource_metadata="[^"]+", error="invalid_token"/);
  await ended;

  const fresh = await t.token('bob', ['developers']);
  const continued = await rpc(fresh, '/mcp/hr', sessionId, 'tools/call', { name: 'getCustomer', arguments: { id: 'c-2' } });
  assert.equal(continued.status, 200);
  assert.equal(continued.body.result.isError, undefined, JSON.stringify(continued.body));
  assert.match(continued.body.result.content[0].text, /"name":"Ada"/);
  // Someone else's fresh token does not.
  const carol = await rpc(await t.token('carol', ['developers']), '/mcp/hr', sessionId, 'tools/list', {});
  assert.deepEqual([carol.status, carol.body.error.code], [403, 'GW_MCP_SESSION_OWNER']);
});
