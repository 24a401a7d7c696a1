// The connection schema against a table of valid and invalid definitions per kind
// (schema.cases.yaml): each invalid one must be refused naming the exact field; each valid one
// is stored with its documented defaults and its canonical target. Plus the size and depth caps
// of the OpenAPI document, which a table cannot hold, and JSON merge patch (RFC 7396).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describeFieldIssues, OPENAPI_MAX_BYTES, OPENAPI_MAX_DEPTH, validateConnection } from '../../../gateway/connections/schema.ts';
import { MERGE_PATCH_MAX_DEPTH, mergePatch } from '../../../gateway/connections/merge-patch.ts';

interface Case { case: string; input: Record<string, unknown>; target?: unknown; field?: string; message?: string }
const cases = parse(readFileSync(new URL('./schema.cases.yaml', import.meta.url), 'utf8')) as Case[];

function withDefaults(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { name: 'demo', agent: 'local', ...input };
  for (const [k, v] of Object.entries(out)) if (v === null) delete out[k];
  return out;
}

test('the case table covers every kind, valid and invalid', () => {
  for (const kind of ['http', 'mcp', 'postgres']) {
    assert.ok(cases.some((c) => c.input.kind === kind && c.field === undefined), `a valid ${kind} case`);
    assert.ok(cases.some((c) => c.input.kind === kind && c.field !== undefined), `an invalid ${kind} case`);
  }
});

for (const c of cases) {
  test(`${c.field === undefined ? 'valid' : `invalid (${c.field})`}: ${c.case}`, () => {
    const result = validateConnection(withDefaults(c.input));
    if (c.field === undefined) {
      assert.ok(result.ok, result.ok ? '' : describeFieldIssues(result.issues));
      if (c.target !== undefined) assert.deepEqual(result.connection.target, c.target);
      return;
    }
    assert.equal(result.ok, false, `${c.case} should be refused`);
    if (result.ok) return;
    assert.equal(result.issues[0]!.field, c.field, describeFieldIssues(result.issues));
    assert.ok(result.issues[0]!.message.includes(c.message!), `"${result.issues[0]!.message}" should include "${c.message}"`);
  });
}

test('defaults are filled in as documented', () => {
  const result = validateConnection({ name: 'demo', kind: 'http', agent: 'local', target: 'http://127.0.0.1:8090' });
  assert.ok(result.ok);
  assert.deepEqual(result.connection, {
    name: 'demo', kind: 'http', agent: 'local', target: 'http://127.0.0.1:8090/',
    groups: [],
    policy: { packs: ['default'], files: [], defaultAction: 'allow' },
    limits: {
      maxRequestBytes: 10 * 1024 * 1024, maxResponseBytes: 50 * 1024 * 1024, inspectBytes: 1024 * 1024, oversize: 'deny',
      timeouts: { connectMs: 5000, firstByteMs: 30_000, idleMs: 60_000 },
    },
    tags: [],
    sql: { dialect: 'postgresql' },
    recording: { retentionDays: 0, metadataOnly: false },
    maxToolResultBytes: 64 * 1024,
    http: { methodOverride: [] },
    inspect: [],
  });
  const pg = validateConnection({ name: 'db', kind: 'postgres', agent: 'local', target: 'postgres://db/app' });
  assert.ok(pg.ok);
  assert.deepEqual(pg.connection.sql, { dialect: 'postgresql' });
});

test('every issue is reported with its field, not only the first', () => {
  const result = validateConnection({ name: 'Bad', kind: 'http', agent: 'local', target: 'http://u:p@x', tags: ['a', 'a'] });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(result.issues.map((i) => i.field), ['name', 'target', 'tags.1']);
  assert.match(describeFieldIssues(result.issues), /^name: a DNS label .*; target: must not carry credentials .*; tags\.1: the key "a" is tagged twice$/);
  assert.match(describeFieldIssues(result.issues, 1), /\(and 2 more\)$/);
});

test('anything that is not an object is refused, never thrown', () => {
  for (const input of [null, 'demo', 42, [], undefined]) {
    const result = validateConnection(input);
    assert.equal(result.ok, false);
    if (!result.ok) assert.ok(['(connection)', 'kind'].includes(result.issues[0]!.field), JSON.stringify(result.issues));
  }
});

test('a description is bounded and free of control characters', () => {
  const base = { name: 'demo', kind: 'http', agent: 'local', target: 'http://x.internal' };
  assert.ok(validateConnection({ ...base, description: 'line one\nline two' }).ok);
  for (const description of ['x'.repeat(1001), 'bell\u0007']) {
    const result = validateConnection({ ...base, description });
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.issues[0]!.field, 'description');
  }
});

test('an OpenAPI document over the size cap is refused naming openapi', () => {
  const paths: Record<string, unknown> = {};
  const description = 'd'.repeat(1000);
  for (let i = 0; i < Math.ceil(OPENAPI_MAX_BYTES / 1000) + 1; i++) paths[`/p${i}`] = { get: { description } };
  const result = validateConnection({ name: 'demo', kind: 'http', agent: 'local', target: 'http://x.internal', openapi: { openapi: '3.0.3', paths } });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.issues[0]!.field, 'openapi');
  assert.match(result.issues[0]!.message, new RegExp(`bytes as JSON, more than the ${OPENAPI_MAX_BYTES} allowed`));
});

test('an OpenAPI document nested past the depth cap is refused without overflowing the stack', () => {
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < 100_000; i++) deep = (deep.x = {}) as Record<string, unknown>;
  const result = validateConnection({ name: 'demo', kind: 'http', agent: 'local', target: 'http://x.internal', openapi: { openapi: '3.0.3', paths: {}, deep: root } });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.issues[0]!.field, 'openapi');
  assert.equal(result.issues[0]!.message, `is nested deeper than ${OPENAPI_MAX_DEPTH} levels`);
});

// RFC 7396, Appendix A: every example.
const rfc7396: Array<[unknown, unknown, unknown]> = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [['a', 'b'], ['c', 'd'], ['c', 'd']],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

test('merge patch follows every example of RFC 7396 and leaves its inputs alone', () => {
  for (const [target, patch, expected] of rfc7396) {
    const before = JSON.stringify(target);
    assert.deepEqual(mergePatch(target, patch), expected, `${before} + ${JSON.stringify(patch)}`);
    assert.equal(JSON.stringify(target), before, 'the target is not modified');
  }
});

test('merge patch refuses a patch nested past its depth cap, and never sets a prototype', () => {
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < MERGE_PATCH_MAX_DEPTH + 5; i++) deep = (deep.x = {}) as Record<string, unknown>;
  assert.throws(() => mergePatch({}, root), { name: 'RangeError', message: `the patch is nested deeper than ${MERGE_PATCH_MAX_DEPTH} levels` });
  const merged = mergePatch({}, JSON.parse('{"__proto__": {"admin": true}, "a": 1}')) as Record<string, unknown>;
  assert.deepEqual(merged, { a: 1 });
  assert.equal(({} as Record<string, unknown>).admin, undefined);
  assert.equal(Object.getPrototypeOf(merged), Object.prototype);
});
