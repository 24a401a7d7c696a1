// Kept-alive HTTP over tunnel streams (gateway/tunnel/http-pool.ts), as the gateway's HTTP data
// path uses it: pools keyed by agent and open header, so a stream only ever carries requests
// whose open header (connection, target, caller) is the one it was opened with. Real sessions
// over a real WebSocket; the far end is a stock node:http server fed with the streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { TunnelSession } from '../../../gateway/tunnel/session.ts';
import type { TunnelStream } from '../../../gateway/tunnel/stream.ts';
import { isStaleStreamFailure, TunnelHttpPools, type StreamOpener } from '../../../gateway/tunnel/http-pool.ts';
import { connectPair } from './pair.ts';

/** The agent side: answers with the open header of the stream the request came on, and its request id. */
function serveHeaders(session: TunnelSession): { server: http.Server; served: TunnelStream[] } {
  const served: TunnelStream[] = [];
  const server = http.createServer((req, res) => {
    const stream = req.socket as unknown as TunnelStream;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ stream: stream.id, header: stream.header, requestId: req.headers['x-request-id'] }));
  });
  session.on('stream', (stream) => {
    served.push(stream);
    server.emit('connection', stream);
  });
  return { server, served };
}

/** An opener over one session, as the AgentHub is over an agent's tunnels; it records each open. */
function openerOf(session: TunnelSession): StreamOpener & { opened: Array<{ agent: string | readonly string[]; header: Record<string, unknown> }> } {
  const opened: Array<{ agent: string | readonly string[]; header: Record<string, unknown> }> = [];
  return {
    opened,
    open(agent, header) {
      opened.push({ agent, header });
      return session.open(header);
    },
  };
}

