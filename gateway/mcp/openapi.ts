// An OpenAPI 3.0/3.1 document → MCP tools, one per operation, each with the binding that turns a
// call back into the operation's HTTP request (openapi-request.ts). Pipeline:
//
//   shape and version check → refuse external $refs → dereference ($RefParser, no resolvers,
//   circular refs left in place) → per operation: parameters + body → input schema (schemas
//   copied into JSON Schema, circular types into $defs) → names sanitised and made unique
//
// Nothing is ever fetched: an external $ref (another file, a URL) is refused before the parser
// runs, and the parser runs with its file and HTTP resolvers switched off as well.
import { $RefParser } from '@apidevtools/json-schema-ref-parser';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { OPENAPI_MAX_BYTES, OPENAPI_MAX_DEPTH } from '../connections/schema.ts';
import { HTTP_METHODS, type BodyBinding, type HttpMethod, type OperationBinding, type ParameterBinding, type ParameterStyle } from './openapi-request.ts';
import { OpenApiError, SchemaCopier } from './openapi-schema.ts';
import { isSchemaObject, resolveLocalRef, type SchemaObject } from './schema-walk.ts';

export { buildRequest, type BuiltRequest, type OperationBinding, type ParameterBinding, type BodyBinding } from './openapi-request.ts';
export { OpenApiError } from './openapi-schema.ts';

export interface OpenApiTool {
  readonly tool: Tool;
  readonly binding: OperationBinding;
}

export interface SkippedOperation {
  /** `GET /files/{id}`. */
  readonly operation: string;
  readonly reason: string;
}

export interface OpenApiOptions {
  /** Most operations turned into tools. Default 500. */
  readonly maxOperations?: number;
  /** Most nodes in one tool's input schema after $refs are inlined. Default 10 000. */
  readonly maxSchemaNodes?: number;
  /** Largest document, in bytes of its JSON text. Default OPENAPI_MAX_BYTES (512 KiB). */
  readonly maxBytes?: number;
  /** Most nodes of the whole document with its $refs inlined (bounds the dereferencer's work). Default 500 000. */
  readonly maxExpandedNodes?: number;
  /** Time allowed for dereferencing, in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** Told about each operation that cannot become a tool (e.g. a multipart upload). Default: ignored. */
  readonly onSkip?: (skipped: SkippedOperation) => void;
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers OpenAPI says to ignore, and headers the gateway and agent own: a model never sets them. */
const UNSETTABLE_HEADERS = /^(?:accept|content-type|content-length|authorization|cookie|host|connection|keep-alive|transfer-encoding|te|trailer|upgrade|expect|forwarded|via|proxy-.*|x-forwarded-.*)$/i;
const STYLES: Record<ParameterBinding['in'], readonly ParameterStyle[]> = {
  path: ['simple', 'label', 'matrix'],
  query: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'],
  header: ['simple'],
};
const DESCRIPTION_MAX_CHARS = 4000;
/** Deepest chain of schemas through $refs, in levels. */
const MAX_REF_NESTING = 200;
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json(?:\s*;.*)?$/i;

/** A place in the document as people read it: at('paths', '/pets/{id}', 'get') → `paths["/pets/{id}"].get`. `prefix` is a place already. */
const at = (prefix: string, ...parts: Array<string | number>) => parts.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? (s === '' ? p : `${s}.${p}`) : `${s}[${JSON.stringify(p)}]`), prefix);

