// How a session fails, over a real WebSocket: a raw peer sends hand-made frames (the real wire
// format, no session of its own) and the real session must close with the right code, fail its
// streams at once, and tell the peer with the right WebSocket close code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { TunnelError } from '../../../gateway/tunnel/errors.ts';
import { encodeFrame, encodeHello, FrameType, parseReset, MAX_PAYLOAD_BYTES } from '../../../gateway/tunnel/frames.ts';
import { TunnelSession, TUNNEL_WS_CLIENT_OPTIONS } from '../../../gateway/tunnel/session.ts';
import type { TunnelStream } from '../../../gateway/tunnel/stream.ts';
import { connectPair, dialSession, HELLO_V1, listenWs, sessionWithRawClient } from './pair.ts';

const open = (id: number, header: string | object) => encodeFrame(FrameType.OPEN, id, Buffer.from(typeof header === 'string' ? header : JSON.stringify(header)));

/** A real server session with a raw client that said hello and opened stream 1. */
async function withOpenStream(t: { after(fn: () => Promise<void>): void }) {
  const setup = await sessionWithRawClient();
  t.after(() => setup.close());
  const stream = new Promise<TunnelStream>((resolve) => setup.server.on('stream', resolve));
  setup.raw.send(HELLO_V1);
  setup.raw.send(open(1, { kind: 'http' }));
  const s = await stream;
  const streamError = new Promise<TunnelError>((resolve) => s.once('error', resolve));
  return { ...setup, stream: s, streamError };
}

test('version mismatch: both sides name what each speaks, close code 4002', async (t) => {
  const { server, raw, close } = await sessionWithRawClient();
  t.after(close);
  raw.send(encodeHello({ versions: [2, 3], window: 65536 }));
  const err = await server.closed;
  assert.ok(err instanceof TunnelError);
  assert.equal(err.code, 'TUNNEL_VERSION_MISMATCH');
  assert.equal(err.message, 'Tunnel version mismatch: agent speaks v2, v3, gateway speaks v1; upgrade the older one.');
  const seen = await raw.closed;
  assert.equal(seen.code, 4002);
  assert.equal(seen.reason, err.message);
  await assert.rejects(server.ready, (e: TunnelError) => e.code === 'TUNNEL_VERSION_MISMATCH');

  // and from the agent's side, against a gateway that speaks only a newer version
  const listener = await listenWs((ws) => { ws.send(encodeHello({ versions: [2], window: 65536 })); });
  t.after(() => listener.close());
  const client = dialSession(listener.url);
  const clientErr = await client.closed;
  assert.equal(clientErr?.code, 'TUNNEL_VERSION_MISMATCH');
  assert.equal(clientErr?.message, 'Tunnel version mismatch: agent speaks v1, gateway speaks v2; upgrade the older one.');
});

test('an unknown frame type closes the tunnel with 4003 and fails open streams at once', async (t) => {
  const { server, raw, streamError } = await withOpenStream(t);
  raw.send(encodeFrame(0x7f as FrameType, 0));
  const err = await server.closed;
  assert.equal(err?.code, 'TUNNEL_UNKNOWN_FRAME');
  assert.match(err!.message, /Unknown tunnel frame type 0x7f/);
  assert.equal((await streamError).code, 'TUNNEL_UNKNOWN_FRAME');
  assert.equal((await raw.closed).code, 4003);
});

test('a frame declaring more than the cap closes with 4004; a message over ws maxPayload closes with 1009', async (t) => {
  const a = await withOpenStream(t);
  const header = Buffer.alloc(9 + 10);
  header.writeUInt8(FrameType.DATA, 0);
  header.writeUInt32BE(1, 1);
  header.writeUInt32BE(1024 * 1024, 5); // declares 1 MiB, carries 10 bytes
  a.raw.send(header);
  const err = await a.server.closed;
  assert.equal(err?.code, 'TUNNEL_FRAME_TOO_LARGE');
  assert.match(err!.message, /declares 1048576 payload bytes; the cap is 65536/);
  assert.equal((await a.streamError).code, 'TUNNEL_FRAME_TOO_LARGE');
  assert.equal((await a.raw.closed).code, 4004);

  const b = await withOpenStream(t);
  b.raw.send(encodeFrame(FrameType.DATA, 1, Buffer.alloc(MAX_PAYLOAD_BYTES + 1))); // ws itself refuses it
  const err2 = await b.server.closed;
  assert.equal(err2?.code, 'TUNNEL_FRAME_TOO_LARGE');
  assert.equal((await b.streamError).code, 'TUNNEL_FRAME_TOO_LARGE');
  assert.equal((await b.raw.closed).code, 1009);
});

