// `airlock policy test DIR`: YAML files of cases, each an input and the decision expected (like
// `opa test`). A file:
//
//   policy: { packs: [default], files: [../my-policy.yaml] }   # files relative to this file
//   cases:
//     - name: dropping a table is refused
//       input: { kind: sql, sql: "DROP TABLE users" }
//       expect: deny
//       reason: sql.drop        # optional: a reason code that must be among the decision's
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, describeIssues, parseStrict, parseYaml } from '../../lib/config.ts';
import { ACTIONS } from '../../gateway/policy/schema.ts';
import { CliError } from '../errors.ts';
import { evaluateValue, policyFrom } from './evaluate.ts';

const testFileSchema = z.strictObject({
  policy: z.strictObject({ packs: z.array(z.string()).default([]), files: z.array(z.string()).default([]) }).prefault({}),
  cases: z.array(z.strictObject({
    name: z.string().min(1),
    input: z.unknown(),
    expect: z.enum(ACTIONS),
    reason: z.string().optional(),
  })).min(1),
});

export interface CaseResult { file: string; name: string; ok: boolean; detail: string }

/** Test files under `dir` (recursively): *.yaml and *.yml, sorted. */
export function testFiles(dir: string): string[] {
  const root = resolve(dir);
  let st;
  try {
    st = statSync(root);
  } catch {
    throw new CliError('CLI_FILE_NOT_FOUND', `${dir} does not exist.`);
  }
  if (st.isFile()) return [root];
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 10) return;
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p, depth + 1);
      else if (/\.ya?ml$/.test(name)) out.push(p);
    }
  };
  walk(root, 0);
  if (out.length === 0) throw new CliError('CLI_INPUT_INVALID', `no test files (*.yaml) under ${dir}.`);
  return out;
}

export function runTestFile(file: string, key: Uint8Array, base: string): CaseResult[] {
  let parsed;
  try {
    const doc = parseYaml(readFileSync(file, 'utf8'), `test file ${file}`);
    const result = parseStrict(testFileSchema, doc.raw);
    if (!result.success) throw describeIssues(result.error.issues, file, doc.position, new Map(), 'policy test file');
    parsed = result.data;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError('CLI_INPUT_INVALID', err.message, { cause: err });
    throw err;
  }
  const policy = policyFrom({ packs: parsed.policy.packs, files: parsed.policy.files.map((f) => resolve(dirname(file), f)) });
  const shown = relative(base, file) || file;
  return parsed.cases.map((c) => {
    try {
      const result = evaluateValue(c.input, policy, key);
      const codes = result.reasons.map((r) => (r as { reason: string }).reason);
      const ok = result.decision === c.expect && (c.reason === undefined || codes.includes(c.reason));
      const detail = ok ? result.decision : `expected ${c.expect}${c.reason ? ` (${c.reason})` : ''}, got ${result.decision} (${codes.join(', ')})`;
      return { file: shown, name: c.name, ok, detail };
    } catch (err) {
      return { file: shown, name: c.name, ok: false, detail: `input refused: ${(err as Error).message}` };
    }
  });
}
