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
  let position: Locator = () => undefined;
  if (file !== undefined) ({ raw, position } = readYaml(file));

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

  const parsed = parseStrict(source.schema, raw);
  if (!parsed.success) throw describeIssues(parsed.error.issues, file, position, fromEnv);
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

/** Where a key path is in a file: 1-based line and column. */
export interface Position { readonly line: number; readonly col: number }
/** The position of a key path (or of its closest parent), or undefined when unknown. */
export type Locator = (path: readonly PropertyKey[]) => Position | undefined;

export interface YamlDocument {
  readonly raw: Record<string, unknown>;
  /** The line (1-based) of a key path, or of its closest parent; undefined when unknown. */
  readonly locate: (path: readonly PropertyKey[]) => number | undefined;
  /** The line and column of a key path (of the key itself where it is in the file), or of its closest parent. */
  readonly position: Locator;
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
    const { offset, message } = yamlProblem(text, first.code, first.pos, first.message);
    const { line, col } = lineCounter.linePos(offset);
    throw new ConfigError(`${source}:${line}:${col}: ${message}`);
  }
  // maxAliasCount bounds alias expansion (the "billion laughs" file).
  const value: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const position = (path: readonly PropertyKey[]): Position | undefined => {
    const start = nodeAt(doc.contents, path, true)?.range?.[0];
    return start === undefined ? undefined : lineCounter.linePos(start);
  };
  const locate = (path: readonly PropertyKey[]): number | undefined => {
    const start = nodeAt(doc.contents, path)?.range?.[0];
    return start === undefined ? undefined : lineCounter.linePos(start).line;
  };
  return { raw: value as Record<string, unknown>, locate, position };
}

/**
 * The YAML parser's error in plain words, at the place to fix: the parser reports some mistakes
 * where the value it was reading began (an over-indented line is read as the continuation of the
 * value above it), so those are moved to the text that broke it.
 */
function yamlProblem(text: string, code: string, pos: readonly [number, number], parserMessage: string): { offset: number; message: string } {
  const at = pos[0];
  switch (code) {
    case 'BLOCK_AS_IMPLICIT_KEY': {
      // `key: a: b`, or a line indented deeper than its neighbours and read as part of the value above
      const colon = /:(?: |$)/m.exec(text.slice(at));
      return {
        offset: colon ? at + colon.index : at,
        message: 'a second "key: value" where a value should be: indent a nested key on its own line, line up keys of one mapping at the same column, or quote a value that contains ": "',
      };
    }
    case 'MULTILINE_IMPLICIT_KEY':
      return { offset: at, message: 'a key runs over more than one line: a colon is missing after the key on this line, or the next line is indented wrongly' };
    case 'TAB_AS_INDENT':
      return { offset: at, message: 'a tab indents this line; YAML indents with spaces only' };
    case 'DUPLICATE_KEY':
      return { offset: at, message: `the key ${JSON.stringify(keyAt(text, at))} is given twice in the same mapping; keep one` };
    case 'BAD_INDENT':
      if (/mapping items must start at the same column/.test(parserMessage)) return { offset: at, message: 'this key is not lined up with the keys above it; keys of one mapping start at the same column' };
      if (/Flow (sequence|map)/.test(parserMessage)) return { offset: at, message: `a ${/sequence/.test(parserMessage) ? '[' : '{'} is not closed: end it with ${/sequence/.test(parserMessage) ? ']' : '}'} on the line where it starts, or indent its continuation lines` };
      return { offset: at, message: 'this line is indented wrongly for where it is' };
    case 'MISSING_CHAR': {
      if (/quote/.test(parserMessage)) {
        // reported at the end of the file; the quote that never closes is the last one opened
        const quote = parserMessage.includes("'") ? "'" : '"';
        const opened = text.lastIndexOf(quote, Math.max(0, at - 1));
        return { offset: opened >= 0 ? opened : at, message: `this ${quote === '"' ? 'double' : 'single'} quote is never closed` };
      }
      return { offset: at, message: parserMessage.split('\n')[0]!.replace(/\.$/, '') };
    }
    default:
      return { offset: at, message: parserMessage.split('\n')[0]!.replace(/\.$/, '') };
  }
}

/** The key text that starts at `offset` (up to its colon), for messages. */
function keyAt(text: string, offset: number): string {
  return /^[^:\n]*/.exec(text.slice(offset))![0].trim().replace(/^["']|["']$/g, '');
}

/**
 * The YAML node of a key path: the value node (the key node when `keyOfLast` and the path ends at
 * a mapping key), or for a missing leaf the closest parent.
 */
function nodeAt(root: unknown, path: readonly PropertyKey[], keyOfLast = false): Node | undefined {
  let node = root as Node | undefined;
  for (const [i, key] of path.entries()) {
    if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) return node;
      node = item;
      continue;
    }
    if (!isMap(node)) return node;
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
    if (!pair) return node;
    node = (keyOfLast && i === path.length - 1 ? pair.key : pair.value ?? pair.key) as Node;
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

/**
 * Parses `raw` with `schema`, an unknown key's message naming the closest known key ("did you
 * mean") or listing the known ones. Use it for every file people write (config, policies).
 */
export function parseStrict<S extends z.ZodType>(schema: S, raw: unknown): z.ZodSafeParseResult<z.infer<S>> {
  return schema.safeParse(raw, { error: unknownKeyMessage }) as z.ZodSafeParseResult<z.infer<S>>;
}

/** zod's per-parse error hook: only unknown keys get our words; everything else keeps zod's. */
function unknownKeyMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'unrecognized_keys') return undefined;
  const shape = (issue.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return unknownKey(issue.keys[0] ?? '', Object.keys(shape ?? {}));
}

/** `Unrecognized key: "prot"; did you mean "port"?`, else the keys known there. */
function unknownKey(key: string, known: readonly string[]): string {
  const close = closest(key, known);
  if (close !== undefined) return `Unrecognized key: ${JSON.stringify(key)}; did you mean ${JSON.stringify(close)}?`;
  return known.length > 0 ? `Unrecognized key: ${JSON.stringify(key)} (known keys here: ${known.join(', ')})` : `Unrecognized key: ${JSON.stringify(key)}`;
}

/**
 * The candidate nearest to `word` by edit distance (insert, delete, substitute, swap two
 * neighbours; case ignored), if it is near enough to be a slip: 1 edit for words of up to 4
 * characters, 2 up to 8, else 3. Ties go to the first candidate.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = w.length <= 4 ? 1 : w.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** Optimal string alignment distance (Damerau–Levenshtein without repeated edits of a substring). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity; // never near enough; skip the table
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * One message for zod issues: each names `file:line:column` (or the variable), the key path and
 * the reason. `locate` gives the position of a key path in the file.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], file: string | undefined, locate: Locator, fromEnv: ReadonlyMap<string, string> = new Map(), what = 'configuration'): ConfigError {
  const lines = issues.slice(0, 5).map((issue) => {
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    const dotted = path.map(String).join('.') || '(top level)';
    const variable = fromEnv.get(dotted);
    if (variable) return `${variable} (${dotted}): ${issue.message}`;
    const at = file ? locate(path) : undefined;
    const where = file ? `${file}${at ? `:${at.line}:${at.col}` : ''}` : 'defaults';
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
