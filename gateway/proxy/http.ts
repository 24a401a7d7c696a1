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
import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Authenticator } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import type { Config } from '../config/schema.ts';
import type { Connection, ConnectionRegistry } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { NOTHING_READ, readHead, readRest, sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { Finding } from '../inspect/types.ts';
import { DEFAULT_REVIEW, decide, type Outcome } from '../policy/decide.ts';
import type { RecordingSession } from '../recorder/recorder.ts';
import type { JsonObject } from '../store/index.ts';
import { recordStep, sessionMeta, type Recording } from './record.ts';
import type { PolicyRequest } from '../policy/context.ts';
import type { PolicyManager } from '../policy/manager.ts';
import { isStaleStreamFailure, tunnelHttpPools, TunnelStream } from '../tunnel/index.ts';
import type { ScanWindow } from '../inspect/stream.ts';
import { isJson, pumpBody, streamable, writeWithBackpressure, type StreamedBody } from './body-stream.ts';
import { parseJson } from '../../lib/json.ts';
import type { Logger } from '../../lib/log.ts';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.ts';
import { proxyTarget } from './path.ts';


export interface HttpProxyDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  readonly connections: ConnectionRegistry;
  readonly agents: { open(agent: string, header: Record<string, unknown>): TunnelStream };
  readonly policies: PolicyManager;
  /** Key of the `hash` masking strategy. */
  readonly maskKey: Uint8Array;
  /** The recorder, the HTTP sessions and the reviews: every request is recorded (fail closed) and reviews are held. */
  readonly recording: Recording;
}

/** What the agent's `x-airlock-agent-error` codes mean to the caller (the WebSocket path maps them too). */
export const AGENT_ERRORS: Record<string, { code: 'GW_TARGET_UNREACHABLE' | 'GW_TARGET_TIMEOUT' | 'GW_TARGET_REFUSED' | 'GW_CREDENTIAL_UNAVAILABLE'; what: string }> = {
  TARGET_UNREACHABLE: { code: 'GW_TARGET_UNREACHABLE', what: 'The agent cannot reach the target' },
  TARGET_FAILED: { code: 'GW_TARGET_UNREACHABLE', what: 'The agent failed to forward to the target' },
  TARGET_TIMEOUT: { code: 'GW_TARGET_TIMEOUT', what: 'The target did not answer in time' },
  TARGET_NOT_ALLOWED: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses to reach this target (its targets.allow)' },
  TARGET_INVALID: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses this target' },
  CREDENTIAL_UNAVAILABLE: { code: 'GW_CREDENTIAL_UNAVAILABLE', what: 'The agent cannot produce the credential (vault, KMS or token minting failed)' },
};

export function httpProxyRoutes(router: Router, deps: HttpProxyDeps): void {
  const handle = (req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }) => proxy(req, res, ctx, deps);
  router.addPrefix('/proxy', { GET: handle, HEAD: handle, POST: handle, PUT: handle, PATCH: handle, DELETE: handle });
}

async function proxy(req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }, deps: HttpProxyDeps): Promise<void> {
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
      await proxyInSession(req, res, ctx, deps, { identity, connection, target, path, session });
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
  readonly connection: Connection;
  readonly target: URL;
  readonly path: string;
  readonly session: RecordingSession;
}

