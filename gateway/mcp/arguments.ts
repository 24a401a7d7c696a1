// The firewall's first check on a tools/call: the arguments must fit the tool's inputSchema, with
// no argument the schema does not declare, even where the upstream's schema forgot to say so.
//
// How "no extra properties" is enforced without breaking valid schemas: the schema is cloned and
// `unevaluatedProperties: false` is added to every object schema in a value position (the root,
// each property, array items, …) that declares properties (itself, or through allOf/anyOf/oneOf/
// if-then-else/local $ref) and says nothing about extra properties. `unevaluatedProperties`
// rather than `additionalProperties` because it sees properties declared in combinator branches
// and referenced schemas, so `allOf: [A, B]` still accepts A's and B's properties together.
// Branches and $defs are not closed themselves (that would reject the other branch's members);
// they are closed where they are used. Left open: anything that says `additionalProperties`,
// `unevaluatedProperties` or `patternProperties` itself (a map, by design), and nested objects
// that declare no properties at all (`{type: "object"}`: free-form). The root is closed even
// then: a tool that declares no arguments accepts none.
//
// Dialects: no `$schema` or 2020-12 (MCP's default) compile with Ajv's 2020 class; draft-06,
// draft-07 and 2019-09 with its 2019 class (which also knows unevaluatedProperties). Any other
// `$schema`, a remote `$ref`, a schema Ajv rejects or one over the size limits: every call is
// refused (fail closed) with a message saying the tool's schema cannot be checked.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { createRequire } from 'node:module';
import { GatewayError } from '../errors.ts';
import { Lru } from '../../lib/lru.ts';
import { canonicalHash } from '../../lib/canonical-json.ts';
import { BRANCH_ARRAYS, BRANCH_ONE, DEF_MAPS, VALUE_ARRAYS, VALUE_MAPS, VALUE_ONE, isSchemaObject, resolveLocalRef, type SchemaObject } from './schema-walk.ts';

export { argumentRoles, inspectionRequests, rebaseFindings, type ArgumentRole, type RoleKind } from './roles.ts';

/** The argument airlock adds to every tool for the caller's reason; never sent upstream. */
export const JUSTIFICATION_ARG = '_justification';
/** Longest justification, in characters (UTF-16 units). */
export const JUSTIFICATION_MAX_CHARS = 2000;
/** Limits on an inputSchema airlock compiles: JSON bytes, subschema count, nesting depth. */
export const SCHEMA_LIMITS = Object.freeze({ maxBytes: 256 * 1024, maxNodes: 20_000, maxDepth: 64 });
/** Compiled validators kept (by schema hash). */
const CACHE_ENTRIES = 500;
/** Most error messages returned for one call. */
const MAX_MESSAGES = 10;

const require = createRequire(import.meta.url);
const addFormats = addFormatsModule as unknown as (ajv: Ajv2019 | Ajv2020) => unknown;

const AJV_OPTIONS = { strict: false, allErrors: true, verbose: true, logger: false, addUsedSchema: false, validateFormats: true } as const;

function newAjv(kind: '2019' | '2020'): Ajv2019 | Ajv2020 {
  const ajv = kind === '2020' ? new Ajv2020(AJV_OPTIONS) : new Ajv2019(AJV_OPTIONS);
  if (kind === '2019') {
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-07.json') as SchemaObject);
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as SchemaObject);
  }
  addFormats(ajv);
  return ajv;
}

let instances: { '2019': Ajv2019 | Ajv2020; '2020': Ajv2019 | Ajv2020 } | undefined;

