// The MCP Streamable HTTP server transport on node:http, for one session: what the SDK's
// StreamableHTTPServerTransport does (its checks, status codes and JSON-RPC error bodies, kept
// the same: the conformance suite holds them), without converting every request and answer to a
// web-standard Request/Response and a ReadableStream (issue 19: that conversion and the SSE
// framing were a large share of a tools/call's cost through the gateway).
//
// One difference in what the client receives: a POST's answer is held until there is something
// to send. If the only thing to send is the answer, it goes as one `application/json` body (one
// write); the moment a notification or a request for the client (progress, a log message, an
// elicitation) is sent before it, or no answer has come after SSE_AFTER_MS, the response becomes
// an SSE stream, as the SDK's always is. Both are what the spec lets a server answer a client
// that accepts both. No resumability (no event store), as before.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';

/** Most messages in one POST (the SDK's MAX_BATCH_SIZE). */
const MAX_BATCH = 100;
/** A POST without an answer after this long (ms) gets its SSE headers, so a held call shows it is alive. */
const SSE_AFTER_MS = 1000;
/** SSE keep-alive comment interval, in ms (the SDK's default). */
const KEEP_ALIVE_MS = 15_000;
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' };

export interface HttpTransportOptions {
  /** A new session's id (called once, at initialize). */
  readonly sessionIdGenerator: () => string;
  /** Called with the id once the session is initialized, before the initialize request is handled. */
  readonly onsessioninitialized?: (sessionId: string) => void;
}

/** One POST that carries requests: its answers go back on it. */
interface Exchange {
  readonly res: ServerResponse;
  readonly ids: readonly RequestId[];
  readonly answers: Map<RequestId, JSONRPCMessage>;
  /** Headers sent as an SSE stream (else still undecided). */
  sse: boolean;
  timer?: NodeJS.Timeout;
  keepAlive?: NodeJS.Timeout;
}

const isRequest = (m: JSONRPCMessage): boolean => 'method' in m && 'id' in m;
const isResponse = (m: JSONRPCMessage): boolean => ('result' in m || 'error' in m) && 'id' in m;

