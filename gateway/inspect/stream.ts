// Inspecting a body that is too large to hold: it is cut into windows as it arrives, and each
// window is scanned for PII and secrets before any of it may leave. Nothing passes unscanned, and
// what is held at once stays bounded (about one window plus the overlap) however long the body.
//
// Values that straddle a cut: a window is at most `windowBytes`, but its scan also reads the next
// `overlapBytes`, which are scanned again with the next window; so a value shorter than the
// overlap is always seen whole in some scan. A window never ends inside a value found in its scan
// (the cut moves back to the value's start), and never inside a UTF-8 character. The scan also
// sees the text already let through that makes the last `CONTEXT_CHARS` characters of its
// normalised view (pii/normalise.ts; at most `MAX_CONTEXT_CHARS` of the original, since a word
// may be written as escapes or with invisible characters), for the context words some
// recognisers need ("SSN 412 67 3390" with the word before the cut); findings inside that context
// were dealt with before and are left out. A value longer than the overlap (a PEM private key over 8 KiB, say) may be split over two
// windows, and each part is judged on its own.
//
// Bytes that are not UTF-8 (a binary body) are scanned as Latin-1, one character per byte: every
// ASCII pattern is still found, and a masked window re-encodes to exactly its bytes but the tokens.
import { inspectText } from './pii/index.ts';
import { needsView, viewOf } from './pii/normalise.ts';
import type { Finding } from './types.ts';

/** Characters of the normalised view of already-scanned text that the next scan sees in front of its window. */
export const CONTEXT_CHARS = 64;
/** Most UTF-16 code units of the original that context is taken from (64 escaped surrogate pairs are 768). */
export const MAX_CONTEXT_CHARS = 4096;
/** Default bytes per window. */
export const DEFAULT_WINDOW_BYTES = 64 * 1024;
/** Default bytes scanned twice at each cut (the longest value always seen whole). */
export const DEFAULT_OVERLAP_BYTES = 8 * 1024;

export interface ScanWindow {
  /** 0, 1, 2, … in body order. */
  readonly index: number;
  /** Byte offset of the window in the body. */
  readonly offset: number;
  /** The window's bytes, as they arrived. */
  readonly bytes: Buffer;
  /** The window decoded (`encoding`), as inspected; findings' spans point into it. */
  readonly text: string;
  /** How `text` was decoded: utf8, or latin1 for bytes that are not UTF-8. Encode a masked text back with it. */
  readonly encoding: 'utf8' | 'latin1';
  /** PII and secret findings in this window (and inspect.* findings about it). */
  readonly findings: readonly Finding[];
  /** The last window of the body. */
  readonly final: boolean;
}

