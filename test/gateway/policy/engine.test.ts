// The policy engine over findings: the shipped packs, strictest-wins, fail-closed, CEL
// conditions, masking plans, and refusal of invalid policy files with file, line and reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../../../gateway/errors.ts';
import type { Finding } from '../../../gateway/inspect/types.ts';
import type { EvalContext, PolicyRequest } from '../../../gateway/policy/context.ts';
import { evaluate } from '../../../gateway/policy/engine.ts';
import { loadPolicies } from '../../../gateway/policy/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const f = (kind: string, severity: Finding['severity'] = 'high'): Finding => ({ kind, path: '$', severity, detail: kind });
function ctx(findings: Finding[], request: Partial<PolicyRequest> = {}, groups: string[] = ['developers']): EvalContext {
  return {
    identity: { sub: 'bob', email: 'bob@airlock.dev', name: 'Bob', groups, roles: ['user'], via: 'oidc' },
    connection: { name: 'demo', kind: 'http', tags: ['prod'] },
    request: { kind: 'sql', direction: 'request', ...request },
    findings,
    now: Date.UTC(2026, 10, 22, 12),
  };
}
function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: GatewayError) => {
    assert.equal(err.code, 'GW_POLICY_INVALID');
    assert.match(err.message, message);
    return true;
  });
}

const pack = loadPolicies({ packs: ['default'] });

test('the default pack includes the four others, in order, with unique rule ids', () => {
  assert.deepEqual(pack.policies, ['sql-safety', 'shell-safety', 'pii-masking', 'secrets-masking', 'default']);
  assert.equal(new Set(pack.rules.map((r) => r.id)).size, pack.rules.length);
});

test('default pack decisions by finding kind', () => {
  const cases: Array<[string, string, string]> = [
    ['sql.read', 'allow', 'policy.default'],
    ['sql.write', 'allow', 'policy.default'],
    ['sql.write.unbounded', 'review', 'sql.unbounded_write'],
    ['sql.ddl.create', 'review', 'sql.ddl'],
    ['sql.procedural', 'review', 'sql.procedural'],
    ['sql.ddl.drop', 'deny', 'sql.drop'],
    ['sql.privilege', 'deny', 'sql.privilege'],
    ['sql.escape', 'deny', 'sql.escape'],
    ['sql.server_config', 'deny', 'sql.server_config'],
    ['sql.unparsed', 'deny', 'sql.unparsed'],
    ['shell.infra_destructive', 'review', 'shell.infra_destructive'],
    ['shell.destructive', 'deny', 'shell.destructive'],
    ['shell.pipe_to_interpreter', 'deny', 'shell.remote_code'],
    ['shell.dynamic_command', 'deny', 'shell.opaque'],
  ];
  for (const [kind, decision, reason] of cases) {
    const d = evaluate(pack, ctx([f(kind)]));
    assert.equal(d.decision, decision, kind);
    assert.equal(d.reasons[0]?.reason, reason, kind);
  }
});

test('the strictest action wins and every applied rule is listed, strictest first', () => {
  const d = evaluate(pack, ctx([f('sql.write.unbounded'), f('sql.ddl.drop'), f('sql.ddl.create')]));
  assert.equal(d.decision, 'deny');
  assert.deepEqual(d.reasons.map((r) => [r.rule, r.action]), [['sql-drop', 'deny'], ['sql-unbounded-write', 'review'], ['sql-ddl', 'review']]);
});

test('PII in a response is masked with the pack strategies; in a request it is not', () => {
  const response = evaluate(pack, ctx([f('pii.CREDIT_CARD'), f('secret.AWS_ACCESS_KEY')], { kind: 'json', direction: 'response' }));
  assert.equal(response.decision, 'mask');
  assert.deepEqual(response.mask, { default: 'redact', CREDIT_CARD: 'partial', AWS_ACCESS_KEY: 'redact' });
  assert.equal(evaluate(pack, ctx([f('pii.CREDIT_CARD')], { kind: 'json', direction: 'request' })).decision, 'allow');
});

test('fail closed: an unparsed or uninspectable payload is denied even when a rule allows it', () => {
  const lenient = loadPolicies({ files: [file('lenient.yaml', 'name: lenient\nrules:\n  - id: allow-all\n    action: allow\n    reason: ok\n')] });
  for (const kind of ['sql.unparsed', 'shell.unparsed', 'inspect.error', 'inspect.limit']) {
    const d = evaluate(lenient, ctx([f(kind)]));
    assert.equal(d.decision, 'deny', kind);
    assert.equal(d.reasons[0]?.reason, 'inspect.failed');
  }
  assert.equal(evaluate(lenient, ctx([f('sql.read')])).decision, 'allow');
});

test('with nothing applying, the connection default decides', () => {
  const empty = loadPolicies({ files: [file('empty.yaml', 'name: empty\nrules: []\n')] });
  assert.equal(evaluate(empty, ctx([])).decision, 'allow');
  const d = evaluate(empty, ctx([]), { defaultAction: 'deny' });
  assert.equal(d.decision, 'deny');
  assert.equal(d.reasons[0]?.reason, 'policy.default');
});

