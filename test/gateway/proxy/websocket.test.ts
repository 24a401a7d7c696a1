// WebSocket upgrades on the HTTP data path end to end: a `ws` client → real gateway → real tunnel →
// a real `airlock-agent start` process → a `ws` server on loopback. Every message is inspected:
// PII from the target arrives masked, a denied message closes both sides before it reaches the
// target, what cannot be inspected (too large, binary, a value hidden between NULs as UTF-16
// text carries it, JSON with a duplicate key or nested too deep) does not cross; refusals before
// the upgrade are coded JSON errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Running } from '../../support/process.ts';
import { addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';

const TARGET_SECRET = 'target-secret-ws-51c2';
const CARD_GREETING = JSON.stringify({ hello: 'Ada', card: '4111 1111 1111 1111' });
interface Upgrade { url: string; headers: IncomingMessage['headers'] }
interface Session { url: string; ws: WebSocket; received: Array<{ text: string; binary: boolean }>; closed?: { code: number; reason: string } }
const upgrades: Upgrade[] = [];
const sessions: Session[] = [];
let t: TestGateway;
let target: Server;
let targetUrl: string;
let agent: Running;
let bob: string;
let alice: string;

before(async () => {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => offered.has('chat.v2') ? 'chat.v2' : false });
  target = createServer((req, res) => res.end(JSON.stringify({ plain: req.url, upgrade: req.headers.upgrade ?? null })));
  target.on('upgrade', (req, socket, head) => {
    upgrades.push({ url: req.url!, headers: req.headers });
    if (req.url!.startsWith('/api/forbidden')) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session: Session = { url: req.url!, ws, received: [] };
      sessions.push(session);
      ws.on('message', (data: RawData, binary) => {
        const text = String(data);
        session.received.push({ text, binary });
        if (text === 'close me') ws.close(4001, 'target done');
        else if (text.startsWith('flood ')) for (let i = 0; i < Number(text.slice(6)); i++) ws.send(JSON.stringify({ i, pad: 'x'.repeat(16 * 1024) }));
        // `say <base64>` / `say-binary <base64>`: the target sends exactly those bytes (a hostile target's message).
        else if (/^say(-binary)? /.test(text)) ws.send(Buffer.from(text.slice(text.indexOf(' ') + 1), 'base64'), { binary: text.startsWith('say-binary') });
        else ws.send(data, { binary }); // echo
      });
      ws.on('close', (code, reason) => { session.closed = { code, reason: reason.toString() }; });
      if (req.url!.startsWith('/api/greet')) ws.send(CARD_GREETING); // at once, before the client could say anything
    });
  });
  targetUrl = await new Promise((resolve) => target.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));

  t = await startTestGateway();
  alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [targetUrl, 'http://127.0.0.1:9'], bearer: { demo: TARGET_SECRET } });

  const policyFile = join(t.dir, 'no-secrets.yaml');
  writeFileSync(policyFile, 'name: no-secrets\nrules:\n  - { id: no-secrets, match: { directions: [request], findings: [\'secret.*\'] }, action: deny, reason: demo.no_secrets, message: Secrets may not be sent. }\n');
  const connections = [
    { name: 'demo', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], policy: { files: [policyFile] } },
    { name: 'admins-only', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: [] },
    { name: 'tight', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['*'], limits: { inspectBytes: 1024 } },
    { name: 'elsewhere', kind: 'http', agent: 'edge', target: 'http://127.0.0.2:8080/api', groups: ['*'] },
    { name: 'down', kind: 'http', agent: 'edge', target: 'http://127.0.0.1:9/api', groups: ['*'] },
  ];
  await addConnections(t, alice, connections);
});
after(() => stopAll(agent, t, target));

type Opened = { ws: WebSocket; messages: Array<{ text: string; binary: boolean }>; closed: Promise<{ code: number; reason: string }> };
type Refused = { status: number; headers: IncomingMessage['headers']; body: Record<string, any> };

