// Limits that protect the gateway process (server.limits, gateway/http/budget.ts), against a real
// gateway over real sockets: a body slower than the minimum rate or stalled is cut with a coded
// 408 on every route that reads one, headers that never end are answered 408 and closed, and
// past the per-identity caps a caller gets a coded 429 with Retry-After (others still get
// answers; a WebSocket upgrade counts too), past the gateway's total a coded 503; everything
// comes back when requests end. The readers on a real server: only time spent waiting for the
// client counts against it, and a streamed body holds only its window. The memory bound under
// hostile slow clients is test/gateway/slow-clients.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { createServer, request } from 'node:http';
import { configSchema } from '../../gateway/config/schema.ts';
import { ServerBudget, withTicket } from '../../gateway/http/budget.ts';
import { clientBody, nextChunk, readHead } from '../../gateway/http/respond.ts';
import { pumpBody } from '../../gateway/proxy/body-stream.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { addConnections, AUDIENCE, eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

interface RawReply { status: number; headers: Record<string, string>; body: Record<string, any> | undefined; text: string }

/** A client on a raw socket: writes what it is told, when it is told; `reply` is what came back once the gateway closed the connection. */
class RawClient {
  readonly socket: Socket;
  readonly reply: Promise<RawReply>;
  #received = '';

