// TunnelSession and TunnelStream over a real ws WebSocketServer and client on 127.0.0.1:
// many concurrent streams both ways, a 20 MB transfer with a hash check, half-close, resets
// in both directions, the concurrent-stream cap, and close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createHook } from 'node:async_hooks';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { TunnelError } from '../../../gateway/tunnel/errors.ts';
import type { TunnelStream } from '../../../gateway/tunnel/stream.ts';
import { connectPair } from './pair.ts';

/** Reads a stream to its end. */
async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Resolves with the error a stream is destroyed with. */
function errorOf(stream: Duplex): Promise<Error & { code?: string; resetCode?: string }> {
  return new Promise((resolve) => stream.once('error', resolve));
}

const echo = (stream: TunnelStream) => stream.pipe(stream);

test('many streams round-trip in both directions at once, with odd client and even server ids', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  pair.client.on('stream', echo);
  pair.server.on('stream', echo);
  const run = async (side: typeof pair.client, i: number) => {
    const body = randomBytes(20_000 + i * 997);
    const stream = side.open({ n: i });
    stream.end(body);
    const back = await readAll(stream);
    assert.ok(back.equals(body), `stream ${stream.id} echoed ${back.length} of ${body.length} bytes`);
    return stream.id;
  };
  const clientIds = Promise.all(Array.from({ length: 40 }, (_, i) => run(pair.client, i)));
  const serverIds = Promise.all(Array.from({ length: 40 }, (_, i) => run(pair.server, i)));
  const [c, s] = await Promise.all([clientIds, serverIds]);
  assert.ok(c.every((id) => id % 2 === 1), 'client-opened ids are odd');
  assert.ok(s.every((id) => id % 2 === 0), 'server-opened ids are even');
  assert.equal(new Set(c).size, 40);
  assert.equal(pair.client.streamCount, 0, 'finished streams are retired');
  assert.equal(pair.server.streamCount, 0);
});

test('a 20 MB transfer arrives intact (sha-256) and the header reaches the peer', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  pair.server.on('stream', (stream) => {
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length; });
    stream.on('end', () => stream.end(JSON.stringify({ header: stream.header, bytes, sha: hash.digest('hex') })));
  });
  const total = 20 * 1024 * 1024;
  const sent = createHash('sha256');
  const stream = pair.client.open({ kind: 'bulk', target: 'db:5432' });
  const reply = readAll(stream);
  for (let offset = 0; offset < total; offset += 256 * 1024) {
    const chunk = randomBytes(256 * 1024);
    sent.update(chunk);
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
  stream.end();
  const answer = JSON.parse((await reply).toString()) as { header: unknown; bytes: number; sha: string };
  assert.deepEqual(answer.header, { kind: 'bulk', target: 'db:5432' });
  assert.equal(answer.bytes, total);
  assert.equal(answer.sha, sent.digest('hex'));
  assert.equal(stream.bytesWritten, total);
});

test('half-close: the side that ended still reads what the other sends afterwards', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const served = new Promise<{ request: string; writableAfterEnd: boolean }>((resolve) => {
    pair.server.on('stream', async (stream) => {
      const request = (await readAll(stream)).toString();
      const writableAfterEnd = stream.writable;
      stream.write('reply to ');
      setTimeout(() => stream.end(request), 20); // well after the client's END arrived
      resolve({ request, writableAfterEnd });
    });
  });
  const stream = pair.client.open();
  stream.end('question');
  const finished = once(stream, 'finish');
  const reply = (await readAll(stream)).toString();
  await finished;
  const { request, writableAfterEnd } = await served;
  assert.equal(request, 'question');
  assert.equal(writableAfterEnd, true, 'receiving END leaves the writable side open');
  assert.equal(reply, 'reply to question');
});