/** Polls `check` every 5 ms, for at most 2 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(check(), `${what} (waited 2 s)`);
}

interface Reply { status: number; body: Record<string, unknown>; reused: boolean }

function get(agent: http.Agent, path: string, requestId: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ path, agent, headers: { 'x-request-id': requestId } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown>, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const ada = { kind: 'http', connection: 'crm', target: 'http://crm.internal', caller: 'user:ada' };
const bob = { kind: 'http', connection: 'crm', target: 'http://crm.internal', caller: 'user:bob' };

test('one header, one kept-alive stream; another caller gets its own stream, and every request arrives with its own header and request id', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  serveHeaders(pair.client);
  const opener = openerOf(pair.server);
  const pools = new TunnelHttpPools(opener);

  const replies: Reply[] = [];
  for (const [header, id] of [[ada, 'r1'], [ada, 'r2'], [bob, 'r3'], [ada, 'r4'], [bob, 'r5']] as const) {
    replies.push(await get(pools.agentFor('edge', header), '/x', id));
  }
  assert.deepEqual(replies.map((r) => (r.body.header as { caller: string }).caller), ['user:ada', 'user:ada', 'user:bob', 'user:ada', 'user:bob']);
  assert.deepEqual(replies.map((r) => r.body.requestId), ['r1', 'r2', 'r3', 'r4', 'r5'], 'the request id travels per request, not per stream');
  assert.deepEqual(replies.map((r) => r.reused), [false, true, false, true, true]);
  assert.equal(replies[0]!.body.stream, replies[1]!.body.stream);
  assert.equal(replies[0]!.body.stream, replies[3]!.body.stream);
  assert.notEqual(replies[0]!.body.stream, replies[2]!.body.stream, 'bob never rides on ada\'s stream');
  assert.deepEqual(opener.opened, [{ agent: 'edge', header: ada }, { agent: 'edge', header: bob }]);
  assert.equal(pools.pools, 2);
  assert.equal(pools.idle, 2);
  assert.equal(pools.agentFor('edge', { ...ada }), pools.agentFor('edge', ada), 'an equal header is the same pool');
  assert.notEqual(pools.agentFor('other-agent', ada), pools.agentFor('edge', ada), 'another agent is another pool');
});

test('an opener that cannot open (agent offline) makes http.request throw its error at once; nothing is pooled', async () => {
  const offline = Object.assign(new Error('Agent ghost is not connected to this gateway'), { code: 'GW_AGENT_OFFLINE' });
  const pools = new TunnelHttpPools({ open() { throw offline; } });
  assert.throws(() => http.request({ path: '/x', agent: pools.agentFor('ghost', ada) }), (err: unknown) => err === offline);
  assert.equal(pools.idle, 0);
});

test('idle streams are capped across pools and closed after idleMs, cleanly at both ends', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const { served } = serveHeaders(pair.client);
  const pools = new TunnelHttpPools(openerOf(pair.server), { maxIdle: 2, idleMs: 300 });

  const agent = pools.agentFor('edge', ada);
  const replies = await Promise.all(['a', 'b', 'c', 'd'].map((id) => get(agent, '/x', id)));
  assert.equal(new Set(replies.map((r) => r.body.stream)).size, 4, 'four requests at once: four streams');
  await until(() => served.filter((s) => !s.destroyed).length === 2, 'the streams over maxIdle closed at the far end');
  assert.equal(pools.idle, 2, 'only maxIdle streams are kept');

  await Promise.all(served.map((s) => (s.destroyed ? undefined : once(s, 'close'))));
  assert.equal(pools.idle, 0, 'idle streams closed after idleMs');
  assert.ok(served.every((s) => s.errored === null), 'an idle close is clean, not an error');
  assert.equal(pair.server.streamCount, 0);
  assert.equal(pair.client.streamCount, 0);
});

test('a pool dropped beyond maxPools closes its idle streams', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const { served } = serveHeaders(pair.client);
  const pools = new TunnelHttpPools(openerOf(pair.server), { maxPools: 1 });
  await get(pools.agentFor('edge', ada), '/x', 'r1');
  assert.equal(pools.idle, 1);
  const bobs = pools.agentFor('edge', bob); // ada's pool is the least recently used: dropped
  assert.equal(pools.pools, 1);
  await once(served[0]!, 'close');
  assert.equal(pools.idle, 0);
  assert.equal((await get(bobs, '/x', 'r2')).body.requestId, 'r2');
});

test('the far end closing an idle stream as a request goes out on it: a stale-stream failure, and a fresh stream serves the retry', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const { served } = serveHeaders(pair.client);
  const pools = new TunnelHttpPools(openerOf(pair.server));
  const agent = pools.agentFor('edge', ada);
  await get(agent, '/x', 'r1');

  // The agent's keep-alive timeout fires (its stream is destroyed: END then RESET go out) while the
  // gateway, which has not seen them yet, sends the next request on that stream.
  served[0]!.destroy();
  const failure = await new Promise<{ err: Error & { code?: string }; req: http.ClientRequest }>((resolve, reject) => {
    const req = http.request({ path: '/x', agent, headers: { 'x-request-id': 'r2' } }, () => reject(new Error('the request was answered')));
    req.on('error', (err) => resolve({ err, req }));
    req.end();
  });
  assert.equal(failure.req.reusedSocket, true);
  assert.ok(isStaleStreamFailure(failure.req, failure.err), `a stale-stream failure (${failure.err.code})`);

  const retry = await get(agent, '/x', 'r2');
  assert.equal(retry.reused, false, 'the retry goes out on a fresh stream');
  assert.equal(retry.body.requestId, 'r2');
  assert.equal(served.length, 2);
});

test('a tunnel dropped mid-request is not a stale-stream failure (no retry: the caller gets the failure)', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const pools = new TunnelHttpPools(openerOf(pair.server));
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') held.push(res); // never answered
    else res.end('{}');
  });
  pair.client.on('stream', (stream) => server.emit('connection', stream));
  const agent = pools.agentFor('edge', ada);
  await new Promise<void>((resolve, reject) => http.get({ path: '/x', agent }, (res) => res.resume().on('end', resolve)).on('error', reject));

  const failure = new Promise<{ err: Error & { code?: string }; req: http.ClientRequest }>((resolve, reject) => {
    const req = http.request({ path: '/slow', agent }, () => reject(new Error('the request was answered')));
    req.on('error', (err) => resolve({ err, req }));
    req.end();
  });
  await until(() => held.length === 1, 'the slow request reached the far end');
  await pair.client.close(4100, 'gone');
  const { err, req } = await failure;
  assert.equal(req.reusedSocket, true);
  assert.match(String(err.code), /^TUNNEL_/);
  assert.equal(isStaleStreamFailure(req, err), false);
});

test('options are checked', () => {
  const opener: StreamOpener = { open() { throw new Error('unused'); } };
  assert.throws(() => new TunnelHttpPools(opener, { idleMs: 0 }), /idleMs must be an integer in 1–3600000, not 0/);
  assert.throws(() => new TunnelHttpPools(opener, { maxPools: 1.5 }), /maxPools must be an integer/);
});