  constructor(base: string) {
    const url = new URL(base);
    this.socket = connect(Number(url.port), url.hostname);
    this.socket.on('error', () => {}); // writes after the gateway closed fail; the reply is what counts
    this.socket.on('data', (d: Buffer) => { this.#received += d.toString('latin1'); });
    this.reply = new Promise((resolve) => this.socket.on('close', () => resolve(parse(this.#received))));
  }

  write(text: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  /** Writes `piece` every `ms` until the gateway closes the connection or `max` pieces went. */
  trickle(piece: string, ms: number, max: number): void {
    let n = 0;
    const timer = setInterval(() => {
      if (this.socket.destroyed || this.socket.writableEnded || n++ >= max) return clearInterval(timer);
      this.write(piece);
    }, ms);
    this.socket.once('close', () => clearInterval(timer));
  }

  close(): void {
    this.socket.destroy();
  }
}

function parse(raw: string): RawReply {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return { status: 0, headers: {}, body: undefined, text: raw };
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const text = raw.slice(end + 4);
  let body: Record<string, any> | undefined;
  try { body = JSON.parse(text) as Record<string, any>; } catch { body = undefined; }
  return { status: Number(statusLine!.split(' ')[1]), headers, body, text };
}

/** The head of a request with a body of `length` bytes (which the client may never finish). */
function postHead(path: string, token: string, length: number, type = 'application/json'): string {
  return `POST ${path} HTTP/1.1\r\nhost: airlock.test\r\nauthorization: Bearer ${token}\r\ncontent-type: ${type}\r\naccept: application/json, text/event-stream\r\ncontent-length: ${length}\r\n\r\n`;
}

/** The gateway's settings in these tests, over the harness's own. */
function server(limits: Record<string, unknown>, more: Record<string, unknown> = {}) {
  return { server: { port: 0, publicUrl: AUDIENCE, shutdownGrace: 1, ...more, limits } };
}

describe('timeouts', () => {
  let t: TestGateway;
  let bob: string;
  let alice: string;
  before(async () => {
    t = await startTestGateway({ config: server({ minBodyBytesPerSecond: 1000, minBodyRateGrace: 0.5, bodyIdleTimeout: 1.5, requestTimeout: 20 }, { headersTimeout: 1 }) });
    bob = await t.token('bob', ['developers']);
    alice = await t.token('alice', ['admins']);
    // An http connection whose agent is offline: the body is read (and inspected) before the agent is needed.
    await addConnections(t, alice, [{ name: 'demo', kind: 'http', agent: 'nowhere', target: 'http://127.0.0.1:9/api', groups: ['*'] }]);
  });
  after(() => t.close());

  for (const [path, user] of [['/mcp', 'bob'], ['/proxy/demo/upload', 'bob'], ['/api/v1/connections', 'alice']] as const) {
    test(`a body slower than the minimum rate is cut with 408 GW_BODY_TIMEOUT and the connection closed (${path})`, async () => {
      const c = new RawClient(t.gw.url);
      c.write(postHead(path, user === 'bob' ? bob : alice, 100_000));
      c.trickle('x'.repeat(20), 100, 1000); // 200 bytes/s, under the 1000 the gateway requires
      const reply = await c.reply;
      assert.equal(reply.status, 408, reply.text);
      assert.equal(reply.body?.error.code, 'GW_BODY_TIMEOUT');
      assert.match(reply.body?.error.message, /^The request body arrived too slowly: \d+ bytes in \d+\.\d s, under the 1000 bytes per second the gateway requires \(server\.limits\.minBodyBytesPerSecond\); send it faster\.$/);
      assert.equal(reply.headers.connection, 'close');
      await eventually(() => (t.gw.gateway.budget.inFlight(user).requests === 0 ? true : undefined), 5000, `${user}'s request given back`);
    });
  }

  test('a body that stops arriving is cut with 408 GW_BODY_TIMEOUT once idle for bodyIdleTimeout', async () => {
    const c = new RawClient(t.gw.url);
    c.write(postHead('/mcp', bob, 100_000));
    c.write('x'.repeat(20_000)); // enough for the rate rule for 20 s: the pause is what is cut
    const reply = await c.reply;
    assert.equal(reply.status, 408, reply.text);
    assert.equal(reply.body?.error.code, 'GW_BODY_TIMEOUT');
    assert.equal(reply.body?.error.message, 'The request body stalled: nothing arrived for 1.5 s (server.limits.bodyIdleTimeout); send the body without pauses.');
  });

  test('a body that keeps the rate passes the same gateway', async () => {
    const r = await t.call('POST', '/api/v1/api-keys', alice, { name: 'x'.repeat(30_000) });
    assert.equal(r.status, 400, JSON.stringify(r.body)); // read whole, then refused for its content: the limits did not get in the way
    assert.match(r.body.error.message, /^The body is not accepted: name: /);
  });

  test('headers that never end are answered 408 GW_REQUEST_TIMEOUT and the connection closed', async () => {
    const c = new RawClient(t.gw.url);
    c.write('GET /api/v1/me HTTP/1.1\r\nhost: airlock.test\r\n');
    c.trickle('x-slow: y\r\n', 200, 1000); // a header every 200 ms, never the blank line
    const reply = await c.reply;
    assert.equal(reply.status, 408, reply.text);
    assert.equal(reply.body?.error.code, 'GW_REQUEST_TIMEOUT');
    assert.equal(reply.body?.error.message, 'The request did not arrive in time: its headers within 1 s (server.headersTimeout), or all of it within 20 s (server.limits.requestTimeout).');
    assert.equal(reply.headers.connection, 'close');
  });

  test('headers too large and requests that are not HTTP/1.1 are coded JSON refusals too', async () => {
    const large = new RawClient(t.gw.url);
    large.write(`GET /api/v1/me HTTP/1.1\r\nhost: airlock.test\r\nx-big: ${'a'.repeat(40 * KiB)}\r\n\r\n`);
    const tooLarge = await large.reply;
    assert.equal(tooLarge.status, 431, tooLarge.text);
    assert.equal(tooLarge.body?.error.code, 'GW_HEADERS_TOO_LARGE');
    assert.equal(tooLarge.body?.error.message, 'The request headers are larger than the 32 KiB the gateway reads; send fewer or shorter headers.');
    const bad = new RawClient(t.gw.url);
    bad.write('GET /api/v1/me HTTP/1.1\r\nhost: airlock.test\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n');
    const malformed = await bad.reply;
    assert.equal(malformed.status, 400, malformed.text);
    assert.equal(malformed.body?.error.code, 'GW_BAD_REQUEST');
    assert.match(malformed.body?.error.message, /^The request is not HTTP\/1\.1 the gateway accepts \(HPE_[A-Z_]+\)\.$/);
  });

  test('a body sent before authentication is not read: the refusal closes the connection', async () => {
    const c = new RawClient(t.gw.url);
    c.write(`POST /mcp HTTP/1.1\r\nhost: airlock.test\r\ncontent-type: application/json\r\ncontent-length: ${10 * MiB}\r\n\r\n`);
    c.write('x'.repeat(1000));
    const reply = await c.reply;
    assert.equal(reply.status, 401, reply.text);
    assert.equal(reply.body?.error.code, 'GW_AUTH_REQUIRED');
    assert.equal(reply.headers.connection, 'close');
    assert.equal(t.gw.gateway.budget.inFlight().bytes, 0);
  });
});

describe('caps', () => {
  let t: TestGateway;
  let tokens: Record<string, string>;
  before(async () => {
    t = await startTestGateway({ config: server({ maxConcurrentPerIdentity: 3, maxInFlightBodyBytesPerIdentity: MiB, maxInFlightBodyBytes: 2 * MiB }) });
    tokens = Object.fromEntries(await Promise.all(['bob', 'carol', 'dave'].map(async (u) => [u, await t.token(u, ['developers'])] as const)));
  });
  after(() => t.close());

  /** A request from `user` to /mcp announcing a 2 MiB body, of which only `bytes` are ever sent. */
  const sending = (user: string, bytes: number): RawClient => {
    const c = new RawClient(t.gw.url);
    c.write(postHead('/mcp', tokens[user]!, 2 * MiB));
    c.write('x'.repeat(bytes));
    return c;
  };

  /** A request from `user` that the gateway holds: part of its body came, the rest never does. */
  const holding = async (user: string, bytes: number): Promise<RawClient> => {
    const before = t.gw.gateway.budget.inFlight(user);
    const c = sending(user, bytes);
    await eventually(() => {
      const now = t.gw.gateway.budget.inFlight(user);
      return now.requests > before.requests && now.bytes >= before.bytes + bytes ? true : undefined;
    }, 5000, `${user}'s ${bytes} bytes held`);
    return c;
  };

  test('past maxConcurrentPerIdentity a caller gets 429 GW_TOO_MANY_REQUESTS with Retry-After; others still get answers; it ends when the requests end', async () => {
    const held = [await holding('bob', 10), await holding('bob', 10), await holding('bob', 10)];
    const refused = await fetch(`${t.gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${tokens.bob}` } });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    const body = await refused.json() as Record<string, any>;
    assert.equal(body.error.code, 'GW_TOO_MANY_REQUESTS');
    assert.equal(body.error.message, 'bob already has 3 requests in flight, the most one identity may have (server.limits.maxConcurrentPerIdentity); wait for one to finish, then retry.');
    const other = await t.call('GET', '/api/v1/me', tokens.carol);
    assert.equal(other.status, 200);
    assert.equal(other.body.sub, 'carol');

    for (const c of held) c.close();
    await eventually(() => (t.gw.gateway.budget.inFlight('bob').requests === 0 ? true : undefined), 5000, "bob's requests given back");
    assert.equal((await t.call('GET', '/api/v1/me', tokens.bob)).status, 200);
  });

  test('a WebSocket upgrade counts too: past the cap it is refused with the coded 429 before the upgrade', async () => {
    const held = [await holding('bob', 10), await holding('bob', 10), await holding('bob', 10)];
    const refused = await new Promise<{ status: number; retryAfter: unknown; body: Record<string, any> }>((resolve, reject) => {
      const ws = new WebSocket(`${t.gw.url.replace(/^http/, 'ws')}/proxy/demo/socket`, { headers: { authorization: `Bearer ${tokens.bob}` } });
      ws.on('open', () => reject(new Error('upgraded past the cap')));
      ws.on('error', () => {});
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d: Buffer) => { text += d.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: JSON.parse(text) as Record<string, any> }));
      });
    });
    assert.equal(refused.status, 429);
    assert.equal(refused.retryAfter, '1');
    assert.equal(refused.body.error.code, 'GW_TOO_MANY_REQUESTS');
    assert.match(refused.body.error.message, /^bob already has 3 requests in flight/);
    for (const c of held) c.close();
    await eventually(() => (t.gw.gateway.budget.inFlight('bob').requests === 0 ? true : undefined), 5000, "bob's requests given back");
  });

  test('past maxInFlightBodyBytesPerIdentity 429 naming the budget; past maxInFlightBodyBytes 503 GW_OVERLOADED; the bytes come back', async () => {
    const held = [await holding('bob', 700 * KiB)];
    const identity = await sending('bob', 700 * KiB).reply;
    assert.equal(identity.status, 429, identity.text);
    assert.equal(identity.headers['retry-after'], '1');
    assert.equal(identity.body?.error.code, 'GW_TOO_MANY_REQUESTS');
    assert.match(identity.body?.error.message, /^bob's requests in flight already hold \d+ bytes of bodies, and this one needs more than the 1048576 one identity may hold \(server\.limits\.maxInFlightBodyBytesPerIdentity\); send smaller bodies, fewer at once, or retry when others finished\.$/);
    assert.equal(identity.headers.connection, 'close');

    held.push(await holding('carol', 700 * KiB));
    const total = await sending('dave', 700 * KiB).reply;
    assert.equal(total.status, 503, total.text);
    assert.equal(total.headers['retry-after'], '1');
    assert.equal(total.body?.error.code, 'GW_OVERLOADED');
    assert.equal(total.body?.error.message, 'The gateway holds its maximum of 2097152 bytes of bodies in flight (server.limits.maxInFlightBodyBytes); retry in a moment.');

    for (const c of held) c.close();
    await eventually(() => (t.gw.gateway.budget.inFlight().bytes === 0 && t.gw.gateway.budget.inFlight().requests === 0 ? true : undefined), 5000, 'every byte given back');
  });
});

test('past maxConcurrent the gateway answers 503 GW_OVERLOADED, except the probes', async () => {
  const t = await startTestGateway({ config: server({ maxConcurrent: 2 }) });
  try {
    const bob = await t.token('bob', ['developers']);
    const carol = await t.token('carol', ['developers']);
    const held = [new RawClient(t.gw.url), new RawClient(t.gw.url)];
    held[0]!.write(postHead('/mcp', bob, 1000));
    held[1]!.write(postHead('/mcp', carol, 1000));
    await eventually(() => (t.gw.gateway.budget.inFlight().requests === 2 ? true : undefined), 5000, 'two requests in flight');
    const refused = await fetch(`${t.gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${bob}` } });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.deepEqual((await refused.json() as Record<string, any>).error.code, 'GW_OVERLOADED');
    assert.equal((await fetch(`${t.gw.url}/healthz`)).status, 200);
    for (const c of held) c.close();
    await eventually(() => (t.gw.gateway.budget.inFlight().requests === 0 ? true : undefined), 5000, 'requests given back');
    assert.equal((await t.call('GET', '/api/v1/me', bob)).status, 200);
  } finally {
    await t.close();
  }
});

