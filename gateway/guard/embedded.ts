// SQL and shell inside an HTTP message. An internal API that takes `{"sql": "DROP TABLE users"}`
// or `?cmd=rm -rf /` is as dangerous over /proxy as the same text in an MCP tool's argument, so the
// HTTP path judges it with the same inspectors:
//
//   mapped   a connection names where its requests carry SQL or commands (`inspect:`, a JSON path
//            in the body, a query parameter or a header): those values are judged in full, a value
//            that does not parse included (`sql.unparsed` / `shell.unparsed`, refused). Names match
//            as the most lenient reader matches them (case and compatibility folded: `{"Q": …}`
//            is `$.q` to a Go target), and a form field's path names each of its values.
//   detected on every http connection, string values of JSON bodies and query parameters that
//            look like a statement or a command (they start with a SQL verb, or a command word,
//            or carry shell operators) are inspected; when one parses and has a high or critical
//            finding, all of its findings count. Ordinary text never parses as such, or has no
//            high finding, so it adds nothing (the bench measures the false-positive rate on
//            realistic API JSON). A string that is itself JSON is looked into (two levels).
//
// Findings carry the value's path in its part: `$.query` (body), `$query.cmd[0]`, `$headers['x-sql']`.
import type { Finding, SqlDialect } from '../inspect/types.ts';
import { inspectShell } from '../inspect/shell/index.ts';
import { inspectSql } from '../inspect/sql/index.ts';
import { parseScanned, scanJson } from './json.ts';

/** One `inspect:` entry of a connection. */
export interface EmbeddedRule {
  readonly in: 'body' | 'query' | 'header';
  /** `body`: a JSONPath of member names and indexes (`$.query`, `$.steps[0].sql`, `$.items[*].cmd`). */
  readonly path?: string;
  /** `query` and `header`: the parameter's or header's name. */
  readonly name?: string;
  readonly as: 'sql' | 'shell';
}

/** Strings looked at per message by detection, and their longest length (longer ones are not statements to detect). */
const MAX_DETECTED = 500;
const MAX_DETECT_CHARS = 16 * 1024;

