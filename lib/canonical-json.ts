// Canonical JSON for hashing (tool definitions, recorded events, reviewed requests): object keys sorted by UTF-16 code
// units at every level, arrays in order, no whitespace, numbers and strings as JSON.stringify
// writes them (RFC 8785's rules for the JSON that tools are made of). Two definitions that differ
// only in key order hash the same; any other change changes the hash.
import { createHash } from 'node:crypto';

function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  // Object.fromEntries creates own properties, so a "__proto__" key stays a key (an assignment
  // would set the prototype instead and drop it from the hash).
  const obj = value as Record<string, unknown>;
  return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
}

/** `value` as canonical JSON text. Throws TypeError on values JSON cannot hold (cycles, BigInt). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, sortKeys) ?? 'null';
}

/** Lower-case hex SHA-256 of the canonical JSON of `value` (64 characters). */
export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