test('server.limits is validated at start: a request timeout shorter than the headers timeout, or an identity budget over the total, is refused', () => {
  const short = configSchema.safeParse({ server: { headersTimeout: 15, limits: { requestTimeout: 10 } } });
  assert.equal(short.success, false);
  assert.deepEqual(short.error?.issues.map((i) => [i.path.join('.'), i.message]), [['server.limits.requestTimeout', 'must be 0 or at least server.headersTimeout (15)']]);
  const budget = configSchema.safeParse({ server: { limits: { maxInFlightBodyBytes: 8 * MiB, maxInFlightBodyBytesPerIdentity: 16 * MiB } } });
  assert.deepEqual(budget.error?.issues.map((i) => [i.path.join('.'), i.message]), [['server.limits.maxInFlightBodyBytesPerIdentity', 'must not be larger than server.limits.maxInFlightBodyBytes']]);
  const defaults = configSchema.parse({}).server.limits;
  assert.deepEqual(defaults, { requestTimeout: 300, bodyIdleTimeout: 30, minBodyBytesPerSecond: 1024, minBodyRateGrace: 5, maxConcurrent: 4096, maxConcurrentPerIdentity: 64, maxInFlightBodyBytes: 256 * MiB, maxInFlightBodyBytesPerIdentity: 64 * MiB });
  assert.equal(configSchema.safeParse({ server: { limits: { requestTimeout: 0 } } }).success, true);
});

