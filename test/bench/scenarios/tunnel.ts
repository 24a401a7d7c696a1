// The tunnel against direct TCP on loopback, in the same run: upload throughput of one stream and
// of 16 concurrent streams, and node:http requests/s with keep-alive over tunnel streams.
// The gateway end (this thread) runs the WebSocketServer and opens streams; the agent end runs in
// a worker thread (its own event loop, as the real agent has its own process), dials in, and
// serves each stream: "sink" streams count bytes and answer the count, "http" streams go to a
// node:http server. The baselines hit the same worker's TCP sink and HTTP server directly.
// autocannon cannot use custom sockets, so HTTP load is a bounded loop of http.request.
// This file is also the worker's entry point (see the bottom).
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { WebSocket, WebSocketServer } from 'ws';
import type { Scenario } from '../scenario.ts';
import { TunnelSession, TUNNEL_WS_CLIENT_OPTIONS, TUNNEL_WS_SERVER_OPTIONS } from '../../../gateway/tunnel/session.ts';

const WORKER_ROLE = 'airlock-bench-tunnel-agent';
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);
const THROUGHPUT_SECONDS = 0.6; // per measurement
const MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024; // a bound on each upload besides the time
const HTTP_SECONDS = 0.8;
const HTTP_WARMUP_SECONDS = 0.2;
const HTTP_CONCURRENCY = 16;
const MAX_HTTP_REQUESTS = 50_000;

interface AgentPorts { tcpPort: number; httpPort: number }

async function readAll(stream: Duplex): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  return text;
}

/** Writes CHUNKs until the deadline (with backpressure), ends, and returns the byte count the far end confirms. */
async function upload(socket: Duplex, deadline: number): Promise<number> {
  const reply = readAll(socket);
  let sent = 0;
  while (sent < MAX_UPLOAD_BYTES && performance.now() < deadline) {
    sent += CHUNK.length;
    if (!socket.write(CHUNK)) await once(socket, 'drain');
  }
  socket.end();
  const confirmed = Number(await reply);
  if (confirmed !== sent) throw new Error(`upload: sent ${sent} bytes, the far end counted ${confirmed}`);
  return confirmed;
}

/** MB/s (10^6 bytes) of `streams` concurrent uploads over connections from `connect`. */
async function throughput(streams: number, connect: () => Duplex): Promise<number> {
  const started = performance.now();
  const deadline = started + THROUGHPUT_SECONDS * 1000;
  const counts = await Promise.all(Array.from({ length: streams }, () => upload(connect(), deadline)));
  const seconds = (performance.now() - started) / 1000;
  return counts.reduce((a, b) => a + b, 0) / 1e6 / seconds;
}

/** Requests/s of HTTP_CONCURRENCY sequential keep-alive loops through `agent`, for `seconds`. */
async function httpRate(agent: http.Agent, port: number, seconds: number): Promise<number> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let done = 0;
  const one = () => new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.resume().on('end', resolve).on('error', reject);
    }).on('error', reject);
  });
  await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, async () => {
    while (done < MAX_HTTP_REQUESTS && performance.now() < deadline) {
      await one();
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

const scenario: Scenario = {
  name: 'tunnel',
  async run() {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...TUNNEL_WS_SERVER_OPTIONS });
    await once(wss, 'listening');
    const accepted = new Promise<TunnelSession>((resolve) => wss.once('connection', (ws) => resolve(new TunnelSession(ws, { role: 'server' }))));
    const worker = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/tunnel` } });
    const workerGone = once(worker, 'exit');
    const agentAgents: http.Agent[] = [];
    let session: TunnelSession | undefined;
    try {
      const [ports] = (await once(worker, 'message')) as [AgentPorts];
      session = await accepted;
      await session.ready;
      const tunnel = session;

      const tcp1 = await throughput(1, () => net.connect(ports.tcpPort, '127.0.0.1'));
      const tun1 = await throughput(1, () => tunnel.open({ kind: 'sink' }));
      const tcp16 = await throughput(16, () => net.connect(ports.tcpPort, '127.0.0.1'));
      const tun16 = await throughput(16, () => tunnel.open({ kind: 'sink' }));

      const direct = new http.Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
      class TunnelAgent extends http.Agent {
        override createConnection(): Duplex { return tunnel.open({ kind: 'http' }); }
      }
      const viaTunnel = new TunnelAgent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
      agentAgents.push(direct, viaTunnel);
      // Warm both paths first: whichever ran first otherwise paid for JIT and connection setup.
      await httpRate(direct, ports.httpPort, HTTP_WARMUP_SECONDS);
      await httpRate(viaTunnel, ports.httpPort, HTTP_WARMUP_SECONDS);
      const httpDirect = await httpRate(direct, ports.httpPort, HTTP_SECONDS);
      const httpTunnel = await httpRate(viaTunnel, ports.httpPort, HTTP_SECONDS);

      return [
        { name: 'tcp 1 connection MB/s', value: tcp1, unit: 'MB/s' },
        { name: 'tunnel 1 stream MB/s', value: tun1, unit: 'MB/s', baseline: 'tcp 1 connection MB/s' },
        { name: 'tcp 16 connections MB/s', value: tcp16, unit: 'MB/s' },
        { name: 'tunnel 16 streams MB/s', value: tun16, unit: 'MB/s', baseline: 'tcp 16 connections MB/s' },
        { name: 'http direct req/s', value: httpDirect, unit: 'req/s' },
        { name: 'http over tunnel req/s', value: httpTunnel, unit: 'req/s', baseline: 'http direct req/s' },
      ];
    } finally {
      for (const a of agentAgents) a.destroy();
      await session?.close();
      worker.postMessage('close');
      await workerGone;
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  },
};
export default scenario;

// ---- the agent end, in the worker -------------------------------------------------------------

async function agent(url: string): Promise<void> {
  const sink = (socket: Duplex) => {
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => { bytes += chunk.length; });
    socket.on('end', () => socket.end(String(bytes)));
    socket.on('error', () => {});
  };
  const body = JSON.stringify({ status: 'ok' });
  const httpServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const tcpServer = net.createServer({ allowHalfOpen: true }, sink);
  await Promise.all([
    new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve)),
    new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve)),
  ]);
  const session = new TunnelSession(new WebSocket(url, TUNNEL_WS_CLIENT_OPTIONS), { role: 'client' });
  session.on('stream', (stream) => {
    if (stream.header.kind === 'http') httpServer.emit('connection', stream);
    else sink(stream);
  });
  await session.ready;
  parentPort!.postMessage({ tcpPort: (tcpServer.address() as AddressInfo).port, httpPort: (httpServer.address() as AddressInfo).port } satisfies AgentPorts);
  await once(parentPort!, 'message');
  await session.close();
  httpServer.closeAllConnections();
  await Promise.all([new Promise((resolve) => httpServer.close(resolve)), new Promise((resolve) => tcpServer.close(resolve))]);
  process.exit(0);
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE) {
  await agent((workerData as { url: string }).url);
}
