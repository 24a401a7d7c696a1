// Loading a configuration, shared by the gateway and the agent: YAML file (optional) →
// environment overrides → zod schema (unknown keys rejected) → deeply frozen value.
// Every failure is a ConfigError whose message names the file (or the variable), the key path,
// the line where there is one, and the reason; each caller wraps it in its own coded error.
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConfigError';
  }
}

/** Largest configuration file read, in bytes: a config is a few KiB; anything huge is a mistake. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ConfigSource<S extends z.ZodType> {
  readonly schema: S;
  /** Prefix of the override variables, e.g. `AIRLOCK_`: key `server.publicUrl` → `AIRLOCK_SERVER_PUBLIC_URL`. */
  readonly envPrefix: string;
  /** Variable that names the file when no explicit file is given, e.g. `AIRLOCK_CONFIG`. */
  readonly fileVariable: string;
  /** File used when present in cwd and nothing else names one, e.g. `airlock.yaml`. */
  readonly defaultFile: string;
  /** True for a variable under envPrefix that is not a key but looks like it means to be one (a typo). */
  readonly isLikelyTypo: (variable: string) => boolean;
}

export interface LoadOptions {
  /** Path from --config; else the source's fileVariable; else its defaultFile when it exists. */
  readonly file?: string;
  /** Environment to read overrides from. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Values applied over the file and the environment (used by `airlock dev`). */
  readonly overrides?: Record<string, unknown>;
  /** Directory relative paths resolve against. Default process.cwd(). */
  readonly cwd?: string;
}

export interface Loaded<T> {
  readonly value: T;
  /** The file that was read, or undefined when only defaults and the environment applied. */
  readonly file: string | undefined;
  /** Variables under the prefix that set no key and look like typos. */
  readonly unknownVariables: readonly string[];
}

export function loadConfigFrom<S extends z.ZodType>(source: ConfigSource<S>, options: LoadOptions = {}): Loaded<z.infer<S>> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.file ?? env[source.fileVariable];
  const fallback = resolve(cwd, source.defaultFile);
  const file = explicit !== undefined && explicit !== '' ? resolve(cwd, explicit) : existsSync(fallback) ? fallback : undefined;

  let raw: Record<string, unknown> = {};
  let locate: (path: readonly PropertyKey[]) => number | undefined = () => undefined;
  if (file !== undefined) ({ raw, locate } = readYaml(file));

  const vars = variablesOf(source);
  const fromEnv = new Map<string, string>(); // dotted path → variable name, to name it in errors
  for (const leaf of vars) {
    const text = env[leaf.variable];
    if (text === undefined) continue;
    setPath(raw, leaf.path, coerce(text, leaf.kind));
    fromEnv.set(leaf.path.join('.'), leaf.variable);
  }
  const known = new Set(vars.map((v) => v.variable));
  const unknownVariables = Object.keys(env).filter((n) => n.startsWith(source.envPrefix) && !known.has(n) && source.isLikelyTypo(n));
  if (options.overrides) deepMerge(raw, options.overrides);

  const parsed = source.schema.safeParse(raw);
  if (!parsed.success) throw describeIssues(parsed.error.issues, file, locate, fromEnv);
  return Object.freeze({ value: deepFreeze(parsed.data), file, unknownVariables: Object.freeze(unknownVariables) });
}

function readYaml(file: string): YamlDocument {
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_CONFIG_BYTES) throw new ConfigError(`config file ${file} is ${buf.length} bytes, more than the ${MAX_CONFIG_BYTES} a configuration may have`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  const doc = parseYaml(text, `config file ${file}`);
  if (typeof doc.raw !== 'object' || doc.raw === null || Array.isArray(doc.raw)) {
    throw new ConfigError(`config file ${file}: the top level must be a mapping of option names to values`);
  }
  return doc;
}