test('malformed open headers reset only their stream (TUNNEL_HEADER_INVALID); "__proto__" is dropped', async (t) => {
  const { server, raw, close } = await sessionWithRawClient();
  t.after(close);
  const streams: TunnelStream[] = [];
  server.on('stream', (s) => streams.push(s.on('error', () => {})));
  raw.send(HELLO_V1);
  raw.send(open(1, 'not json'));
  raw.send(open(3, '[1,2,3]'));
  raw.send(encodeFrame(FrameType.OPEN, 5, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))); // "{", invalid UTF-8, "}"
  raw.send(open(7, '{"__proto__":{"polluted":true},"kind":"http"}'));
  for (const id of [1, 3, 5]) {
    const reset = await raw.next((f) => f.type === FrameType.RESET && f.streamId === id);
    const { code, message } = parseReset(reset.payload);
    assert.equal(code, 'TUNNEL_HEADER_INVALID', `stream ${id}`);
    assert.match(message!, /not a UTF-8 JSON object/);
  }
  await raw.next(() => streams.length === 1);
  assert.equal(streams.length, 1, 'only the valid header made a stream');
  assert.equal(streams[0]!.id, 7);
  assert.deepEqual(streams[0]!.header, { kind: 'http' });
  assert.equal(Object.getPrototypeOf(streams[0]!.header), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(server.state, 'open', 'the tunnel carries on');

  // a header over the 8 KiB cap is a malformed frame: the tunnel closes
  raw.send(open(9, { big: 'x'.repeat(9000) }));
  assert.equal((await server.closed)?.code, 'TUNNEL_FRAME_MALFORMED');
  assert.equal((await raw.closed).code, 4005);
});

test('protocol violations close with their codes', async (t) => {
  const cases: Array<{ name: string; frames: Array<Buffer | string>; code: string; close: number; message: RegExp }> = [
    { name: 'first frame not hello', frames: [open(1, {})], code: 'TUNNEL_PROTOCOL_ERROR', close: 4001, message: /first frame was not a hello/ },
    { name: 'text message', frames: [HELLO_V1, 'hello'], code: 'TUNNEL_FRAME_MALFORMED', close: 4005, message: /text WebSocket message/ },
    { name: 'truncated frame', frames: [HELLO_V1, Buffer.from([FrameType.DATA, 0, 0])], code: 'TUNNEL_FRAME_MALFORMED', close: 4005, message: /shorter than the 9-byte frame header/ },
    { name: 'data for a stream never opened', frames: [HELLO_V1, encodeFrame(FrameType.DATA, 41, Buffer.from('x'))], code: 'TUNNEL_PROTOCOL_ERROR', close: 4001, message: /stream 41, which was never opened/ },
    { name: 'open with the wrong parity', frames: [HELLO_V1, open(2, {})], code: 'TUNNEL_PROTOCOL_ERROR', close: 4001, message: /not a fresh odd id/ },
    { name: 'a second hello', frames: [HELLO_V1, HELLO_V1], code: 'TUNNEL_PROTOCOL_ERROR', close: 4001, message: /second hello/ },
    { name: 'hello without a window', frames: [encodeFrame(FrameType.HELLO, 0, Buffer.from('{"versions":[1]}'))], code: 'TUNNEL_FRAME_MALFORMED', close: 4005, message: /no "window"/ },
    { name: 'data beyond the credit', frames: [HELLO_V1, open(1, {}), encodeFrame(FrameType.DATA, 1, Buffer.alloc(20 * 1024))], code: 'TUNNEL_FLOW_CONTROL', close: 4006, message: /20480 bytes on stream 1 with 16384 bytes of credit/ },
  ];
  for (const c of cases) {
    const { server, raw, close } = await sessionWithRawClient({ window: 16 * 1024 });
    server.on('stream', (s) => s.on('error', () => {}));
    for (const f of c.frames) raw.send(f);
    const err = await server.closed;
    assert.equal(err?.code, c.code, c.name);
    assert.match(err!.message, c.message, c.name);
    assert.equal((await raw.closed).code, c.close, c.name);
    await close();
  }
});

test('a peer that says nothing gets TUNNEL_HANDSHAKE_TIMEOUT (4007)', async (t) => {
  const { server, raw, close } = await sessionWithRawClient({ handshakeTimeoutMs: 100 });
  t.after(close);
  const err = await server.closed;
  assert.equal(err?.code, 'TUNNEL_HANDSHAKE_TIMEOUT');
  assert.equal((await raw.closed).code, 4007);
});