test('a reset reaches the peer with its code, in each direction; writes after reset or end fail', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());

  // server resets a client-opened stream
  pair.server.once('stream', (stream) => { stream.reset('APP_DENIED', 'policy says no'); });
  const a = pair.client.open({ n: 1 });
  const errA = await errorOf(a);
  assert.ok(errA instanceof TunnelError);
  assert.equal(errA.code, 'TUNNEL_STREAM_RESET');
  assert.equal(errA.resetCode, 'APP_DENIED');
  assert.match(errA.message, /reset tunnel stream 1 \(APP_DENIED: policy says no\)/);
  const late = await new Promise<Error & { code?: string }>((resolve) => a.write('late', (err) => resolve(err!)));
  assert.equal(late.code, 'ERR_STREAM_DESTROYED');

  // client resets a server-opened stream that is mid-transfer
  const got = new Promise<TunnelStream>((resolve) => pair.client.once('stream', resolve));
  const b = pair.server.open({ n: 2 });
  b.write(randomBytes(1000));
  const remote = await got;
  const errB = errorOf(b);
  remote.reset('TARGET_UNREACHABLE');
  const e = await errB;
  assert.equal(e.code, 'TUNNEL_STREAM_RESET');
  assert.equal(e.resetCode, 'TARGET_UNREACHABLE');
  assert.equal(remote.destroyed, true);

  // destroy(err) midway reaches the peer as a reset with TUNNEL_STREAM_CANCELLED (no internals)
  const got2 = new Promise<TunnelStream>((resolve) => pair.server.once('stream', resolve));
  const c = pair.client.open({ n: 3 });
  c.on('error', () => {});
  c.write('x');
  const remote2 = await got2;
  const errC = errorOf(remote2);
  c.destroy(new Error('local detail'));
  const cancelled = await errC;
  assert.equal(cancelled.resetCode, 'TUNNEL_STREAM_CANCELLED');
  assert.doesNotMatch(cancelled.message, /local detail/);

  // destroy() without an error closes like a TCP socket: the peer reads to a clean end and its
  // stream closes without error; a write it makes meanwhile fails, as to a closed TCP peer
  const got3 = new Promise<TunnelStream>((resolve) => pair.server.once('stream', resolve));
  const e3 = pair.client.open({ n: 5 });
  e3.write('all of it');
  const remote3 = await got3;
  e3.destroy();
  let read3 = '';
  remote3.on('data', (chunk: Buffer) => { read3 += chunk.toString(); });
  await once(remote3, 'close'); // it closes on its own once its data is read
  assert.equal(read3, 'all of it');
  assert.equal(remote3.errored, null);

  const got4 = new Promise<TunnelStream>((resolve) => pair.server.once('stream', resolve));
  const e4 = pair.client.open({ n: 6 });
  e4.write('hello');
  const remote4 = await got4;
  e4.destroy();
  for (let i = 0; i < 200 && pair.server.streamCount > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(pair.server.streamCount, 0, 'the server saw the close');
  const writeErr = await new Promise<Error & { code?: string; resetCode?: string }>((resolve) => {
    remote4.once('error', () => {});
    remote4.write('anyone there?', (err) => resolve(err!));
  });
  assert.equal(writeErr.code, 'TUNNEL_STREAM_RESET');
  assert.equal(writeErr.resetCode, 'TUNNEL_STREAM_CANCELLED');

  // write after end
  pair.server.once('stream', (stream) => stream.resume().on('error', () => {})); // Node destroys a stream written after end
  const d = pair.client.open({ n: 4 });
  d.end('done');
  const afterEnd = await new Promise<Error & { code?: string }>((resolve) => {
    d.once('error', () => {});
    d.write('more', (err) => resolve(err!));
  });
  assert.equal(afterEnd.code, 'ERR_STREAM_WRITE_AFTER_END');

  assert.throws(() => a.reset('lower case'), TypeError);
  // the session carries on after all of that
  pair.server.on('stream', echo);
  const ok = pair.client.open();
  ok.end('still fine');
  assert.equal((await readAll(ok)).toString(), 'still fine');
});

test('destroy() after the peer ended is a clean close: the peer reads everything, then end', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  pair.server.on('stream', async (stream) => {
    await readAll(stream); // the request is complete
    stream.write('full answer');
    stream.destroy(); // like http's destroySoon after a response: no error for the peer
  });
  const stream = pair.client.open();
  stream.end('request');
  let errored: unknown;
  stream.on('error', (err) => { errored = err; });
  assert.equal((await readAll(stream)).toString(), 'full answer');
  assert.equal(errored, undefined);
});

test('a peer over its concurrent-stream cap gets TUNNEL_STREAM_REFUSED; the cap frees as streams finish', async (t) => {
  const pair = await connectPair({}, { maxStreams: 2 });
  t.after(() => pair.close());
  const held: TunnelStream[] = [];
  pair.server.on('stream', (stream) => { held.push(stream); stream.resume().on('error', () => {}); });
  const one = pair.client.open({ n: 1 });
  const two = pair.client.open({ n: 2 });
  const three = pair.client.open({ n: 3 });
  const err = await errorOf(three);
  assert.equal(err.code, 'TUNNEL_STREAM_RESET');
  assert.equal(err.resetCode, 'TUNNEL_STREAM_REFUSED');
  assert.match(err.message, /maximum of 2 concurrent streams/);
  assert.equal(held.length, 2);
  // finish one stream both ways: a new one is accepted
  one.resume().end();
  held[0]!.end();
  await once(one, 'close');
  const four = pair.client.open({ n: 4 }).on('error', () => {}); // TUNNEL_CLOSED when the pair closes
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(four.destroyed, false);
  assert.equal(held.length, 3);
  assert.deepEqual(held[2]!.header, { n: 4 });
  two.destroy();
});

