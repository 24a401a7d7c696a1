// Response shaping: a per-tool JMESPath expression checked at configuration time and applied to
// a JSON answer, and the size cap that cuts a result on a UTF-8 character boundary with a marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../../gateway/errors.ts';
import { compileShape, jmespathProblem, shapeJson, truncateUtf8, truncationMarker, SHAPE_MAX_BYTES } from '../../../gateway/mcp/shape.ts';

const answer = {
  total: 3,
  items: [
    { id: 1, name: 'Rex', status: 'available', owner: { email: 'ann@example.com' }, photos: ['a.jpg'] },
    { id: 2, name: 'Tom', status: 'sold', owner: null, photos: [] },
    { id: 3, name: 'Bo', status: 'available', owner: { email: 'bo@example.com' }, photos: [] },
  ],
};

test('a JMESPath expression shapes a JSON answer into compact JSON text', () => {
  const shape = compileShape('items[?status==`available`].{id: id, name: name}', 'listPets');
  assert.deepEqual(shapeJson(answer, { shape }), { text: '[{"id":1,"name":"Rex"},{"id":3,"name":"Bo"}]', bytes: 44, truncated: false });
  assert.equal(shapeJson(answer, { shape: compileShape('length(items)') }).text, '3');
  assert.equal(shapeJson(answer, { shape: compileShape('nothing.here') }).text, 'null');
  assert.equal(shapeJson(answer).text, JSON.stringify(answer), 'no shape: the answer as it is');
});

test('an invalid expression is reported when the connection is configured, naming the tool', () => {
  assert.equal(jmespathProblem('items[].name'), undefined);
  assert.match(jmespathProblem('items[?status==')!, /^is not valid JMESPath: /);
  assert.equal(jmespathProblem('  '), 'must be a non-empty JMESPath expression');
  assert.equal(jmespathProblem('a'.repeat(1001)), 'is 1001 characters; at most 1000 are allowed');
  assert.throws(() => compileShape('items[?', 'listPets'), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_CONNECTION_INVALID');
    assert.match(err.message, /^The response shape for listPets is not valid JMESPath: .+; fix the expression \(see jmespath\.org\)\.$/);
    return true;
  });
});

test('an expression that fails on a particular answer leaves it unshaped and says why', () => {
  const shaped = shapeJson({ items: 5 }, { shape: compileShape('length(items)') });
  assert.equal(shaped.text, '{"items":5}');
  assert.match(shaped.shapeError!, /^the response shape "length\(items\)" failed: .*length\(\)/);
});

test('over the cap, the result is cut with a visible marker giving the sizes', () => {
  const big = { rows: Array.from({ length: 5000 }, (_, i) => ({ i, text: 'lorem ipsum dolor sit amet' })) };
  const total = Buffer.byteLength(JSON.stringify(big));
  const shaped = shapeJson(big);
  assert.equal(shaped.truncated, true);
  assert.equal(shaped.bytes, total);
  assert.ok(shaped.text.endsWith(`\n…[truncated by airlock: ${total} bytes, showing the first ${SHAPE_MAX_BYTES}]`));
  assert.equal(shaped.text, `${JSON.stringify(big).slice(0, SHAPE_MAX_BYTES)}\n${truncationMarker(total, SHAPE_MAX_BYTES)}`);
  const small = shapeJson(big, { shape: compileShape('rows[0]'), maxBytes: 100 });
  assert.deepEqual(small, { text: '{"i":0,"text":"lorem ipsum dolor sit amet"}', bytes: 43, truncated: false });
});

test('the cut never splits a UTF-8 character: 2-, 3- and 4-byte characters at the boundary', () => {
  // "é" is 2 bytes: a cap of 5 falls inside the third one, so two are kept (4 bytes).
  assert.deepEqual(truncateUtf8('éééé', 5), { text: `éé\n${truncationMarker(8, 4)}`, bytes: 8, truncated: true });
  // "€" is 3 bytes: caps 3, 4 and 5 all keep one.
  for (const cap of [3, 4, 5]) assert.equal(truncateUtf8('€€€', cap).text, `€\n${truncationMarker(9, 3)}`);
  // "🐍" is 4 bytes (a surrogate pair in UTF-16): cap 7 keeps "a" and one snake.
  const snake = truncateUtf8('a🐍🐍🐍', 7);
  assert.equal(snake.text, `a🐍\n${truncationMarker(13, 5)}`);
  assert.ok(!snake.text.includes('\uFFFD'), 'no replacement character');
  assert.deepEqual(truncateUtf8('🐍', 3), { text: `\n${truncationMarker(4, 0)}`, bytes: 4, truncated: true });
  assert.deepEqual(truncateUtf8('exactly', 7), { text: 'exactly', bytes: 7, truncated: false });
  assert.throws(() => truncateUtf8('x', -1), TypeError);
});

test('every cut of a mixed string is valid UTF-8 that is a prefix of the original', () => {
  const text = 'aé€🐍'.repeat(20);
  const total = Buffer.byteLength(text);
  for (let cap = 0; cap < total; cap++) {
    const { text: out, truncated } = truncateUtf8(text, cap);
    assert.ok(truncated);
    const kept = out.slice(0, out.lastIndexOf('\n…[truncated'));
    assert.ok(text.startsWith(kept), `cap ${cap}`);
    assert.ok(Buffer.byteLength(kept) <= cap && Buffer.byteLength(kept) > cap - 4, `cap ${cap}`);
    assert.ok(out.endsWith(`showing the first ${Buffer.byteLength(kept)}]`));
  }
});
