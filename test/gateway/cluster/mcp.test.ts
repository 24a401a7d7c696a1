// MCP sessions through any replica: three gateway processes on one PostgreSQL behind a real nginx,
// one agent with a tunnel to each. The MCP SDK's own client talks to the load balancer, so its
// requests land on different replicas; each replica that did not start the session rebuilds it
// from the store. The replica that started it is then SIGKILLed and the same client, with the same
// session id, keeps calling tools. Another identity presenting the id is refused on every replica,
// whether it holds the session in memory or would rebuild it. Every recording session of the MCP
// session (one per replica that served it, each naming the first) verifies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { eventually } from '../../support/gateway.ts';
import { startCluster, type TestCluster } from '../../support/cluster.ts';
import { listenLoopback, mcpConnect, textOf } from '../../support/mcp.ts';
import { AIRLOCK, run } from '../../support/process.ts';

const openapi = {
  openapi: '3.0.3',
  info: { title: 'Customers', version: '1' },
  paths: {
    '/customers/{id}': {
      get: { operationId: 'getCustomer', summary: 'One customer by id', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'ok' } } },
    },
  },
};

let c: TestCluster;
let target: Server;
let alice: string;
let bob: string;

before(async () => {
  target = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null }));
  });
  const targetUrl = await listenLoopback(target);
  c = await startCluster({ replicas: 3 });
  alice = await c.token('alice', ['admins']);
  bob = await c.token('bob', ['developers']);
  await c.agent('edge', { allow: [targetUrl], bearer: { crm: 'target-token' } });
  const created = await c.call('POST', '/api/v1/connections', alice, { name: 'crm', kind: 'http', agent: 'edge', target: targetUrl, groups: ['developers'], openapi });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  for (const r of c.replicas) await eventually(async () => (await c.call('GET', '/proxy/crm/ready', bob, undefined, r.url)).status === 200 || undefined, 5000, `crm through ${r.url}`);
});

after(async () => {
  await c?.close();
  await new Promise<void>((r) => { if (target === undefined) r(); else { target.closeAllConnections(); target.close(() => r()); } });
});

/** One tools/call of getCustomer on the session; the agent's answer, as the target sent it. */
async function getCustomer(client: Client, id: string): Promise<Record<string, unknown>> {
  const result = await client.callTool({ name: 'getCustomer', arguments: { id } });
  assert.equal(result.isError, undefined, JSON.stringify(result));
  return JSON.parse(textOf(result)) as Record<string, unknown>;
}

/** A raw tools/list on session `sessionId` as the bearer of `token`, at `base`. */
async function listAs(base: string, token: string, sessionId: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${base}/mcp/crm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }),
  });
  return { status: res.status, body: await res.json() as Record<string, any> };
}

const mentions = (i: number, what: string, sessionId: string) => c.replicas[i]!.process.output().stdout.split('\n').some((l) => l.includes(`"${what}"`) && l.includes(sessionId));

test('an MCP session works through any replica, survives the SIGKILL of the replica that started it, and is its identity\'s only', async () => {
  const { client, transport } = await mcpConnect(`${c.url}/mcp/crm`, bob);
  let mcp: { client: Client; transport: StreamableHTTPClientTransport } | undefined = { client, transport };
  try {
    const sessionId = transport.sessionId!;
    assert.match(sessionId, /^[0-9a-f-]{36}$/);
    const owner = c.replicas.findIndex((_, i) => mentions(i, 'mcp session started', sessionId));
    assert.ok(owner >= 0, 'one replica started the session');

    for (let i = 0; i < 9; i++) assert.deepEqual(await getCustomer(client, `c-${i}`), { path: `/customers/c-${i}`, auth: 'Bearer target-token' });
    const servedBy = c.replicas.map((_, i) => i).filter((i) => i === owner || mentions(i, 'mcp session taken over', sessionId));
    assert.ok(servedBy.length >= 2, `the calls landed on several replicas (${servedBy.join(', ')})`);

    // A stolen session id with another identity's valid token: refused on every replica, the
    // ones holding the session in memory and the ones that would rebuild it from the store.
    const carol = await c.token('carol', ['developers']);
    for (const r of c.replicas) {
      const stolen = await listAs(r.url, carol, sessionId);
      assert.deepEqual([stolen.status, stolen.body.error?.code], [403, 'GW_MCP_SESSION_OWNER'], r.url);
      assert.match(stolen.body.error.message, /^This MCP session was started by another identity; a session id is usable only with the credentials of the identity that started it\./);
    }
    assert.equal((await listAs(c.url, bob, sessionId)).status, 200, 'the owner still may');

    const instancesBefore = new Set((await c.query('SELECT id FROM gateway_instances')).map((r) => r.id as string));
    await c.replicas[owner]!.process.stop('SIGKILL');
    for (let i = 0; i < 9; i++) assert.deepEqual(await getCustomer(client, `after-${i}`), { path: `/customers/after-${i}`, auth: 'Bearer target-token' });
    assert.equal(transport.sessionId, sessionId, 'the same session, not a new one');
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name), ['getCustomer']);

    // DELETE on whichever replica: the session is gone from the store, so no replica rebuilds it.
    await transport.terminateSession();
    await client.close();
    mcp = undefined;
    assert.deepEqual(await c.query('SELECT id FROM mcp_sessions WHERE id = $1', [sessionId]), []);

    // Recording: one recording session per replica that served the MCP session, each after the
    // first naming it; the dead replica's sealed by a survivor; every one verifies.
    await eventually(async () => {
      const now = new Set((await c.query('SELECT id FROM gateway_instances')).map((r) => r.id as string));
      return [...instancesBefore].some((id) => !now.has(id)) || undefined;
    }, 15_000, 'the dead replica swept');
    const recordings = (await c.query("SELECT id, metadata FROM sessions WHERE connection = 'crm' ORDER BY started_at"))
      .map((r) => ({ id: r.id as string, meta: JSON.parse(r.metadata as string) as Record<string, unknown> }))
      .filter((r) => r.meta.mcpSession === sessionId);
    assert.ok(recordings.length >= 2, `${recordings.length} recording sessions`);
    const [first, ...later] = recordings;
    assert.equal(first!.meta.continues, undefined);
    for (const r of later) assert.equal(r.meta.continues, first!.id);
    for (const r of recordings) {
      const verified = await run(AIRLOCK, ['sessions', 'verify', r.id], { env: { AIRLOCK_GATEWAY: c.url, AIRLOCK_TOKEN: alice, AIRLOCK_CONFIG_DIR: `${c.dir}/cli` }, timeout: 60_000 });
      assert.equal(verified.code, 0, `${r.id}: ${verified.stdout}${verified.stderr}`);
    }
  } finally {
    await mcp?.client.close();
  }
});