function checkShape(doc: unknown, maxBytes: number): { doc: SchemaObject; version: '3.0' | '3.1' } {
  if (!isSchemaObject(doc)) throw new OpenApiError('the top level', 'an OpenAPI document is a JSON object');
  if (typeof doc.swagger === 'string') throw new OpenApiError('swagger', `Swagger ${doc.swagger} is not supported; convert the document to OpenAPI 3 (e.g. with swagger2openapi)`);
  const v = doc.openapi;
  if (typeof v !== 'string' || !/^3\.[01]\.\d{1,3}$/.test(v)) throw new OpenApiError('openapi', `must be "3.0.x" or "3.1.x", not ${JSON.stringify(v ?? null)}`);
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(doc));
  } catch {
    throw new OpenApiError('the top level', 'the document is not JSON data');
  }
  if (size > maxBytes) throw new OpenApiError('the top level', `the document is ${size} bytes as JSON, more than the ${maxBytes} allowed`);
  if (doc.paths !== undefined && !isSchemaObject(doc.paths)) throw new OpenApiError('paths', 'must be an object of paths');
  return { doc, version: v.startsWith('3.0') ? '3.0' : '3.1' };
}

/**
 * Throws on the first $ref that points outside the document, naming where it is, and on nesting
 * deeper than OPENAPI_MAX_DEPTH. Iterative: a deep document cannot exhaust the stack.
 */
function refuseExternalRefs(doc: SchemaObject): void {
  const stack: Array<[unknown, string, number]> = [[doc, '', 0]];
  while (stack.length > 0) { // bounded: each node of the (size-checked) document is pushed once
    const [node, where, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > OPENAPI_MAX_DEPTH) throw new OpenApiError(where, `the document nests deeper than ${OPENAPI_MAX_DEPTH} levels`);
    if (Array.isArray(node)) node.forEach((v, i) => stack.push([v, at(where, i), depth + 1]));
    else {
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string' && !v.startsWith('#')) {
          throw new OpenApiError(at(where, k), `the external reference ${JSON.stringify(v.slice(0, 200))} is refused: airlock never fetches files or URLs named in a document; bundle it into one self-contained document first (e.g. \`redocly bundle\`)`);
        }
        stack.push([v, at(where, k), depth + 1]);
      }
    }
  }
}

/**
 * Refuses a document whose $refs, inlined, would exceed `limit` nodes (a schema reused twice at
 * each of thirty levels is 2^30 nodes), before the dereferencer spends its time on it. Sizes are
 * memoised per $ref target, so this is linear in the document; a circular $ref counts as one
 * node because the dereferencer leaves it in place.
 */
function refuseExpansion(doc: SchemaObject, limit: number): void {
  const memo = new Map<string, number>();
  const active = new Set<string>();
  const tooBig = (where: string) => new OpenApiError(where, `the document expands to more than ${limit} nodes once its $refs are inlined (schemas reused many times over); simplify it or raise the limit`);
  const size = (node: unknown, depth: number, where: string): number => {
    if (node === null || typeof node !== 'object') return 1;
    if (depth > MAX_REF_NESTING) throw new OpenApiError(where, `schemas and $refs nest deeper than ${MAX_REF_NESTING} levels`);
    const ref = Array.isArray(node) ? undefined : (node as SchemaObject).$ref;
    if (typeof ref === 'string') {
      if (active.has(ref)) return 1;
      let n = memo.get(ref);
      if (n === undefined) {
        const target = resolveLocalRef(doc, ref);
        if (target === undefined) return 1; // the dereferencer names the dangling $ref
        active.add(ref);
        n = size(target, depth + 1, `$ref ${JSON.stringify(ref)}`);
        active.delete(ref);
        memo.set(ref, n);
      }
      return n;
    }
    let n = 1;
    for (const v of Object.values(node)) {
      n += size(v, depth + 1, where);
      if (n > limit) throw tooBig(where);
    }
    return n;
  };
  size(doc, 0, 'the top level');
}

async function dereference(doc: SchemaObject, timeoutMs: number): Promise<SchemaObject> {
  try {
    const parser = new $RefParser();
    const out = await parser.dereference(structuredClone(doc), {
      resolve: { external: false, file: false, http: false },
      dereference: { circular: 'ignore', maxDepth: MAX_REF_NESTING },
      mutateInputSchema: true,
      timeoutMs,
    });
    if (!isSchemaObject(out)) throw new OpenApiError('the top level', 'dereferencing did not give an object');
    return out;
  } catch (err) {
    if (err instanceof OpenApiError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new OpenApiError('a $ref', `${message.slice(0, 300)}${/pointer|token/i.test(message) ? ' (every $ref must point at something in the document)' : ''}`);
  }
}

function sanitise(raw: string): string {
  return raw.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 64);
}

