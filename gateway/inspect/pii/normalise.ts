// The normalised view a string is matched in, with a map from every character of the view back
// to the characters of the original it came from. Recognizers only ever see the view, and a
// match's span in the view is mapped back (originalSpan), so a value is found however it is
// spelled and masking still replaces exactly the original characters, whatever form they were in.
//
// The view, code point by code point of the original:
//   1. `\uXXXX` (4 hex digits; an escaped surrogate pair is one character) and `\u{X…}` (1–6 hex
//      digits) escapes are decoded: text that is not JSON may still carry them (a log line, a
//      form field) and a reader would decode them. One level: `\u005cu0034` is `\u0034`;
//   2. the character is put in NFKC (full-width letters and digits, circled and superscript
//      digits, ligatures and compatibility spaces become their plain forms);
//   3. every decimal digit of any script (\p{Nd}: Arabic-Indic, Devanagari, mathematical, …)
//      becomes the ASCII digit of the same value;
//   4. every space separator (\p{Zs}: no-break, narrow, ideographic, Ogham, …) becomes ' ';
//      every dash (\p{Pd}, and U+2212 minus) becomes '-';
//   5. characters no reader sees are dropped: format characters (\p{Cf}: zero-width spaces and
//      joiners, soft hyphen, BOM, bidi controls) and combining marks (\p{Mn}, \p{Me}).
// A view character maps to the whole original character (or escape) it came from, and to the
// combining marks dropped after it, so a span can never end inside an escape, a surrogate pair
// or a character with its marks. ASCII text without a `\u` escape is its own
// view: scan.ts skips building one (see `needsView`), which is equivalent because every step
// above is the identity on such text.
//
// Separators between digit groups that are ASCII (tab, runs of spaces, '/', '_') are not
// rewritten here, where they would change what other recognizers see ("sk_live_…" is a token,
// not digits); digits.ts reads them as group separators.

/** A string as matched, and where each of its UTF-16 code units came from in the original. */
export interface View {
  /** The normalised text. */
  readonly text: string;
  /** from[i]..to[i]: the original code units view code unit i came from. Null when the view is the original. */
  readonly from: Int32Array | null;
  readonly to: Int32Array | null;
  /** Original code units read: less than the original's length when the view reached its limit. */
  readonly consumed: number;
}

const BACKSLASH = 92;
const LOWER_U = 117;

/** Whether `text` may differ from its view: any non-ASCII code unit, or a `\u`. */
export function needsView(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || (c === BACKSLASH && text.charCodeAt(i + 1) === LOWER_U)) return true;
  }
  return false;
}

const ND = /\p{Nd}/u;
const ZS = /\p{Zs}/u;
const PD = /\p{Pd}/u;
const INVISIBLE = /[\p{Cf}\p{Mn}\p{Me}]/u;
const MARK = /[\p{Mn}\p{Me}]/u;
const MINUS = 0x2212;

/** Memo of what one non-ASCII code point becomes; code points repeat (a text in one script uses few). */
const MEMO = new Map<number, string>();
const MEMO_MAX = 1 << 16;
/** Per BMP code unit: 0 not known yet, 1 its own view, 2 not (or a surrogate). Most text is the first kind. */
const BMP = new Uint8Array(0x10000);

/** Whether BMP code unit `c` (not '\\') is its own view, so the view builder can copy it as it is. */
function unchanged(c: number): boolean {
  let state = BMP[c]!;
  if (state === 0) {
    state = c >= 0xd800 && c <= 0xdfff ? 2 : foldCodePoint(c) === String.fromCharCode(c) ? 1 : 2;
    BMP[c] = state;
  }
  return state === 1;
}

/** The view of one code point (non-ASCII, or an escaped one): '' when dropped. */
function foldCodePoint(cp: number): string {
  if (cp < 128) return String.fromCharCode(cp);
  let out = MEMO.get(cp);
  if (out !== undefined) return out;
  const ch = String.fromCodePoint(cp);
  out = '';
  for (const c of ch.normalize('NFKC')) out += foldNormalised(c);
  if (MEMO.size >= MEMO_MAX) MEMO.clear(); // bounded, and still learns the characters of the text at hand
  MEMO.set(cp, out);
  return out;
}

/** Steps 3–5 for one code point already in NFKC. */
function foldNormalised(c: string): string {
  const cp = c.codePointAt(0)!;
  if (cp < 128) return c;
  if (ND.test(c)) return String.fromCharCode(48 + digitValue(cp));
  if (ZS.test(c)) return ' ';
  if (PD.test(c) || cp === MINUS) return '-';
  if (INVISIBLE.test(c)) return '';
  return c;
}

/**
 * The value of a \p{Nd} code point. Unicode encodes every decimal digit set as ten contiguous code
 * points from 0 to 9, and sets that touch (the mathematical digits) each start at 0, so the value
 * is the distance from the start of the run of \p{Nd} code points, modulo 10.
 */
