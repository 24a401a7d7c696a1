// JSON from outside, parsed with prototype-poisoning protection. JSON.parse itself only creates
// an own "__proto__" property, but code that later merges such an object into another (a deep
// merge, Object.assign onto a prototype) would pollute Object.prototype. So "__proto__" keys, and
// "constructor" objects carrying a "prototype", are dropped at any depth (the rule of fastify's
// secure-json-parse in "remove" mode).

function reviver(key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined;
  if (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype')) return undefined;
  return value;
}

/** Text that may hold a dangerous key, in any JSON spelling (escapes included): only then is the slower reviver needed. */
const SUSPECT = /__proto__|constructor|\\u00/;

/** JSON.parse without "__proto__" keys; throws SyntaxError like JSON.parse. */
export function parseJson(text: string): unknown {
  return SUSPECT.test(text) ? JSON.parse(text, reviver) : JSON.parse(text);
}
