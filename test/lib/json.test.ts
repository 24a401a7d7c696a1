import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson } from '../../lib/json.ts';

test('__proto__ keys are dropped at any depth, in any spelling; other JSON parses as usual', () => {
  for (const text of ['{"__proto__":{"polluted":1},"a":1}', '{"a":{"b":[{"__proto__":{"polluted":1}}]}}', '{"\\u005f_proto__":{"polluted":1},"a":1}', '{"constructor":{"prototype":{"polluted":1}},"a":1}']) {
    const value = parseJson(text) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.ok(!JSON.stringify(value).includes('polluted'), text);
  }
  assert.deepEqual(parseJson('{"a":[1,"x",null,true],"constructor":"fine"}'), { a: [1, 'x', null, true], constructor: 'fine' });
  assert.throws(() => parseJson('{"a":'), SyntaxError);
});
