// The HTTP data path: /proxy/<connection>/<path…> → the connection's agent → its target.
//
//   authenticate → resolve the connection (may this identity use it?) → confine the path →
//   [session: identity + connection until idle, or X-Airlock-Session] → read the body (bounded) →
//   inspect + policy on the request → record (durable) → [review: hold] → forward over a tunnel
//   stream (caller credentials stripped; the agent adds the target's) → read the answer
//   (bounded) → inspect + policy on the response (mask) → record (durable) → answer.
//
// Bodies are read whole, up to the connection's limits, because what is forwarded or returned
// must first be inspected: nothing uninspected passes. A body over `limits.inspectBytes` follows
// `limits.oversize`: deny, review, or stream (not JSON), where it flows through window by window,
// each inspected, decided and recorded before it leaves (./body-stream.ts). Targets are asked for
// identity encoding so answers can be inspected as sent.
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import type { Connection, ConnectionRegistry } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { clientBody, readHead, readRest } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import { DEFAULT_REVIEW } from '../policy/decide.ts';
import type { RecordingSession } from '../recorder/recorder.ts';
import type { JsonObject } from '../store/index.ts';
import { decideFor, firstValue, hiddenText, judgeHttp, limitsAfter, limitsBefore, limitsRoom, recordStep, refuseUnlessAllowed, sessionMeta, withLimits, type GuardDeps, type HttpMessage, type Judged } from '../guard/index.ts';
import { AGENT_ERRORS, exchange, type AgentOpener, type Outgoing } from '../agents/exchange.ts';
import { TunnelStream } from '../tunnel/index.ts';
import type { ScanWindow } from '../inspect/stream.ts';
import { pumpBody, streamable, writeWithBackpressure, type StreamedBody } from './body-stream.ts';
import type { Logger } from '../../lib/log.ts';
import { effectiveMethod, forwardRequestHeaders, forwardResponseHeaders, gatewayForwardedHeaders } from './headers.ts';
import { proxyTarget } from './path.ts';
import { agentPool } from '../connections/schema.ts';


export interface HttpProxyDeps extends GuardDeps {
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  readonly connections: ConnectionRegistry;
  readonly agents: AgentOpener;
}

export function httpProxyRoutes(router: Router, deps: HttpProxyDeps): void {
  // Where callers reach the gateway, for the Forwarded headers it sets: fixed at start.
  const publicUrl = new URL(deps.config.server.publicUrl ?? `http://localhost:${deps.config.server.port}`);
  const handle = (req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }) => proxy(req, res, ctx, deps, publicUrl);
  router.addPrefix('/proxy', { GET: handle, HEAD: handle, POST: handle, PUT: handle, PATCH: handle, DELETE: handle });
}

async function proxy(req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }, deps: HttpProxyDeps, publicUrl: URL): Promise<void> {
  const identity = await deps.authenticator.authenticate(req, ctx.url);
  const name = /^\/proxy\/([^/?]*)/.exec(req.url ?? '')?.[1] ?? '';
  const connection = deps.connections.resolve(identity, name);
  if (connection.kind !== 'http') {
    throw new GatewayError('GW_BAD_REQUEST', `Connection ${connection.name} is a ${connection.kind} connection; /proxy serves http connections (use ${connection.kind === 'mcp' ? `/mcp/${connection.name}` : 'the Postgres listener'}).`);
  }
  const target = new URL(connection.target as string);
  const { path } = proxyTarget(req.url ?? '/', target.pathname);
  const label = req.headers['x-airlock-session'];
  const client = { client: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 200) : null };
  await deps.recording.httpSessions.with(sessionMeta(identity, connection, client), typeof label === 'string' ? label : undefined, async (session) => {
    try {
      await proxyInSession(req, res, ctx, deps, { identity, connection, target, path, session, publicUrl });
    } catch (err) {
      if (err instanceof GatewayError) {
        // Best effort: the request is refused either way, and a store that failed the request's
        // own events fails this too.
        await deps.recording.recorder.record(session, 'error', { requestId: ctx.requestId, code: err.code, message: err.message }).catch(() => {});
      }
      throw err;
    }
  });
}

interface InSession {
  readonly identity: Identity;
  readonly connection: Extract<Connection, { kind: 'http' }>;
  readonly target: URL;
  readonly path: string;
  readonly session: RecordingSession;
  readonly publicUrl: URL;
}

