// JSON as a data path reads it: every key kept, duplicates reported, integers lossless, nesting
// bounded. A target and the guard must never read one body differently, and JSON.parse alone
// lets them: it keeps only the last of two equal keys (a reader that keeps the first sees a value
// that was never inspected), and it rounds integers past 2^53 (a 19-digit id becomes another id,
// and a card number written as a number can no longer be checked). So a body is first scanned
// once, linearly, for what JSON.parse hides (duplicate keys, decoded as JSON decodes them; depth;
// integers it would round), then parsed, with those integers as BigInt.
//
// `__proto__` and `constructor` are kept as the own properties JSON.parse makes of them: the
// parsed value is inspected and, masked, written back out, never merged into another object, so
// dropping them (lib/json.ts, for the gateway's own API) would only hide them from the inspectors
// while the raw text still carried them to the target.

/** What the scan found that JSON.parse would hide. */
export interface JsonScan {
  /** JSONPaths of members whose key appeared before in the same object (at most MAX_REPORTED). */
  readonly duplicates: readonly string[];
  /** Nesting went past `maxDepth`: the text is not parsed (a finding, never a stack overflow). */
  readonly tooDeep: boolean;
  /** A number JSON.parse would not give back as written: integers past 15 digits (parsed as BigInt), exponents, long decimals, -0 (kept as their text). */
  readonly bigIntegers: boolean;
}

/** Duplicate paths listed at most, per body. */
const MAX_REPORTED = 20;
/** Deepest nesting parsed by default (the root container is depth 1). */
export const DEFAULT_MAX_DEPTH = 64;

interface Level {
  readonly object: boolean;
  /** The member's key (objects) or element index (arrays) being read. */
  key: string | number;
  expectKey: boolean;
  first?: string;
  keys?: Set<string>;
}

/**
 * Scans JSON text for duplicate keys, depth past `maxDepth` and integers JSON.parse would round.
 * Text that is not JSON gives meaningless results and never throws or loops: JSON.parse rejects it next.
 */
export function scanJson(text: string, maxDepth = DEFAULT_MAX_DEPTH): JsonScan {
  const duplicates: string[] = [];
  const stack: Level[] = [];
  let bigIntegers = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: find its closing quote (one not escaped by an odd run of backslashes)
      let end = i;
      for (let from = i + 1; ;) {
        const q = text.indexOf('"', from);
        if (q === -1) return { duplicates, tooDeep: false, bigIntegers };
        let slashes = 0;
        while (text.charCodeAt(q - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) { end = q; break; }
        from = q + 1;
      }
      const top = stack[stack.length - 1];
      if (top !== undefined && top.object && top.expectKey) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? decodeKey(raw) : raw;
        top.expectKey = false;
        top.key = key;
        if (top.first === undefined) top.first = key;
        else {
          top.keys ??= new Set([top.first]);
          if (top.keys.has(key)) {
            if (duplicates.length < MAX_REPORTED) duplicates.push(pathOf(stack));
          } else top.keys.add(key);
        }
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b || c === 0x5b) { // { [
      if (stack.length >= maxDepth) return { duplicates, tooDeep: true, bigIntegers };
      stack.push(c === 0x7b ? { object: true, key: '', expectKey: true } : { object: false, key: 0, expectKey: false });
    } else if (c === 0x7d || c === 0x5d) { // } ]
      stack.pop();
    } else if (c === 0x2c) { // ,
      const top = stack[stack.length - 1];
      if (top !== undefined) {
        if (top.object) top.expectKey = true;
        else top.key = (top.key as number) + 1;
      }
    } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) { // a number: count the digits of an integer
      let j = i + (c === 0x2d ? 1 : 0);
      let digits = 0;
      while (j < n && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x39) { j++; digits++; }
      const next = text.charCodeAt(j);
      if (digits > 15 && next !== 0x2e && next !== 0x65 && next !== 0x45) bigIntegers = true;
      while (j < n && /[0-9eE+\-.]/.test(text[j]!)) j++;
      // A number JSON.parse may not give back as written: an exponent, more digits than a double
      // holds, or -0 (1e400 would be written back as null, 0.1234567890123456789 rounded).
      if (!bigIntegers && (j - i > 16 || /[eE]/.test(text.slice(i, j)) || text.startsWith('-0', i) && !/^-0\.\d*[1-9]/.test(text.slice(i, j)))) bigIntegers = true;
      i = j;
      continue;
    }
    i++;
  }
  return { duplicates, tooDeep: false, bigIntegers };
}

/** A key's text with its escapes decoded as JSON decodes them (so "a" and "\u0061" are one key). */
function decodeKey(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw; // not JSON: the parse that follows refuses it
  }
}

/** The JSONPath of the member being read, as the inspectors write paths (`$.a[0]['b c']`). */
function pathOf(stack: readonly Level[]): string {
  let path = '$';
  for (const level of stack) {
    if (!level.object) path += `[${level.key as number}]`;
    else path += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(level.key as string) ? `.${level.key as string}` : `[${JSON.stringify(level.key)}]`;
  }
  return path;
}

/** JSON.parse, with integers past 2^53 kept exact as BigInt when `scan.bigIntegers` says there are any. Throws SyntaxError. */
export function parseScanned(text: string, scan: JsonScan): unknown {
  if (!scan.bigIntegers) return JSON.parse(text);
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value !== 'number' || context?.source === undefined) return value;
    const source = context.source;
    if (/^-?\d+$/.test(source)) return Number.isSafeInteger(value) && source !== '-0' ? value : source === '-0' ? rawJson(source) : BigInt(source);
    // A decimal or an exponent that does not come back as written stays its text, so a masked body
    // changes nothing but what was masked (JSON.rawJSON: written back verbatim by stringifyJson).
    // Integral values stay numbers (4.111111111111111e15 is a card the inspectors must see).
    return Number.isFinite(value) && (Number.isInteger(value) || JSON.stringify(value) === source) ? value : rawJson(source);
  });
}

function rawJson(source: string): unknown {
  return (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(source);
}

/** JSON text of a parsed (and maybe masked) value: BigInts written as the exact integers they hold. */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(v.toString()) : v));
}