test('only time spent waiting for the client counts: a pause while the gateway is not reading is not the client\'s', async () => {
  // The reader of a streamed upload stops reading while a slow target takes its window; the
  // client's next bytes wait in the socket meanwhile. 2.5 s between the client's two pieces, a
  // 1 s idle limit: the body still passes, because the gateway was waiting for it only briefly.
  const budget = new ServerBudget({ maxConcurrent: 10, maxConcurrentPerIdentity: 10, maxInFlightBodyBytes: MiB, maxInFlightBodyBytesPerIdentity: MiB, bodyIdleMs: 1000, minBodyBytesPerSecond: 1000, minBodyRateGraceMs: 500 });
  const srv = createServer((req, res) => {
    void withTicket(budget.enter(), async () => {
      const failed = (err: Error) => { throw err; };
      const body = clientBody(req);
      let got = (await nextChunk(body, failed))!.length;
      await new Promise((r) => setTimeout(r, 3000)); // busy elsewhere: not reading
      for (let c = await nextChunk(body, failed); c !== undefined; c = await nextChunk(body, failed)) got += c.length;
      res.end(String(got));
    }).catch((err: Error) => { res.statusCode = 500; res.end(err.message); });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const { port } = srv.address() as { port: number };
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', method: 'POST', headers: { 'content-length': 2000 } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => { text += d.toString(); });
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      });
      req.on('error', reject);
      req.write('a'.repeat(1000));
      setTimeout(() => req.end('b'.repeat(1000)), 2500);
    });
    assert.equal(answer, '200 2000');
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

