// `airlock policy` as users and corpora drive it: real processes. The shared corpora run through
// `airlock policy eval --jsonl` against the default pack, scored as test/fixtures/corpus/README.md
// says: nothing expected deny/review may come out allow, exact agreement ≥ 95% per file, every
// labelled PII value masked, every negative case unchanged.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AIRLOCK, run } from '../support/process.ts';
import { corpusDir } from '../support/corpus.ts';

const CORPUS = corpusDir();
const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function lines<T>(file: string): T[] {
  return readFileSync(join(CORPUS, file), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

async function evalJsonl(inputs: unknown[], args: string[] = []): Promise<Array<Record<string, any>>> {
  const file = join(dir, `in-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, inputs.map((i) => JSON.stringify(i)).join('\n') + '\n');
  const r = await run(AIRLOCK, ['policy', 'eval', '--jsonl', '--input', file, ...args], { timeout: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
}

function score(name: string, expected: string[], got: string[], labels: string[]): void {
  const misses = expected.map((e, i) => ({ e, g: got[i]!, label: labels[i]! })).filter((m) => m.e !== m.g);
  const unsafe = misses.filter((m) => m.e !== 'allow' && m.g === 'allow');
  const table = misses.map((m) => `  expected ${m.e.padEnd(6)} got ${m.g.padEnd(6)} ${m.label.slice(0, 100)}`).join('\n');
  assert.equal(unsafe.length, 0, `${name}: cases expected deny/review came out allow:\n${table}`);
  const agreement = 1 - misses.length / expected.length;
  assert.ok(agreement >= 0.95, `${name}: exact agreement ${(agreement * 100).toFixed(1)}% < 95%:\n${table}`);
}

test('the SQL corpus through airlock policy eval --jsonl (default pack)', async () => {
  const cases = lines<{ dialect: string; sql: string; expect: string }>('sql.jsonl');
  const results = await evalJsonl(cases.map((c) => ({ kind: 'sql', dialect: c.dialect, sql: c.sql })));
  assert.equal(results.length, cases.length);
  score('sql.jsonl', cases.map((c) => c.expect), results.map((r) => r.decision), cases.map((c) => `[${c.dialect}] ${c.sql}`));
});

test('the shell corpus through airlock policy eval --jsonl (default pack)', async () => {
  const cases = lines<{ command: string; expect: string }>('shell.jsonl');
  const results = await evalJsonl(cases.map((c) => ({ kind: 'shell', command: c.command })));
  score('shell.jsonl', cases.map((c) => c.expect), results.map((r) => r.decision), cases.map((c) => c.command));
});

test('the PII corpus: every labelled value masked, negative cases unchanged', async () => {
  const cases = lines<{ text: string; entities: Array<{ type: string; value: string }> }>('pii.jsonl');
  const results = await evalJsonl(cases.map((c) => ({ kind: 'text', text: c.text })));
  const problems: string[] = [];
  cases.forEach((c, i) => {
    const masked = results[i]!.masked as string;
    if (c.entities.length === 0 && masked !== c.text) problems.push(`changed a negative case: ${c.text} → ${masked}`);
    for (const e of c.entities) if (masked.includes(e.value)) problems.push(`left ${e.type} ${e.value} in: ${masked}`);
  });
  assert.deepEqual(problems, []);
});

test('eval prints decision, reasons, findings and the masked payload for JSON', async () => {
  const [r] = await evalJsonl([{ kind: 'json', value: { customers: [{ name: 'Ada', card: '4111 1111 1111 1111', email: 'ada@example.com', n: 3 }] } }]);
  assert.equal(r!.decision, 'mask');
  assert.deepEqual(r!.masked, { customers: [{ name: 'Ada', card: '[CREDIT_CARD …1111]', email: '[EMAIL_ADDRESS]', n: 3 }] });
  assert.ok(r!.findings.some((f: { kind: string; path: string }) => f.kind === 'pii.CREDIT_CARD' && f.path === '$.customers[0].card'));
  assert.equal(r!.reasons[0].reason, 'pii.masked');
});

test('SQL is judged in the dialect the input, its connection or --dialect names: MySQL backslash escapes do not hide an unbounded DELETE', async () => {
  // PostgreSQL reads 'a\'' as one string (a, backslash, quote); MySQL reads 'a\'' as the string a'
  // and then runs OR 1=1 as code, and the text reads differently again with NO_BACKSLASH_ESCAPES.
  const hidden = "DELETE FROM t WHERE name = 'a\\'' OR 1=1 -- '";
  const escaped = "DELETE FROM t WHERE name = 'x\\\\' OR 1=1 -- '";
  const inputs = [
    { kind: 'sql', sql: hidden },
    { kind: 'sql', sql: hidden, connection: { name: 'shop', kind: 'mcp', sql: { dialect: 'mysql' } } },
    { kind: 'sql', sql: hidden, dialect: 'postgresql' },
    { kind: 'sql', sql: hidden, connection: { name: 'db', kind: 'postgres' } },
    { kind: 'mcp', tool: 'query', arguments: { sql: hidden }, sql: hidden },
    { kind: 'sql', sql: escaped },
  ];
  const plain = await evalJsonl(inputs);
  const mysql = await evalJsonl(inputs, ['--dialect', 'mysql']);
  const kindsOf = (r: Record<string, any>) => (r.findings as Array<{ kind: string }>).map((f) => f.kind);
  // Without a dialect anywhere: postgresql, where the text is a bounded delete.
  assert.equal(plain[0]!.decision, 'allow');
  assert.deepEqual(kindsOf(plain[0]!), ['sql.write']);
  // The connection's sql.dialect decides, also without the flag.
  assert.equal(plain[1]!.decision, 'deny');
  assert.ok(kindsOf(plain[1]!).includes('sql.write.unbounded') && kindsOf(plain[1]!).includes('sql.obfuscation'), JSON.stringify(plain[1]));
  assert.equal(plain[5]!.decision, 'review');
  // --dialect applies where the input and its connection say nothing.
  assert.deepEqual(mysql.map((r) => r.decision), ['deny', 'deny', 'allow', 'allow', 'deny', 'review']);
  assert.ok(kindsOf(mysql[5]!).includes('sql.write.unbounded'));
});

test('a bad line in --jsonl is reported in place and the run goes on, exit 2', async () => {
  const file = join(dir, 'mixed.jsonl');
  writeFileSync(file, '{"kind":"sql","sql":"SELECT 1"}\nnot json\n{"kind":"nope"}\n{"kind":"shell","command":"ls"}\n');
  const r = await run(AIRLOCK, ['policy', 'eval', '--jsonl', '--input', file]);
  assert.equal(r.code, 2);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  assert.equal(out.length, 4);
  assert.equal(out[0]!.decision, 'allow');
  assert.deepEqual([out[1]!.line, out[1]!.error.code], [2, 'CLI_INPUT_INVALID']);
  assert.match(out[2]!.error.message, /kind/);
  assert.equal(out[3]!.decision, 'allow');
  assert.match(r.stderr, /2 of 4 input lines were not valid requests/);
});

test('check validates files; an invalid one exits 2 naming file, line and reason', async () => {
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'name: good\nrules:\n  - id: no-drop\n    match: { findings: [sql.ddl.drop] }\n    action: deny\n    reason: drop\n');
  const ok = await run(AIRLOCK, ['policy', 'check', good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `ok  ${good}: policy good, 1 rule\n`);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'name: bad\nrules:\n  - id: x\n    when: identity.grops.size() > 0 &&\n    action: deny\n    reason: r\n');
  const r = await run(AIRLOCK, ['policy', 'check', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^airlock: ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: rules\\.0 \\(x\\): when: .* \\(CLI_POLICY_INVALID\\)\\n$`));
});

