// Which tool arguments carry SQL or shell commands, so the right inspector sees each one: the SQL
// inspector for SQL-bearing values, the shell inspector for command-bearing ones; every value
// still goes to the PII and secrets scanner through the arguments as a whole. A value's role comes
// from the nearest argument name above it and the schema's description of it.
//
// "query" and "statement" are ordinary English words (a search query, a bank statement), so they
// count as SQL only when the property's description or the tool's name or description talks
// about SQL or a database; `sql` in a name, or "SQL" in the property's description, always does.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Finding } from '../inspect/types.ts';
import type { PolicyRequest } from '../policy/context.ts';
import { BRANCH_ARRAYS, childPath, isSchemaObject, resolveLocalRef, type SchemaObject } from './schema-walk.ts';

export type RoleKind = 'sql' | 'shell' | 'text';

export interface ArgumentRole {
  /** JSONPath of the value inside the arguments (`$.query`, `$.steps[1].cmd`). */
  readonly path: string;
  readonly role: RoleKind;
  readonly value: string;
  /**
   * For a command given as argv (`{"command": "rm", "args": ["-rf", "/"]}`): the command and its
   * arguments as words, judged by the shell inspector as an argv, never re-split or re-quoted.
   * `path` is then the object's path and `value` the command.
   */
  readonly argv?: readonly string[];
}

/** Most string values reported, and deepest nesting walked. */
const MAX_VALUES = 1000;
const MAX_DEPTH = 32;

const SQL_TEXT = /\bsql\b|\bt-sql\b|\bpostgres(?:ql)?\b|\bmysql\b|\bmariadb\b|\bsqlite\b/i;
const DB_CONTEXT = /\bsql\b|\bdatabases?\b|\bdb\b|\bpostgres(?:ql)?\b|\bmysql\b|\bmariadb\b|\bsqlite\b|\bsnowflake\b|\bbigquery\b|\bredshift\b|\btables?\b/i;
const SHELL_TEXT = /\bshell\b|\bbash\b|\bzsh\b|\bcommand[- ]line\b|\bterminal\b|\bsh -c\b/i;
const SQL_STRONG = new Set(['sql', 'stmt']);
const SQL_WEAK = new Set(['query', 'queries', 'statement', 'statements']);
const SHELL_WORDS = new Set(['cmd', 'cmds', 'command', 'commands', 'commandline', 'script', 'scripts', 'shell', 'bash', 'sh']);
/** Names of the program in an argv-form call (besides SHELL_WORDS), and of its argument list. */
const PROGRAM_WORDS = new Set(['program', 'executable', 'exe', 'binary', 'bin', 'cmd', 'command']);
const ARGV_WORDS = new Set(['args', 'argv', 'arguments']);

/** Lower-case words of an identifier: `sqlQuery` → sql, query; `shell_cmd` → shell, cmd. */
function nameWords(name: string): string[] {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

function roleOf(name: string | undefined, description: string, toolIsDb: boolean): RoleKind {
  if (SQL_TEXT.test(description)) return 'sql';
  if (SHELL_TEXT.test(description)) return 'shell';
  const w = name === undefined ? [] : nameWords(name);
  if (w.some((x) => SQL_STRONG.has(x))) return 'sql';
  if (w.some((x) => SHELL_WORDS.has(x))) return 'shell';
  if (w.some((x) => SQL_WEAK.has(x)) && (toolIsDb || DB_CONTEXT.test(description))) return 'sql';
  return 'text';
}

/** The subschema for member `key` of an object schema: properties, then combinator branches and local refs, then additionalProperties. */
function memberSchema(root: SchemaObject, schema: unknown, key: string, depth = 0): unknown {
  if (!isSchemaObject(schema) || depth > 8) return undefined;
  if (isSchemaObject(schema.properties) && Object.hasOwn(schema.properties, key)) return schema.properties[key];
  const parts: unknown[] = [];
  for (const k of BRANCH_ARRAYS) if (Array.isArray(schema[k])) parts.push(...(schema[k] as unknown[]));
  if (schema.$ref !== undefined) parts.push(resolveLocalRef(root, schema.$ref));
  for (const part of parts) {
    const found = memberSchema(root, part, key, depth + 1);
    if (found !== undefined) return found;
  }
  return isSchemaObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
}

function itemSchema(root: SchemaObject, schema: unknown, index: number): unknown {
  if (!isSchemaObject(schema)) return undefined;
  if (Array.isArray(schema.prefixItems) && index < schema.prefixItems.length) return schema.prefixItems[index];
  if (Array.isArray(schema.items)) return schema.items[index];
  return schema.items;
}

/** Follows a chain of local `$ref`s (bounded) to the schema that describes a value. */
function deref(root: SchemaObject, schema: unknown): unknown {
  let s = schema;
  for (let i = 0; i < 8 && isSchemaObject(s) && typeof s.$ref === 'string'; i++) s = resolveLocalRef(root, s.$ref);
  return s;
}

/** The description next to a `$ref` (OpenAPI 3.1 allows one), else the referenced schema's. */
function describe(root: SchemaObject, s: unknown): string {
  if (isSchemaObject(s) && typeof s.description === 'string') return s.description;
  const target = deref(root, s);
  return isSchemaObject(target) && typeof target.description === 'string' ? target.description : '';
}

/**
 * Every string value in `args` (at most 1000, at most 32 levels deep) with its role: `sql`,
 * `shell` or `text`. Feed `sql` ones to the SQL inspector and `shell` ones to the shell inspector
 * (see inspectionRequests); all of them are covered by PII scanning of the whole arguments.
 */
export function argumentRoles(tool: Tool, args: Record<string, unknown>): ArgumentRole[] {
  const root = tool.inputSchema as SchemaObject;
  const toolIsDb = DB_CONTEXT.test(`${nameWords(tool.name).join(' ')} ${tool.description ?? ''}`);
  const out: ArgumentRole[] = [];
  const walk = (value: unknown, schema: unknown, name: string | undefined, description: string, path: string, depth: number): void => {
    if (out.length >= MAX_VALUES || depth > MAX_DEPTH) return;
    if (typeof value === 'string') {
      out.push({ path, role: roleOf(name, description, toolIsDb), value });
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length && out.length < MAX_VALUES; i++) {
        const s = itemSchema(root, schema, i);
        walk(value[i], deref(root, s), name, describe(root, s) || description, childPath(path, i), depth + 1);
      }
    } else if (isSchemaObject(value)) {
      const argv = argvOf(value, schema, toolIsDb, root);
      if (argv) out.push({ path, role: 'shell', value: argv[0]!, argv });
      for (const [key, child] of Object.entries(value)) {
        if (out.length >= MAX_VALUES) break;
        const s = memberSchema(root, schema, key);
        walk(child, deref(root, s), key, describe(root, s), childPath(path, key), depth + 1);
      }
    }
  };
  walk(args, root, undefined, '', '$', 0);
  return out;
}