async function proxyInSession(req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }, deps: HttpProxyDeps, { identity, connection, target, path, session }: InSession): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const limits = connection.limits;
  const started = performance.now();
  const recorder = deps.recording.recorder;

  const tooLargeRequest = () => new GatewayError('GW_BODY_TOO_LARGE', `The request body is larger than connection ${connection.name} accepts (${limits.maxRequestBytes} bytes).`);
  const clientFailed = (err: Error) => new GatewayError('GW_BAD_REQUEST', `The client stopped sending the request body before its end (${(err as NodeJS.ErrnoException).code ?? err.message}).`, { cause: err });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxRequestBytes) throw refuseEarly(res, tooLargeRequest());
  const requestBody = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const requestHead = await readHead(requestBody, limits.inspectBytes, limits.maxRequestBytes, tooLargeRequest, clientFailed).catch((err: unknown) => { throw refuseEarly(res, err); });

  // One step of the pipeline, the same for the request and the answer: inspect + decide (or the
  // oversize rule), record it durably, hold it for a review or refuse it unless allowed, and give
  // back the bytes that may leave (masked when the decision is mask).
  let approvedBy: string | undefined; // the review that released the request also covers its answer
  const check = async (direction: 'request' | 'response', raw: Buffer, contentType: string | undefined, summary: JsonObject): Promise<Buffer> => {
    const payload = payloadOf(raw, contentType, limits.inspectBytes);
    const outcome = payload.oversize
      ? oversize(limits.oversize === 'review' ? 'review' : 'deny', payload.size, limits.inspectBytes, limits.oversize === 'stream')
      : decideFor(deps, identity, connection, { kind: 'http', direction, method, path, ...payload.fields } as PolicyRequest);
    const out = outcome.decision === 'mask' && outcome.masked !== undefined ? reencode(outcome.masked) : raw;
    const inspected = payload.fields.body ?? payload.fields.text;
    // What left is recorded as the text that left: hashing a large parsed JSON tree in canonical
    // form costs far more than its text, and the text is what the auditor must see anyway.
    const leaving = inspected === undefined ? undefined : out.toString('utf8');
    await recordStep(recorder, session, {
      type: direction, direction, outcome, maskKey: deps.maskKey, payload: inspected, leaving,
      summary: { ...summary, requestId: ctx.requestId, contentType: contentType ?? null, bytes: raw.length, ...(payload.oversize ? { uninspected: true } : {}) },
    });
    if (outcome.decision === 'review' && direction === 'response' && approvedBy !== undefined) {
      await recorder.record(session, 'review.covered', { direction, review: approvedBy });
      return out;
    }
    if (outcome.decision === 'review' && direction === 'request') {
      approvedBy = (await deps.recording.reviews.hold({
        connection: connection.name, requester: identity, session, settings: outcome.review ?? DEFAULT_REVIEW,
        request: { method, path, body: raw.toString('base64') },
        detail: { method, path, reasons: outcome.reasons.map((r) => ({ rule: r.rule, reason: r.reason, message: r.message ?? null })), findings: outcome.findings.map((f) => ({ kind: f.kind, path: f.path })) },
        signal: abortOnClose(req, res),
      })).id;
      return out;
    }
    refuseUnlessAllowed(outcome, connection, direction);
    return out;
  };

  // One window of a streamed body (limits.oversize: stream): the same step over the window's text,
  // with the findings the window scanner made (they see the text around the window too). A
  // streamed body cannot wait for a review: it is not kept whole to be released later. Each window
  // re-checks the caller's authority and takes the connection's policy as it is now (a long stream
  // outlives a revoked group, key or replaced policy by at most one window).
  const passWindow = async (direction: 'request' | 'response', w: ScanWindow): Promise<Buffer> => {
    const outcome = decideFor(deps, identity, deps.connections.recheck(identity, connection.name), { kind: 'http', direction, method, path, text: w.text }, [], w.findings);
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
    return out;
  };

  // ---- forward through the agent ---------------------------------------------------------------
  // Streams are kept alive and reused, pooled per agent and open header: a stream only ever
  // carries requests of this connection, target and caller. The request id travels per request.
  const open = { kind: 'http', connection: connection.name, target: target.origin, caller: identity.sub };
  const headers = forwardRequestHeaders(req.headers);
  headers.host = target.host; // HTTP/1.1 requires one; the agent sets the same
  headers['accept-encoding'] = 'identity';
  headers['x-request-id'] = ctx.requestId;
  delete headers['content-length'];

  let answer: IncomingMessage;
  let upload: Upload | undefined;
  if (requestHead.done || !streamable(limits.oversize, req.headers['content-type'])) {
    const raw = await readRest(requestBody, requestHead, limits.maxRequestBytes, tooLargeRequest, clientFailed).catch((err: unknown) => { throw refuseEarly(res, err); });
    const body = await check('request', raw, req.headers['content-type'], { method, path });
    if (body.length > 0 || method === 'POST' || method === 'PUT' || method === 'PATCH') headers['content-length'] = String(body.length);
    try {
      answer = await exchange(deps.agents, connection.agent, open, { method, path, headers, body }, limits.timeouts);
    } catch (err) {
      // Nothing reached the target: an approval this request used is given back for the retry.
      if (approvedBy !== undefined && err instanceof GatewayError && err.code === 'GW_AGENT_OFFLINE') await deps.recording.reviews.refund(approvedBy, session, err.code);
      throw err;
    }
  } else {
    await recorder.record(session, 'request', { method, path, requestId: ctx.requestId, contentType: req.headers['content-type'] ?? null, direction: 'request', streamed: true, declaredBytes: Number.isFinite(declared) ? declared : null });
    headers['transfer-encoding'] = 'chunked'; // masking may change the length: the end is the last chunk
    upload = startUpload({ deps, open, agent: connection.agent, out: { method, path, headers }, timeouts: limits.timeouts, pump: (write) => pumpBody({ head: requestHead, rest: requestBody, max: limits.maxRequestBytes, tooLarge: tooLargeRequest, failed: clientFailed, pass: (w) => passWindow('request', w), write }) });
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
    const tooLargeResponse = () => new GatewayError('GW_RESPONSE_TOO_LARGE', `The target's answer is larger than connection ${connection.name} returns (${limits.maxResponseBytes} bytes).`);
    const upstreamFailed = (err: Error) => new GatewayError('GW_UPSTREAM_FAILED', `The answer from the agent broke off (${(err as NodeJS.ErrnoException).code ?? err.message}); retry.`, { cause: err });
    const responseHeaders = forwardResponseHeaders(answer.headers);
    delete responseHeaders['content-length'];
    try {
      if (Number(answer.headers['content-length']) > limits.maxResponseBytes) throw tooLargeResponse();
      const responseBody = answer[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const head = await readHead(responseBody, limits.inspectBytes, limits.maxResponseBytes, tooLargeResponse, upstreamFailed);
      if (head.done || !streamable(limits.oversize, answer.headers['content-type'])) {
        const returned = await readRest(responseBody, head, limits.maxResponseBytes, tooLargeResponse, upstreamFailed);
        const out = await check('response', returned, answer.headers['content-type'], { status, ms: Math.round(performance.now() - started) });
        if (out !== returned) responseHeaders['x-airlock-masked'] = 'true';
        await finishUpload();
        res.writeHead(status, { ...responseHeaders, 'content-length': String(out.length) });
        res.end(method === 'HEAD' ? undefined : out);
        return;
      }
      // Streamed: the status and headers go with the first window that passed (a refusal before
      // then is an ordinary coded error); a refusal after cuts the answer off.
      await recorder.record(session, 'response', { status, requestId: ctx.requestId, contentType: answer.headers['content-type'] ?? null, direction: 'response', streamed: true, declaredBytes: Number(answer.headers['content-length']) || null });
      const toClient = writeWithBackpressure(res, limits.timeouts.idleMs,
        () => new GatewayError('GW_BAD_REQUEST', 'The client closed the connection before the streamed answer was complete.'),
        () => new GatewayError('GW_TARGET_TIMEOUT', `The client read nothing for ${limits.timeouts.idleMs} ms (limits.timeouts.idleMs); the streamed answer was cut.`));
      const begin = () => {
        if (!res.headersSent) res.writeHead(status, { ...responseHeaders, 'x-airlock-inspection': 'streamed' });
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
  deps: HttpProxyDeps; agent: string; open: Record<string, unknown>; out: Omit<Outgoing, 'body'>; timeouts: Connection['limits']['timeouts'];
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

/** What a body gives the inspectors: parsed JSON, or text; or that it is too large to inspect. */
function payloadOf(raw: Buffer, contentType: string | undefined, inspectBytes: number): { oversize: boolean; size: number; fields: Partial<PolicyRequest> } {
  if (raw.length === 0) return { oversize: false, size: 0, fields: {} };
  if (raw.length > inspectBytes) return { oversize: true, size: raw.length, fields: {} };
  const text = raw.toString('utf8');
  if (isJson(contentType)) {
    try {
      return { oversize: false, size: raw.length, fields: { body: parseJson(text) } };
    } catch {
      // Declared JSON that is not: inspected as text, so nothing in it passes unseen.
    }
  }
  return { oversize: false, size: raw.length, fields: { text } };
}

/** A body too large to inspect: never allowed (limits.oversize is deny or review). */
function oversize(action: 'deny' | 'review', size: number, limit: number, streaming: boolean): Outcome {
  const finding: Finding = { kind: 'inspect.limit', path: '$', severity: 'high', detail: `body of ${size} bytes, over the inspection limit of ${limit}` };
  const why = streaming ? ' A JSON body is inspected whole, so it is not streamed (limits.oversize: stream).' : '';
  return { decision: action, reasons: [{ rule: '(oversize)', policy: '(connection)', action, reason: 'inspect.oversize', message: `The body (${size} bytes) is larger than the ${limit} bytes inspected (limits.inspectBytes).${why}` }], findings: [finding] };
}

/**
 * Throws GW_POLICY_DENIED (deny) or GW_REVIEW_REQUIRED (review); allow and mask pass.
 * `streamedAt`: the byte offset of a streamed body's window, which cannot wait for a review either.
 */
export function refuseUnlessAllowed(outcome: Outcome, connection: Connection, direction: 'request' | 'response', streamedAt?: number): void {
  if (outcome.decision === 'allow' || outcome.decision === 'mask') return;
  const first = outcome.reasons[0];
  const why = first?.message ?? `rule ${first?.rule} (${first?.reason})`;
  const detail = { reasons: outcome.reasons, findings: outcome.findings.map((f) => ({ kind: f.kind, path: f.path, detail: f.detail })) };
  if (outcome.decision === 'review') {
    const message = streamedAt === undefined
      ? `The ${direction} on connection ${connection.name} needs a human review (${first?.reason}): ${why} Only a request can be held for a review (an answer or a message cannot wait for one), so it was refused.`
      : `The streamed ${direction} on connection ${connection.name} needs a human review (${first?.reason}): ${why} A streamed body (limits.oversize: stream) is not kept whole, so it cannot be held for one; it was refused at byte ${streamedAt}.`;
    throw new GatewayError('GW_REVIEW_REQUIRED', message, { detail });
  }
  throw new GatewayError('GW_POLICY_DENIED', `The ${direction} on connection ${connection.name} was refused by policy (${first?.reason}): ${why}`, { detail });
}

/** Aborts when the caller goes away before the answer (a held request stops waiting). */
function abortOnClose(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const onClose = () => { if (!res.writableEnded) controller.abort(); };
  req.socket.once('close', onClose);
  res.once('finish', () => req.socket.off('close', onClose));
  return controller.signal;
}

/** A masked payload back to bytes: JSON stays JSON, text stays text. */
function reencode(masked: unknown): Buffer {
  return Buffer.from(typeof masked === 'string' ? masked : JSON.stringify(masked), 'utf8');
}

export async function readLimited(source: IncomingMessage, max: number, code: 'GW_BODY_TOO_LARGE' | 'GW_RESPONSE_TOO_LARGE', message: string): Promise<Buffer> {
  const tooLarge = () => new GatewayError(code, message);
  try {
    if (Number(source.headers['content-length']) > max) throw tooLarge();
    return await readRest(source[Symbol.asyncIterator](), NOTHING_READ, max, tooLarge,
      (err) => new GatewayError('GW_UPSTREAM_FAILED', `The body broke off (${(err as NodeJS.ErrnoException).code ?? err.message}); retry.`, { cause: err }));
  } catch (err) {
    source.destroy();
    throw err;
  }
}

/** A request for exchange(): a body in memory, or a streamed one that `start` writes and ends on the request once it is open (sent once: never retried). */
export interface Outgoing { method: string; path: string; headers: Record<string, string | string[]>; body: Buffer | { start(request: ClientRequest): void } }

/**
 * One HTTP exchange with `agent` over a kept-alive tunnel stream (gateway/tunnel/http-pool.ts),
 * with first-byte and idle deadlines. Opening a stream can fail at once (the hub's GW_AGENT_OFFLINE,
 * passed on as it is). An idempotent request that fails on a reused stream before any answer,
 * because the agent closed that idle stream as the request went out (the keep-alive race), is
 * sent once more on another stream (RFC 9110 §9.2.2 allows it for idempotent methods only);
 * every other failure is GW_UPSTREAM_FAILED.
 */
export function exchange(opener: HttpProxyDeps['agents'], agent: string, open: Record<string, unknown>, out: Outgoing, timeouts: Connection['limits']['timeouts']): Promise<IncomingMessage> {
  const pool = tunnelHttpPools(opener).agentFor(agent, open);
  const idempotent = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].includes(out.method);
  return new Promise((resolve, reject) => {
    let settled = false;
    let current: ReturnType<typeof request> | undefined;
    const settle = (err: Error | undefined, res?: IncomingMessage) => {
      if (settled) return;
      settled = true;
      clearTimeout(firstByte);
      firstByte = undefined;
      if (err !== undefined) reject(err);
      else resolve(res!);
    };
    // The target's first byte is awaited from the start, or for a streamed body from its end (a
    // target answers an upload once it has it all; the idle timeout covers the upload itself).
    let firstByte: NodeJS.Timeout | undefined;
    const awaitFirstByte = () => {
      if (settled || firstByte !== undefined) return;
      firstByte = setTimeout(() => {
        current?.destroy();
        settle(new GatewayError('GW_TARGET_TIMEOUT', `The target sent nothing within ${timeouts.firstByteMs} ms (limits.timeouts.firstByteMs).`));
      }, timeouts.firstByteMs);
    };
    if (Buffer.isBuffer(out.body)) awaitFirstByte();
    const send = (mayRetry: boolean) => {
      let req: ReturnType<typeof request>;
      try {
        req = request({ method: out.method, path: out.path, headers: out.headers, agent: pool, setHost: false });
      } catch (err) {
        settle(err as Error); // no stream could be opened
        return;
      }
      current = req;
      req.setTimeout(timeouts.idleMs, () => {
        req.destroy();
        settle(new GatewayError('GW_TARGET_TIMEOUT', `The exchange was idle for ${timeouts.idleMs} ms (limits.timeouts.idleMs).`));
      });
      req.once('response', (res) => settle(undefined, res));
      req.on('error', (err: Error & { code?: string }) => {
        if (settled) return;
        if (mayRetry && idempotent && isStaleStreamFailure(req, err)) {
          send(false);
          return;
        }
        settle(new GatewayError('GW_UPSTREAM_FAILED', `The tunnel to the agent failed during the request (${err.code ?? err.message}); retry.`, { cause: err }));
      });
      if (Buffer.isBuffer(out.body)) {
        req.end(out.body);
      } else {
        req.once('finish', awaitFirstByte);
        out.body.start(req);
      }
    };
    send(Buffer.isBuffer(out.body));
  });
}

/** The connection's policies (the gateway's baseline first) applied to one request or answer, with the caller as CEL sees it. */
export function decideFor(deps: Pick<HttpProxyDeps, 'config' | 'policies' | 'maskKey'>, identity: Identity, connection: Connection, request: PolicyRequest, extraFindings: readonly Finding[] = [], inspected?: readonly Finding[]): Outcome {
  const policy = deps.policies.get({
    packs: [...new Set([...deps.config.policy.packs, ...connection.policy.packs])],
    files: [...new Set([...deps.config.policy.files, ...connection.policy.files])],
  });
  return decide(policy, {
    identity: { sub: identity.sub, email: identity.email, name: identity.name, groups: identity.groups, roles: identity.roles, via: identity.via },
    connection: { name: connection.name, kind: connection.kind, tags: connection.tags },
    request,
    now: Date.now(),
  }, { defaultAction: connection.policy.defaultAction, maskKey: deps.maskKey }, extraFindings, inspected);
}
