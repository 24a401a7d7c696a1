// Stock node:http over tunnel streams, as the data path uses them: the agent side serves streams
// with `server.emit('connection', stream)`, the gateway side sends with http.request whose
// createConnection (or an http.Agent's) opens a stream. Real sessions over a real WebSocket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { TunnelSession } from '../../../gateway/tunnel/session.ts';
import type { TunnelStream } from '../../../gateway/tunnel/stream.ts';
import { connectPair } from './pair.ts';

/** The agent side: a node:http server that never listens, fed with the tunnel's streams. */
function serveHttp(session: TunnelSession, handler: http.RequestListener): http.Server {
  const server = http.createServer(handler);
  session.on('stream', (stream) => server.emit('connection', stream));
  return server;
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url === '/hello') {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello ${req.method} ${req.headers['x-who']}`);
  } else if (req.url === '/chunked') {
    let i = 0;
    const tick = () => {
      if (i === 5) { res.end('done'); return; }
      res.write(`part ${i++};`);
      setTimeout(tick, 2);
    };
    tick();
  } else if (req.url === '/hash') {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length; });
    req.on('end', () => res.end(JSON.stringify({ bytes, sha: hash.digest('hex') })));
  } else {
    res.statusCode = 404;
    res.end();
  }
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer; socket: Duplex; reused: boolean }

function request(options: http.RequestOptions, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      const socket = res.socket; // detached again once a keep-alive response ends
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), socket, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('http.request with createConnection: a plain and a chunked response over one stream each', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  serveHttp(pair.client, handler); // the agent (client role) serves; the gateway (server role) opens
  const opened: TunnelStream[] = [];
  const createConnection = () => {
    const stream = pair.server.open({ kind: 'http', connection: 'crm' });
    opened.push(stream);
    return stream;
  };

  const hello = await request({ host: 'crm.internal', path: '/hello', headers: { 'x-who': 'ada' }, createConnection });
  assert.equal(hello.status, 200);
  assert.equal(hello.body.toString(), 'hello GET ada');
  assert.equal(hello.headers['content-type'], 'text/plain');

  const chunked = await request({ host: 'crm.internal', path: '/chunked', createConnection });
  assert.equal(chunked.status, 200);
  assert.equal(chunked.headers['transfer-encoding'], 'chunked');
  assert.equal(chunked.body.toString(), 'part 0;part 1;part 2;part 3;part 4;done');

  const missing = await request({ host: 'crm.internal', path: '/nope', createConnection });
  assert.equal(missing.status, 404);
  assert.equal(opened.length, 3, 'one stream per request without an agent');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(pair.server.streamCount, 0, 'each stream was closed after its response');
  assert.equal(pair.client.streamCount, 0);
});

test('a 4 MB upload through node:http over a stream arrives intact', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  serveHttp(pair.client, handler);
  const body = randomBytes(4 * 1024 * 1024);
  const reply = await request({ method: 'POST', path: '/hash', createConnection: () => pair.server.open({ kind: 'http' }) }, body);
  assert.deepEqual(JSON.parse(reply.body.toString()), { bytes: body.length, sha: createHash('sha256').update(body).digest('hex') });
});

test('an http.Agent with keepAlive reuses one stream for sequential requests; the server keep-alive timeout closes it', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const server = serveHttp(pair.client, handler);
  // The agent side's idle limit runs on TunnelStream.setTimeout. 1 s is the shortest that still
  // announces "Keep-Alive: timeout=1" (a hint of 0 makes the client refuse to keep the socket).
  server.keepAliveTimeout = 1000;
  server.keepAliveTimeoutBuffer = 0;
  const served: TunnelStream[] = [];
  pair.client.on('stream', (stream) => served.push(stream));
  let opens = 0;
  class TunnelAgent extends http.Agent {
    override createConnection(): Duplex {
      opens++;
      return pair.server.open({ kind: 'http' });
    }
  }
  const agent = new TunnelAgent({ keepAlive: true, maxSockets: 1, agentKeepAliveTimeoutBuffer: 500 });
  t.after(() => agent.destroy());

  const first = await request({ path: '/hello', headers: { 'x-who': 'one' }, agent });
  const second = await request({ path: '/chunked', agent });
  const third = await request({ method: 'POST', path: '/hash', agent }, Buffer.from('abc'));
  assert.equal(first.body.toString(), 'hello GET one');
  assert.equal(second.body.toString(), 'part 0;part 1;part 2;part 3;part 4;done');
  assert.equal(JSON.parse(third.body.toString()).bytes, 3);
  assert.equal(opens, 1, 'one stream carried all three requests');
  assert.equal(first.reused, false);
  assert.equal(second.reused, true);
  assert.equal(third.reused, true);
  const stream = first.socket as TunnelStream;
  assert.equal(second.socket, stream);

  // Idle past the server's keepAliveTimeout: the agent side closes the stream, the pool drops it.
  assert.equal(served.length, 1);
  const started = Date.now();
  await Promise.all([once(stream, 'close'), once(served[0]!, 'close')]);
  const idle = Date.now() - started;
  assert.ok(idle >= 800 && idle < 3000, `closed by the 1 s idle timeout (after ${idle} ms), not by the end of the test`);
  assert.equal(served[0]!.timeout, 1000, 'node:http set the idle timeout on the stream');
  assert.equal(stream.errored, null, 'an idle close is clean, not an error');
  assert.equal(served[0]!.errored, null);
  const fourth = await request({ path: '/hello', headers: { 'x-who': 'four' }, agent });
  assert.equal(fourth.body.toString(), 'hello GET four');
  assert.equal(opens, 2, 'a fresh stream after the idle one closed');
});

test('a stream reset by the agent side fails the in-flight request with the tunnel code', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  pair.client.on('stream', (stream) => {
    stream.once('data', () => stream.reset('TARGET_UNREACHABLE', 'connect ECONNREFUSED'));
  });
  const err = await request({ path: '/x', createConnection: () => pair.server.open({ kind: 'http' }) }).then(
    () => assert.fail('the request should fail'),
    (e: Error & { code?: string; resetCode?: string }) => e,
  );
  assert.equal(err.code, 'TUNNEL_STREAM_RESET');
  assert.equal(err.resetCode, 'TARGET_UNREACHABLE');
});