function dialectOf(schema: SchemaObject): '2019' | '2020' | undefined {
  const id = schema.$schema;
  if (id === undefined) return '2020';
  if (typeof id !== 'string') return undefined;
  const norm = id.replace(/^https?:/, '').replace(/#$/, '');
  if (norm === '//json-schema.org/draft/2020-12/schema') return '2020';
  if (norm === '//json-schema.org/draft/2019-09/schema' || norm === '//json-schema.org/draft-07/schema' || norm === '//json-schema.org/draft-06/schema') return '2019';
  return undefined;
}

type Declares = 'declared' | 'open' | 'none';

/** Whether an object schema declares its properties (so extra ones can be refused), leaves them open, or says nothing. */
function declares(root: SchemaObject, node: unknown, depth: number, seen: Set<unknown>): Declares {
  if (!isSchemaObject(node) || seen.has(node) || depth > 32) return 'none';
  seen.add(node);
  if ((node.additionalProperties !== undefined && node.additionalProperties !== false) || node.patternProperties !== undefined
    || (node.unevaluatedProperties !== undefined && node.unevaluatedProperties !== false) || node.$dynamicRef !== undefined || node.$recursiveRef !== undefined) return 'open';
  let result: Declares = isSchemaObject(node.properties) ? 'declared' : 'none';
  const parts: unknown[] = [];
  for (const k of BRANCH_ARRAYS) if (Array.isArray(node[k])) parts.push(...(node[k] as unknown[]));
  for (const k of ['if', 'then', 'else'] as const) if (node[k] !== undefined) parts.push(node[k]);
  if (node.$ref !== undefined) {
    const target = resolveLocalRef(root, node.$ref);
    if (target === undefined) return 'open';
    parts.push(target);
  }
  for (const part of parts) {
    const r = declares(root, part, depth + 1, seen);
    if (r === 'open') return 'open';
    if (r === 'declared') result = 'declared';
  }
  return result;
}

const saysNothing = (node: SchemaObject) => node.additionalProperties === undefined && node.unevaluatedProperties === undefined && node.patternProperties === undefined;

/** A closed clone of `schema` (see the header), or a reason it cannot be checked. */
export function closeSchema(schema: unknown): { schema: SchemaObject } | { error: string } {
  if (!isSchemaObject(schema)) return { error: 'the input schema is not a JSON object' };
  let text: string;
  try {
    text = JSON.stringify(schema);
  } catch {
    return { error: 'the input schema is not JSON' };
  }
  if (Buffer.byteLength(text) > SCHEMA_LIMITS.maxBytes) return { error: `the input schema is larger than ${SCHEMA_LIMITS.maxBytes} bytes` };
  const root = JSON.parse(text) as SchemaObject;
  let nodes = 0;
  let problem: string | undefined;
  const close = (node: SchemaObject, isRoot: boolean) => {
    if (!saysNothing(node)) return;
    const d = declares(root, node, 0, new Set());
    if (d === 'declared' || (isRoot && d === 'none')) node.unevaluatedProperties = false;
  };
  const walk = (node: unknown, valuePosition: boolean, depth: number): void => {
    if (problem !== undefined || !isSchemaObject(node)) return;
    if (++nodes > SCHEMA_LIMITS.maxNodes) problem = `the input schema has more than ${SCHEMA_LIMITS.maxNodes} subschemas`;
    else if (depth > SCHEMA_LIMITS.maxDepth) problem = `the input schema nests deeper than ${SCHEMA_LIMITS.maxDepth} levels`;
    if (problem !== undefined) return;
    if (valuePosition) close(node, depth === 0);
    for (const k of VALUE_MAPS) if (isSchemaObject(node[k])) for (const child of Object.values(node[k] as SchemaObject)) walk(child, true, depth + 1);
    for (const k of VALUE_ONE) if (isSchemaObject(node[k])) walk(node[k], true, depth + 1);
    for (const k of VALUE_ARRAYS) if (Array.isArray(node[k])) for (const child of node[k] as unknown[]) walk(child, true, depth + 1);
    for (const k of BRANCH_ARRAYS) if (Array.isArray(node[k])) for (const child of node[k] as unknown[]) walk(child, false, depth + 1);
    for (const k of BRANCH_ONE) walk(node[k], false, depth + 1);
    for (const k of DEF_MAPS) if (isSchemaObject(node[k])) for (const child of Object.values(node[k] as SchemaObject)) walk(child, false, depth + 1);
  };
  walk(root, true, 0);
  return problem === undefined ? { schema: root } : { error: problem };
}

type Compiled = { readonly validate: ValidateFunction } | { readonly error: string };

const byHash = new Lru<string, Compiled>({ maxEntries: CACHE_ENTRIES });
// Tool definitions are treated as immutable: the same inputSchema object skips the hash.
const byObject = new WeakMap<object, Compiled>();

function compile(schema: unknown): Compiled {
  const closed = closeSchema(schema);
  if ('error' in closed) return closed;
  const dialect = dialectOf(closed.schema);
  if (dialect === undefined) return { error: `the input schema declares $schema ${JSON.stringify(String(closed.schema.$schema)).slice(0, 100)}, which airlock cannot check (supported: draft-06, draft-07, 2019-09, 2020-12)` };
  instances ??= { '2019': newAjv('2019'), '2020': newAjv('2020') };
  const ajv = instances[dialect];
  const refsBefore = new Set(Object.keys(ajv.refs));
  try {
    return { validate: ajv.compile(closed.schema) };
  } catch (err) {
    return { error: `the input schema is not a valid JSON Schema: ${(err instanceof Error ? err.message : String(err)).slice(0, 300)}` };
  } finally {
    // Nothing of one tool's schema may stay in the shared instance (a nested $id would clash with the next tool's).
    try {
      ajv.removeSchema(closed.schema);
    } catch { /* not registered */ }
    for (const key of Object.keys(ajv.refs)) if (!refsBefore.has(key)) delete ajv.refs[key];
  }
}

/** The compiled validator for a tool's inputSchema, from cache when the schema was seen before. */
function compiledFor(tool: Tool): Compiled {
  const schema = tool.inputSchema as unknown;
  if (isSchemaObject(schema)) {
    const hit = byObject.get(schema);
    if (hit) return hit;
  }
  let key: string;
  try {
    key = canonicalHash(schema);
  } catch {
    return { error: 'the input schema is not JSON' };
  }
  let compiled = byHash.get(key);
  if (compiled === undefined) {
    compiled = compile(schema);
    byHash.set(key, compiled);
  }
  if (isSchemaObject(schema)) byObject.set(schema, compiled);
  return compiled;
}

/** JSON Pointer (Ajv's instancePath) → `body.tags[0]`, the way a model names an argument. */
function argPath(pointer: string, child?: string): string {
  const parts = pointer === '' ? [] : pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Names an object schema accepts: its own properties and those of its branches and local $refs (a few levels). */
function acceptedNames(root: SchemaObject, schema: unknown, names = new Set<string>(), depth = 0): Set<string> {
  if (!isSchemaObject(schema) || depth > 4) return names;
  if (isSchemaObject(schema.properties)) for (const n of Object.keys(schema.properties)) if (n !== JUSTIFICATION_ARG) names.add(n);
  for (const k of BRANCH_ARRAYS) if (Array.isArray(schema[k])) for (const b of schema[k] as unknown[]) acceptedNames(root, b, names, depth + 1);
  if (schema.$ref !== undefined) acceptedNames(root, resolveLocalRef(root, schema.$ref), names, depth + 1);
  return names;
}

function message(e: ErrorObject, root: SchemaObject): string {
  const at = argPath(e.instancePath);
  const subject = at === '' ? 'the arguments' : `argument "${at}"`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `missing required argument "${argPath(e.instancePath, String(p.missingProperty))}"`;
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const name = String(p.additionalProperty ?? p.unevaluatedProperty);
      const accepted = [...acceptedNames(root, e.parentSchema)].sort();
      const list = accepted.length === 0 ? 'no other arguments' : `only ${accepted.slice(0, 30).join(', ')}${accepted.length > 30 ? ', …' : ''}`;
      return `unknown argument "${argPath(e.instancePath, name)}": ${at === '' ? 'this tool' : `"${at}"`} accepts ${list}`;
    }
    case 'type':
      return `${subject} must be ${String(p.type).replace(/,/g, ' or ')}, not ${typeName(e.data)}`;
    case 'enum':
      return `${subject} must be one of ${(p.allowedValues as unknown[]).slice(0, 20).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${subject} must be ${JSON.stringify(p.allowedValue)}`;
    case 'format':
      return `${subject} must be a valid ${String(p.format)}`;
    default:
      return `${subject} ${e.message ?? 'is invalid'}`;
  }
}

