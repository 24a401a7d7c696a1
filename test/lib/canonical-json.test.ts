// Canonical JSON: the direct walk over plain data must give exactly the text of the replacer
// (JSON.stringify with sorted copies), which is what every stored hash (recorded events, pinned
// tool definitions, reviewed requests) was computed over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, canonicalJsonWith } from '../../lib/canonical-json.ts';

/** The reference: the replacer form canonicalJson has always been defined by. */
function reference(value: unknown): string {
  const sortKeys = (_key: string, v: unknown): unknown => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const obj = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
  };
  return JSON.stringify(value, sortKeys) ?? 'null';
}

const protoKey = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as unknown;
const cases: Array<[string, unknown]> = [
  ['scalars', [null, true, false, 0, -0, 1.5, 1e21, 1e-7, NaN, Infinity, -Infinity, '', 'x']],
  ['unicode and escapes', { 'é': '\u2028\u2029', 'a\u0000b': '"\\\n', lone: '\ud800', emoji: '😀', z: 'ü' }],
  ['key order by UTF-16 units', { b: 1, a: 2, B: 3, 'é': 4, '😀': 5, '\uffff': 6, aa: 7, 'a ': 8 }],
  ['array-index keys first, in numeric order', { b: 1, 10: 2, 2: 3, a: 4, '01': 5, '-1': 6, '1e3': 7, 4294967294: 8, 4294967295: 9, 0: 10 }],
  ['omitted members', { a: undefined, b: () => 1, c: Symbol('s'), d: 1 }],
  ['holes and omitted items in arrays', [undefined, () => 1, Symbol('s'), , 1]], // eslint-disable-line no-sparse-arrays
  ['nested', { z: [{ y: { x: [1, { w: null }] } }], a: { c: [], b: {} } }],
  ['an own "__proto__" key', protoKey],
  ['a null-prototype object', Object.assign(Object.create(null) as object, { b: 1, a: [2] })],
  ['toJSON: Date', { at: new Date(0), nested: [new Date(86_400_000)] }],
  ['toJSON: Buffer', { data: Buffer.from('hi') }],
  ['an object with its own toJSON', { a: { toJSON: () => ({ z: 1, y: 2 }) } }],
  ['a "toJSON" key that is no function', { toJSON: 'text', b: 1 }],
  ['class instances and collections', { m: new Map([[1, 2]]), s: new Set([1]), u: new URL('http://x/'), c: new (class { b = 1; a = 2; })() }],
  ['boxed primitives', { s: new String('ab'), n: new Number(3), b: new Boolean(false) }],
  ['an array with an extra property', Object.assign([1, 2], { extra: true })],
  ['undefined at the root', undefined],
  ['a function at the root', () => 1],
  ['a BigInt-free object with a getter', Object.defineProperty({ b: 1 }, 'a', { get: () => [2, { d: 1, c: 0 }], enumerable: true })],
  ['deep nesting past the fast path', (() => { let v: unknown = 1; for (let i = 0; i < 400; i++) v = i % 2 ? [v] : { k: v }; return v; })()],
];

for (const [name, value] of cases) {
  test(`canonicalJson equals the replacer form: ${name}`, () => {
    assert.equal(canonicalJson(value), reference(value));
  });
}

test('canonicalJson throws where JSON cannot hold the value, as the replacer form does', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  // The sorted copies hide the cycle from JSON.stringify: the stack overflows instead.
  assert.throws(() => reference(cyclic), { name: 'RangeError' });
  assert.throws(() => canonicalJson(cyclic), { name: 'RangeError' });
  assert.throws(() => canonicalJson({ n: 1n }), { name: 'TypeError', message: /BigInt/ });
});

test('canonicalJsonWith equals canonicalJson of the merged object, a rendered member winning', () => {
  const body = { z: [1, 2, { b: 'é', a: null }], 3: 'x' };
  const fields = { status: 200, body: 'replaced', requestId: 'r1', 10: 'ten', a: undefined };
  assert.equal(canonicalJsonWith(fields, { body: canonicalJson(body) }), canonicalJson({ ...fields, body }));
  assert.equal(canonicalJsonWith({}, { data: canonicalJson('x"y'), part: '0' }), '{"data":"x\\"y","part":0}');
  assert.equal(canonicalJsonWith({ d: new Date(0) }, {}), '{"d":"1970-01-01T00:00:00.000Z"}');
});

test('canonicalJsonWith orders array-index keys as canonicalJson does and omits what JSON omits', () => {
  const fields = { b: 1, 10: 'ten', 2: 'two', f: () => 1, u: undefined };
  assert.equal(canonicalJsonWith(fields, { a: '"x"', 1: 'true' }), canonicalJson({ ...fields, a: 'x', 1: true }));
  assert.equal(canonicalJsonWith(fields, { a: '"x"', 1: 'true' }), '{"1":true,"2":"two","10":"ten","a":"x","b":1}');
});