test('CEL conditions see identity, connection, request, findings and now', () => {
  const policy = loadPolicies({ files: [file('cel.yaml', [
    'name: cel',
    'rules:',
    '  - id: big-refund',
    '    match: { kinds: [mcp], tools: ["refund*"] }',
    '    when: request.args.amount > 1000 && !("finance" in identity.groups)',
    '    action: review',
    '    reason: refund.large',
    '    review: { reviewers: [finance], approvals: 2, wait: 600 }',
    '  - id: prod-writes-at-night',
    '    when: "\'prod\' in connection.tags && findings.exists(f, f.kind.startsWith(\'sql.write\')) && now.getHours() < 6"',
    '    action: deny',
    '    reason: prod.night',
    '',
  ].join('\n'))] });
  const refund = (amount: number, groups: string[]) => evaluate(policy, ctx([], { kind: 'mcp', tool: 'refund_order', args: { amount } }, groups));
  const held = refund(5000, ['developers']);
  assert.equal(held.decision, 'review');
  assert.deepEqual(held.review, { reviewers: ['finance'], approvals: 2, wait: 600, expires: 3600, validity: 900, uses: 1 });
  assert.equal(refund(5000, ['finance']).decision, 'allow');
  assert.equal(refund(10, ['developers']).decision, 'allow');
  assert.equal(evaluate(policy, ctx([f('sql.write')])).decision, 'allow', 'noon UTC is not night');
  assert.equal(evaluate(policy, { ...ctx([f('sql.write')]), now: Date.UTC(2026, 10, 22, 3) }).decision, 'deny');
});

test('a condition that fails at run time denies, naming the rule and the error', () => {
  const policy = loadPolicies({ files: [file('fragile.yaml', 'name: fragile\nrules:\n  - id: needs-amount\n    when: request.args.amount > 10\n    action: allow\n    reason: ok\n')] });
  const d = evaluate(policy, ctx([], { kind: 'mcp', tool: 't', args: {} }));
  assert.equal(d.decision, 'deny');
  assert.equal(d.reasons[0]?.reason, 'policy.eval_error');
  assert.match(d.reasons[0]?.error ?? '', /No such key: amount/);
});

test('invalid policy files are refused with the file, the line and the reason', () => {
  refused(() => loadPolicies({ files: [file('unknown.yaml', 'name: x\nrules:\n  - id: a\n    action: deny\n    reason: r\n    colour: red\n')] }), /unknown\.yaml:6:5: rules\.0\.colour: Unrecognized key: "colour" \(known keys here: id, /);
  refused(() => loadPolicies({ files: [file('action.yaml', 'name: x\nrules:\n  - id: a\n    action: block\n    reason: r\n')] }), /action\.yaml:4:5: rules\.0\.action: Invalid option/);
  refused(() => loadPolicies({ files: [file('typo.yaml', 'name: x\nrules:\n  - id: a\n    when: identiy.groups.size() > 0\n    action: deny\n    reason: r\n')] }), /typo\.yaml:3: rules\.0 \(a\): when: .*identiy/);
  refused(() => loadPolicies({ files: [file('syntax.yaml', 'name: x\nrules:\n  - id: a\n    when: "request.sql +"\n    action: deny\n    reason: r\n')] }), /syntax\.yaml:3: rules\.0 \(a\): when: /);
  refused(() => loadPolicies({ files: [file('type.yaml', 'name: x\nrules:\n  - id: a\n    when: "size(findings)"\n    action: deny\n    reason: r\n')] }), /not a bool/);
  refused(() => loadPolicies({ files: [file('mask.yaml', 'name: x\nrules:\n  - id: a\n    action: deny\n    reason: r\n    mask: { default: hash }\n')] }), /rules\.0\.mask: mask strategies go with action: mask/);
  refused(() => loadPolicies({ files: [file('dup.yaml', 'name: x\nrules:\n  - { id: a, action: deny, reason: r }\n  - { id: a, action: allow, reason: r }\n')] }), /rule id "a" is already used/);
  refused(() => loadPolicies({ files: [file('yaml.yaml', 'name: x\nrules: [\n')] }), /yaml\.yaml:\d+:\d+: /);
  refused(() => loadPolicies({ files: [join(dir, 'missing.yaml')] }), /cannot read policy file .*missing\.yaml: ENOENT/);
});

test('pack includes that form a cycle are refused', () => {
  const packs = mkdtempSync(join(dir, 'packs-'));
  writeFileSync(join(packs, 'a.yaml'), 'name: a\ninclude: [b]\n');
  writeFileSync(join(packs, 'b.yaml'), 'name: b\ninclude: [a]\n');
  refused(() => loadPolicies({ packs: ['a'], packsDir: packs }), /cycle: a → b → a/);
  refused(() => loadPolicies({ packs: ['../etc'], packsDir: packs }), /not a pack name/);
});

test('confirm sits between mask and review: review and deny win over it, it wins over mask; a failure finding turns it into deny', () => {
  const policy = loadPolicies({ files: [file('confirm.yaml', [
    'name: c',
    'rules:',
    '  - { id: ask, match: { kinds: [mcp] }, action: confirm, reason: ask }',
    '  - { id: hide, match: { findings: ["pii.*"] }, action: mask, reason: hide }',
    '  - { id: held, match: { tools: [held] }, action: review, reason: held }',
    '  - { id: no, match: { tools: [no] }, action: deny, reason: no }',
    '',
  ].join('\n'))] });
  const mcp = (tool: string, findings: Finding[] = []) => evaluate(policy, ctx(findings, { kind: 'mcp', tool }));
  const both = mcp('t', [f('pii.EMAIL_ADDRESS')]);
  assert.equal(both.decision, 'confirm');
  assert.deepEqual(both.reasons.map((r) => r.rule), ['ask', 'hide']);
  assert.deepEqual(both.mask, { default: 'redact', EMAIL_ADDRESS: 'redact' }, 'the mask plan goes with confirm: the caller confirms what leaves');
  assert.equal(mcp('t').mask, undefined);
  assert.equal(mcp('held').decision, 'review');
  assert.equal(mcp('no').decision, 'deny');
  const unreadable = mcp('t', [f('sql.unparsed')]);
  assert.equal(unreadable.decision, 'deny', 'the caller confirming their own call is no look at what nobody could read');
  assert.equal(unreadable.reasons[0]!.reason, 'inspect.failed');
});