/** A ws client through the gateway: open (with what it receives), or the coded refusal. */
function connect(path: string, options: { token?: string | null; protocols?: string[] } = {}): Promise<Opened | Refused> {
  const token = options.token === undefined ? bob : options.token;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.gw.url.replace(/^http/, 'ws')}${path}`, options.protocols ?? [], { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const messages: Opened['messages'] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data: RawData, binary) => messages.push({ text: String(data), binary }));
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => {
        ws.terminate();
        resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) as Record<string, any> });
      });
    });
    ws.on('error', (err) => { if (ws.readyState !== WebSocket.CLOSED) reject(err); });
  });
}

async function open(path: string, options: { protocols?: string[] } = {}): Promise<Opened> {
  const r = await connect(path, options);
  assert.ok('ws' in r, `expected an open WebSocket, got ${JSON.stringify(r)}`);
  return r;
}

async function refused(path: string, token?: string | null): Promise<Refused> {
  const r = await connect(path, { token });
  assert.ok(!('ws' in r), `expected a refusal of ${path}`);
  return r;
}

/** Waits (at most `ms`, default 5 s) until `n` messages arrived. */
const received = (o: Opened, n: number, ms = 5000) => eventually(() => o.messages.length >= n || undefined, ms, `${n} messages`);
const sessionAt = (url: string) => eventually(() => sessions.findLast((s) => s.url === url), 5000, `the target session ${url}`);

test('a round trip: messages reach the target through the agent and come back, in order', async () => {
  const c = await open('/proxy/demo/echo?room=1');
  const sent = Array.from({ length: 50 }, (_, i) => JSON.stringify({ n: i, note: 'hello' }));
  for (const m of sent) c.ws.send(m);
  c.ws.send(Buffer.from('binary but UTF-8 text'), { binary: true });
  await received(c, 51);
  assert.deepEqual(c.messages.slice(0, 50).map((m) => m.text), sent);
  assert.deepEqual(c.messages[50], { text: 'binary but UTF-8 text', binary: true }, 'UTF-8 binary is inspected as text and stays binary');
  assert.equal((await sessionAt('/api/echo?room=1')).received.length, 51, 'the path lands under the base path, query kept');
  c.ws.close();
  await c.closed;
});

test('a reader that stops reading slows the writer at the other end, and nothing is lost when it reads again', async () => {
  const c = await open('/proxy/demo/echo?flood');
  c.ws.pause(); // the client stops reading: the gateway's socket to it fills up, so the gateway stops reading the target
  c.ws.send('flood 2000'); // about 32 MB, many times the gateway's high-water mark
  const sending = (await sessionAt('/api/echo?flood')).ws;
  // Once every buffer on the way is full, what the target could not write stays with it (were the
  // gateway to read on regardless, it would hold the lot and the target would have sent it all).
  let held = -1;
  // Stable for half a second, waiting at most 20 s (a loaded machine moves 32 MB slowly).
  for (let stable = 0, polls = 0; stable < 5 && polls < 200; polls++) {
    await new Promise((r) => setTimeout(r, 100));
    stable = sending.bufferedAmount === held ? stable + 1 : 0;
    held = sending.bufferedAmount;
  }
  assert.equal(c.messages.length, 0);
  assert.ok(held > 16 * 1024 * 1024, `the target still holds ${held} bytes: the pause reached it through the gateway, the tunnel and the agent`);
  c.ws.resume();
  await received(c, 2000, 30_000); // 32 MB through gateway, tunnel and agent: slow on a loaded machine
  assert.deepEqual(c.messages.map((m) => (JSON.parse(m.text) as { i: number }).i), Array.from({ length: 2000 }, (_, i) => i));
  c.ws.close();
  await c.closed;
});

test('the target sees the agent\'s credential on the upgrade, never the caller\'s token', async () => {
  const c = await open('/proxy/demo/echo');
  const seen = upgrades.findLast((u) => u.url === '/api/echo')!;
  assert.equal(seen.headers.authorization, `Bearer ${TARGET_SECRET}`);
  assert.ok(!JSON.stringify(seen.headers).includes(bob), 'the caller\'s token never reaches the target');
  assert.equal(seen.headers.host, new URL(targetUrl).host);
  c.ws.close();
  await c.closed;
});

test('a card number the target sends arrives masked, even sent before the client spoke', async () => {
  const c = await open('/proxy/demo/greet');
  await received(c, 1);
  assert.deepEqual(JSON.parse(c.messages[0]!.text), { hello: 'Ada', card: '[CREDIT_CARD …1111]' });
  c.ws.close();
  await c.closed;
});

test('a message the policy denies closes both sides with 1008 naming the reason, and never reaches the target', async () => {
  const c = await open('/proxy/demo/echo?deny');
  c.ws.send('fine');
  await received(c, 1);
  c.ws.send(JSON.stringify({ aws: 'AKIAQW3E5R6T7Y2U4I5O' }));
  const closed = await c.closed;
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /^GW_POLICY_DENIED \(demo\.no_secrets\): Secrets may not be sent\.$/);
  const session = await sessionAt('/api/echo?deny');
  await eventually(() => session.closed, 5000, 'the target side closed');
  assert.equal(session.closed!.code, 1008);
  assert.deepEqual(session.received.map((m) => m.text), ['fine'], 'the denied message never reached the target');
});

test('what cannot be inspected does not cross: over inspectBytes is 1009, binary that is not text is 1003', async () => {
  const big = await open('/proxy/tight/echo?big');
  big.ws.send('x'.repeat(2000));
  assert.equal((await big.closed).code, 1009);
  const bigSession = await sessionAt('/api/echo?big');
  await eventually(() => bigSession.closed, 5000, 'the target side closed');
  assert.equal(bigSession.closed!.code, 1009);
  assert.match(bigSession.closed!.reason, /^inspect\.oversize: a message from the client is larger than the 1024 bytes inspected/);
  assert.equal(bigSession.received.length, 0);

  const bin = await open('/proxy/demo/echo?binary');
  bin.ws.send(Buffer.from([0xff, 0xfe, 0x00, 0x01]), { binary: true });
  const closed = await bin.closed;
  assert.equal(closed.code, 1003);
  assert.match(closed.reason, /^inspect\.binary: binary messages cannot be inspected$/);
  assert.equal((await sessionAt('/api/echo?binary')).received.length, 0);
});

test('the subprotocol is negotiated end to end', async () => {
  const c = await open('/proxy/demo/echo?proto', { protocols: ['chat.v1', 'chat.v2'] });
  assert.equal(c.ws.protocol, 'chat.v2', 'the gateway echoes what the target chose');
  assert.equal(upgrades.findLast((u) => u.url === '/api/echo?proto')!.headers['sec-websocket-protocol'], 'chat.v1,chat.v2');
  c.ws.close();
  await c.closed;
});

test('closing either side closes the other, with its code and reason', async () => {
  const byClient = await open('/proxy/demo/echo?client-closes');
  byClient.ws.close(4000, 'client bye');
  const s = await sessionAt('/api/echo?client-closes');
  assert.deepEqual(await eventually(() => s.closed, 5000, 'the target side closed'), { code: 4000, reason: 'client bye' });

  const byTarget = await open('/proxy/demo/echo?target-closes');
  byTarget.ws.send('close me');
  assert.deepEqual(await byTarget.closed, { code: 4001, reason: 'target done' });
});

test('refusals before the upgrade are coded JSON errors: no token 401, not yours 404, target refusals and failures 502', async () => {
  const none = await refused('/proxy/demo/echo', null);
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'GW_AUTH_REQUIRED');
  assert.match(String(none.headers['www-authenticate']), /^Bearer .*resource_metadata="http:\/\/airlock\.test\/\.well-known\/oauth-protected-resource\/proxy\/demo"$/);
  const hidden = await refused('/proxy/admins-only/echo');
  assert.equal(hidden.status, 404);
  assert.equal(hidden.body.error.code, 'GW_CONNECTION_NOT_FOUND');
  const forbidden = await refused('/proxy/demo/forbidden');
  assert.equal(forbidden.status, 502);
  assert.equal(forbidden.body.error.code, 'GW_UPGRADE_REFUSED');
  assert.match(forbidden.body.error.message, /answered the WebSocket upgrade with HTTP 403 instead of switching protocols/);
  const elsewhere = await refused('/proxy/elsewhere/echo');
  assert.equal(elsewhere.status, 502);
  assert.equal(elsewhere.body.error.code, 'GW_TARGET_REFUSED');
  const down = await refused('/proxy/down/echo');
  assert.equal(down.status, 502);
  assert.equal(down.body.error.code, 'GW_TARGET_UNREACHABLE');
});

/** An upgrade request with the path exactly as written (a WebSocket client would normalise it). */
function rawUpgrade(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.gw.url}/`, { path, headers: { authorization: `Bearer ${bob}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode!, body: '' }); });
    req.on('error', reject);
    req.end();
  });
}

test('a path that would leave the connection is refused before the upgrade; an h2c upgrade stays an ordinary request', async () => {
  const before = upgrades.length;
  const ws = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };
  for (const path of ['/proxy/demo/../admin', '/proxy/demo/..%2fadmin', '/proxy/demo/%2e%2e/admin']) {
    const r = await rawUpgrade(path, ws);
    assert.equal(r.status, 400, path);
    assert.equal(JSON.parse(r.body).error.code, 'GW_BAD_REQUEST');
  }
  assert.equal(upgrades.length, before, 'nothing reached the target');
  const h2c = await rawUpgrade('/proxy/demo/plain', { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' });
  assert.equal(h2c.status, 200);
  assert.deepEqual(JSON.parse(h2c.body), { plain: '/api/plain', upgrade: null });
});

/** What `c` closed with, waited for at most `ms`. */
async function closedWithin(c: Opened, ms = 10_000): Promise<{ code: number; reason: string }> {
  let closed: { code: number; reason: string } | undefined;
  void c.closed.then((x) => { closed = x; });
  return eventually(() => closed, ms, 'the WebSocket to close');
}

test('a live session whose caller loses the connection closes at once with 1008 GW_ACCESS_REVOKED, on both sides', async () => {
  await addConnections(t, alice, [{ name: 'revocable', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'] }]);
  const c = await open('/proxy/revocable/echo?revoke');
  c.ws.send('before');
  await received(c, 1);
  const s = await sessionAt('/api/echo?revoke');
  assert.equal((await t.call('PATCH', '/api/v1/connections/revocable', alice, { groups: ['ops'] })).status, 200);
  const closed = await closedWithin(c); // no message needed: the change itself re-checks live sessions
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /^GW_ACCESS_REVOKED: You may no longer use connection "revocable": it was changed or removed/);
  assert.equal((await eventually(() => s.closed, 5000, 'the target side closed')).code, 1008);
  assert.deepEqual(s.received.map((m) => m.text), ['before'], 'nothing after the revocation reached the target');
});

test('a live session closes at its token\'s exp with 1008 GW_TOKEN_EXPIRED', async () => {
  const r = await connect('/proxy/demo/echo?expiring', { token: await t.token('bob', ['developers'], 2) });
  assert.ok('ws' in r, JSON.stringify(r));
  const closed = await closedWithin(r);
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /^GW_TOKEN_EXPIRED: The access token expired during the session; reconnect with a fresh one\.$/);
});

test('a live session opened with an API key closes with 1008 GW_API_KEY_INVALID when the key is revoked through another replica', async () => {
  const created = await t.call('POST', '/api/v1/api-keys', alice, { name: 'ws-bot', roles: ['user'], connections: ['demo'], ttlSeconds: null });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const r = await connect('/proxy/demo/echo?keyed', { token: created.body.key as string });
  assert.ok('ws' in r, JSON.stringify(r));
  r.ws.send('hello');
  await received(r, 1);
  const other = await t.replica();
  const revoked = await fetch(`${other.url}/api/v1/api-keys/${created.body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${alice}` } });
  assert.equal(revoked.status, 200);
  const closed = await closedWithin(r); // bounded poll: the epoch brings it here, no timing asserted
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, `GW_API_KEY_INVALID: API key ${created.body.id} was revoked while this session was open; ask an admin for a new one.`);
});

/** The target sends exactly `bytes` (as a text frame, or binary). */
const say = (c: Opened, bytes: Buffer | string, binary = false) => c.ws.send(`say${binary ? '-binary' : ''} ${Buffer.from(bytes).toString('base64')}`);
/** A card number as UTF-16LE text read as UTF-8: a NUL after every character. */
const HIDDEN_CARD = [...'4111111111111111'].join('\u0000');
/** How `c` closed; a session still open after 5 s fails the test rather than hanging it. */
const closing = (c: Opened) => Promise.race([c.closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still open; received ${JSON.stringify(c.messages)}`)), 5000).unref())]);
const HIDDEN_REASON = /^GW_POLICY_DENIED \(inspect\.failed\): The payload could not be fully inspected \(inspect\.hidden_text\), so it is refused\.$/;

