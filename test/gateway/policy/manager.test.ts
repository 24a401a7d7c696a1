// Policies reload when their files change; an invalid edit keeps the previous policy in force
// and is logged loudly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../../../gateway/errors.ts';
import { PolicyManager } from '../../../gateway/policy/manager.ts';
import { createLogger } from '../../../lib/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-manager-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(file: string, text: string, secondsAhead: number): void {
  writeFileSync(file, text);
  const t = new Date(Date.now() + secondsAhead * 1000);
  utimesSync(file, t, t); // a distinct mtime even on coarse file systems
}

test('an edit applies on reload; an invalid edit keeps the previous policy and is logged', () => {
  const lines: Array<Record<string, unknown>> = [];
  const manager = new PolicyManager({ logger: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), reloadIntervalMs: 0 });
  after(() => manager.close());
  const file = join(dir, 'mine.yaml');
  write(file, 'name: mine\nrules:\n  - { id: a, action: deny, reason: first }\n', 1);
  const selection = { packs: ['sql-safety'], files: [file] };
  const first = manager.get(selection);
  assert.deepEqual(first.rules.map((r) => r.reason).at(-1), 'first');
  assert.equal(manager.get(selection), first, 'built once, then reused');

  write(file, 'name: mine\nrules:\n  - { id: a, action: deny, reason: second }\n', 2);
  manager.reloadChanged();
  assert.equal(manager.get(selection).rules.at(-1)?.reason, 'second');
  assert.ok(lines.some((l) => l.msg === 'policy reloaded'));

  write(file, 'name: mine\nrules:\n  - { id: a, action: explode, reason: third }\n', 3);
  manager.reloadChanged();
  assert.equal(manager.get(selection).rules.at(-1)?.reason, 'second', 'the previous policy stays in force');
  const error = lines.find((l) => l.level === 'error');
  assert.match(String(error?.msg), /^POLICY NOT RELOADED/);
  assert.match(String(error?.reason), /mine\.yaml:\d+:\d+: rules\.0\.action/);
  const errors = lines.filter((l) => l.level === 'error').length;
  manager.reloadChanged();
  assert.equal(lines.filter((l) => l.level === 'error').length, errors, 'the same broken edit is reported once');
});

test('a selection that was never valid is refused with GW_POLICY_INVALID', () => {
  const manager = new PolicyManager({ logger: createLogger({ write: () => {} }), reloadIntervalMs: 0 });
  assert.throws(() => manager.get({ packs: ['no-such-pack'], files: [] }), (err: GatewayError) => err.code === 'GW_POLICY_INVALID' && /no-such-pack\.yaml: ENOENT/.test(err.message));
});