async function proxyInSession(req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }, deps: HttpProxyDeps, { identity, connection, target, path, session, publicUrl }: InSession): Promise<void> {
  const realMethod = (req.method ?? 'GET').toUpperCase();
  // Policy sees the method the target will act on: a method override the connection allows.
  const httpOptions = connection.http;
  const method = effectiveMethod(realMethod, req.headers, httpOptions.methodOverride);
  const q = path.indexOf('?');
  const pathname = q === -1 ? path : path.slice(0, q);
  const query = q === -1 ? '' : path.slice(q + 1);
  const limits = connection.limits;
  const started = performance.now();
  const recorder = deps.recording.recorder;

  const tooLargeRequest = () => new GatewayError('GW_BODY_TOO_LARGE', `The request body is larger than connection ${connection.name} accepts (${limits.maxRequestBytes} bytes).`);
  const tooLargeResponse = () => new GatewayError('GW_RESPONSE_TOO_LARGE', `The target's answer is larger than connection ${connection.name} returns (${limits.maxResponseBytes} bytes).`);
  const clientFailed = (err: Error) => new GatewayError('GW_BAD_REQUEST', `The client stopped sending the request body before its end (${(err as NodeJS.ErrnoException).code ?? err.message}).`, { cause: err });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxRequestBytes) throw refuseEarly(res, tooLargeRequest());
  const requestBody = clientBody(req); // idle and rate limits (server.limits)
  const requestHead = await readHead(requestBody, limits.inspectBytes, limits.maxRequestBytes, tooLargeRequest, clientFailed).catch((err: unknown) => { throw refuseEarly(res, err); });

  // One step of the pipeline, the same for the request and the answer: the guard normalises,
  // inspects and decides (or the oversize rule); the step is recorded durably, held for a review
  // or refused unless allowed, and what may leave comes back (masked when the decision is mask).
  let approvedBy: string | undefined; // the review that released the request also covers its answer
  let clientGone: AbortSignal | undefined; // a request waiting for a `delay` limit leaves its queue when its client goes
  const check = async (msg: Omit<HttpMessage, 'method' | 'pathname' | 'query'> & { streamed?: boolean }, summary: JsonObject): Promise<Judged> => {
    const gate = await limitsBefore(deps, identity, connection, { direction: msg.direction, method, path: pathname }, msg.direction === 'request' ? clientGone ??= abortOnClose(req, res) : undefined);
    if (gate !== undefined) res.once('close', gate.release); // its place under `concurrent` limits ends with the exchange
    const judged = judgeHttp(deps, identity, connection, { ...msg, method, pathname, query, ...(gate === undefined ? {} : { limits: gate }) }, msg.direction === 'request' ? tooLargeRequest : tooLargeResponse);
    const { outcome, normal } = judged;
    const { direction } = msg;
    const inspected = normal?.json ?? normal?.text;
    // What left is recorded as the text that left: hashing a large parsed JSON tree in canonical
    // form costs far more than its text, and the text is what the auditor must see anyway.
    const leaving = inspected === undefined ? undefined : judged.body.toString('utf8');
    const passes = outcome.decision === 'allow' || outcome.decision === 'mask';
    const shown: JsonObject = direction === 'request' ? { path: passes ? judged.target : judged.redactedTarget } : {};
    await recordStep(recorder, session, {
      type: direction, direction, outcome, maskKey: deps.maskKey, payload: inspected, leaving,
      summary: {
        ...summary, ...shown, requestId: ctx.requestId, contentType: firstValue(msg.headers['content-type']) ?? null, bytes: msg.body.length,
        ...(normal?.decodedFrom === undefined ? {} : { decodedFrom: normal.decodedFrom }), ...(normal === undefined && msg.body.length > 0 ? { uninspected: true } : {}),
      },
    });
    if (outcome.decision === 'review' && direction === 'response' && approvedBy !== undefined) {
      await recorder.record(session, 'review.covered', { direction, review: approvedBy });
      return judged;
    }
    if (outcome.decision === 'review' && direction === 'request' && msg.streamed !== true) {
      approvedBy = (await deps.recording.reviews.hold({
        connection: connection.name, requester: identity, session, settings: outcome.review ?? DEFAULT_REVIEW,
        request: { method, path: judged.target, body: judged.body.toString('base64') }, headers: judged.headers, shown: { payload: inspected, findings: outcome.findings },
        detail: { method, path: judged.target, reasons: outcome.reasons.map((r) => ({ rule: r.rule, reason: r.reason, message: r.message ?? null })), findings: outcome.findings.map((f) => ({ kind: f.kind, path: f.path })) },
        signal: abortOnClose(req, res),
      })).id;
      return judged;
    }
    refuseUnlessAllowed(outcome, connection, direction, msg.streamed === true ? 0 : undefined);
    if (direction === 'response') await limitsAfter(deps, identity, connection, { direction, method, path: pathname }, outcome);
    return judged;
  };

  // One window of a streamed body (limits.oversize: stream): the same step over the window's text,
  // with the findings the window scanner made (they see the text around the window too). A
  // streamed body cannot wait for a review: it is not kept whole to be released later. Each window
  // re-checks the caller's authority and takes the connection's policy as it is now (a long stream
  // outlives a revoked group, key or replaced policy by at most one window).
  const passWindow = async (direction: 'request' | 'response', w: ScanWindow): Promise<Buffer> => {
    const now = deps.connections.recheck(identity, connection.name);
    // An answer's window leaves only while its egress budgets have room; what left is counted below (the request was counted once, at its head).
    const gate = direction === 'response' ? await limitsRoom(deps, identity, now, { direction, method, path: pathname }) : undefined;
    // The window is also read through its escapes and without hiding characters (guard/normalise.ts).
    const outcome = withLimits(decideFor(deps, identity, now, { kind: 'http', direction, method, path: pathname, text: w.text }, hiddenText(w.text), w.findings, gate?.usage), gate);
    const masked = outcome.decision === 'mask' && typeof outcome.masked === 'string' && outcome.masked !== w.text;
    const out = masked ? Buffer.from(outcome.masked as string, w.encoding) : w.bytes;
    await recordStep(recorder, session, {
      type: `${direction}.data`, direction, outcome, maskKey: deps.maskKey, payload: w.text, leaving: masked ? outcome.masked : w.text,
      summary: { requestId: ctx.requestId, window: w.index, offset: w.offset, bytes: w.bytes.length, encoding: w.encoding, final: w.final },
    });
    if (outcome.decision === 'review' && direction === 'response' && approvedBy !== undefined) {
      await recorder.record(session, 'review.covered', { direction, review: approvedBy, window: w.index });
      return out;
    }
    refuseUnlessAllowed(outcome, connection, direction, w.offset);
    if (direction === 'response') await limitsAfter(deps, identity, now, { direction, method, path: pathname }, outcome);
    return out;
  };

  // ---- forward through the agent ---------------------------------------------------------------
  // Streams are kept alive and reused, pooled per agent and open header: a stream only ever
  // carries requests of this connection, target and caller. The request id travels per request.
  const open = { kind: 'http', connection: connection.name, target: target.origin, caller: identity.sub };
  const callerHeaders = forwardRequestHeaders(req.headers, { methodOverride: httpOptions.methodOverride, ranges: httpOptions.ranges !== undefined });
  delete callerHeaders['content-length'];
  delete callerHeaders['accept-encoding']; // the gateway asks for identity: an answer must be read to be inspected
  // The gateway's own headers go on after inspection: they say what the gateway saw, not the caller.
  const gatewayHeaders = (judged: Record<string, string | string[]>): Record<string, string | string[]> => ({
    ...judged, ...gatewayForwardedHeaders(req.socket.remoteAddress, publicUrl), host: target.host, 'accept-encoding': 'identity', 'x-request-id': ctx.requestId,
  });

  let answer: IncomingMessage;
  let upload: Upload | undefined;
  const streams = (headers: Record<string, string | string[] | undefined>) => streamable(limits.oversize, headers);
  if (requestHead.done || !streams(req.headers)) {
    const raw = await readRest(requestBody, requestHead, limits.maxRequestBytes, tooLargeRequest, clientFailed).catch((err: unknown) => { throw refuseEarly(res, err); });
    const judged = await check({ direction: 'request', headers: callerHeaders, body: raw }, { method });
    const { body } = judged;
    const headers = gatewayHeaders(judged.headers);
    if (body.length > 0 || method === 'POST' || method === 'PUT' || method === 'PATCH') headers['content-length'] = String(body.length);
    try {
      answer = await exchange(deps.agents, agentPool(connection), open, { method: realMethod, path: judged.target, headers, body }, limits.timeouts);
    } catch (err) {
      // Nothing reached the target: an approval this request used is given back for the retry.
      if (approvedBy !== undefined && err instanceof GatewayError && err.code === 'GW_AGENT_OFFLINE') await deps.recording.reviews.refund(approvedBy, session, err.code);
      throw err;
    }
  } else {
    // The head (headers, query) is judged on its own; the body window by window.
    const judged = await check({ direction: 'request', headers: callerHeaders, body: NO_BODY, streamed: true }, { method, streamed: true, declaredBytes: Number.isFinite(declared) ? declared : null });
    const headers = gatewayHeaders(judged.headers);
    headers['transfer-encoding'] = 'chunked'; // masking may change the length: the end is the last chunk
    upload = startUpload({ deps, open, agent: agentPool(connection), out: { method: realMethod, path: judged.target, headers }, timeouts: limits.timeouts, pump: (write) => pumpBody({ head: requestHead, rest: requestBody, max: limits.maxRequestBytes, tooLarge: tooLargeRequest, failed: clientFailed, pass: (w) => passWindow('request', w), write }) });
    try {
      answer = await upload.answer;
    } catch (err) {
      throw refuseEarly(res, err);
    }
  }

  // The upload's end is recorded before the answer's end goes out (a target that answered before
  // reading the whole upload gets no more of it).
  let uploadFinished: Promise<void> | undefined;
  const finishUpload = () => uploadFinished ??= (async () => {
    if (upload === undefined) return;
    if (!upload.settled) upload.cancel();
    const sent = await upload.done.catch(() => undefined);
    if (sent !== undefined) await recorder.record(session, 'request.end', { direction: 'request', requestId: ctx.requestId, ...sent.body, tunnel: tunnelCounters(sent.socket) });
  })();
  try {
    await respond();
  } finally {
    await finishUpload();
  }

  async function respond(): Promise<void> {
    const agentError = answer.headers['x-airlock-agent-error'];
    if (typeof agentError === 'string') {
      answer.resume();
      const mapped = AGENT_ERRORS[agentError] ?? { code: 'GW_TARGET_UNREACHABLE' as const, what: 'The agent failed' };
      throw new GatewayError(mapped.code, `${mapped.what} for connection ${connection.name} (${agentError}); check the target and the agent's log.`);
    }

    // ---- the response ------------------------------------------------------------------------------
    const status = answer.statusCode ?? 502;
    const stream = answer.socket; // taken now: Node detaches it once the answer is read, to pool it again
    const upstreamFailed = (err: Error) => new GatewayError('GW_UPSTREAM_FAILED', `The answer from the agent broke off (${(err as NodeJS.ErrnoException).code ?? err.message}); retry.`, { cause: err });
    const responseHeaders = forwardResponseHeaders(answer.headers);
    delete responseHeaders['content-length'];
    const ms = () => Math.round(performance.now() - started);
    try {
      if (Number(answer.headers['content-length']) > limits.maxResponseBytes) throw tooLargeResponse();
      const responseBody = answer[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const head = await readHead(responseBody, limits.inspectBytes, limits.maxResponseBytes, tooLargeResponse, upstreamFailed);
      if (head.done || !streams(answer.headers)) {
        const returned = await readRest(responseBody, head, limits.maxResponseBytes, tooLargeResponse, upstreamFailed);
        const judged = await check({ direction: 'response', headers: responseHeaders, body: returned }, { status, ms: ms() });
        const out = judged.body;
        const headers: Record<string, string | string[]> = { ...judged.headers, 'content-length': String(out.length) };
        if (judged.masked) headers['x-airlock-masked'] = 'true';
        await finishUpload();
        res.writeHead(status, headers);
        res.end(method === 'HEAD' ? undefined : out);
        return;
      }
      // Streamed: the status and headers (judged on their own) go with the first window that
      // passed (a refusal before then is an ordinary coded error); a refusal after cuts the answer off.
      const judgedHead = await check({ direction: 'response', headers: responseHeaders, body: NO_BODY, streamed: true }, { status, streamed: true, declaredBytes: Number(answer.headers['content-length']) || null });
      const streamedHeaders = { ...judgedHead.headers, ...(judgedHead.masked ? { 'x-airlock-masked': 'true' } : {}) };
      const toClient = writeWithBackpressure(res, limits.timeouts.idleMs,
        () => new GatewayError('GW_BAD_REQUEST', 'The client closed the connection before the streamed answer was complete.'),
        () => new GatewayError('GW_TARGET_TIMEOUT', `The client read nothing for ${limits.timeouts.idleMs} ms (limits.timeouts.idleMs); the streamed answer was cut.`));
      const begin = () => {
        if (!res.headersSent) res.writeHead(status, { ...streamedHeaders, 'x-airlock-inspection': 'streamed' });
      };
      const sent = await pumpBody({
        head, rest: responseBody, max: limits.maxResponseBytes, tooLarge: tooLargeResponse, failed: upstreamFailed,
        pass: (w) => passWindow('response', w),
        write: async (bytes) => { begin(); await toClient(bytes); },
      });
      await finishUpload();
      await recorder.record(session, 'response.end', { direction: 'response', requestId: ctx.requestId, status, ms: Math.round(performance.now() - started), ...sent, tunnel: tunnelCounters(stream) });
      begin();
      res.end(); // the end goes out only once the last window passed and the recording has it
    } catch (err) {
      answer.destroy();
      throw err;
    }
  }
}