export interface YamlDocument {
  readonly raw: Record<string, unknown>;
  /** The line (1-based) of a key path, or of its closest parent; undefined when unknown. */
  readonly locate: (path: readonly PropertyKey[]) => number | undefined;
}

/**
 * Parses YAML strictly for files people write (config, policies): a duplicate key is an error,
 * alias expansion is bounded, and errors name `source` and the line. The value is not checked
 * beyond being YAML; callers validate it with zod and `describeIssues`.
 */
export function parseYaml(text: string, source: string): YamlDocument {
  const lineCounter = new LineCounter();
  // uniqueKeys: a key given twice is an error, not a silent override.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lineCounter.linePos(first.pos[0]).line;
    throw new ConfigError(`${source}, line ${line}: ${first.message.split('\n')[0]}`);
  }
  // maxAliasCount bounds alias expansion (the "billion laughs" file).
  const value: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const locate = (path: readonly PropertyKey[]): number | undefined => {
    const start = nodeAt(doc.contents, path)?.range?.[0];
    return start === undefined ? undefined : lineCounter.linePos(start).line;
  };
  return { raw: value as Record<string, unknown>, locate };
}

/** The YAML node of a key path: the value node, or for a missing leaf the closest parent. */
function nodeAt(root: unknown, path: readonly PropertyKey[]): Node | undefined {
  let node = root as Node | undefined;
  for (const key of path) {
    if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) return node;
      node = item;
      continue;
    }
    if (!isMap(node)) return node;
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
    if (!pair) return node;
    node = (pair.value ?? pair.key) as Node;
  }
  return node;
}

interface Leaf { readonly path: readonly string[]; readonly kind: string; readonly variable: string }

const leafCache = new WeakMap<object, Leaf[]>();

/** Every leaf of the schema as a key path with its kind and variable name, for overrides and docs. */
export function variablesOf(source: ConfigSource<z.ZodType>): readonly Leaf[] {
  let cached = leafCache.get(source.schema);
  if (!cached) {
    cached = leaves(source.schema).map((l) => ({
      ...l,
      variable: source.envPrefix + l.path.map((p) => p.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()).join('_'),
    }));
    leafCache.set(source.schema, cached);
  }
  return cached;
}

function leaves(schema: z.core.$ZodType, path: string[] = [], out: Array<{ path: string[]; kind: string }> = []) {
  const def = schema._zod.def as { type: string; innerType?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
  if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional') return leaves(def.innerType!, path, out);
  if (def.type === 'object' && def.shape) {
    for (const [k, v] of Object.entries(def.shape)) leaves(v, [...path, k], out);
  } else if (def.type === 'record' || (def.type === 'array' && unwrap((def as { element?: z.core.$ZodType }).element)?._zod.def.type === 'object')) {
    // A map (e.g. credentials by name) or a list of objects (webhooks) has no single-text form:
    // it is set in the file only.
  } else {
    out.push({ path, kind: def.type });
  }
  return out;
}

function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  const def = schema?._zod.def as { type: string; innerType?: z.core.$ZodType } | undefined;
  return def && (def.type === 'default' || def.type === 'prefault' || def.type === 'optional') ? unwrap(def.innerType) : schema;
}

/** Variables are text; numbers, booleans and comma-separated lists are converted for the schema to judge. */
function coerce(text: string, kind: string): unknown {
  if (kind === 'number') return text.trim() === '' ? text : Number(text);
  if (kind === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  if (kind === 'array') return text.trim() === '' ? [] : text.split(',').map((s) => s.trim());
  return text;
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

/** One message for zod issues: each names the file and line (or the variable), the key path and the reason. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], file: string | undefined, locate: (p: readonly PropertyKey[]) => number | undefined, fromEnv: ReadonlyMap<string, string> = new Map(), what = 'configuration'): ConfigError {
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
  return new ConfigError(`invalid ${what}: ${lines.join('; ')}${more}`);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** True for a loopback host name or address (where plain HTTP does not cross a network). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
