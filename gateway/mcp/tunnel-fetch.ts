// A WHATWG `fetch` for the MCP SDK's HTTP client transports (Streamable HTTP, SSE) whose every
// request travels through the tunnel: one stream of kind `http` per exchange (`Connection:
// close`), spoken by node:http as if the stream were a socket, to the agent's HTTP forwarder
// (agent/http-forward.ts), which sends it to the target with the connection's credential and
// streams the answer back. The answer becomes a Response whose body streams, so an SSE stream
// delivers each event as it comes.
//
// Only the connection's own origin is reachable; an Authorization header never leaves here (the
// agent adds the target's credential); the agent's own failures (`x-airlock-agent-error`) become
// GatewayErrors; bodies are bounded: a JSON answer at maxResponseBytes in all, an event stream
// at maxResponseBytes per event (it may run for the whole session).
import { randomUUID } from 'node:crypto';
import { request, type Agent as HttpAgent, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Transform, pipeline } from 'node:stream';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { GatewayError } from '../errors.ts';
import { AGENT_ERRORS } from '../agents/exchange.ts';
import { beginStage } from '../telemetry/context.ts';
import type { TunnelStream } from '../tunnel/index.ts';

export interface TunnelFetchOptions {
  /** The upstream's URL; requests to any other origin are refused. */
  readonly target: URL;
  /** Opens a stream to the agent with this open header (throws GW_AGENT_OFFLINE when it is not connected). */
  readonly open: (header: Record<string, unknown>) => TunnelStream;
  /** The open header's fixed part: `{kind: 'http', connection, target, caller}`; a request id is added per exchange. */
  readonly header: Readonly<Record<string, unknown>>;
  /**
   * Kept-alive tunnel streams for this header (gateway/tunnel/http-pool.ts): exchanges reuse them
   * instead of opening a stream each, and carry their request id in X-Request-Id only. Unset: a
   * stream per exchange.
   */
  readonly pool?: HttpAgent;
  /** For messages. */
  readonly connection: string;
  /** Milliseconds from the request sent to the answer's headers. */
  readonly firstByteMs: number;
  /** Milliseconds without a byte either way before the exchange is cut (an idle event stream too). */
  readonly idleMs: number;
  /** Largest JSON answer, and largest event of an event stream, in bytes. */
  readonly maxResponseBytes: number;
  /**
   * Called when a body is cut for passing maxResponseBytes. The SDK only logs a broken event
   * stream (its request would then wait for its timeout), so the owner ends the session here.
   */
  readonly onOversize?: (err: GatewayError) => void;
}

