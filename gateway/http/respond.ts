// Writing responses: JSON bodies, coded errors, and bounded body reading. Every body the gateway
// holds in memory is read here (readHead/readRest, and pumpBody through nextChunk), so every
// reader counts its bytes against the request's budget (./budget.ts), and a client's body
// (clientBody) must keep arriving: no pause over server.limits.bodyIdleTimeout, no average rate
// under minBodyBytesPerSecond once the grace period is over. Only time spent waiting for the
// client counts, as with Kestrel's MinRequestBodyDataRate: a body held back because the gateway
// is not reading (a slow target downstream of a streamed upload) is not the client's fault.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, errorBody } from '../errors.ts';
import { currentTicket, type BudgetSettings } from './budget.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

/** Sends `{"error": {code, message, requestId}}` with the code's status. */
export function sendError(res: ServerResponse, err: GatewayError, requestId: string): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  // A request refused before its body was read whole: the connection closes after the answer,
  // so the rest of the body is never read (node:http would otherwise read it to reuse the socket),
  // and the socket stops reading once the answer is out: node:http reads and drops what comes
  // until the socket is gone, and under a flood of refused uploads that garbage alone added
  // about 40 MiB to the process (test/gateway/slow-clients.test.ts).
  const socket = res.req?.socket;
  const unread = res.req !== undefined && bodyUnread(res.req);
  sendJson(res, err.status, errorBody(err, requestId), { ...err.headers, ...(unread ? { connection: 'close' } : {}) });
  if (unread) res.once('finish', () => socket?.pause());
}

/** The request has a body not yet read to its end (a request without one is not `complete` until its handler's first turn is over). */
function bodyUnread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * Reads a request body into memory, refusing it past `maxBytes` (checked against
 * Content-Length first, then while streaming, so a lying client is cut off too).
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  // A refusal is answered (sendError closes the connection after it: the rest is never read).
  if (Number(req.headers['content-length']) > maxBytes) throw tooLarge(maxBytes);
  return await readRest(clientBody(req), NOTHING_READ, maxBytes, () => tooLarge(maxBytes),
    (err) => new GatewayError('GW_BAD_REQUEST', `The client stopped sending the request body before its end (${(err as NodeJS.ErrnoException).code ?? err.message}).`, { cause: err }));
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError('GW_BODY_TOO_LARGE', `The request body is larger than ${maxBytes} bytes; send less, or raise server.maxBodyBytes.`);
}

/** The start of a body that has been read. */
export interface BodyHead {
  readonly chunks: Buffer[];
  readonly size: number;
  /** The whole body is in `chunks`. */
  readonly done: boolean;
}

/**
 * Reads from `source` until more than `inspectBytes` have come or the body ends (the HTTP path
 * decides then whether the body is held or streamed). Past `max` bytes it throws `tooLarge()`. A
 * source that fails (the peer went away) throws `failed(err)`.
 */
export async function readHead(source: AsyncIterator<Buffer>, inspectBytes: number, max: number, tooLarge: () => GatewayError, failed: (err: Error) => GatewayError): Promise<BodyHead> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size <= inspectBytes) {
    const next = await nextChunk(source, failed);
    if (next === undefined) return { chunks, size, done: true };
    size += next.length;
    if (size > max) throw tooLarge();
    chunks.push(next);
  }
  return { chunks, size, done: false };
}

/** The rest of a body after its head (or all of it after NOTHING_READ), whole, up to `max` bytes in all. */
export async function readRest(source: AsyncIterator<Buffer>, head: BodyHead, max: number, tooLarge: () => GatewayError, failed: (err: Error) => GatewayError): Promise<Buffer> {
  const chunks = [...head.chunks];
  let size = head.size;
  for (let next = head.done ? undefined : await nextChunk(source, failed); next !== undefined; next = await nextChunk(source, failed)) {
    size += next.length;
    if (size > max) throw tooLarge();
    chunks.push(next);
  }
  return Buffer.concat(chunks, size);
}

/**
 * The next chunk of `source`, undefined at its end; a failing source is `failed(err)`. The chunk
 * is counted as held by the request in progress (429/503 past its budget) until the request ends
 * or the reader gives it back (a streamed window).
 */
export async function nextChunk(source: AsyncIterator<Buffer>, failed: (err: Error) => GatewayError): Promise<Buffer | undefined> {
  let r: IteratorResult<Buffer>;
  try {
    r = await source.next();
  } catch (err) {
    throw err instanceof GatewayError ? err : failed(err as Error);
  }
  if (r.done) return undefined;
  currentTicket()?.take(r.value.length);
  return r.value;
}

/**
 * The request's body as the readers take it: outside a request (a test calling a reader) the
 * plain stream; inside one, a body that fails with 408 GW_BODY_TIMEOUT when the client pauses
 * longer than bodyIdleMs, or, after minBodyRateGraceMs of waiting, has sent fewer than
 * minBodyBytesPerSecond on average over the time waited. The response to a cut body closes the
 * connection (the pipeline sees the request incomplete), so the rest is never read.
 */
export function clientBody(req: IncomingMessage): AsyncIterator<Buffer> {
  const source = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const settings = currentTicket()?.settings;
  return settings === undefined ? source : paced(source, settings);
}

function paced(source: AsyncIterator<Buffer>, s: BudgetSettings): AsyncIterator<Buffer> {
  let waitedMs = 0;
  let bytes = 0;
  let cut: GatewayError | undefined;
  return {
    next: () => {
      if (cut !== undefined) return Promise.reject(cut);
      return new Promise<IteratorResult<Buffer>>((resolve, reject) => {
        const began = performance.now();
        // The rate rule fails once waitedMs passes max(grace, bytes / rate): the bytes so far
        // bought that much waiting.
        const rateLeft = s.minBodyBytesPerSecond > 0 ? Math.max(s.minBodyRateGraceMs, (bytes / s.minBodyBytesPerSecond) * 1000) - waitedMs : Infinity;
        const idleLeft = s.bodyIdleMs > 0 ? s.bodyIdleMs : Infinity;
        let timer: NodeJS.Timeout | undefined;
        if (Math.min(rateLeft, idleLeft) !== Infinity) {
          timer = setTimeout(() => {
            cut = idleLeft <= rateLeft
              ? new GatewayError('GW_BODY_TIMEOUT', `The request body stalled: nothing arrived for ${s.bodyIdleMs / 1000} s (server.limits.bodyIdleTimeout); send the body without pauses.`)
              : new GatewayError('GW_BODY_TIMEOUT', `The request body arrived too slowly: ${bytes} bytes in ${((waitedMs + performance.now() - began) / 1000).toFixed(1)} s, under the ${s.minBodyBytesPerSecond} bytes per second the gateway requires (server.limits.minBodyBytesPerSecond); send it faster.`);
            reject(cut);
          }, Math.max(0, Math.min(rateLeft, idleLeft)));
        }
        source.next().then((r) => {
          clearTimeout(timer);
          if (cut !== undefined) return; // already refused; the connection closes after the answer
          waitedMs += performance.now() - began;
          if (!r.done) bytes += r.value.length;
          resolve(r);
        }, (err: unknown) => {
          clearTimeout(timer);
          if (cut === undefined) reject(err);
        });
      });
    },
    return: async () => {
      await source.return?.();
      return { done: true, value: undefined };
    },
  };
}

/** A head with nothing read yet, for readRest over a whole body. */
export const NOTHING_READ: BodyHead = Object.freeze({ chunks: [], size: 0, done: false });