test('a side with no stream listener refuses streams', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const err = await errorOf(pair.client.open());
  assert.equal(err.resetCode, 'TUNNEL_STREAM_REFUSED');
  assert.match(err.message, /accepts no streams/);
});

/** Tracks every timer created from now on (unref'd ones too, which getActiveResourcesInfo misses). */
function trackTimers(): { live(): number; stop(): void } {
  const live = new Set<number>();
  const hook = createHook({
    init(id, type) { if (type === 'Timeout') live.add(id); },
    destroy(id) { live.delete(id); },
  }).enable();
  return { live: () => live.size, stop: () => hook.disable() };
}

test('close() fails open streams on both sides with TUNNEL_CLOSED, closes cleanly, and leaves no timer', async () => {
  const timers = trackTimers();
  const pair = await connectPair({ pingIntervalMs: 20 }, { pingIntervalMs: 20 });
  await new Promise((resolve) => setTimeout(resolve, 50)); // pings run
  assert.ok(pair.client.rttMs !== undefined && pair.server.rttMs !== undefined, 'both sides measured a ping round trip');
  const remote: TunnelStream[] = [];
  pair.server.on('stream', (stream) => { remote.push(stream); stream.resume(); });
  const local = [pair.client.open({ n: 1 }), pair.client.open({ n: 2 })];
  for (const s of local) s.write('in flight');
  while (remote.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  const localErrors = Promise.all(local.map(errorOf));
  const remoteErrors = Promise.all(remote.map(errorOf));
  const serverClosed = pair.server.closed;
  await pair.client.close(1000, 'agent stopping');
  for (const err of await localErrors) {
    assert.equal(err.code, 'TUNNEL_CLOSED');
    assert.match(err.message, /This side closed the tunnel/);
  }
  for (const err of await remoteErrors) {
    assert.equal(err.code, 'TUNNEL_CLOSED');
    assert.match(err.message, /peer closed the tunnel \(1000: agent stopping\)/);
  }
  assert.equal(await serverClosed, undefined, 'a normal close is no error');
  assert.equal(pair.client.state, 'closed');
  assert.equal(pair.server.closeCode, 1000);
  assert.throws(() => pair.client.open(), (err: TunnelError) => err.code === 'TUNNEL_CLOSED');
  await pair.close();
  await new Promise((resolve) => setImmediate(resolve));
  const left = timers.live();
  timers.stop();
  assert.equal(left, 0, 'no session, stream or ws timer is left');
});

test('streams opened before the handshake finishes wait for it', async (t) => {
  const { listenWs, dialSession } = await import('./pair.ts');
  const { TunnelSession } = await import('../../../gateway/tunnel/session.ts');
  const listener = await listenWs((ws) => {
    const server = new TunnelSession(ws, { role: 'server' });
    server.on('stream', echo);
    t.after(() => server.close());
  });
  t.after(() => listener.close());
  const client = dialSession(listener.url);
  t.after(() => client.close());
  assert.equal(client.state, 'handshake');
  const stream = client.open({ early: true });
  stream.end('early bird');
  assert.equal((await readAll(stream)).toString(), 'early bird');
  assert.equal(client.version, 1);
});

test('close() while the WebSocket is still connecting returns at once and fails early streams', async (t) => {
  const { listenWs, dialSession } = await import('./pair.ts');
  const listener = await listenWs(() => {});
  t.after(() => listener.close());
  const client = dialSession(listener.url);
  const early = client.open({ early: true });
  const err = errorOf(early);
  const started = Date.now();
  await client.close();
  assert.ok(Date.now() - started < 1000, 'no wait for a closing handshake that cannot happen');
  assert.equal(client.state, 'closed');
  assert.equal(client.error, undefined);
  assert.equal((await err).code, 'TUNNEL_CLOSED');
  await assert.rejects(client.ready, (e: TunnelError) => e.code === 'TUNNEL_CLOSED');
});