test('text with a NUL between its characters (UTF-16 read as UTF-8) is refused in either direction', async () => {
  const up = await open('/proxy/demo/echo?utf16-up');
  up.ws.send('fine');
  await received(up, 1);
  up.ws.send(`card ${HIDDEN_CARD}`);
  const closed = await closing(up);
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, HIDDEN_REASON);
  const session = await sessionAt('/api/echo?utf16-up');
  await eventually(() => session.closed, 5000, 'the target side closed');
  assert.deepEqual(session.received.map((m) => m.text), ['fine'], 'the hidden card never reached the target');

  for (const [label, binary] of [['text', false], ['binary', true]] as const) {
    const down = await open(`/proxy/demo/echo?utf16-down-${label}`);
    say(down, Buffer.from('card 4111111111111111', 'utf16le'), binary); // valid UTF-8: ASCII with NULs
    const shut = await closing(down);
    assert.equal(shut.code, 1008, label);
    assert.match(shut.reason, HIDDEN_REASON, label);
    assert.deepEqual(down.messages, [], `${label}: the client received nothing`);
  }
});

test('JSON with a duplicate key is refused: the target and the client could read another value than was inspected', async () => {
  const down = await open('/proxy/demo/echo?dup-down');
  say(down, '{"card":"4111 1111 1111 1111","card":"none"}');
  const shut = await closing(down);
  assert.equal(shut.code, 1008);
  assert.match(shut.reason, /^GW_POLICY_DENIED \(inspect\.failed\): The payload could not be fully inspected \(inspect\.duplicate_key\)/);
  assert.deepEqual(down.messages, [], 'the first card never reached the client');

  const up = await open('/proxy/demo/echo?dup-up');
  up.ws.send('{"to":"a","to":"b"}');
  assert.equal((await closing(up)).code, 1008);
  const session = await sessionAt('/api/echo?dup-up');
  await eventually(() => session.closed, 5000, 'the target side closed');
  assert.equal(session.received.length, 0);
});

