// Traces end to end: a real gateway exporting with the OpenTelemetry SDK's OTLP/HTTP exporter to
// a receiver started here (an HTTP server on loopback that takes OTLP/JSON, the exporter's real
// wire format), a real agent process and a real HTTP service behind one connection, used as
// /proxy and as /mcp. Asserted: a span per request with a child per stage, the target's
// traceparent naming the forward span of the same trace, the trace id in the recording, the
// caller's trace headers (traceparent, tracestate, b3, baggage) never reaching the target and
// never parenting a span unless tracing.trustIncoming; no path or caller in any span.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { eventually, requestEvents, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, mcpConnect } from '../../support/mcp.ts';
import { parseTraceparent, Tracing } from '../../../gateway/telemetry/tracing.ts';
import { configSchema } from '../../../gateway/config/schema.ts';
import { Telemetry } from '../../../gateway/telemetry/telemetry.ts';
import { parsePrometheus, sumOf } from '../../support/prometheus.ts';

interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  attributes?: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
  status?: { code?: number; message?: string };
}

/** An OTLP/HTTP traces receiver (JSON encoding): every span exported to it, and the headers of each export. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: OtlpSpan[]; exports: IncomingHttpHeaders[] }> {
  const spans: OtlpSpan[] = [];
  const exports: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/json') {
        res.writeHead(415).end();
        return;
      }
      exports.push(req.headers);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const url = await listenLoopback(server);
  return { server, url, spans, exports };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
};

let receiver: Awaited<ReturnType<typeof startReceiver>>;
let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];

const openapi = {
  openapi: '3.0.3',
  info: { title: 'Customers', version: '1' },
  paths: { '/customers/{id}': { get: { operationId: 'getCustomer', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'ok' } } } } },
};

before(async () => {
  receiver = await startReceiver();
  target = createServer((req, res) => {
    seen.push({ url: req.url!, headers: req.headers });
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"c-1","name":"Ada"}'));
  });
  const url = await listenLoopback(target);
  t = await startTestGateway({ config: { tracing: { enabled: true, otlp: { endpoint: `${receiver.url}/v1/traces`, headers: 'x-otlp-key=k%20v' } } } });
  const admin = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'no-delete.yaml');
  writeFileSync(policy, 'name: d\nrules:\n  - { id: no-delete, match: { kinds: [http], methods: [DELETE], directions: [request] }, action: deny, reason: crm.delete }\n');
  const r = await t.call('POST', '/api/v1/connections', admin, { name: 'crm', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi, policy: { files: [policy] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});
after(async () => {
  await stopAll(agent, t, target);
  await new Promise<void>((r) => receiver.server.close(() => r()));
});

/** The spans of the request `requestId`: its root (by the request id) and every span of its trace. */
async function traceOf(requestId: string): Promise<{ root: OtlpSpan; spans: OtlpSpan[] }> {
  const root = await eventually(async () => {
    await t.gw.telemetry.tracing!.flush();
    return receiver.spans.find((s) => attr(s, 'airlock.request_id') === requestId);
  }, 10_000, `the span of request ${requestId}`);
  return { root, spans: receiver.spans.filter((s) => s.traceId === root.traceId) };
}

test('an HTTP request: a span with a child per stage, the target gets the forward span as its parent, the recording the trace id; the caller\'s trace headers go nowhere', async () => {
  const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const requestId = 'trace-http-0001';
  const res = await fetch(`${t.gw.url}/proxy/crm/customers/c-1?q=secret-query`, {
    headers: {
      authorization: `Bearer ${bob}`, 'x-request-id': requestId,
      traceparent: `00-${callerTrace}-00f067aa0ba902b7-01`, tracestate: 'dd=s:2;o:rum,congo=t61rcWkgMzE', b3: `${callerTrace}-00f067aa0ba902b7-1`,
      'x-b3-traceid': callerTrace, baggage: 'userId=alice', 'x-datadog-trace-id': '1234',
    },
  });
  assert.equal(res.status, 200);
  await res.text();
  const { root, spans } = await traceOf(requestId);

  assert.equal(root.name, 'airlock http');
  assert.notEqual(root.traceId, callerTrace, 'an untrusted caller\'s traceparent starts no trace of ours');
  assert.ok(!root.parentSpanId, 'the request span is a root');
  assert.equal(attr(root, 'airlock.connection'), 'crm');
  assert.equal(attr(root, 'airlock.decision'), 'allow');
  assert.equal(attr(root, 'http.response.status_code'), 200);
  assert.match(String(attr(root, 'airlock.session')), /^ses_[0-9a-f]{32}$/);

  const children = spans.filter((s) => s.parentSpanId === root.spanId);
  assert.deepEqual(children.map((s) => s.name).sort(), ['authn', 'forward', 'inspect', 'inspect', 'policy', 'policy', 'record', 'record'], 'one per stage, request and answer');
  const forward = children.find((s) => s.name === 'forward')!;

  const arrived = seen.find((s) => s.url.startsWith('/api/customers/c-1'))!;
  assert.equal(arrived.headers.traceparent, `00-${root.traceId}-${forward.spanId}-01`, 'the target\'s parent is the forward span');
  for (const h of ['tracestate', 'b3', 'x-b3-traceid', 'baggage', 'x-datadog-trace-id']) assert.equal(arrived.headers[h], undefined, `${h} does not cross`);

  const events = await requestEvents(t, requestId, 'crm');
  const recorded = events.filter((e) => e.type === 'request' || e.type === 'response');
  assert.equal(recorded.length, 2);
  for (const e of recorded) assert.equal(e.payload.traceId, root.traceId, `the ${e.type} event names the trace`);

  // A span says what happened, never to whom or on which path.
  const text = JSON.stringify(spans);
  assert.doesNotMatch(text, /customers|secret-query|bob|Bearer/);

  assert.equal(receiver.exports[0]!['x-otlp-key'], 'k v', 'tracing.otlp.headers go with every export, percent-decoded');
});