interface Draft {
  readonly operation: string;
  readonly operationId: string | null;
  readonly derived: string;
  readonly tool: Omit<Tool, 'name'>;
  readonly binding: OperationBinding;
}

/** Unique tool names: operationIds that are already valid keep their name; the rest are sanitised and get `_2`, `_3`… in document order. */
function assignNames(drafts: readonly Draft[]): string[] {
  const taken = new Set<string>();
  const names: Array<string | undefined> = drafts.map((d) => {
    if (d.operationId === null || !TOOL_NAME.test(d.operationId) || taken.has(d.operationId)) return undefined;
    taken.add(d.operationId);
    return d.operationId;
  });
  return drafts.map((d, i) => {
    const given = names[i];
    if (given !== undefined) return given;
    const base = (d.operationId === null ? '' : sanitise(d.operationId)) || d.derived;
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base.slice(0, 64 - `_${n}`.length)}_${n}`; // ends: at most drafts.length names are taken
    taken.add(name);
    return name;
  });
}

function describe(op: SchemaObject, method: string, path: string): { title?: string; description: string } {
  const summary = typeof op.summary === 'string' ? op.summary.trim() : '';
  const long = typeof op.description === 'string' ? op.description.trim() : '';
  let description = summary && long && !long.startsWith(summary) ? `${summary}\n\n${long}` : long || summary || `${method.toUpperCase()} ${path}`;
  if (op.deprecated === true) description = `Deprecated. ${description}`;
  if (description.length > DESCRIPTION_MAX_CHARS) description = `${description.slice(0, DESCRIPTION_MAX_CHARS - 1)}…`;
  return summary ? { title: summary.slice(0, 200), description } : { description };
}

function mediaSchema(content: unknown, where: string): { type: string; schema: unknown } | undefined {
  if (!isSchemaObject(content)) throw new OpenApiError(where, 'content must be an object of media types');
  const types = Object.keys(content);
  const pick = types.find((t) => JSON_MEDIA.test(t)) ?? types.find((t) => /^application\/x-www-form-urlencoded\b/i.test(t)) ?? types.find((t) => /^text\/[\w.+-]+/i.test(t));
  if (pick === undefined) return undefined;
  const media = content[pick];
  return { type: pick.split(';')[0]!.trim(), schema: isSchemaObject(media) ? media.schema : undefined };
}

/** Turns one operation into a draft tool, or returns the reason it cannot be one. */
function operationDraft(root: SchemaObject, version: '3.0' | '3.1', path: string, method: HttpMethod, item: SchemaObject, op: SchemaObject, maxNodes: number): Draft | string {
  const where = at('paths', path, method);
  const copier = new SchemaCopier(root, version, { maxNodes, maxDepth: 64 });
  const merged = new Map<string, { param: SchemaObject; where: string }>();
  for (const [list, listWhere] of [[item.parameters, at('paths', path, 'parameters')], [op.parameters, at(where, 'parameters')]] as const) {
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new OpenApiError(listWhere, 'parameters must be an array');
    list.forEach((param, i) => {
      const pw = at(listWhere, i);
      if (!isSchemaObject(param) || typeof param.name !== 'string' || param.name === '' || param.name.length > 256) throw new OpenApiError(pw, 'a parameter needs a name (1–256 characters)');
      if (!['path', 'query', 'header', 'cookie'].includes(param.in as string)) throw new OpenApiError(pw, `"in" must be path, query, header or cookie, not ${JSON.stringify(param.in ?? null)}`);
      merged.set(`${param.in as string}:${param.name}`, { param, where: pw }); // an operation's parameter overrides the path's
    });
  }

  const templateNames = [...path.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!);
  const properties: Record<string, SchemaObject> = {};
  const required: string[] = [];
  const parameters: ParameterBinding[] = [];
  const used = new Set(['_justification']);
  const argName = (name: string, suffix: string) => {
    let arg = used.has(name) ? `${name}_${suffix}` : name;
    for (let n = 2; used.has(arg); n++) arg = `${name}_${suffix}_${n}`; // ends: each pass tries a new name
    used.add(arg);
    return arg;
  };
  for (const name of templateNames) if (!merged.has(`path:${name}`)) throw new OpenApiError(where, `the path names {${name}} but the operation has no path parameter "${name}"`);

  for (const loc of ['path', 'query', 'header', 'cookie'] as const) {
    for (const { param, where: pw } of merged.values()) {
      if (param.in !== loc) continue;
      const name = param.name as string;
      if (loc === 'cookie') {
        if (param.required === true) return `it needs the cookie parameter "${name}", which tools do not send`;
        continue;
      }
      if (loc === 'path' && !templateNames.includes(name)) continue; // declared but not in the template: nothing to fill
      if (loc === 'header' && !HEADER_NAME.test(name)) throw new OpenApiError(pw, `"${name}" is not a valid header name`);
      if (loc === 'header' && UNSETTABLE_HEADERS.test(name)) continue;
      const style = (param.style ?? STYLES[loc][0]) as ParameterStyle;
      if (!STYLES[loc].includes(style)) throw new OpenApiError(pw, `style "${String(param.style)}" is not supported for ${loc} parameters (use ${STYLES[loc].join(', ')})`);
      let schema: unknown = param.schema;
      let json = false;
      if (param.content !== undefined) {
        const media = mediaSchema(param.content, at(pw, 'content'));
        if (media === undefined || !JSON_MEDIA.test(media.type)) throw new OpenApiError(at(pw, 'content'), 'a parameter\'s content must be a JSON media type');
        schema = media.schema;
        json = true;
      }
      const copied = schema === undefined ? {} : copier.copy(schema, at(pw, 'schema'));
      const prop = typeof copied === 'boolean' ? {} : copied;
      if (typeof param.description === 'string') prop.description = param.description;
      if (param.deprecated === true) prop.deprecated = true;
      const arg = argName(name, loc);
      const isRequired = loc === 'path' || param.required === true;
      properties[arg] = prop;
      if (isRequired) required.push(arg);
      parameters.push({ arg, name, in: loc, required: isRequired, style, explode: typeof param.explode === 'boolean' ? param.explode : style === 'form', json });
    }
  }

  let body: BodyBinding | null = null;
  if (op.requestBody !== undefined) {
    const rb = op.requestBody;
    const rbw = at(where, 'requestBody');
    if (!isSchemaObject(rb)) throw new OpenApiError(rbw, 'must be an object');
    const media = mediaSchema(rb.content, at(rbw, 'content'));
    const isRequired = rb.required === true;
    if (media === undefined) {
      const types = Object.keys(rb.content as SchemaObject).join(', ') || 'none';
      if (isRequired) return `its request body is ${types}, and tools send only JSON, form or text bodies`;
    } else {
      const copied = media.schema === undefined ? {} : copier.copy(media.schema, at(rbw, 'content', media.type, 'schema'));
      const prop = typeof copied === 'boolean' ? {} : copied;
      if (typeof rb.description === 'string') prop.description = rb.description;
      else if (prop.description === undefined) prop.description = `The request body (${media.type}).`;
      const arg = argName('body', 'request');
      properties[arg] = prop;
      if (isRequired) required.push(arg);
      body = { arg, required: isRequired, contentType: media.type, encoding: JSON_MEDIA.test(media.type) ? 'json' : media.type.startsWith('text/') ? 'text' : 'form' };
    }
  }

  const responses = isSchemaObject(op.responses) ? op.responses : {};
  const answersJson = Object.entries(responses).some(([code, r]) => /^(?:2..|2XX|default)$/i.test(code) && isSchemaObject(r) && isSchemaObject(r.content) && Object.keys(r.content).some((t) => JSON_MEDIA.test(t)));
  const defs = copier.defs;
  const inputSchema: Tool['inputSchema'] = {
    type: 'object',
    properties,
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
    ...(defs === undefined ? {} : { $defs: defs }),
  };
  const upper = method.toUpperCase() as Uppercase<HttpMethod>;
  const readOnly = method === 'get' || method === 'head' || method === 'options';
  const text = describe(op, method, path);
  const operationId = typeof op.operationId === 'string' && op.operationId !== '' ? op.operationId : null;
  return {
    operation: `${upper} ${path}`,
    operationId,
    derived: sanitise(`${method}_${path.replace(/[{}]/g, '').split('/').filter(Boolean).join('_')}`) || method,
    tool: {
      ...text,
      inputSchema,
      annotations: { ...(text.title === undefined ? {} : { title: text.title }), readOnlyHint: readOnly, destructiveHint: method === 'delete', idempotentHint: readOnly || method === 'put' || method === 'delete', openWorldHint: false },
    },
    binding: { operationId, method: upper, pathTemplate: path, parameters, body, accept: answersJson ? 'application/json' : null },
  };
}

function checkPath(path: string): void {
  const where = at('paths', path);
  if (!path.startsWith('/')) throw new OpenApiError(where, 'a path must start with /');
  if (/[?#\\\u0000-\u001f\u007f]/.test(path) || /%/.test(path)) throw new OpenApiError(where, 'a path may not hold ?, #, %, a backslash or control characters');
  if (path.split('/').some((s) => s === '.' || s === '..')) throw new OpenApiError(where, 'a path may not hold . or .. segments');
  if (/\{[^{}]*\{|\}[^{}]*\}|\{\}/.test(path) || (path.match(/\{/g)?.length ?? 0) !== (path.match(/\}/g)?.length ?? 0)) throw new OpenApiError(where, 'the {placeholders} in the path are not well formed');
}

/**
 * The tools of an OpenAPI 3.0/3.1 document, in document order. Throws GW_OPENAPI_INVALID
 * (OpenApiError), naming the place, for a document that is not OpenAPI 3.0/3.1, has an external
 * or dangling $ref, a malformed operation or parameter, or exceeds a limit. Operations that are
 * valid but cannot be called as tools (a required multipart body, a required cookie) are left
 * out and reported to `onSkip`.
 */
export async function toolsFromOpenApi(doc: unknown, options: OpenApiOptions = {}): Promise<OpenApiTool[]> {
  const maxOperations = options.maxOperations ?? 500;
  const checked = checkShape(doc, options.maxBytes ?? OPENAPI_MAX_BYTES);
  refuseExternalRefs(checked.doc);
  refuseExpansion(checked.doc, options.maxExpandedNodes ?? 500_000);
  const root = await dereference(checked.doc, options.timeoutMs ?? 5000);
  const paths = isSchemaObject(root.paths) ? root.paths : {};
  const drafts: Draft[] = [];
  for (const [path, item] of Object.entries(paths)) {
    checkPath(path);
    if (!isSchemaObject(item)) throw new OpenApiError(at('paths', path), 'a path item must be an object');
    for (const method of Object.keys(item)) {
      if (!(HTTP_METHODS as readonly string[]).includes(method)) continue;
      const op = item[method];
      if (!isSchemaObject(op)) throw new OpenApiError(at('paths', path, method), 'an operation must be an object');
      if (drafts.length >= maxOperations) throw new OpenApiError('paths', `the document has more than ${maxOperations} operations`);
      const draft = operationDraft(root, checked.version, path, method as HttpMethod, item, op, options.maxSchemaNodes ?? 10_000);
      if (typeof draft === 'string') options.onSkip?.({ operation: `${method.toUpperCase()} ${path}`, reason: draft });
      else drafts.push(draft);
    }
  }
  const names = assignNames(drafts);
  return drafts.map((d, i) => ({ tool: { name: names[i]!, ...d.tool }, binding: d.binding }));
}