test('JSON nested deeper than the guard parses is refused, not relayed unread', async () => {
  const c = await open('/proxy/demo/echo?deep');
  c.ws.send(`${'['.repeat(100)}"4111 1111 1111 1111"${']'.repeat(100)}`);
  const closed = await closing(c);
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /^GW_POLICY_DENIED \(inspect\.failed\): The payload could not be fully inspected \(inspect\.limit\)/);
  const session = await sessionAt('/api/echo?deep');
  await eventually(() => session.closed, 5000, 'the target side closed');
  assert.equal(session.received.length, 0);
});

test('__proto__ keys are inspected and masked, and integers past 2^53 arrive exact', async () => {
  const c = await open('/proxy/demo/echo?keys');
  say(c, '{"__proto__":{"card":"4111 1111 1111 1111"}}');
  say(c, '{"id":12345678901234567890,"card":"4111 1111 1111 1111"}');
  say(c, '{"id":12345678901234567890, "note":"clean"}');
  await received(c, 3);
  assert.deepEqual(c.messages, [
    { text: '{"__proto__":{"card":"[CREDIT_CARD …1111]"}}', binary: false },
    { text: '{"id":12345678901234567890,"card":"[CREDIT_CARD …1111]"}', binary: false },
    { text: '{"id":12345678901234567890, "note":"clean"}', binary: false },
  ], 'masked where a card was, and the unmasked message byte for byte as the target sent it');
  c.ws.close();
  await c.closed;

  // Refused with an exact integer in it: recorded (redacted) like any refusal, the session ends with the policy's reason.
  const d = await open('/proxy/demo/echo?bigint-denied');
  d.ws.send('{"id":12345678901234567890,"aws":"AKIAQW3E5R6T7Y2U4I5O"}');
  const closed = await closing(d);
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /^GW_POLICY_DENIED \(demo\.no_secrets\)/);
});