test('a streamed body holds only its window against the budget: 8 MiB pass through a 1 MiB identity budget', async () => {
  const budget = new ServerBudget({ maxConcurrent: 10, maxConcurrentPerIdentity: 10, maxInFlightBodyBytes: MiB, maxInFlightBodyBytesPerIdentity: MiB, bodyIdleMs: 5000, minBodyBytesPerSecond: 0, minBodyRateGraceMs: 0 });
  let peak = 0;
  const srv = createServer((req, res) => {
    const ticket = budget.enter();
    void withTicket(ticket, async () => {
      ticket.admit('bob');
      const tooLarge = () => new GatewayError('GW_BODY_TOO_LARGE', 'too large');
      const failed = (err: Error) => new GatewayError('GW_BAD_REQUEST', err.message);
      const rest = clientBody(req);
      const head = await readHead(rest, 64 * KiB, 16 * MiB, tooLarge, failed);
      const sent = await pumpBody({
        head, rest, max: 16 * MiB, tooLarge, failed,
        pass: async (w) => w.bytes,
        write: async () => { peak = Math.max(peak, budget.inFlight('bob').bytes); },
      });
      res.end(String(sent.bytes));
    }).catch((err: GatewayError) => { res.statusCode = err.status ?? 500; res.end(err.code ?? err.message); }).finally(() => ticket.release());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const { port } = srv.address() as { port: number };
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', method: 'POST', headers: { 'content-length': 8 * MiB } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => { text += d.toString(); });
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      });
      req.on('error', reject);
      req.end(Buffer.alloc(8 * MiB, 0x61));
    });
    assert.equal(answer, `200 ${8 * MiB}`);
    assert.ok(peak > 0 && peak < MiB, `held at most ${peak} bytes at once`);
    assert.deepEqual(budget.inFlight(), { requests: 0, bytes: 0 });
  } finally {
    await new Promise((r) => srv.close(r));
  }
});