export class HttpServerTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];

  readonly #options: HttpTransportOptions;
  #initialized = false;
  #closed = false;
  readonly #byRequest = new Map<RequestId, Exchange>();
  readonly #exchanges = new Set<Exchange>();
  #standalone: { res: ServerResponse; keepAlive?: NodeJS.Timeout } | undefined;
  /** Answers to the requests restore() sends the server itself, by id. */
  readonly #internal = new Map<RequestId, (answer: JSONRPCMessage) => void>();

  constructor(options: HttpTransportOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {}

  /**
   * A session initialized on another replica (gateway/mcp/sessions.ts): takes its id and replays
   * the client's initialize `params` and notifications/initialized into the connected server, so
   * the SDK server negotiates the same version and knows the same client capabilities. The
   * replayed answer goes nowhere; an error answer (a version this server no longer speaks) throws.
   */
  async restore(params: unknown): Promise<void> {
    if (this.#initialized || this.onmessage === undefined) throw new Error('restore() needs a connected, uninitialized transport');
    this.sessionId = this.#options.sessionIdGenerator();
    this.#initialized = true;
    const id = `airlock-restore-${this.sessionId}`;
    const answered = new Promise<JSONRPCMessage>((resolve) => { this.#internal.set(id, resolve); });
    this.onmessage({ jsonrpc: '2.0', id, method: 'initialize', params } as JSONRPCMessage);
    const answer = await answered;
    if ('error' in answer) throw new Error(`the stored initialize was refused: ${answer.error.message}`);
    this.onmessage({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    this.#options.onsessioninitialized?.(this.sessionId);
  }

  /** One HTTP request of the session; `parsedBody`: a POST's JSON body, parsed and checked by the caller. */
  async handleRequest(req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    if (this.#closed) return fail(res, 404, -32001, 'Session not found');
    if (req.method === 'POST') return this.#post(req, res, parsedBody);
    if (req.method === 'GET') return this.#get(req, res);
    if (req.method === 'DELETE') return this.#delete(req, res);
    fail(res, 405, -32000, 'Method not allowed.', { allow: 'GET, POST, DELETE' });
  }

  #post(req: IncomingMessage, res: ServerResponse, raw: unknown): void {
    const accept = req.headers.accept;
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) {
      return this.#refuse(res, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream');
    }
    if (!isJsonContentType(req.headers['content-type'])) return this.#refuse(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    if (raw === undefined) return this.#refuse(res, 400, -32700, 'Parse error: Invalid JSON');
    if (Array.isArray(raw) && raw.length > MAX_BATCH) return this.#refuse(res, 400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`);
    let messages: JSONRPCMessage[];
    try {
      messages = (Array.isArray(raw) ? raw : [raw]).map((m) => JSONRPCMessageSchema.parse(m));
    } catch {
      return this.#refuse(res, 400, -32700, 'Parse error: Invalid JSON-RPC message');
    }
    const initializing = messages.some((m) => 'method' in m && m.method === 'initialize' && 'id' in m);
    if (initializing) {
      if (this.#initialized) return this.#refuse(res, 400, -32600, 'Invalid Request: Server already initialized');
      if (messages.length > 1) return this.#refuse(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      this.sessionId = this.#options.sessionIdGenerator();
      this.#initialized = true;
      this.#options.onsessioninitialized?.(this.sessionId);
    } else if (!this.#sessionOk(req, res) || !this.#versionOk(req, res)) {
      return;
    }
    if (this.#closed) return fail(res, 404, -32001, 'Session not found');
    const extra = { requestInfo: { headers: req.headers } };
    const ids = messages.filter(isRequest).map((m) => (m as { id: RequestId }).id);
    if (ids.length === 0) { // only notifications or responses: accepted, nothing comes back on this request
      for (const m of messages) this.onmessage?.(m, extra);
      res.writeHead(202).end();
      return;
    }
    const exchange: Exchange = { res, ids, answers: new Map(), sse: false };
    this.#exchanges.add(exchange);
    for (const id of ids) this.#byRequest.set(id, exchange);
    exchange.timer = setTimeout(() => this.#openSse(exchange), SSE_AFTER_MS);
    exchange.timer.unref();
    res.once('close', () => this.#forget(exchange)); // the client went away: nothing more can reach it
    for (const m of messages) this.onmessage?.(m, extra);
  }

  #get(req: IncomingMessage, res: ServerResponse): void {
    if (!req.headers.accept?.includes('text/event-stream')) return this.#refuse(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    if (!this.#sessionOk(req, res) || !this.#versionOk(req, res)) return;
    if (this.#standalone !== undefined) return this.#refuse(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    res.writeHead(200, { ...SSE_HEADERS, ...(this.sessionId === undefined ? {} : { 'mcp-session-id': this.sessionId }) });
    res.flushHeaders();
    const standalone = { res, keepAlive: keepAlive(res) };
    this.#standalone = standalone;
    res.once('close', () => {
      clearInterval(standalone.keepAlive);
      if (this.#standalone === standalone) this.#standalone = undefined;
    });
  }

  async #delete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#sessionOk(req, res) || !this.#versionOk(req, res)) return;
    res.writeHead(200).end();
    await this.close();
  }

  #sessionOk(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.#initialized) return this.#refuse(res, 400, -32000, 'Bad Request: Server not initialized'), false;
    const id = req.headers['mcp-session-id'];
    if (id === undefined) return this.#refuse(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required'), false;
    if (id !== this.sessionId) return this.#refuse(res, 404, -32001, 'Session not found'), false;
    return true;
  }

  #versionOk(req: IncomingMessage, res: ServerResponse): boolean {
    const version = req.headers['mcp-protocol-version'];
    if (version === undefined || (typeof version === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(version))) return true;
    this.#refuse(res, 400, -32000, `Bad Request: Unsupported protocol version: ${String(version)} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
    return false;
  }

  #refuse(res: ServerResponse, status: number, code: number, message: string): void {
    this.onerror?.(new Error(message));
    fail(res, status, code, message);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message);
    const requestId = response ? (message as { id: RequestId }).id : options?.relatedRequestId;
    if (requestId === undefined) {
      if (response) throw new Error('Cannot send a response on a standalone SSE stream unless resuming a previous client request');
      if (this.#standalone !== undefined) writeEvent(this.#standalone.res, message);
      return; // no standalone stream open: dropped, as the SDK drops it without an event store
    }
    const internal = response ? this.#internal.get(requestId) : undefined;
    if (internal !== undefined) {
      this.#internal.delete(requestId);
      return internal(message);
    }
    const exchange = this.#byRequest.get(requestId);
    if (exchange === undefined) throw new Error(`No connection established for request ID: ${String(requestId)}`);
    if (!response) {
      this.#openSse(exchange);
      writeEvent(exchange.res, message);
      return;
    }
    exchange.answers.set(requestId, message);
    if (exchange.ids.some((id) => !exchange.answers.has(id))) return;
    const answers = exchange.ids.map((id) => exchange.answers.get(id)!);
    if (exchange.sse) {
      for (const a of answers) writeEvent(exchange.res, a);
      exchange.res.end();
    } else {
      const body = JSON.stringify(answers.length === 1 ? answers[0] : answers);
      exchange.res.writeHead(200, { 'content-type': 'application/json', ...(this.sessionId === undefined ? {} : { 'mcp-session-id': this.sessionId }) }).end(body);
    }
    this.#forget(exchange);
  }

  /** The POST's response becomes an SSE stream (once). */
  #openSse(exchange: Exchange): void {
    if (exchange.sse || exchange.res.writableEnded || exchange.res.destroyed) return;
    exchange.sse = true;
    clearTimeout(exchange.timer);
    exchange.res.writeHead(200, { ...SSE_HEADERS, ...(this.sessionId === undefined ? {} : { 'mcp-session-id': this.sessionId }) });
    exchange.res.flushHeaders();
    exchange.keepAlive = keepAlive(exchange.res);
  }

  #forget(exchange: Exchange): void {
    clearTimeout(exchange.timer);
    clearInterval(exchange.keepAlive);
    this.#exchanges.delete(exchange);
    for (const id of exchange.ids) if (this.#byRequest.get(id) === exchange) this.#byRequest.delete(id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const exchange of [...this.#exchanges]) {
      this.#forget(exchange);
      if (!exchange.res.headersSent) exchange.res.writeHead(200, SSE_HEADERS);
      exchange.res.end();
    }
    if (this.#standalone !== undefined) {
      clearInterval(this.#standalone.keepAlive);
      this.#standalone.res.end();
      this.#standalone = undefined;
    }
    this.onclose?.();
  }
}

/** A JSON-RPC error answer without an id, as the SDK's transport writes it. */
function fail(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function writeEvent(res: ServerResponse, message: JSONRPCMessage): void {
  if (!res.writableEnded && !res.destroyed) res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}

function keepAlive(res: ServerResponse): NodeJS.Timeout {
  const timer = setInterval(() => { if (!res.writableEnded && !res.destroyed) res.write(': keepalive\n\n'); }, KEEP_ALIVE_MS);
  timer.unref();
  return timer;
}

/** application/json as a media type (parameters allowed); a value joined from duplicate headers is not. */
function isJsonContentType(header: string | undefined): boolean {
  if (header === 'application/json') return true;
  if (header === undefined) return false;
  const essence = (header.split(';', 1)[0] ?? '').trim().toLowerCase();
  return essence === 'application/json' && !header.slice(header.indexOf(';') + 1).includes(',');
}
