// JSON columns: written as text, read back with prototype-poisoning protection (lib/json.ts).
import { parseJson } from '../../lib/json.ts';
import type { Json } from './types.ts';

export function toJsonText(value: Json, what: string): string {
  const text = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError(`${what} must be JSON-serialisable`);
  return text;
}

/** Parses a stored JSON column; the result is fresh plain data without "__proto__" keys. */
export function parseJsonText(text: unknown, what: string): Json {
  if (typeof text !== 'string') throw new TypeError(`stored ${what} is not JSON text`);
  return parseJson(text) as Json;
}

export function parseJsonObject(text: unknown, what: string): { [key: string]: Json } {
  const value = parseJsonText(text, what);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`stored ${what} is not a JSON object`);
  return value;
}