export type ValidationResult =
  | { readonly ok: true; readonly args: Record<string, unknown>; readonly justification?: string }
  | { readonly ok: false; readonly errors: string[] };

/**
 * Checks `args` against the tool's inputSchema (closed as the header says). `_justification` is
 * accepted on every tool, must be a string of at most JUSTIFICATION_MAX_CHARS, and is split off:
 * `args` in the result never holds it. Absent args count as `{}`. Messages name each argument
 * and what to change; at most 10 are returned.
 */
export function validateArguments(tool: Tool, args: unknown): ValidationResult {
  if (args === undefined || args === null) args = {};
  if (!isSchemaObject(args)) return { ok: false, errors: [`the arguments must be a JSON object, not ${typeName(args)}`] };
  const errors: string[] = [];
  let justification: string | undefined;
  let rest = args;
  if (Object.hasOwn(args, JUSTIFICATION_ARG)) {
    const { [JUSTIFICATION_ARG]: j, ...others } = args;
    rest = others;
    if (typeof j !== 'string') errors.push(`argument "${JUSTIFICATION_ARG}" must be a string (why this call is needed), not ${typeName(j)}`);
    else if (j.length > JUSTIFICATION_MAX_CHARS) errors.push(`argument "${JUSTIFICATION_ARG}" must be at most ${JUSTIFICATION_MAX_CHARS} characters, not ${j.length}`);
    else justification = j;
  }
  const compiled = compiledFor(tool);
  if ('error' in compiled) return { ok: false, errors: [`the call was refused because ${compiled.error}; airlock cannot check arguments against it (ask an admin to look at the tool ${JSON.stringify(tool.name)})`] };
  if (!compiled.validate(rest)) {
    for (const e of compiled.validate.errors ?? []) {
      const m = message(e, compiled.validate.schema as SchemaObject);
      if (!errors.includes(m)) errors.push(m);
    }
  }
  if (errors.length > 0) {
    const extra = errors.length - MAX_MESSAGES;
    return { ok: false, errors: extra > 0 ? [...errors.slice(0, MAX_MESSAGES), `…and ${extra} more`] : errors };
  }
  return justification === undefined ? { ok: true, args: rest } : { ok: true, args: rest, justification };
}

/** The error a data path returns for a refused call (GW_TOOL_ARGUMENTS_INVALID), its message ready for the model. */
export function argumentsError(tool: Tool, errors: readonly string[]): GatewayError {
  return new GatewayError('GW_TOOL_ARGUMENTS_INVALID', `The arguments for ${tool.name} were refused: ${errors.join('; ')}. Fix them and call the tool again.`);
}

/** A copy of `tool` whose advertised inputSchema also offers the optional `_justification` string. The input is not changed. */
export function withJustification(tool: Tool): Tool {
  const properties = {
    ...(tool.inputSchema.properties ?? {}),
    [JUSTIFICATION_ARG]: {
      type: 'string',
      maxLength: JUSTIFICATION_MAX_CHARS,
      description: 'Why this call is needed, in a sentence. Recorded with the call and shown to reviewers; some policies require it.',
    },
  };
  return { ...tool, inputSchema: { ...tool.inputSchema, properties } };
}
