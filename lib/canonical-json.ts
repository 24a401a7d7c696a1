// Canonical JSON for hashing (tool definitions, recorded events, reviewed requests): object keys sorted by UTF-16 code
// units at every level, arrays in order, no whitespace, numbers and strings as JSON.stringify
// writes them (RFC 8785's rules for the JSON that tools are made of). Two definitions that differ
// only in key order hash the same; any other change changes the hash. One quirk, which stored
// hashes depend on: keys that are array indices ("2", "10") come first, in numeric order.
import { createHash } from 'node:crypto';

function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  // Object.fromEntries creates own properties, so a "__proto__" key stays a key (an assignment
  // would set the prototype instead and drop it from the hash).
  const obj = value as Record<string, unknown>;
  return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
}

/** `value` as canonical JSON text. Throws on values JSON cannot hold: TypeError for a BigInt, RangeError for a cycle. */
export function canonicalJson(value: unknown): string {
  return textOf(value) ?? 'null';
}

/**
 * The canonical JSON of the object `fields` plus members whose canonical JSON is already made
 * (`rendered`: key → text; a key in both takes the rendered text): the same text as
 * canonicalJson({ ...fields, ...values }) where each rendered text is canonicalJson(value). The
 * recorder measures and chunks a body's text, and this spares it serialising the body again.
 */
export function canonicalJsonWith(fields: Readonly<Record<string, unknown>>, rendered: Readonly<Record<string, string>>): string {
  const keys = new Set([...Object.keys(fields), ...Object.keys(rendered)]);
  const members: string[] = [];
  for (const key of keyOrder([...keys])) {
    const text = Object.hasOwn(rendered, key) ? rendered[key] : textOf(fields[key]);
    if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${members.join(',')}}`;
}

// The fast path: plain data (what JSON.parse and object literals make) is copied with its keys in
// canonical order, once, and the copy is serialised by JSON.stringify without a replacer, which
// V8 does far faster than calling back into JS for every value. Anything else (toJSON, class
// instances, an own "__proto__" key, very deep or cyclic values) takes the replacer path, so the
// text is the same for every input; test/lib/canonical-json.test.ts holds the two equal.
const NOT_PLAIN = Symbol('not plain');
const MAX_FAST_DEPTH = 256;

/** canonicalJson's text, or undefined where JSON omits the value (undefined, a function, a symbol). */
function textOf(value: unknown): string | undefined {
  let copy: unknown;
  try {
    copy = sortedCopy(value, 0);
  } catch (err) {
    if (err !== NOT_PLAIN) throw err;
    return JSON.stringify(value, sortKeys) as string | undefined;
  }
  return JSON.stringify(copy) as string | undefined;
}

/** A copy of plain data with every object's keys in canonical order; throws NOT_PLAIN otherwise. */
function sortedCopy(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_FAST_DEPTH) throw NOT_PLAIN;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN;
  if (Array.isArray(value)) {
    if (proto !== Array.prototype) throw NOT_PLAIN;
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = sortedCopy(value[i], depth + 1);
    return out;
  }
  if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // Assigned in sorted order, as Object.fromEntries does in the replacer: the copy then lists
  // array-index keys first, in numeric order, exactly like the replacer's copy.
  for (const key of Object.keys(obj).sort()) {
    if (key === '__proto__') throw NOT_PLAIN; // an assignment would set the prototype
    out[key] = sortedCopy(obj[key], depth + 1);
  }
  return out;
}

/** Keys in the order the replacer's copy lists them: array indices ("0", "17") numerically, then the rest sorted. */
function keyOrder(keys: string[]): string[] {
  const sorted = keys.sort();
  if (!sorted.some(isArrayIndex)) return sorted;
  return [...sorted.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b)), ...sorted.filter((k) => !isArrayIndex(k))];
}

function isArrayIndex(key: string): boolean {
  const c = key.charCodeAt(0);
  if (c < 48 || c > 57 || (c === 48 && key.length > 1)) return false;
  const n = Number(key);
  return Number.isInteger(n) && n <= 4294967294 && String(n) === key;
}

/** Lower-case hex SHA-256 of the canonical JSON of `value` (64 characters). */
export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