export interface WindowScannerOptions {
  /** Bytes per window (at least 1024). Default 64 KiB. */
  readonly windowBytes?: number;
  /** Bytes scanned again with the next window (at least 64, less than windowBytes). Default 8 KiB. */
  readonly overlapBytes?: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class WindowScanner {
  readonly #window: number;
  readonly #overlap: number;
  #chunks: Buffer[] = [];
  #held = 0;
  #peakHeld = 0;
  #offset = 0;
  #index = 0;
  #context = '';
  #ended = false;

  constructor(options: WindowScannerOptions = {}) {
    this.#window = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.#overlap = options.overlapBytes ?? DEFAULT_OVERLAP_BYTES;
    if (!Number.isInteger(this.#window) || this.#window < 1024) throw new TypeError(`windowBytes must be an integer of at least 1024, not ${this.#window}`);
    if (!Number.isInteger(this.#overlap) || this.#overlap < 64 || this.#overlap >= this.#window) throw new TypeError(`overlapBytes must be an integer from 64 to under windowBytes, not ${this.#overlap}`);
  }

  /** Bytes read and not yet given out in a window. */
  get held(): number { return this.#held; }
  /** The most bytes held at once: at most windowBytes + overlapBytes + the largest chunk pushed. */
  get peakHeld(): number { return this.#peakHeld; }
  /** Bytes given out in windows so far. */
  get offset(): number { return this.#offset; }

  /** Takes the next bytes of the body; returns the windows that are ready (often none). */
  push(chunk: Buffer): ScanWindow[] {
    if (this.#ended) throw new Error('WindowScanner: push after end');
    if (chunk.length === 0) return [];
    this.#chunks.push(chunk);
    this.#held += chunk.length;
    this.#peakHeld = Math.max(this.#peakHeld, this.#held);
    const out: ScanWindow[] = [];
    // Each round gives out at least one byte (a cut is never at the window's start), so the loop ends.
    while (this.#held >= this.#window + this.#overlap) out.push(this.#cut(false));
    return out;
  }

  /** The body is complete: its last window, `final` (empty when nothing was left), of at most windowBytes + overlapBytes. */
  end(): ScanWindow[] {
    if (this.#ended) throw new Error('WindowScanner: end twice');
    this.#ended = true;
    return [this.#cut(true)]; // push() leaves less than windowBytes + overlapBytes held
  }

  // One window: scans at most windowBytes + overlapBytes (and the context before), gives out at
  // most windowBytes (the final window: the rest), less when a value found crosses that end.
  #cut(final: boolean): ScanWindow {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#held);
    this.#chunks = [all];
    const regionEnd = final ? all.length : charBoundary(all, this.#window + this.#overlap);
    const nominalEnd = final ? all.length : charBoundary(all, this.#window);
    let encoding: 'utf8' | 'latin1' = 'utf8';
    let head: string;
    let tail: string;
    try {
      head = strictUtf8.decode(all.subarray(0, nominalEnd));
      tail = strictUtf8.decode(all.subarray(nominalEnd, regionEnd));
    } catch {
      encoding = 'latin1';
      const end = final ? all.length : Math.min(all.length, this.#window + this.#overlap);
      const at = final ? all.length : Math.min(all.length, this.#window);
      head = all.toString('latin1', 0, at);
      tail = all.toString('latin1', at, end);
    }
    const lb = this.#context.length;
    const text = this.#context + head + tail;
    const scanned = inspectText(text).filter((f) => f.span === undefined || f.span.end > lb);

    let cut = lb + head.length;
    if (!final) {
      // Never cut a value: the cut moves back to the start of any value across it.
      for (let moved = true; moved;) {
        moved = false;
        for (const f of scanned) {
          if (f.span !== undefined && f.span.start < cut && f.span.end > cut) { cut = f.span.start; moved = true; }
        }
      }
      if (cut > lb && isHighSurrogate(text.charCodeAt(cut - 1))) cut--;
      // A value from the window's very start across its end (longer than the overlap): cut anyway, it is judged in parts.
      if (cut <= lb) cut = lb + head.length;
    }
    const windowText = text.slice(lb, cut);
    const size = encoding === 'utf8' ? Buffer.byteLength(windowText, 'utf8') : windowText.length;
    const findings: Finding[] = [];
    for (const f of scanned) {
      if (f.span === undefined) { findings.push(f); continue; }
      if (f.span.start >= cut) continue; // after the cut: seen again with the next window
      findings.push({ ...f, span: { start: Math.max(f.span.start, lb) - lb, end: Math.min(f.span.end, cut) - lb } });
    }
    const bytes = all.subarray(0, size);
    const window: ScanWindow = { index: this.#index++, offset: this.#offset, bytes, text: windowText, encoding, findings, final };
    this.#offset += size;
    this.#chunks = size === all.length ? [] : [all.subarray(size)];
    this.#held = all.length - size;
    this.#context = contextBefore(text, cut);
    return window;
  }
}

/** The end of text[0..cut) whose normalised view holds the last CONTEXT_CHARS characters (bounded by MAX_CONTEXT_CHARS). */
function contextBefore(text: string, cut: number): string {
  const piece = text.slice(Math.max(0, cut - MAX_CONTEXT_CHARS), cut);
  if (!needsView(piece)) return piece.slice(-CONTEXT_CHARS);
  const view = viewOf(piece, MAX_CONTEXT_CHARS * 2);
  if (view.from === null) return piece.slice(-CONTEXT_CHARS);
  if (view.text.length === 0) return '';
  return piece.slice(view.from[Math.max(0, view.text.length - CONTEXT_CHARS)]);
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** The largest offset ≤ `at` (and ≤ the length) in `bytes` that does not split a UTF-8 sequence. */
function charBoundary(bytes: Buffer, at: number): number {
  const isContinuation = (i: number) => (bytes[i]! & 0xc0) === 0x80;
  if (at < bytes.length) {
    let i = at;
    while (i > at - 3 && i > 0 && isContinuation(i)) i--; // the lead of the character at `at`
    return isContinuation(i) ? at : i; // four continuation bytes in a row: not UTF-8 anyway
  }
  // At the end: a last character still missing bytes is left for the next push.
  const n = bytes.length;
  let lead = n - 1;
  while (lead > n - 4 && lead > 0 && isContinuation(lead)) lead--;
  if (lead < 0) return n;
  const b = bytes[lead]!;
  const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return n - lead < need ? lead : n;
}