const NO_BODY = Buffer.alloc(0);

/** A streamed upload under way: the answer, and the upload's own end. */
interface Upload {
  readonly answer: Promise<IncomingMessage>;
  /** What was sent and on which tunnel stream, once the body's end went out. */
  readonly done: Promise<{ body: StreamedBody; socket: unknown }>;
  readonly settled: boolean;
  /** Stops the upload: the target never sees its end. */
  cancel(): void;
}

/**
 * Sends a streamed request body: the exchange with the agent opens only once the first window
 * passed (a body refused at once never reaches the target), each window is written as the
 * tunnel takes it, and the body's end is sent after its last window passed. A window refused,
 * a body too large or a client gone resets the request: the target sees an aborted upload.
 * `answer` rejects with whatever failed first: the upload's refusal or the exchange.
 */
function startUpload(o: {
  deps: HttpProxyDeps; agent: string | readonly string[]; open: Record<string, unknown>; out: Omit<Outgoing, 'body'>; timeouts: Connection['limits']['timeouts'];
  pump: (write: (bytes: Buffer) => Promise<void>) => Promise<StreamedBody>;
}): Upload {
  const answer = Promise.withResolvers<IncomingMessage>();
  let request: ClientRequest | undefined;
  let sink: Promise<ClientRequest> | undefined;
  let write: ((bytes: Buffer) => Promise<void>) | undefined;
  const connect = (): Promise<ClientRequest> => {
    if (sink !== undefined) return sink;
    const ready = Promise.withResolvers<ClientRequest>();
    sink = ready.promise;
    sink.catch(() => {}); // the exchange's failure reaches the caller through `answer`
    exchange(o.deps.agents, o.agent, o.open, { ...o.out, body: { start: (r) => { request = r; ready.resolve(r); } } }, o.timeouts)
      .then(answer.resolve, (err: unknown) => { answer.reject(err); ready.reject(err); });
    return sink;
  };
  const gone = () => new GatewayError('GW_UPSTREAM_FAILED', 'The tunnel stream to the agent closed during the upload; retry.');
  const stalled = () => new GatewayError('GW_TARGET_TIMEOUT', `The target read nothing for ${o.timeouts.idleMs} ms (limits.timeouts.idleMs); the upload was cut.`);
  let settled = false;
  const done = (async () => {
    const body = await o.pump(async (bytes) => {
      const r = await connect();
      write ??= writeWithBackpressure(r, o.timeouts.idleMs, gone, stalled);
      await write(bytes);
    });
    const r = await connect();
    await new Promise<void>((resolve, reject) => {
      r.end(() => resolve());
      r.once('close', () => { if (!r.writableFinished) reject(gone()); });
    });
    return { body, socket: r.socket };
  })().finally(() => { settled = true; });
  done.catch(() => request?.destroy()); // refused, too large, or the client went away: no end for the target
  return {
    answer: Promise.race([answer.promise, done.then(() => answer.promise)]),
    done,
    get settled() { return settled; },
    cancel: () => request?.destroy(),
  };
}

/** The tunnel stream's flow-control counters (gateway/tunnel/stream.ts), for the recording. */
function tunnelCounters(socket: unknown): JsonObject | null {
  if (!(socket instanceof TunnelStream)) return null;
  return { id: socket.id, receiveWindow: socket.receiveWindow, peakReadableBytes: socket.peakReadableBytes, peakWritableBytes: socket.peakWritableBytes, bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten };
}

/** A refusal before the request body was read whole: the connection closes after the answer, so the rest of the body is not read. */
function refuseEarly(res: ServerResponse, err: unknown): unknown {
  if (!res.headersSent) res.setHeader('connection', 'close');
  return err;
}

/** Aborts when the caller goes away before the answer (a held request stops waiting). */
function abortOnClose(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const onClose = () => { if (!res.writableEnded) controller.abort(); };
  req.socket.once('close', onClose);
  res.once('finish', () => req.socket.off('close', onClose));
  return controller.signal;
}

