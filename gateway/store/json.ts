// JSON columns: written as text, read back with prototype-poisoning protection. JSON.parse itself
// only creates an own "__proto__" property, but code that later merges such an object into another
// (a deep merge, Object.assign onto a prototype) would pollute Object.prototype. So "__proto__"
// keys, and "constructor" objects carrying a "prototype", are dropped on read, at any depth
// (the same rule as fastify's secure-json-parse in "remove" mode).
import type { Json } from './types.ts';

export function toJsonText(value: Json, what: string): string {
  const text = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError(`${what} must be JSON-serialisable`);
  return text;
}

function reviver(key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined;
  if (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype')) return undefined;
  return value;
}

/** Parses a stored JSON column; the result is fresh plain data without "__proto__" keys. */
export function parseJsonText(text: unknown, what: string): Json {
  if (typeof text !== 'string') throw new TypeError(`stored ${what} is not JSON text`);
  return JSON.parse(text, reviver) as Json;
}

export function parseJsonObject(text: unknown, what: string): { [key: string]: Json } {
  const value = parseJsonText(text, what);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`stored ${what} is not a JSON object`);
  return value;
}