test('a refused request: its span is marked failed with the code, and nothing was forwarded', async () => {
  const requestId = 'trace-deny-0001';
  const res = await fetch(`${t.gw.url}/proxy/crm/customers/c-1`, { method: 'DELETE', headers: { authorization: `Bearer ${bob}`, 'x-request-id': requestId } });
  assert.equal(res.status, 403);
  const { root, spans } = await traceOf(requestId);
  assert.equal(root.status?.code, 2, 'status ERROR');
  assert.equal(root.status?.message, 'GW_POLICY_DENIED');
  assert.equal(attr(root, 'airlock.decision'), 'deny');
  assert.ok(!spans.some((s) => s.name === 'forward'), 'no forward span: it never left');
});

test('an MCP tool call: the stages of the mcp path, and the target gets the trace', async () => {
  const { client } = await mcpConnect(`${t.gw.url}/mcp/crm`, bob);
  const before = seen.length;
  await client.callTool({ name: 'getCustomer', arguments: { id: 'c-7' } });
  await client.close();
  const arrived = seen.slice(before).find((s) => s.url === '/api/customers/c-7')!;
  const parent = parseTraceparent(arrived.headers.traceparent);
  assert.ok(parent, `a valid traceparent reached the target: ${String(arrived.headers.traceparent)}`);
  const forward = await eventually(async () => {
    await t.gw.telemetry.tracing!.flush();
    return receiver.spans.find((s) => s.spanId === parent.spanId);
  }, 10_000, 'the forward span');
  assert.equal(forward.name, 'forward');
  assert.equal(forward.traceId, parent.traceId);
  const root = receiver.spans.find((s) => s.spanId === forward.parentSpanId)!;
  assert.equal(root.name, 'airlock mcp');
  const stages = new Set(receiver.spans.filter((s) => s.parentSpanId === root.spanId).map((s) => s.name));
  for (const s of ['authn', 'inspect', 'policy', 'record', 'forward']) assert.ok(stages.has(s), `the call's request has a ${s} span`);
});

test('tracing.trustIncoming: a caller\'s valid traceparent is the parent (and its sampling decision counts); a malformed one is not', async () => {
  const config = configSchema.parse({ tracing: { enabled: true, trustIncoming: true, sampleRatio: 0, otlp: { endpoint: `${receiver.url}/v1/traces` } } }).tracing;
  const tracing = new Tracing(config, 'test');
  try {
    const trusted = tracing.startRequest('http', 'GET', 'trust-0001', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    assert.equal(trusted.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.match(tracing.traceparent(trusted.span), /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, 'sampled as the caller said, despite sampleRatio 0');
    trusted.span.end();
    for (const bad of ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, 00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-00f067aa0ba902b7-01']) {
      const fresh = tracing.startRequest('http', 'GET', 'trust-0002', bad);
      assert.notEqual(fresh.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', `${bad} starts a new trace`);
      assert.match(tracing.traceparent(fresh.span), /-00$/, 'a new trace under sampleRatio 0 is not sampled');
      fresh.span.end();
    }
    await tracing.flush();
    const exported = await eventually(() => receiver.spans.find((s) => attr(s, 'airlock.request_id') === 'trust-0001'), 5000, 'the trusted span');
    assert.equal(exported.parentSpanId, '00f067aa0ba902b7');
    assert.ok(!receiver.spans.some((s) => attr(s, 'airlock.request_id') === 'trust-0002'), 'unsampled spans are not exported');
  } finally {
    await tracing.close();
  }
});

test('exports are counted by outcome: taken by the receiver, or failed when the backend refuses them (the spans are dropped)', async () => {
  const ok = parsePrometheus(await t.gw.telemetry.metrics!.render());
  assert.ok(sumOf(ok, 'airlock_trace_spans_exported_total', { outcome: 'ok' }) >= 9, 'the spans of the requests above');
  assert.equal(sumOf(ok, 'airlock_trace_spans_exported_total', { outcome: 'failed' }), 0);

  // A backend that answers 400 (a request it will never take: no retry).
  const refusing = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(400, { 'content-type': 'application/json' }).end('{"code":3,"message":"no"}')); });
  const url = await listenLoopback(refusing);
  const telemetry = new Telemetry(configSchema.parse({ tracing: { enabled: true, otlp: { endpoint: `${url}/v1/traces`, timeout: 2 } } }), 'test');
  try {
    const rt = telemetry.begin('http', 'GET', 'refused-0001', undefined);
    telemetry.end(rt, 200);
    await assert.rejects(telemetry.tracing!.flush(), /Bad Request/);
    const s = parsePrometheus(await telemetry.metrics!.render());
    assert.equal(sumOf(s, 'airlock_trace_spans_exported_total', { outcome: 'failed' }), 1);
    assert.equal(sumOf(s, 'airlock_trace_spans_exported_total', { outcome: 'ok' }), 0);
    const again = telemetry.begin('http', 'GET', 'refused-0002', undefined);
    telemetry.end(again, 200);
  } finally {
    await telemetry.close(); // its last export fails too: the stop does not
    await new Promise<void>((r) => refusing.close(() => r()));
  }
});