function digitValue(cp: number): number {
  let start = cp;
  while (start > 0 && ND.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The escape at `i` (a backslash): [code point, length], or null when it is no \u escape. */
function escapeAt(text: string, i: number): [number, number] | null {
  if (text.charCodeAt(i + 1) !== LOWER_U) return null;
  if (text.charCodeAt(i + 2) === 123) { // \u{X…}
    let cp = 0;
    let j = i + 3;
    for (; j < text.length && j < i + 9; j++) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      cp = cp * 16 + h;
    }
    if (j === i + 3 || text.charCodeAt(j) !== 125 || cp > 0x10ffff) return null;
    return [cp, j + 1 - i];
  }
  const cp = hex4(text, i + 2);
  if (cp < 0) return null;
  // An escaped surrogate pair ("\\ud835\\udfd2") is one character, as in JSON.
  if (cp >= 0xd800 && cp <= 0xdbff && text.charCodeAt(i + 6) === BACKSLASH && text.charCodeAt(i + 7) === LOWER_U) {
    const low = hex4(text, i + 8);
    if (low >= 0xdc00 && low <= 0xdfff) return [0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00), 12];
  }
  return [cp, 6];
}

/** The value of the four hex digits at `at`, or -1. */
function hex4(text: string, at: number): number {
  let v = 0;
  for (let j = at; j < at + 4; j++) {
    const h = hexValue(text.charCodeAt(j)); // NaN past the end: -1
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/**
 * The view of `text` (see the header), at most `maxChars` UTF-16 code units long; when the limit
 * is reached, `consumed` says how much of the original it covers. Linear in the length of `text`.
 */
export function viewOf(text: string, maxChars: number): View {
  const n = text.length;
  // The map is made at the first change: until then the view is a prefix of the original.
  let from: Int32Array<ArrayBuffer> | null = null;
  let to: Int32Array<ArrayBuffer> | null = null;
  let size = 0;
  /** Maps the next `count` view code units to original i..end. */
  const put = (count: number, i: number, end: number): void => {
    if (from === null || to === null) { size += count; return; }
    while (size + count > from.length) {
      from = grown(from);
      to = grown(to);
    }
    for (let k = 0; k < count; k++, size++) { from[size] = i; to[size] = end; }
  };
  let out = '';
  let stretch = 0; // start of the original text that is its own view and not yet in `out`
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c < 128 ? c !== BACKSLASH : unchanged(c)) { // the common case: a code unit that is its own view
      if (size >= maxChars) break;
      put(1, i, i + 1);
      i++;
      continue;
    }
    const esc = c === BACKSLASH ? escapeAt(text, i) : null;
    const cp = esc !== null ? esc[0] : text.codePointAt(i)!;
    const len = esc !== null ? esc[1] : cp > 0xffff ? 2 : 1;
    // A lone surrogate (in the text or escaped) stays as it is.
    const piece = cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : foldCodePoint(cp);
    if (size + piece.length > maxChars) break;
    if (piece.length === len && text.startsWith(piece, i)) {
      // Its own view: each code unit maps to the whole character, so a span cannot split a pair.
      put(len, i, i + len);
    } else {
      if (from === null || to === null) [from, to] = identity(text, i, Math.min(n, maxChars) + 8);
      out += text.slice(stretch, i) + piece;
      if (piece.length === 0 && size > 0 && MARK.test(String.fromCodePoint(cp))) {
        // A dropped combining mark belongs to the character before it ("7\ufe0f\u20e3" is one
        // keycap): that character's range grows over it, so masking takes the mark too.
        const start = from[size - 1]!;
        for (let k = size - 1; k >= 0 && from[k] === start; k--) to[k] = i + len;
      }
      put(piece.length, i, i + len);
      stretch = i + len;
    }
    i += len;
  }
  if (from === null) return { text: i === n ? text : text.slice(0, i), from: null, to: null, consumed: i };
  return { text: out + text.slice(stretch, i), from, to, consumed: i };
}

/** The map of text[0..end) to itself (a surrogate pair's units both map to the pair), with room for `capacity`. */
function identity(text: string, end: number, capacity: number): [Int32Array<ArrayBuffer>, Int32Array<ArrayBuffer>] {
  const from = new Int32Array(Math.max(capacity, end + 8));
  const to = new Int32Array(from.length);
  for (let k = 0; k < end; k++) {
    const pair = (text.charCodeAt(k) & 0xfc00) === 0xd800 && k + 1 < end && (text.charCodeAt(k + 1) & 0xfc00) === 0xdc00;
    if (pair) { from[k] = from[k + 1] = k; to[k] = to[k + 1] = k + 2; k++; }
    else { from[k] = k; to[k] = k + 1; }
  }
  return [from, to];
}

function grown(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** The original span of view span start..end (end exclusive, start < end). */
export function originalSpan(view: View, start: number, end: number): { start: number; end: number } {
  if (view.from === null) return { start, end };
  return { start: view.from[start]!, end: view.to![end - 1]! };
}

/** `value` as the recognizers read it (the whole view): what masking hashes and keeps part of. */
export function normaliseForMatch(value: string): string {
  return needsView(value) ? viewOf(value, Number.MAX_SAFE_INTEGER).text : value;
}
