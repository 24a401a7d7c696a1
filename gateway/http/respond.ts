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
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.destroy();
      throw tooLarge(maxBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError('GW_BODY_TOO_LARGE', `The request body is larger than ${maxBytes} bytes; send less, or raise server.maxBodyBytes.`);
}
