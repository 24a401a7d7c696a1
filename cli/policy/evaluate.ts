// What `airlock policy eval` and `airlock policy test` share: loading the policy set the flags
// name, reading inputs strictly, and turning one input into one result object.
import { randomBytes } from 'node:crypto';
import { initInspectors } from '../../gateway/inspect/index.ts';
import type { CompiledPolicy } from '../../gateway/policy/compile.ts';
import { decide } from '../../gateway/policy/decide.ts';
import { loadPolicies } from '../../gateway/policy/load.ts';
import type { Action } from '../../gateway/policy/schema.ts';
import { parseJson } from '../../lib/json.ts';
import { CliError } from '../errors.ts';
import { contextOf, parseEvalInput } from '../../gateway/policy/eval-input.ts';
import type { SqlDialect } from '../../gateway/inspect/types.ts';

export interface PolicySources {
  readonly packs: readonly string[];
  readonly files: readonly string[];
}

/** The packs and files named, `default` when none; GW_POLICY_INVALID becomes CLI_POLICY_INVALID. */
export function policyFrom(sources: PolicySources): CompiledPolicy {
  const packs = sources.packs.length === 0 && sources.files.length === 0 ? ['default'] : sources.packs;
  try {
    return loadPolicies({ packs, files: sources.files });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'GW_POLICY_INVALID') throw new CliError('CLI_POLICY_INVALID', e.message ?? 'invalid policy', { cause: err });
    throw err;
  }
}

/** The key for the `hash` strategy: $AIRLOCK_MASK_KEY (base64, ≥ 16 bytes), else random for this run. */
export function maskKey(env: NodeJS.ProcessEnv = process.env): Uint8Array {
  const text = env.AIRLOCK_MASK_KEY;
  if (!text) return randomBytes(32);
  const key = Buffer.from(text, 'base64');
  if (key.length < 16) throw new CliError('CLI_INPUT_INVALID', 'AIRLOCK_MASK_KEY must be base64 of at least 16 bytes.');
  return key;
}

let ready: Promise<void> | undefined;
/** Loads the parsers once. */
export function prepare(): Promise<void> {
  ready ??= initInspectors();
  return ready;
}

export interface EvalResult {
  readonly decision: Action;
  readonly reasons: readonly unknown[];
  readonly findings: readonly unknown[];
  readonly masked?: unknown;
  readonly mask?: unknown;
  readonly review?: unknown;
}

/**
 * Parses one JSON input (text) and decides on it; a bad input is a CliError naming the field.
 * `dialect`: the SQL dialect when the input and its connection name none (see dialectOf). Default postgresql.
 */
export function evaluateText(text: string, policy: CompiledPolicy, key: Uint8Array, dialect: SqlDialect = 'postgresql'): EvalResult {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (err) {
    throw new CliError('CLI_INPUT_INVALID', `the input is not JSON: ${(err as Error).message}`);
  }
  return evaluateValue(value, policy, key, dialect);
}

export function evaluateValue(value: unknown, policy: CompiledPolicy, key: Uint8Array, dialect: SqlDialect = 'postgresql'): EvalResult {
  const input = parseEvalInput(value);
  if ('problem' in input) throw new CliError('CLI_INPUT_INVALID', `the input is not a request airlock knows: ${input.problem} (see airlock policy eval --help)`);
  const outcome = decide(policy, contextOf(input, Date.now(), dialect), { maskKey: key });
  return {
    decision: outcome.decision,
    reasons: outcome.reasons,
    findings: outcome.findings,
    ...(outcome.mask ? { mask: outcome.mask } : {}),
    ...(outcome.review ? { review: outcome.review } : {}),
    ...(outcome.masked !== undefined ? { masked: outcome.masked } : {}),
  };
}