/** Hop-by-hop and framing headers, never copied between the two sides. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'host', 'content-length', 'authorization', 'cookie']);
const NULL_BODY = new Set([204, 205, 304]);

/** A fetch over the tunnel for one connection (see the file comment). Redirects are never followed here: the SDK follows same-origin ones itself. */
export function tunnelFetch(options: TunnelFetchOptions): FetchLike {
  const { target, connection } = options;
  return (input, init = {}) => new Promise<Response>((resolve, reject) => {
    const url = new URL(input);
    if (url.origin !== target.origin) {
      reject(new GatewayError('GW_MCP_UPSTREAM_FAILED', `The upstream MCP server of connection ${connection} pointed to another origin (${url.origin}); only ${target.origin} is reached.`));
      return;
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const method = (init.method ?? 'GET').toUpperCase();
    const body = bodyOf(init.body);
    const requestId = randomUUID();
    const headers: OutgoingHttpHeaders = {};
    new Headers(init.headers).forEach((value, name) => { if (!HOP.has(name)) headers[name] = value; });
    headers.host = url.host;
    if (options.pool === undefined) headers.connection = 'close';
    headers['x-request-id'] = requestId;
    if (body !== undefined) headers['content-length'] = String(body.length);
    // The forward stage of the caller's request, until the upstream's answer headers; a traced
    // request tells the upstream its trace (the gateway's traceparent, naming this stage's span).
    const forward = beginStage('forward');
    if (forward?.traceparent !== undefined) headers.traceparent = forward.traceparent;

    let stream: TunnelStream | undefined;
    if (options.pool === undefined) {
      try {
        stream = options.open({ ...options.header, requestId });
      } catch (err) {
        forward?.end(err);
        reject(err); // GW_AGENT_OFFLINE, as the hub says it
        return;
      }
    }
    let answered = false;
    const fail = (err: unknown) => {
      forward?.end(err);
      clearTimeout(firstByte);
      if (!answered) reject(err);
    };
    let req: ReturnType<typeof request>;
    try {
      req = options.pool === undefined
        ? request({ method, path: `${url.pathname}${url.search}`, headers, setHost: false, createConnection: () => stream as never })
        : request({ method, path: `${url.pathname}${url.search}`, headers, setHost: false, agent: options.pool });
    } catch (err) {
      forward?.end(err);
      reject(err); // the pool could not open a stream: GW_AGENT_OFFLINE, as the hub says it
      return;
    }
    const firstByte = setTimeout(() => {
      fail(new GatewayError('GW_TARGET_TIMEOUT', `The upstream MCP server of connection ${connection} did not answer within ${options.firstByteMs} ms (limits.timeouts.firstByteMs).`));
      req.destroy();
    }, options.firstByteMs);
    req.setTimeout(options.idleMs, () => {
      fail(new GatewayError('GW_TARGET_TIMEOUT', `The exchange with the upstream MCP server of connection ${connection} was idle for ${options.idleMs} ms (limits.timeouts.idleMs).`));
      req.destroy(new GatewayError('GW_TARGET_TIMEOUT', `The upstream MCP server of connection ${connection} was silent for ${options.idleMs} ms (limits.timeouts.idleMs).`));
    });
    const onAbort = () => {
      fail(signal!.reason);
      req.destroy(signal!.reason instanceof Error ? signal!.reason : undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.once('close', () => signal?.removeEventListener('abort', onAbort));
    req.on('error', (err: Error & { code?: string }) => {
      fail(err instanceof GatewayError ? err : new GatewayError('GW_UPSTREAM_FAILED', `The tunnel to the agent of connection ${connection} failed during the exchange (${err.code ?? err.message}); retry.`, { cause: err }));
    });
    req.once('response', (res) => {
      clearTimeout(firstByte);
      const agentError = res.headers['x-airlock-agent-error'];
      if (typeof agentError === 'string') {
        res.resume();
        const mapped = AGENT_ERRORS[agentError] ?? { code: 'GW_TARGET_UNREACHABLE' as const, what: 'The agent failed' };
        fail(new GatewayError(mapped.code, `${mapped.what} for the upstream MCP server of connection ${connection} (${agentError}); check the target and the agent's log.`));
        return;
      }
      answered = true;
      forward?.end();
      resolve(toResponse(res, method, options));
    });
    req.end(body);
  });
}

function bodyOf(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('tunnelFetch sends string or byte bodies only (the MCP transports send JSON text)');
}

function toResponse(res: IncomingMessage, method: string, options: TunnelFetchOptions): Response {
  const status = res.statusCode ?? 502;
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || HOP.has(name) || name === 'set-cookie') continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  if (NULL_BODY.has(status) || method === 'HEAD') {
    res.resume();
    return new Response(null, { status, statusText: res.statusMessage, headers });
  }
  const events = /^text\/event-stream\s*(;|$)/i.test(res.headers['content-type'] ?? '');
  const limited = pipeline(res, sizeGuard(events, options), (err) => { // an error destroys both ends
    if (err instanceof GatewayError && err.code === 'GW_RESPONSE_TOO_LARGE') options.onOversize?.(err);
  });
  // Through async iteration rather than Readable.toWeb: a consumer that cancels the body (the SDK
  // does, after a 202) makes toWeb's adapter enqueue into a closed controller and throw.
  return new Response(ReadableStream.from(limited as AsyncIterable<Uint8Array>), { status, statusText: res.statusMessage, headers });
}

/**
 * Fails the body once it passes `maxResponseBytes`: the whole body, or for an event stream each
 * event (the bytes between two blank lines; CR, LF and CRLF end a line, as in the SSE format).
 */
function sizeGuard(events: boolean, options: TunnelFetchOptions): Transform {
  const max = options.maxResponseBytes;
  let size = 0;
  let lineLength = 0;
  let afterCr = false;
  const tooLarge = () => new GatewayError('GW_RESPONSE_TOO_LARGE', `The upstream MCP server of connection ${options.connection} sent ${events ? 'an event' : 'an answer'} larger than ${max} bytes (limits.maxResponseBytes).`);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!events) {
        size += chunk.length;
        callback(size > max ? tooLarge() : null, size > max ? undefined : chunk);
        return;
      }
      for (const byte of chunk) { // bounded by the chunk
        if (byte === 0x0a && afterCr) { // the LF of a CRLF: the line already ended
          afterCr = false;
          continue;
        }
        afterCr = byte === 0x0d;
        if (byte === 0x0a || byte === 0x0d) {
          if (lineLength === 0) size = 0; // a blank line ends the event
          lineLength = 0;
          continue;
        }
        lineLength++;
        if (++size > max) {
          callback(tooLarge());
          return;
        }
      }
      callback(null, chunk);
    },
  });
}