const SQL_START = /^\s*(?:\(\s*)*(select|insert|update|delete|drop|truncate|alter|create|grant|revoke|merge|with|copy|do|call|exec|execute|set|replace|upsert|attach|pragma|vacuum|load|shutdown|lock|begin|commit|rollback|prepare)\b/i;
const SHELL_WORDS = new Set([
  'rm', 'rmdir', 'dd', 'mkfs', 'shred', 'wipefs', 'chmod', 'chown', 'chgrp', 'curl', 'wget', 'bash', 'sh', 'zsh', 'dash', 'ksh', 'sudo',
  'su', 'doas', 'env', 'xargs', 'find', 'eval', 'exec', 'python', 'python3', 'perl', 'ruby', 'node', 'php', 'nc', 'ncat', 'socat',
  'kubectl', 'terraform', 'helm', 'docker', 'podman', 'git', 'aws', 'gcloud', 'az', 'systemctl', 'kill', 'killall', 'pkill', 'shutdown',
  'reboot', 'mv', 'cp', 'tee', 'truncate', 'crontab', 'base64', 'xxd', 'openssl', 'ssh', 'scp', 'rsync', 'tar', 'unshare', 'nohup', 'setsid',
]);
const SHELL_OPERATORS = /(?:\|\||&&|[;|`]|\$\(|>\s*\/|<\()/;

function looksLikeShell(value: string): boolean {
  const first = /^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*([A-Za-z0-9_./-]+)/.exec(value)?.[1];
  const word = first?.split('/').pop();
  return (word !== undefined && SHELL_WORDS.has(word)) || SHELL_OPERATORS.test(value);
}

const HIGH = new Set(['high', 'critical']);
function isFailure(kind: string): boolean {
  return kind.endsWith('.unparsed') || kind.startsWith('inspect.');
}

/** Findings of a value judged as `as`, with paths under `path`. */
function judge(value: string, as: 'sql' | 'shell', path: string, dialect: SqlDialect): Finding[] {
  const findings = as === 'sql' ? inspectSql(value, { dialect }) : inspectShell(value);
  return findings.map((f) => ({ ...f, path: f.path === '$' ? path : `${path}${f.path.slice(1)}` }));
}

/** Detection: a value counts only when it parses as `as` and something in it is high or critical. */
function detect(value: string, path: string, dialect: SqlDialect): Finding[] {
  if (value.length > MAX_DETECT_CHARS || value.length < 4) return [];
  for (const as of ['sql', 'shell'] as const) {
    if (as === 'sql' ? !SQL_START.test(value) : !looksLikeShell(value)) continue;
    const findings = judge(value, as, path, dialect);
    if (findings.some((f) => isFailure(f.kind))) continue;
    if (findings.some((f) => HIGH.has(f.severity))) return findings;
  }
  return [];
}

export interface EmbeddedInput {
  readonly json?: unknown;
  readonly query?: Readonly<Record<string, readonly string[]>>;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly rules: readonly EmbeddedRule[];
  readonly dialect: SqlDialect;
  /** The body is a form (`{name: [values]}`): a mapped body path names each of its values. Default false. */
  readonly form?: boolean;
  /** Detect SQL and commands in any JSON string and query value. Default true. */
  readonly detect?: boolean;
}

/** Findings of the SQL and commands in a request's body, query and headers (see the head of this file). */
export function inspectEmbedded(input: EmbeddedInput): Finding[] {
  const findings: Finding[] = [];
  const mapped = new Set<string>();
  for (const rule of input.rules) {
    for (const [path, value] of valuesOf(rule, input)) {
      mapped.add(path);
      findings.push(...(typeof value === 'string'
        ? judge(value, rule.as, path, input.dialect)
        : [{ kind: `${rule.as}.unparsed`, path, severity: 'high' as const, detail: `the value at ${path} is not a string, so it cannot be judged as ${rule.as}` }]));
    }
  }
  if (input.detect === false) return findings;
  let budget = MAX_DETECTED;
  const visit = (path: string, value: string, depth = 0) => {
    if (budget-- <= 0 || mapped.has(path)) return;
    // A string that is itself JSON (`?filter={"sql": …}`, `{"payload": "{\"cmd\": …}"}`) is read
    // as JSON by the target: its strings are looked at as the body's are.
    const nested = depth < MAX_NESTED_JSON ? nestedJson(value) : undefined;
    if (nested !== undefined) {
      // JSON.parse keeps a repeated key's last value; a first-wins reader acts on the other one.
      for (const p of nested.duplicates) findings.push({ kind: 'inspect.duplicate_key', path: `${path}${p.slice(1)}`, severity: 'high', detail: 'a key that appears twice in one object of JSON inside a string (readers disagree on which value counts)' });
      for (const [p, v] of jsonStrings(nested.json)) visit(`${path}${p.slice(1)}`, v, depth + 1);
      return;
    }
    findings.push(...detect(value, path, input.dialect));
  };
  for (const [path, value] of jsonStrings(input.json)) visit(path, value);
  for (const [name, values] of Object.entries(input.query ?? {})) values.forEach((v, i) => visit(`$query${segment(name)}[${i}]`, v));
  return findings;
}

/** The values a rule names, with their paths. A body path that matches nothing yields nothing. */
function valuesOf(rule: EmbeddedRule, input: EmbeddedInput): Array<[string, unknown]> {
  if (rule.in === 'query') {
    return Object.entries(input.query ?? {}).filter(([k]) => sameName(k, rule.name ?? '')).flatMap(([k, vs]) => vs.map((v, i): [string, unknown] => [`$query${segment(k)}[${i}]`, v]));
  }
  if (rule.in === 'header') {
    const v = input.headers?.[(rule.name ?? '').toLowerCase()];
    if (v === undefined) return [];
    return (Array.isArray(v) ? v : [v]).map((x, i) => [`$headers${segment(rule.name!.toLowerCase())}${Array.isArray(v) ? `[${i}]` : ''}`, x]);
  }
  const selected = select(input.json, rule.path ?? '$');
  // A form field holds its values as an array: the path names each of them.
  return input.form === true ? selected.flatMap(([p, v]): Array<[string, unknown]> => (Array.isArray(v) ? v.map((x, i): [string, unknown] => [`${p}[${i}]`, x]) : [[p, v]])) : selected;
}

/**
 * Whether a key or parameter is the one a rule names as some reader matches names: Go's
 * encoding/json and ASP.NET match case-insensitively (Go also folds `ſ` to `s` and the Kelvin
 * sign to `k`), so `{"Q": …}` reaches the field a rule calls `q` and must be judged as it.
 */
function sameName(key: string, name: string): boolean {
  return key === name || fold(key) === fold(name);
}

function fold(s: string): string {
  return s.normalize('NFKC').toLowerCase();
}

/** `$.a.b[0]`, `$.items[*].sql`, `$['a b']`: member names, indexes and `[*]`. */
export function parseBodyPath(path: string): Array<string | number | '*'> | null {
  if (!path.startsWith('$')) return null;
  const out: Array<string | number | '*'> = [];
  const re = /\.([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[\*\]|\['((?:[^'\\]|\\.)*)'\]|\["((?:[^"\\]|\\.)*)"\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < path.length) {
    const m = re.exec(path);
    if (m === null) return null;
    out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3] ?? m[4] ?? '*'));
  }
  return out;
}

function select(json: unknown, path: string): Array<[string, unknown]> {
  const steps = parseBodyPath(path);
  if (steps === null) return [];
  let at: Array<[string, unknown]> = [['$', json]];
  for (const step of steps) {
    const next: Array<[string, unknown]> = [];
    for (const [p, v] of at) {
      if (v === null || typeof v !== 'object') continue;
      if (step === '*') {
        if (Array.isArray(v)) v.forEach((x, i) => next.push([`${p}[${i}]`, x]));
        else for (const [k, x] of Object.entries(v)) next.push([`${p}${segment(k)}`, x]);
      } else if (typeof step === 'number') {
        if (Array.isArray(v) && step < v.length) next.push([`${p}[${step}]`, v[step]]);
      } else if (!Array.isArray(v)) {
        for (const [k, x] of Object.entries(v)) if (sameName(k, step)) next.push([`${p}${segment(k)}`, x]);
      }
    }
    at = next;
  }
  return at;
}

/** JSON inside a string, read at most this many levels down. */
const MAX_NESTED_JSON = 2;

/** The parsed value of a string that is a JSON object or array (bounded in size and depth), with the paths of keys it repeats, or undefined. */
function nestedJson(value: string): { json: unknown; duplicates: readonly string[] } | undefined {
  if (value.length > MAX_DETECT_CHARS || !/^\s*[[{]/.test(value)) return undefined;
  const scan = scanJson(value);
  if (scan.tooDeep) return undefined;
  try {
    return { json: parseScanned(value, scan), duplicates: scan.duplicates };
  } catch {
    return undefined;
  }
}

/** Every string value of a parsed JSON document with its path (iterative; depth is already bounded). */
function jsonStrings(json: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const stack: Array<[string, unknown]> = [['$', json]];
  while (stack.length > 0 && out.length < MAX_DETECTED) {
    const [p, v] = stack.pop()!;
    if (typeof v === 'string') out.push([p, v]);
    else if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push([`${p}[${i}]`, v[i]]);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v).reverse()) stack.push([`${p}${segment(k)}`, x]);
  }
  return out;
}

function segment(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}