/**
 * A command given as argv inside one object: a string member that names a program (`command`,
 * `cmd`, `program`, `executable`, or one whose schema description says shell/command line) next
 * to an array member named `args`/`argv`/`arguments` (`commandArgs` too). Elements that are not
 * strings become their JSON text, and no length cuts the list short: what cannot be judged
 * (too long) is an `inspect.limit` from the shell inspector, never a pass. Undefined when the
 * object has no such pair.
 */
function argvOf(value: Record<string, unknown>, schema: unknown, toolIsDb: boolean, root: SchemaObject): string[] | undefined {
  let program: string | undefined;
  let list: unknown[] | undefined;
  for (const [key, child] of Object.entries(value)) {
    const words = nameWords(key);
    if (typeof child === 'string' && program === undefined) {
      const s = memberSchema(root, schema, key);
      if (words.some((w) => PROGRAM_WORDS.has(w)) || roleOf(key, describe(root, s), toolIsDb) === 'shell') program = child;
    } else if (Array.isArray(child) && list === undefined && words.some((w) => ARGV_WORDS.has(w))) list = child;
  }
  if (program === undefined || list === undefined) return undefined;
  return [program, ...list.map((a) => (typeof a === 'string' ? a : JSON.stringify(a) ?? String(a)))];
}

/**
 * One PolicyRequest per SQL- or shell-bearing value, ready for inspectRequest, with the argument
 * path to re-base its findings on (rebaseFindings). `dialect` is the connection's SQL dialect.
 */
export function inspectionRequests(tool: Tool, roles: readonly ArgumentRole[], dialect?: string): Array<{ path: string; request: PolicyRequest }> {
  const out: Array<{ path: string; request: PolicyRequest }> = [];
  for (const r of roles) {
    if (r.role === 'sql') out.push({ path: r.path, request: { kind: 'sql', direction: 'request', tool: tool.name, sql: r.value, ...(dialect === undefined ? {} : { dialect }) } });
    else if (r.role === 'shell' && r.argv) {
      out.push({ path: r.path, request: { kind: 'shell', direction: 'request', tool: tool.name, command: r.value, argv: r.argv } });
      // A program name with blanks or shell syntax only runs as written through a shell: judge that reading too.
      if (/[\s;&|`$<>()]/.test(r.value)) out.push({ path: r.path, request: { kind: 'shell', direction: 'request', tool: tool.name, command: r.value } });
    }
    else if (r.role === 'shell') out.push({ path: r.path, request: { kind: 'shell', direction: 'request', tool: tool.name, command: r.value } });
  }
  return out;
}

/** Findings of an inspected argument value (paths relative to `$`) with paths under the argument's own path. */
export function rebaseFindings(findings: readonly Finding[], argPath: string): Finding[] {
  return findings.map((f) => ({ ...f, path: f.path === '$' ? argPath : f.path.startsWith('$') ? `${argPath}${f.path.slice(1)}` : f.path }));
}
