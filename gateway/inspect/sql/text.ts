// Offsets and parser errors. libpg-query counts UTF-8 bytes while findings count UTF-16 code
// units; and a parser's message quotes the input near the error, which may be a password or a
// personal value, so only the error's class and offset reach a finding.
import type { Span } from '../types.ts';

/**
 * UTF-16 indexes of the UTF-8 byte offsets `bytes` in `text` (one pass; offsets past the end,
 * Infinity included, map to text.length). The text must be well formed (no lone surrogates).
 */
export function utf16Offsets(text: string, bytes: readonly number[]): number[] {
  if (/^[\x00-\x7f]*$/.test(text)) return bytes.map((b) => Math.min(Math.max(0, b), text.length));
  const order = bytes.map((b, i) => [b, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(bytes.length);
  let byte = 0;
  let i = 0;
  let k = 0;
  while (k < order.length) {
    const [target, slot] = order[k]!;
    if (byte >= target || i >= text.length) { out[slot] = i; k++; continue; }
    const cp = text.codePointAt(i)!;
    byte += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += cp >= 0x10000 ? 2 : 1;
  }
  return out;
}

/** UTF-16 index of the `n`th code point of `text` (text.length when past the end). */
export function codePointToUtf16(text: string, n: number): number {
  let i = 0;
  for (let k = 0; k < n && i < text.length; k++) i += (text.codePointAt(i) ?? 0) >= 0x10000 ? 2 : 1;
  return Math.min(i, text.length);
}

export interface ParseErrorInfo {
  /** The parser's complaint without any quoted input, plus the offset. */
  readonly message: string;
  /** True when the parser gave up on a resource limit (nesting, memory, stack) rather than syntax. */
  readonly limit: boolean;
  readonly span?: Span;
}

const LIMIT_WORDS = /memory exhausted|stack depth|maximum call stack|too many|too long|too complex/i;

/** A safe description of an error thrown by libpg-query or node-sql-parser on `text`. */
export function describeParseError(err: unknown, text: string): ParseErrorInfo {
  const e = err as { message?: unknown; sqlDetails?: { cursorPosition?: unknown }; location?: { start?: { offset?: unknown } }; name?: unknown } | null;
  const raw = typeof e?.message === 'string' ? e.message : String(err);
  const limit = err instanceof RangeError || LIMIT_WORDS.test(raw);
  let offset: number | undefined;
  // libpg-query counts the cursor in characters (code points); node-sql-parser in UTF-16 units.
  if (typeof e?.sqlDetails?.cursorPosition === 'number') offset = codePointToUtf16(text, e.sqlDetails.cursorPosition);
  else if (typeof e?.location?.start?.offset === 'number') offset = e.location.start.offset;
  // node-sql-parser lists the tokens it expected and quotes what it found: keep neither.
  const base = e?.name === 'SyntaxError' && /^Expected /.test(raw)
    ? 'syntax error'
    : raw.replace(/\s+at or near\s+"[\s\S]*$/, '').replace(/"[^"]*"/g, '"..."').replace(/'[^']*'/g, "'...'").slice(0, 120);
  const message = offset === undefined ? base : `${base} at offset ${offset}`;
  const span = offset === undefined ? undefined : { start: offset, end: Math.min(text.length, offset + 1) };
  return span ? { message, limit, span } : { message, limit };
}
