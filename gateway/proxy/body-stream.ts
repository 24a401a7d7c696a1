// Streamed bodies on the HTTP path (a connection's `limits.oversize: stream`): a body larger than
// `limits.inspectBytes` flows through window by window instead of being held whole. Each window
// is inspected, decided and recorded before a byte of it leaves (gateway/inspect/stream.ts cuts
// the windows), and the next bytes are read only when the far side has taken the last ones, so
// the gateway holds about one window per direction however large the body, and a slow reader
// slows the writer down through every hop (the tunnel's per-stream credit does the rest).
//
// "Commit at the end": a body's end goes out only after its last window passed. A window that is
// refused stops the body midway: a request is reset before its end reaches the target (which sees
// an aborted upload, never a complete one), an answer already begun is cut off (the client sees
// an incomplete body, never a complete one).
import type { Writable } from 'node:stream';
import type { GatewayError } from '../errors.ts';
import { charsetOf, firstValue, readWholeKind } from '../guard/index.ts';
import { released } from '../http/budget.ts';
import { nextChunk, type BodyHead } from '../http/respond.ts';
import { WindowScanner, type ScanWindow } from '../inspect/stream.ts';

/** What went through, for the recording. */
export interface StreamedBody {
  readonly bytes: number;
  readonly windows: number;
  /** Windows that left masked. */
  readonly masked: number;
  /** The most body bytes the scanner held at once (at most a window, its overlap and the largest read). */
  readonly peakHeldBytes: number;
  /** The largest piece read from the source at once: what its stream had buffered while a window was decided and recorded. */
  readonly largestReadBytes: number;
}

export interface PumpOptions {
  readonly head: BodyHead;
  readonly rest: AsyncIterator<Buffer>;
  /** Largest body, in bytes: past it `tooLarge()` is thrown. */
  readonly max: number;
  readonly tooLarge: () => GatewayError;
  readonly failed: (err: Error) => GatewayError;
  /** Inspects, decides and records one window; the bytes that may leave (masked or as they came), or throws the refusal. */
  readonly pass: (window: ScanWindow) => Promise<Buffer>;
  /** Sends bytes on; resolves when the far side can take more. */
  readonly write: (bytes: Buffer) => Promise<void>;
  readonly scanner?: WindowScanner;
}

/** Moves a body from its head and the rest of its source through the window scanner to `write`. The caller ends the far side. */
export async function pumpBody(o: PumpOptions): Promise<StreamedBody> {
  const scanner = o.scanner ?? new WindowScanner();
  let bytes = 0;
  let windows = 0;
  let masked = 0;
  let largest = 0;
  const send = async (ready: ScanWindow[]) => {
    for (const w of ready) {
      const out = await o.pass(w);
      windows++;
      if (out !== w.bytes) masked++;
      if (out.length > 0) await o.write(out);
      released(w.bytes.length); // gone on: the request holds only what the scanner still has
    }
  };
  const take = async (chunk: Buffer) => {
    bytes += chunk.length;
    largest = Math.max(largest, chunk.length);
    if (bytes > o.max) throw o.tooLarge();
    await send(scanner.push(chunk));
  };
  for (const chunk of o.head.chunks) await take(chunk);
  if (!o.head.done) {
    for (let next = await nextChunk(o.rest, o.failed); next !== undefined; next = await nextChunk(o.rest, o.failed)) await take(next);
  }
  await send(scanner.end());
  return { bytes, windows, masked, peakHeldBytes: scanner.peakHeld, largestReadBytes: largest };
}

/**
 * A `write` for pumpBody over a Node writable: resolves at once while the writable takes more,
 * else on 'drain'. Fails when the writable closes first (`gone`), or stays full for `idleMs`
 * (a reader that stopped reading: `stalled`).
 */
export function writeWithBackpressure(target: Writable, idleMs: number, gone: () => GatewayError, stalled: () => GatewayError): (bytes: Buffer) => Promise<void> {
  return (bytes) => new Promise((resolve, reject) => {
    if (target.destroyed || target.writableEnded) return reject(gone());
    if (target.write(bytes)) return resolve();
    const done = (err?: GatewayError) => {
      clearTimeout(timer);
      target.off('drain', onDrain);
      target.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = () => done();
    const onClose = () => done(gone());
    const timer = setTimeout(() => done(stalled()), idleMs);
    target.once('drain', onDrain);
    target.once('close', onClose);
  });
}

/**
 * `limits.oversize: stream`, and a body the window scanner may carry: not one read as more than its
 * text (JSON, a form, multipart: guard readWholeKind, inspected whole), not content-encoded (the
 * windows must be what leaves: a compressed body is read whole and decoded, so past the inspection
 * limit it follows the oversize rule as deny), and in UTF-8, ASCII or Latin-1 (the scanner's two
 * readings; another declared charset, read as the guard reads it, is read whole to be decoded).
 */
export function streamable(oversize: 'deny' | 'review' | 'stream', headers: Record<string, string | string[] | undefined>): boolean {
  const contentType = firstValue(headers['content-type']);
  const encoding = (firstValue(headers['content-encoding']) ?? '').trim().toLowerCase();
  const charset = charsetOf(contentType);
  const scannable = charset === undefined || ['utf-8', 'utf8', 'us-ascii', 'ascii', 'iso-8859-1', 'latin1'].includes(charset);
  return oversize === 'stream' && readWholeKind(contentType) === undefined && (encoding === '' || encoding === 'identity') && scannable;
}
