// Policy evaluation time per request with 50 rules (issue: aim ≤ 20 µs median): the default
// pack plus 37 generated rules of the kinds people write (connection, tool, group and path
// filters, finding filters, CEL conditions on arguments and identity), over a typical request.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate } from '../../../gateway/policy/engine.ts';
import { loadPolicies } from '../../../gateway/policy/load.ts';
import type { EvalContext } from '../../../gateway/policy/context.ts';
import type { Scenario } from '../scenario.ts';

const RUNS = 50_000;
const MAX_MS = 2000;

function generated(n: number): string {
  const rules: string[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 4) {
      case 0: rules.push(`  - { id: conn-${i}, match: { connections: [billing-${i}], findings: ['sql.write*'] }, action: review, reason: r${i} }`); break;
      case 1: rules.push(`  - { id: tool-${i}, match: { kinds: [mcp], tools: ['refund*'] }, when: 'request.args.amount > ${i * 100}', action: review, reason: r${i} }`); break;
      case 2: rules.push(`  - { id: group-${i}, match: { groups: [contractors-${i}] }, action: deny, reason: r${i} }`); break;
      default: rules.push(`  - { id: cel-${i}, when: '"prod" in connection.tags && findings.exists(f, f.kind == "sql.ddl.drop") && !("dba" in identity.groups)', action: deny, reason: r${i} }`);
    }
  }
  return `name: generated\nrules:\n${rules.join('\n')}\n`;
}

const scenario: Scenario = {
  name: 'policy',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-policy-'));
    try {
      const file = join(dir, 'generated.yaml');
      writeFileSync(file, generated(37));
      const policy = loadPolicies({ packs: ['default'], files: [file] });
      const ctx: EvalContext = {
        identity: { sub: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['developers'], roles: ['user'], via: 'oidc' },
        connection: { name: 'orders', kind: 'postgres', tags: ['prod'] },
        request: { kind: 'mcp', direction: 'request', tool: 'query', args: { sql: 'SELECT * FROM orders WHERE id = 7' }, sql: 'SELECT * FROM orders WHERE id = 7', dialect: 'postgresql' },
        findings: [{ kind: 'sql.read', path: '$.sql', severity: 'info', detail: 'SELECT' }],
        now: Date.now(),
      };
      const samples: number[] = [];
      const t0 = performance.now();
      for (let i = 0; i < RUNS && performance.now() - t0 < MAX_MS; i++) {
        const s = performance.now();
        evaluate(policy, ctx);
        samples.push((performance.now() - s) * 1000);
      }
      samples.sort((a, b) => a - b);
      return [
        { name: 'rules in force', value: policy.rules.length, unit: 'count' },
        { name: 'evaluation median', value: samples[Math.floor(samples.length / 2)]!, unit: 'µs', aim: '<= 20' },
        { name: 'evaluation p99', value: samples[Math.floor(samples.length * 0.99)]!, unit: 'µs' },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
export default scenario;
