// The gateway's HTTP frame against a real listening server and a real SQLite store: health and
// readiness, request ids, coded JSON errors, logs carrying the request id, graceful drain.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { configSchema, type ConfigInput } from '../../gateway/config/schema.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { sendJson } from '../../gateway/http/respond.ts';
import { createGateway, type Gateway } from '../../gateway/server.ts';
import { openStore, type Store } from '../../gateway/store/index.ts';
import { createLogger } from '../../lib/log.ts';

interface Started { gateway: Gateway; base: string; store: Store; lines: Array<Record<string, unknown>> }

async function start(input: ConfigInput = {}): Promise<Started> {
  const config = configSchema.parse({ ...input, server: { port: 0, ...input.server } });
  const store = await openStore('sqlite::memory:');
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const gateway = createGateway({
    config, logger, store,
    routes: (router) => router
      .add('/test/slow', { GET: async (_req, res) => { await new Promise((r) => setTimeout(r, 300)); sendJson(res, 200, { slow: true }); } })
      .add('/test/hang', { GET: () => new Promise<void>(() => {}) })
      .add('/test/log', { GET: (_req, res) => { logger.info('inside the handler'); sendJson(res, 200, {}); } })
      .add('/test/boom', { GET: () => { throw new Error('secret internal detail'); } })
      .add('/test/coded', { GET: () => { throw new GatewayError('GW_BAD_REQUEST', 'The parameter x is malformed; send a number.'); } }),
  });
  const address = await gateway.listen();
  const started = { gateway, base: `http://127.0.0.1:${address.port}`, store, lines };
  after(async () => { await gateway.close(100); await store.close(); });
  return started;
}

const gw = await start();

test('/healthz answers 200 JSON with a minted request id', async () => {
  const res = await fetch(`${gw.base}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

test('HEAD /healthz answers without a body', async () => {
  const res = await fetch(`${gw.base}/healthz`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '');
});

test('a safe X-Request-Id is echoed; an unsafe one is replaced', async () => {
  const ok = await fetch(`${gw.base}/healthz`, { headers: { 'x-request-id': 'trace-abc.123_XYZ' } });
  assert.equal(ok.headers.get('x-request-id'), 'trace-abc.123_XYZ');
  const bad = await fetch(`${gw.base}/healthz`, { headers: { 'x-request-id': 'short' } });
  assert.match(bad.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const injected = await fetch(`${gw.base}/healthz`, { headers: { 'x-request-id': 'a"b}c{d<e>f-very-long-and-odd' } });
  assert.notEqual(injected.headers.get('x-request-id'), 'a"b}c{d<e>f-very-long-and-odd');
});

test('/readyz is 200 while the store answers, 503 GW_NOT_READY naming the store when it does not', async () => {
  const own = await start();
  const ready = await fetch(`${own.base}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', checks: { store: 'ok' } });

  await own.store.close();
  const down = await fetch(`${own.base}/readyz`);
  assert.equal(down.status, 503);
  const body = await down.json() as { error: { code: string; message: string; requestId: string }; checks: Record<string, string> };
  assert.equal(body.error.code, 'GW_NOT_READY');
  assert.equal(body.error.message, 'Not ready: store failing; see checks and the gateway log.');
  assert.equal(body.error.requestId, down.headers.get('x-request-id'));
  assert.notEqual(body.checks.store, 'ok');
});

test('an unknown path is a 404 GW_NOT_FOUND JSON error carrying the request id', async () => {
  const res = await fetch(`${gw.base}/nope?token=x`);
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), {
    error: { code: 'GW_NOT_FOUND', message: 'No route for /nope; see docs/reference/api.md for the gateway\'s endpoints.', requestId: res.headers.get('x-request-id') },
  });
});

test('a wrong method is a 405 GW_METHOD_NOT_ALLOWED naming the allowed ones', async () => {
  const res = await fetch(`${gw.base}/healthz`, { method: 'POST' });
  assert.equal(res.status, 405);
  const body = await res.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_METHOD_NOT_ALLOWED');
  assert.equal(body.error.message, 'POST is not allowed on /healthz; use GET.');
});

