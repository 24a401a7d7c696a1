// Writing responses: JSON bodies, coded errors, and bounded body reading.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, errorBody } from '../errors.ts';

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
  sendJson(res, err.status, errorBody(err, requestId), { ...err.headers });
}

/**
 * Reads a request body into memory, refusing it past `maxBytes` (checked against
 * Content-Length first, then while streaming, so a lying client is cut off too).
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (Number(req.headers['content-length']) > maxBytes) throw tooLarge(maxBytes);
  try {
    return await readRest(req[Symbol.asyncIterator](), NOTHING_READ, maxBytes, () => tooLarge(maxBytes),
      (err) => new GatewayError('GW_BAD_REQUEST', `The client stopped sending the request body before its end (${(err as NodeJS.ErrnoException).code ?? err.message}).`, { cause: err }));
  } catch (err) {
    req.destroy();
    throw err;
  }
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

/** The next chunk of `source`, undefined at its end; a failing source is `failed(err)`. */
export async function nextChunk(source: AsyncIterator<Buffer>, failed: (err: Error) => GatewayError): Promise<Buffer | undefined> {
  let r: IteratorResult<Buffer>;
  try {
    r = await source.next();
  } catch (err) {
    throw err instanceof GatewayError ? err : failed(err as Error);
  }
  return r.done ? undefined : r.value;
}

/** A head with nothing read yet, for readRest over a whole body. */
export const NOTHING_READ: BodyHead = Object.freeze({ chunks: [], size: 0, done: false });
