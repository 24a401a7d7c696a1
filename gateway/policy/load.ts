// Reading policy files and packs. A pack is policies/<name>.yaml; `include` pulls other packs in
// first (cycles refused). Every problem is a GatewayError GW_POLICY_INVALID naming the file, the
// line, the key path and the reason; nothing half-read is ever used.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { ConfigError, describeIssues, parseStrict, parseYaml } from '../../lib/config.ts';
import { GatewayError } from '../errors.ts';
import { compilePolicies, type CompiledPolicy } from './compile.ts';
import { policySchema, type Policy } from './schema.ts';

/** The packs that ship, next to the code. */
export const PACKS_DIR = fileURLToPath(new URL('../../policies/', import.meta.url));
/** Largest policy file read, in bytes. */
const MAX_POLICY_BYTES = 1024 * 1024;

export interface SourcedPolicy {
  readonly policy: Policy;
  /** Where it was read from. */
  readonly file: string;
  /** Line of each rule, by index, for messages. */
  readonly ruleLines: readonly (number | undefined)[];
  /** Line of each rule's `when`, by index (undefined without one). */
  readonly whenLines: readonly (number | undefined)[];
}

/** Reads and validates one policy file (not its includes). */
export function readPolicyFile(file: string): SourcedPolicy {
  const path = resolve(file);
  let text: string;
  try {
    const buf = readFileSync(path);
    if (buf.length > MAX_POLICY_BYTES) throw invalid(`policy file ${path} is ${buf.length} bytes, more than the ${MAX_POLICY_BYTES} a policy may have`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw invalid(`cannot read policy file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  try {
    const doc = parseYaml(text, `policy file ${path}`);
    const parsed = parseStrict(policySchema, doc.raw);
    if (!parsed.success) throw describeIssues(parsed.error.issues, path, doc.position, new Map(), 'policy');
    const rules = parsed.data.rules;
    return { policy: parsed.data, file: path, ruleLines: rules.map((_, i) => doc.locate(['rules', i])), whenLines: rules.map((r, i) => (r.when === undefined ? undefined : doc.locate(['rules', i, 'when']))) };
  } catch (err) {
    if (err instanceof ConfigError) throw invalid(err.message, err);
    throw err;
  }
}

/** A pack by name, with its includes first, each pack once. */
export function readPack(name: string, dir: string = PACKS_DIR, seen: string[] = []): SourcedPolicy[] {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw invalid(`"${name}" is not a pack name (lower-case letters, digits, dashes)`);
  if (seen.includes(name)) throw invalid(`policy packs include each other in a cycle: ${[...seen, name].join(' → ')}`);
  const own = readPolicyFile(join(dir, `${name}.yaml`));
  const included = (own.policy.include ?? []).flatMap((n) => readPack(n, dir, [...seen, name]));
  return [...included, own];
}

/** Reads packs and files, in that order, and compiles them into one policy set (`partial`: not the whole set in force, see compilePolicies). */
export function loadPolicies(sources: { packs?: readonly string[]; files?: readonly string[]; packsDir?: string; partial?: boolean }): CompiledPolicy {
  const all = [
    ...(sources.packs ?? []).flatMap((p) => readPack(p, sources.packsDir)),
    ...(sources.files ?? []).map((f) => readPolicyFile(f)),
  ];
  // The same pack reached twice (default includes sql-safety, and sql-safety listed too) counts once.
  const unique = all.filter((p, i) => all.findIndex((q) => q.file === p.file) === i);
  return compilePolicies(unique, { partial: sources.partial === true });
}

export function invalid(message: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_POLICY_INVALID', message, cause === undefined ? {} : { cause });
}