test('a coded error keeps its status and message', async () => {
  const res = await fetch(`${gw.base}/test/coded`);
  assert.equal(res.status, 400);
  assert.deepEqual((await res.json() as { error: object }).error, { code: 'GW_BAD_REQUEST', message: 'The parameter x is malformed; send a number.', requestId: res.headers.get('x-request-id') });
});

test('an unexpected failure is a 500 GW_INTERNAL: the detail goes to the log, not the client', async () => {
  const res = await fetch(`${gw.base}/test/boom`);
  assert.equal(res.status, 500);
  const id = res.headers.get('x-request-id')!;
  const text = await res.text();
  assert.ok(!text.includes('secret internal detail'), 'internals stay out of the response');
  assert.deepEqual(JSON.parse(text), { error: { code: 'GW_INTERNAL', message: `The gateway failed to handle this request; report request id ${id} to your administrator.`, requestId: id } });
  const logged = gw.lines.find((l) => l.requestId === id && l.level === 'error');
  assert.ok(logged, 'the failure is logged with the request id');
  assert.equal((logged.err as { message: string }).message, 'secret internal detail');
});

test('every log line written while handling a request carries its request id', async () => {
  const res = await fetch(`${gw.base}/test/log`, { headers: { 'x-request-id': 'log-test-000001' } });
  assert.equal(res.status, 200);
  await new Promise((r) => setImmediate(r));
  const mine = gw.lines.filter((l) => l.requestId === 'log-test-000001').map((l) => l.msg);
  assert.ok(mine.includes('inside the handler'));
  assert.ok(mine.includes('request done'));
  const done = gw.lines.find((l) => l.requestId === 'log-test-000001' && l.msg === 'request done')!;
  assert.equal(done.path, '/test/log');
  assert.equal(done.status, 200);
});

test('the query string never reaches the log', async () => {
  await fetch(`${gw.base}/healthz?access_token=leaked-value`);
  await new Promise((r) => setImmediate(r));
  assert.ok(!JSON.stringify(gw.lines).includes('leaked-value'));
});

test('/api/v1/info tells a client where to log in', async () => {
  const own = await start({ auth: { issuer: 'https://idp.example.test' }, server: { publicUrl: 'https://airlock.example.test' } });
  const res = await fetch(`${own.base}/api/v1/info`);
  const body = await res.json() as Record<string, unknown>;
  assert.equal(body.issuer, 'https://idp.example.test');
  assert.equal(body.cliClientId, 'airlock-cli');
  assert.equal(body.audience, 'https://airlock.example.test');
  assert.equal(body.resource, 'https://airlock.example.test');
  assert.equal(body.devIdp, false);
});

test('close drains: a request in flight finishes, new connections are refused', async () => {
  const own = await start();
  const slow = fetch(`${own.base}/test/slow`);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(own.gateway.inFlight(), 1);
  const closing = own.gateway.close(5000);
  const res = await slow;
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { slow: true });
  await closing;
  await assert.rejects(fetch(`${own.base}/healthz`), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED');
});

test('a request still in flight when the grace period ends is cut, and close returns', async () => {
  const own = await start();
  const hanging = new Promise<string>((resolve) => {
    request(`${own.base}/test/hang`, (res) => resolve(`answered ${res.statusCode}`)).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error')).end();
  });
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await own.gateway.close(200);
  assert.ok(Date.now() - t0 < 3000, 'close does not wait past the grace period by much');
  assert.equal(await hanging, 'ECONNRESET');
  assert.ok(own.lines.some((l) => l.msg === 'shutdown grace period over; cutting in-flight requests' && l.inFlight === 1));
});

test('a port in use is refused naming the port and the option that changes it', async () => {
  const port = Number(new URL(gw.base).port);
  const config = configSchema.parse({ server: { port } });
  const store = await openStore('sqlite::memory:');
  after(() => store.close());
  const second = createGateway({ config, logger: createLogger({ write: () => {} }), store });
  await assert.rejects(second.listen(), (err: GatewayError) => {
    assert.equal(err.code, 'GW_PORT_IN_USE');
    assert.equal(err.message, `Port ${port} on 127.0.0.1 is already in use; stop what holds it, or choose another with server.port in airlock.yaml or AIRLOCK_SERVER_PORT.`);
    return true;
  });
});