test('the recording holds what left, masked, and refused messages redacted: no planted value, hidden or not', async () => {
  const events: string[] = [];
  for (const s of await t.gw.store.sessions.list({ connection: 'demo', limit: 1000 })) {
    for (let afterSeq = 0; ;) {
      const page = await t.gw.store.events.list(s.id, { afterSeq, limit: 1000 });
      if (page.length === 0) break;
      for (const e of page) events.push(JSON.stringify({ type: e.type, payload: e.payload }));
      afterSeq = page.at(-1)!.seq;
    }
  }
  const all = events.join('\n');
  for (const planted of ['4111 1111 1111 1111', '4111111111111111', 'AKIAQW3E5R6T7Y2U4I5O', '4\\u00001\\u00001']) assert.ok(!all.includes(planted), `the recording holds ${planted}`);
  assert.ok(events.some((e) => e.includes('"withheld":true') && e.includes('card [CREDIT_CARD]')), 'the hidden card, recorded redacted');
  assert.ok(events.some((e) => e.includes('{\\"__proto__\\":{\\"card\\":\\"[CREDIT_CARD …1111]\\"}}')), 'the masked text that left');
  assert.ok(events.some((e) => e.includes('"withheld":true') && e.includes('"id":"12345678901234567890"')), 'a refused message with an exact integer');
});

test('a gateway shutdown closes live sessions with 1001 and does not wait on them', async () => {
  const c = await open('/proxy/demo/echo?shutdown');
  const started = Date.now();
  await t.gw.stop();
  const closed = await c.closed;
  assert.equal(closed.code, 1001);
  assert.match(closed.reason, /^GW_SHUTTING_DOWN: /);
  const s = await sessionAt('/api/echo?shutdown');
  assert.equal((await eventually(() => s.closed, 5000, 'the target side closed')).code, 1001);
  assert.ok(Date.now() - started < 3000, 'stop does not hang on the upgraded sockets');
});

