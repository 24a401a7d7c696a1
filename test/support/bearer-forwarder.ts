// Plumbing, not a test double: a loopback forwarding hop that adds `Authorization: Bearer <token>`.
//
// The conformance CLI (@modelcontextprotocol/conformance) cannot send headers, and airlock's MCP
// endpoint needs a bearer token, so the CLI talks to this hop and the hop to the gateway. It
// pipes every request and every response through unchanged (method, path, query, headers, Host
// and Origin included; bodies streamed both ways, so an SSE response arrives event by event),
// except that it sets the Authorization header and drops hop-by-hop headers.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BearerForwarderOptions {
  /** The origin requests go to (http://host:port); read per request, so it may be known only after start. */
  readonly target: () => string;
  /** The bearer token set on every request; read per request. */
  readonly token: () => string;
}

export interface BearerForwarder {
  /** http://127.0.0.1:PORT: the same paths as the target's. */
  readonly origin: string;
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1), not forwarded; Authorization is replaced. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'authorization']);

function copyHeaders(from: IncomingMessage['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(from)) if (value !== undefined && !HOP.has(name)) out[name] = value;
  return out;
}

function forward(options: BearerForwarderOptions, req: IncomingMessage, res: ServerResponse): void {
  const target = new URL(options.target());
  const upstream = request({
    host: target.hostname, port: target.port, method: req.method, path: req.url, setHost: false, agent: false, // a connection per exchange
    headers: { ...copyHeaders(req.headers), authorization: `Bearer ${options.token()}` },
  });
  upstream.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, copyHeaders(answer.headers));
    res.flushHeaders(); // an event stream's headers go out before its first event
    answer.on('data', (chunk: Buffer) => res.write(chunk));
    answer.on('end', () => res.end());
    answer.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`bearer-forwarder: ${err.message}`);
    } else {
      res.destroy();
    }
  });
  // The client went away (it closed an event stream, or gave up): so does the hop.
  res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
  req.pipe(upstream);
}

/** Starts the hop on 127.0.0.1, port 0. */
export async function startBearerForwarder(options: BearerForwarderOptions): Promise<BearerForwarder> {
  const server = createServer((req, res) => forward(options, req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