test('a custom policy with a CEL condition on arguments and groups, via --policy', async () => {
  const file = join(dir, 'refunds.yaml');
  writeFileSync(file, [
    'name: refunds',
    'rules:',
    '  - id: large-refund',
    '    match: { kinds: [mcp], tools: [refund] }',
    '    when: request.args.amount > 1000 && !("finance" in identity.groups)',
    '    action: review',
    '    reason: refund.large',
    '',
  ].join('\n'));
  const [held, fine] = await evalJsonl([
    { kind: 'mcp', tool: 'refund', arguments: { amount: 5000 }, identity: { sub: 'bob', groups: ['developers'] } },
    { kind: 'mcp', tool: 'refund', arguments: { amount: 5000 }, identity: { sub: 'fay', groups: ['finance'] } },
  ], ['--policy', file]);
  assert.equal(held!.decision, 'review');
  assert.equal(held!.reasons[0].reason, 'refund.large');
  assert.equal(fine!.decision, 'allow');
});

test('action confirm: check accepts it, eval shows it (with the masked arguments the caller would confirm), a failure finding still denies', async () => {
  const file = join(dir, 'confirm.yaml');
  writeFileSync(file, [
    'name: confirming',
    'rules:',
    '  - { id: wire, match: { kinds: [mcp], tools: [wire] }, action: confirm, reason: money.wire, message: Wires cannot be recalled. }',
    '  - { id: pii, match: { kinds: [mcp], findings: ["pii.*"] }, action: mask, reason: pii.masked }',
    '',
  ].join('\n'));
  const ok = await run(AIRLOCK, ['policy', 'check', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `ok  ${file}: policy confirming, 2 rules\n`);
  const [wire, other] = await evalJsonl([
    { kind: 'mcp', tool: 'wire', arguments: { to: 'ada.lovelace@example.com', amount: 10 } },
    { kind: 'mcp', tool: 'balance', arguments: { account: 'a-1' } },
  ], ['--policy', file]);
  assert.equal(wire!.decision, 'confirm');
  assert.deepEqual(wire!.reasons.map((r: { rule: string }) => r.rule), ['wire', 'pii']);
  assert.deepEqual(wire!.masked, { to: '[EMAIL_ADDRESS]', amount: 10 });
  assert.equal(other!.decision, 'allow');
});

test('policy test runs YAML cases and exits 3 when one fails', async () => {
  const tests = mkdtempSync(join(dir, 'tests-'));
  writeFileSync(join(tests, 'sql.yaml'), [
    'policy: { packs: [default] }',
    'cases:',
    '  - name: drop is refused',
    '    input: { kind: sql, sql: "DROP TABLE users" }',
    '    expect: deny',
    '    reason: sql.drop',
    '  - name: a read passes',
    '    input: { kind: sql, sql: "SELECT * FROM users WHERE id = 1" }',
    '    expect: allow',
    '',
  ].join('\n'));
  const ok = await run(AIRLOCK, ['policy', 'test', tests]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^PASS  .*sql\.yaml: drop is refused$/m);
  assert.match(ok.stdout, /^2 passed, 0 failed$/m);

  writeFileSync(join(tests, 'wrong.yaml'), 'cases:\n  - name: delete everything is fine\n    input: { kind: sql, sql: "DELETE FROM users" }\n    expect: allow\n');
  const failing = await run(AIRLOCK, ['policy', 'test', tests]);
  assert.equal(failing.code, 3);
  assert.match(failing.stdout, /^FAIL  .*wrong\.yaml: delete everything is fine — expected allow, got review \(sql\.unbounded_write\)$/m);
  assert.match(failing.stdout, /^2 passed, 1 failed$/m);
  assert.match(failing.stderr, /\(CLI_TEST_FAILED\)/);
});
