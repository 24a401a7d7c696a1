// Loads the configuration: YAML file (optional) → AIRLOCK_* environment overrides → zod → frozen.
// Every failure is a GatewayError('GW_CONFIG_INVALID') whose message names the file (or the
// variable), the key path, the line where there is one, and the reason.
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Node } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { GatewayError } from '../errors.ts';

export interface LoadedConfig {
  readonly config: Config;
  /** The file that was read, or undefined when only defaults and the environment applied. */
  readonly file: string | undefined;
  /** Insecure settings, to be logged loudly at start. */
  readonly warnings: readonly string[];
}

export interface LoadOptions {
  /** Path from --config; else AIRLOCK_CONFIG; else ./airlock.yaml when it exists. */
  readonly file?: string;
  /** Environment to read AIRLOCK_* from. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Values applied over the file and the environment (used by `airlock dev`). */
  readonly overrides?: Record<string, unknown>;
  /** Directory relative paths resolve against. Default process.cwd(). */
  readonly cwd?: string;
}

/** Variables that start with AIRLOCK_ but are not config keys. */
const NON_CONFIG_VARS = new Set(['AIRLOCK_CONFIG', 'AIRLOCK_CONFIG_DIR', 'AIRLOCK_GATEWAY', 'AIRLOCK_TOKEN', 'AIRLOCK_AGENT_CONFIG']);

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.file ?? env.AIRLOCK_CONFIG;
  const file = explicit !== undefined && explicit !== '' ? resolve(cwd, explicit)
    : existsSync(resolve(cwd, 'airlock.yaml')) ? resolve(cwd, 'airlock.yaml') : undefined;

  let raw: Record<string, unknown> = {};
  let locate: (path: readonly PropertyKey[]) => number | undefined = () => undefined;
  if (file !== undefined) ({ raw, locate } = readYaml(file));

  const fromEnv = new Map<string, string>(); // dotted path → variable name, to name it in errors
  const unknownVars = applyEnv(raw, env, fromEnv);
  if (options.overrides) deepMerge(raw, options.overrides);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw configError(parsed.error.issues, file, locate, fromEnv);
  const config = deepFreeze(parsed.data);
  const warnings = [
    ...unknownVars.map((v) => `environment variable ${v} is not a configuration key and was ignored (typo?); see deploy/airlock.example.yaml`),
    ...insecureSettings(config),
  ];
  return Object.freeze({ config, file, warnings: Object.freeze(warnings) });
}

function readYaml(file: string): { raw: Record<string, unknown>; locate: (path: readonly PropertyKey[]) => number | undefined } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatewayError('GW_CONFIG_INVALID', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  const lineCounter = new LineCounter();
  // uniqueKeys: a key given twice is an error, not a silent override.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lineCounter.linePos(first.pos[0]).line;
    throw new GatewayError('GW_CONFIG_INVALID', `config file ${file}, line ${line}: ${first.message.split('\n')[0]}`);
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayError('GW_CONFIG_INVALID', `config file ${file}: the top level must be a mapping of sections (server, store, auth, ...)`);
  }
  const locate = (path: readonly PropertyKey[]): number | undefined => {
    const node = nodeAt(doc.contents, path);
    const start = node?.range?.[0];
    return start === undefined ? undefined : lineCounter.linePos(start).line;
  };
  return { raw: value as Record<string, unknown>, locate };
}

/** The YAML node of a key path: the value node, or for a missing leaf the closest parent. */
function nodeAt(root: unknown, path: readonly PropertyKey[]): Node | undefined {
  let node = root as Node | undefined;
  for (const key of path) {
    if (!isMap(node)) return node;
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
    if (!pair) return node;
    node = (pair.value ?? pair.key) as Node;
  }
  return node;
}

/** Every leaf of the schema as a key path, with its kind, for AIRLOCK_* overrides. */
function leaves(schema: z.core.$ZodType, path: string[] = [], out: Array<{ path: string[]; kind: string }> = []) {
  const def = schema._zod.def as { type: string; innerType?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
  if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional') return leaves(def.innerType!, path, out);
  if (def.type === 'object' && def.shape) {
    for (const [k, v] of Object.entries(def.shape)) leaves(v, [...path, k], out);
  } else {
    out.push({ path, kind: def.type });
  }
  return out;
}

const ENV_LEAVES = leaves(configSchema).map((l) => ({
  ...l,
  variable: 'AIRLOCK_' + l.path.map((p) => p.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()).join('_'),
}));

/** The AIRLOCK_* variable that sets each key path, for docs and tests. */
export function configVariables(): ReadonlyArray<{ variable: string; path: string }> {
  return ENV_LEAVES.map((l) => ({ variable: l.variable, path: l.path.join('.') }));
}

/** Applies AIRLOCK_* overrides; returns names in a config section that match no key (likely typos). */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, fromEnv: Map<string, string>): string[] {
  const known = new Set(ENV_LEAVES.map((l) => l.variable));
  const sections = new Set(ENV_LEAVES.map((l) => l.variable.split('_')[1]));
  // Only names in a gateway section can be typos of ours; AIRLOCK_AGENT_* belongs to the agent.
  const unknown = Object.keys(env).filter((n) => n.startsWith('AIRLOCK_') && !known.has(n) && !NON_CONFIG_VARS.has(n) && sections.has(n.split('_')[1]));
  for (const leaf of ENV_LEAVES) {
    const text = env[leaf.variable];
    if (text === undefined) continue;
    let value: unknown = text;
    if (leaf.kind === 'number') value = text.trim() === '' ? text : Number(text);
    else if (leaf.kind === 'boolean') value = text === 'true' ? true : text === 'false' ? false : text;
    else if (leaf.kind === 'array') value = text.trim() === '' ? [] : text.split(',').map((s) => s.trim());
    setPath(raw, leaf.path, value);
    fromEnv.set(leaf.path.join('.'), leaf.variable);
  }
  return unknown;
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    const t = target[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && t && typeof t === 'object' && !Array.isArray(t)) {
      deepMerge(t as Record<string, unknown>, v as Record<string, unknown>);
    } else {
      target[k] = v;
    }
  }
}

function configError(issues: readonly z.core.$ZodIssue[], file: string | undefined, locate: (p: readonly PropertyKey[]) => number | undefined, fromEnv: Map<string, string>): GatewayError {
  const lines = issues.slice(0, 5).map((issue) => {
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    const dotted = path.map(String).join('.') || '(top level)';
    const variable = fromEnv.get(dotted);
    if (variable) return `${variable} (${dotted}): ${issue.message}`;
    const line = file ? locate(path) : undefined;
    const where = file ? `${file}${line ? `, line ${line}` : ''}` : 'defaults';
    return `${where}: ${dotted}: ${issue.message}`;
  });
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
  return new GatewayError('GW_CONFIG_INVALID', `invalid configuration: ${lines.join('; ')}${more}`, { detail: issues });
}

function insecureSettings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.dev.embeddedIdp) {
    warnings.push('DEV ONLY: the identity provider is the embedded development provider; anyone can log in as any dev user. Never expose this gateway.');
  }
  const host = config.server.host;
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback && !config.server.behindTls) {
    warnings.push(`INSECURE: the gateway serves plain HTTP on ${host}, which is not a loopback address; tokens cross the network in clear. Put TLS in front and set server.behindTls: true.`);
  }
  if (config.auth.issuer === undefined) {
    warnings.push('No identity provider configured (auth.issuer): every authenticated route will refuse requests.');
  }
  return warnings;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