test('a dead peer (its socket stops reading) closes the session with TUNNEL_PEER_DEAD in time; streams fail at once', async (t) => {
  const pingIntervalMs = 50;
  const pingTimeoutMs = 200;
  const pair = await connectPair({ pingIntervalMs, pingTimeoutMs }, { pingIntervalMs: 0 });
  t.after(() => pair.close());
  pair.server.on('stream', (s) => s.on('error', () => {}));
  const streams = [pair.client.open({ n: 1 }), pair.client.open({ n: 2 })];
  const errors = streams.map((s) => new Promise<TunnelError>((resolve) => s.once('error', resolve)));
  await new Promise((resolve) => setTimeout(resolve, 2 * pingIntervalMs));
  assert.equal(pair.client.state, 'open', 'alive while the peer answers');

  pair.serverReq.socket.pause(); // the gateway end stops reading: no pong comes back
  const started = Date.now();
  const err = await pair.client.closed;
  const took = Date.now() - started;
  assert.equal(err?.code, 'TUNNEL_PEER_DEAD');
  assert.match(err!.message, /did not answer a ping within 200 ms/);
  assert.ok(took >= pingTimeoutMs - 20 && took < pingIntervalMs + pingTimeoutMs + 1500, `declared dead after ${took} ms`);
  for (const e of await Promise.all(errors)) assert.equal(e.code, 'TUNNEL_PEER_DEAD');

  // the other end, reading again, finds the connection gone
  pair.serverReq.socket.resume();
  assert.equal((await pair.server.closed)?.code, 'TUNNEL_CONNECTION_LOST');
});

test('a refused connection fails the session with TUNNEL_CONNECTION_LOST and rejects ready', async (t) => {
  const listener = await listenWs(() => {});
  const url = listener.url;
  await listener.close(); // nothing listens there any more
  const client = new TunnelSession(new WebSocket(url, TUNNEL_WS_CLIENT_OPTIONS), { role: 'client' });
  const err = await client.closed;
  assert.equal(err?.code, 'TUNNEL_CONNECTION_LOST');
  assert.match(err!.message, /ECONNREFUSED/);
  await assert.rejects(client.ready, (e: TunnelError) => e.code === 'TUNNEL_CONNECTION_LOST');
  assert.throws(() => client.open(), (e: TunnelError) => e.code === 'TUNNEL_CLOSED');
  t.diagnostic(`closed: ${err!.message}`);
});

test('options are validated: bad values throw TypeError', async () => {
  const listener = await listenWs(() => {});
  const ws = new WebSocket(listener.url, TUNNEL_WS_CLIENT_OPTIONS);
  await once(ws, 'open');
  assert.throws(() => new TunnelSession(ws, { role: 'agent' as 'client' }), /role must be 'client' or 'server'/);
  assert.throws(() => new TunnelSession(ws, { role: 'client', window: 10 }), /window must be an integer in 1024–16777216/);
  assert.throws(() => new TunnelSession(ws, { role: 'client', maxStreams: 0 }), /maxStreams/);
  assert.throws(() => new TunnelSession(ws, { role: 'client', pingTimeoutMs: 1.5 }), /pingTimeoutMs/);
  ws.close();
  await once(ws, 'close');
  assert.throws(() => new TunnelSession(ws, { role: 'client' }), /connecting or open WebSocket/);
  await listener.close();
});


test('a stream listener that throws closes the tunnel with TUNNEL_INTERNAL (1011), logged, without crashing', async (t) => {
  const lines: string[] = [];
  const { createLogger } = await import('../../../lib/log.ts');
  const pair = await connectPair({}, { logger: createLogger({ write: (l) => lines.push(l) }) });
  t.after(() => pair.close());
  let served: TunnelStream | undefined;
  pair.server.on('stream', (s) => { served = s; });
  pair.server.on('stream', () => { throw new Error('bug in a handler'); });
  const stream = pair.client.open();
  const clientStreamErr = new Promise<TunnelError>((resolve) => stream.once('error', resolve));
  const err = await pair.server.closed;
  assert.equal(served?.destroyed, true);
  assert.equal(served?.errored, null, 'a stream with no error listener closes without one (no crash)');
  assert.equal((await clientStreamErr).code, 'TUNNEL_INTERNAL', 'a stream with a listener gets the error');
  assert.equal(err?.code, 'TUNNEL_INTERNAL');
  assert.equal((err?.cause as Error).message, 'bug in a handler');
  const clientErr = await pair.client.closed;
  assert.equal(clientErr?.code, 'TUNNEL_INTERNAL');
  assert.doesNotMatch(clientErr!.message, /bug in a handler/, 'internals stay on the side that failed');
  const logged = lines.map((l) => JSON.parse(l) as { level: string; code: string; cause?: { message: string } });
  assert.ok(logged.some((l) => l.level === 'warn' && l.code === 'TUNNEL_INTERNAL' && l.cause?.message === 'bug in a handler'));
});
