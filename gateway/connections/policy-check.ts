// Before a connection is written: do its policy packs exist, and do its packs and files load and
// compile together? Checked on the gateway (the files are the gateway's), so a typo in a pack name
// is refused at `connections add`, naming the field, rather than failing every request later.
import { readdirSync } from 'node:fs';
import { GatewayError } from '../errors.ts';
import { loadPolicies, PACKS_DIR } from '../policy/load.ts';
import type { ConnectionSpec, FieldIssue } from './schema.ts';

/** Problems with a connection's `policy` (empty when it loads), e.g. `policy.packs.1: no pack "sql"`. */
export function checkPolicySources(policy: ConnectionSpec['policy'], packsDir: string = PACKS_DIR): FieldIssue[] {
  const available = readdirSync(packsDir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
  const issues: FieldIssue[] = [];
  policy.packs.forEach((pack, i) => {
    if (!available.includes(pack)) issues.push({ field: `policy.packs.${i}`, message: `no policy pack "${pack}" (the packs are ${available.join(', ')})` });
  });
  if (issues.length > 0) return issues;
  // Each file alone first, so a broken one is named by its index (a rule may read a limit another file declares).
  for (const [i, file] of policy.files.entries()) {
    const problem = loadProblem(() => loadPolicies({ files: [file], partial: true }));
    if (problem !== undefined) return [{ field: `policy.files.${i}`, message: problem }];
  }
  const together = loadProblem(() => loadPolicies({ packs: policy.packs, files: policy.files, packsDir }));
  return together === undefined ? [] : [{ field: 'policy', message: `the packs and files do not compile together: ${together}` }];
}

function loadProblem(load: () => unknown): string | undefined {
  try {
    load();
    return undefined;
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'GW_POLICY_INVALID') return err.message;
    throw err;
  }
}
