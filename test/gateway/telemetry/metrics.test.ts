// /metrics end to end: a real gateway, a real agent process, a real HTTP service behind one
// connection used as /proxy (plain HTTP and a WebSocket) and as /mcp (tools from its OpenAPI
// document, with the MCP SDK's own client). After real traffic the exposition is scraped and parsed: the request
// counters moved with the right labels (data path, connection, decision, status), every stage was
// timed, the recorder, tunnels and reviews gauges read; no caller, path or token is a label.
// The separate listener serves only GET /metrics; on the main listener /metrics is for admins.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, mcpConnect, textOf } from '../../support/mcp.ts';
import { parsePrometheus, sumOf, type Sample } from '../../support/prometheus.ts';

const CARD = '4111 1111 1111 1111';
let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
let admin: string;
let lastHeaders: import('node:http').IncomingHttpHeaders = {};

const openapi = {
  openapi: '3.0.3',
  info: { title: 'Customers', version: '1' },
  paths: {
    '/customers/{id}': {
      get: { operationId: 'getCustomer', summary: 'One customer by id', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'ok' } } },
    },
  },
};

before(async () => {
  target = createServer((req, res) => {
    lastHeaders = req.headers;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url?.startsWith('/api/customers/') ? { id: 'c-1', card: CARD } : { ok: true }));
    });
  });
  const echo = new WebSocketServer({ noServer: true });
  target.on('upgrade', (req, socket, head) => echo.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, binary) => ws.send(data, { binary }))));
  const url = await listenLoopback(target);
  t = await startTestGateway({ config: { metrics: { port: 0 } } });
  admin = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'no-delete.yaml');
  writeFileSync(policy, 'name: d\nrules:\n  - { id: no-delete, match: { kinds: [http], methods: [DELETE], directions: [request] }, action: deny, reason: crm.delete }\n');
  const limits = join(t.dir, 'limits.yaml');
  writeFileSync(limits, 'name: l\nlimits:\n  - { name: slow, kind: rate, rate: 0.001, burst: 1, key: [identity, connection], match: { paths: ["/api/limited*"] }, action: deny, message: One a day. }\n  - { name: queued, kind: rate, rate: 0.01, burst: 1, key: [identity, connection], match: { paths: ["/api/queued*"] }, action: delay, delay: { maxWait: 120 } }\n');
  const r = await t.call('POST', '/api/v1/connections', admin, { name: 'crm', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi, policy: { files: [policy, limits] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});
after(() => stopAll(agent, t, target));

async function scrape(url = `${t.gw.metricsUrl}/metrics`, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await fetch(url, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

test('after real HTTP and MCP traffic the counters moved with their labels, and every stage was timed', async () => {
  const proxy = (method: string, path: string) => fetch(`${t.gw.url}/proxy/crm${path}`, { method, headers: { authorization: `Bearer ${bob}` } });
  const before = await scrape();
  assert.equal(sumOf(before, 'airlock_requests_total', { path: 'http' }), 0, 'a fresh gateway has counted no data-path request');

  for (const id of ['c-1', 'c-2']) {
    const res = await proxy('GET', `/customers/${id}?q=${id}`);
    assert.equal(res.status, 200);
    assert.doesNotMatch(await res.text(), /4111/, 'the answer is masked');
  }
  const denied = await proxy('DELETE', '/customers/c-1');
  assert.equal(denied.status, 403);
  assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'GW_POLICY_DENIED');
  const anonymous = await fetch(`${t.gw.url}/proxy/crm/customers/c-1`);
  assert.equal(anonymous.status, 401);

  // A WebSocket: its handshake counted once (101), its two messages timed on the websocket path.
  const ws = new WebSocket(`${t.gw.url.replace(/^http/, 'ws')}/proxy/crm/ws`, { headers: { authorization: `Bearer ${bob}` } });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  ws.send('hello');
  assert.equal(await echoed, 'hello');
  await new Promise((resolve) => { ws.once('close', resolve); ws.close(); });

  const { client } = await mcpConnect(`${t.gw.url}/mcp/crm`, bob);
  const result = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-9' } });
  assert.doesNotMatch(textOf(result), /4111/);
  await client.close();

  const s = await scrape();
  // HTTP: two answers masked (the card in the answer), one DELETE denied, one refused before any decision.
  assert.equal(sumOf(s, 'airlock_requests_total', { path: 'http', connection: 'crm', decision: 'mask', status: '200' }), 2);
  assert.equal(sumOf(s, 'airlock_requests_total', { path: 'http', connection: 'crm', decision: 'deny', status: '403' }), 1);
  assert.equal(sumOf(s, 'airlock_requests_total', { path: 'http', connection: '', decision: 'none', status: '401' }), 1);
  assert.equal(sumOf(s, 'airlock_errors_total', { path: 'http', code: 'GW_POLICY_DENIED' }), 1);
  assert.equal(sumOf(s, 'airlock_errors_total', { path: 'http', code: 'GW_AUTH_REQUIRED' }), 1);
  assert.equal(sumOf(s, 'airlock_requests_total', { path: 'websocket', connection: 'crm', decision: 'allow', status: '101' }), 1);
  // The upgrade, the message and its echo: inspected, decided and recorded each.
  for (const stage of ['inspect', 'policy', 'record']) assert.equal(sumOf(s, 'airlock_stage_duration_seconds_count', { path: 'websocket', stage }), 3, `websocket ${stage}`);
  assert.equal(sumOf(s, 'airlock_stage_duration_seconds_count', { path: 'websocket', stage: 'forward' }), 1, 'the upgrade to the target');
  // MCP: the tool call's result was masked; its requests are counted on the mcp path.
  assert.ok(sumOf(s, 'airlock_requests_total', { path: 'mcp', connection: 'crm', decision: 'mask' }) >= 1, 'the masked tool call is counted on the mcp path');
  assert.equal(sumOf(s, 'airlock_requests_total', { path: 'mcp', connection: 'crm', decision: 'deny' }), 0);

  // Each stage of the HTTP path: authn for all four, inspect and policy for a request and an answer
  // each (three requests, two answers), record for each step, forward for the two that went on.
  const count = (path: string, stage: string) => sumOf(s, 'airlock_stage_duration_seconds_count', { path, stage });
  assert.equal(count('http', 'authn'), 4);
  assert.equal(count('http', 'inspect'), 5);
  assert.equal(count('http', 'policy'), 5);
  assert.equal(count('http', 'record'), 5);
  assert.equal(count('http', 'forward'), 2);
  for (const stage of ['authn', 'inspect', 'policy', 'record', 'forward']) assert.ok(count('mcp', stage) >= 1, `the mcp path timed ${stage}`);
  assert.ok(sumOf(s, 'airlock_stage_duration_seconds_sum', { path: 'http', stage: 'forward' }) > 0);

  assert.ok(sumOf(s, 'airlock_recorder_commit_duration_seconds_count', { outcome: 'ok' }) >= 1, 'recorder commits are timed');
  assert.equal(sumOf(s, 'airlock_recorder_commit_duration_seconds_count', { outcome: 'failed' }), 0);
  assert.ok(s.some((x) => x.name === 'airlock_recorder_queue_depth'), 'the recorder queue is read at scrape time');
  assert.ok(sumOf(s, 'airlock_agent_tunnels', { agent: 'edge' }) >= 1, 'the agent\'s tunnel is counted');
  assert.ok(s.some((x) => x.name === 'airlock_tunnel_streams' && x.labels.agent === 'edge'));
  assert.equal(sumOf(s, 'airlock_reviews_pending'), 0);
  assert.equal(sumOf(s, 'airlock_store_errors_total'), 0);
  assert.ok(s.some((x) => x.name === 'process_cpu_user_seconds_total'), 'the process metrics are there too');

  // Bounded labels: no caller, path, query or token ever becomes a label value.
  for (const x of s) {
    for (const v of Object.values(x.labels)) {
      assert.doesNotMatch(v, /bob|alice|customers|c-1|c-2|Bearer|eyJ/, `${x.name} carries ${v} as a label`);
    }
  }
});

test('with tracing off a caller\'s trace headers still never reach the target, and none is made up', async () => {
  const res = await fetch(`${t.gw.url}/proxy/crm/other`, { headers: { authorization: `Bearer ${bob}`, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'dd=s:2', baggage: 'k=v', b3: '1', 'x-datadog-trace-id': '1' } });
  assert.equal(res.status, 200);
  await res.text();
  for (const h of ['traceparent', 'tracestate', 'baggage', 'b3', 'x-datadog-trace-id']) assert.equal(lastHeaders[h], undefined, `${h} does not cross`);
  assert.equal(lastHeaders['x-request-id'], res.headers.get('x-request-id'), 'the request did reach the target');
});

test('a limit over is counted by kind and action, and the refusal by its code', async () => {
  const get = () => fetch(`${t.gw.url}/proxy/crm/limited`, { headers: { authorization: `Bearer ${bob}` } });
  const first = await get();
  assert.equal(first.status, 200);
  await first.text();
  const second = await get();
  assert.equal(second.status, 429);
  const body = await second.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_LIMIT_EXCEEDED');
  assert.match(body.error.message, /over limit slow: One a day\./);
  const s = await scrape();
  assert.equal(sumOf(s, 'airlock_limit_hits_total', { kind: 'rate', action: 'deny' }), 1);
  assert.equal(sumOf(s, 'airlock_requests_total', { path: 'http', connection: 'crm', decision: 'deny', status: '429' }), 1);
  assert.equal(sumOf(s, 'airlock_errors_total', { path: 'http', code: 'GW_LIMIT_EXCEEDED' }), 1);
});

test('a request waiting in a delay queue is a gauge by limit name, and leaves it when its client goes', async () => {
  const first = await fetch(`${t.gw.url}/proxy/crm/queued`, { headers: { authorization: `Bearer ${bob}` } });
  assert.equal(first.status, 200);
  await first.text();
  const gone = new AbortController();
  const waiting = fetch(`${t.gw.url}/proxy/crm/queued`, { headers: { authorization: `Bearer ${bob}` }, signal: gone.signal }).catch((err: Error) => err);
  let s: Sample[] = [];
  for (let i = 0; i < 100 && sumOf(s, 'airlock_limit_waiting', { limit: 'queued' }) !== 1; i++) { // at most 10 s
    await new Promise((r) => setTimeout(r, 100));
    s = await scrape();
  }
  assert.equal(sumOf(s, 'airlock_limit_waiting', { limit: 'queued' }), 1, 'the second request waits for a token');
  gone.abort();
  assert.equal(((await waiting) as Error).name, 'AbortError');
  for (let i = 0; i < 100 && sumOf(s, 'airlock_limit_waiting', { limit: 'queued' }) !== 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    s = await scrape();
  }
  assert.equal(sumOf(s, 'airlock_limit_waiting', { limit: 'queued' }), 0, 'a client that went away left the queue');
  assert.equal(sumOf(s, 'airlock_limit_fail_opens'), 0, 'the store was reachable: nothing passed open');
});

test('on the main listener /metrics needs an admin: no token 401, a user 403, an admin reads it', async () => {
  const none = await t.call('GET', '/metrics', undefined);
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'GW_AUTH_REQUIRED');
  const user = await t.call('GET', '/metrics', bob);
  assert.equal(user.status, 403);
  assert.equal(user.body.error.code, 'GW_FORBIDDEN');
  assert.match(user.body.error.message, /needs the admin role/);
  const s = await scrape(`${t.gw.url}/metrics`, { authorization: `Bearer ${admin}` });
  assert.ok(sumOf(s, 'airlock_requests_total', { path: 'other', status: '403' }) >= 1, 'the refused scrape is counted itself');
});

test('the separate listener serves GET /metrics and nothing else; metrics.enabled false serves none', async () => {
  const other = await fetch(`${t.gw.metricsUrl}/api/v1/info`);
  assert.equal(other.status, 404);
  assert.match(await other.text(), /serves GET \/metrics only/);
  const post = await fetch(`${t.gw.metricsUrl}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal(new URL(t.gw.metricsUrl!).hostname, '127.0.0.1', 'loopback by default');

  const off = await t.replica({ metrics: { enabled: false, port: 0 } });
  assert.equal(off.metricsUrl, undefined, 'no separate listener');
  assert.equal(off.telemetry.metrics, undefined);
  const res = await fetch(`${off.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GW_NOT_FOUND');
});

test('a metrics.port already taken fails the start with GW_PORT_IN_USE naming metrics.port', async () => {
  const taken = new URL(t.gw.metricsUrl!).port;
  await assert.rejects(t.replica({ metrics: { port: Number(taken) } }), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'GW_PORT_IN_USE');
    assert.match((err as Error).message, new RegExp(`Port ${taken} on 127\\.0\\.0\\.1 is already in use; .*metrics\\.port in airlock\\.yaml or AIRLOCK_METRICS_PORT`));
    return true;
  });
  const s = await scrape();
  assert.ok(s.length > 0, 'the first gateway\'s metrics listener still answers');
});
