// A call to a tool generated from an OpenAPI operation, as the HTTP request the data path sends:
// path parameters percent-encoded into the template (a value can never add a segment or climb
// out with `..`), the query string built by each parameter's style, headers checked for
// characters that would split them, and the body serialised by its media type.
import { GatewayError } from '../errors.ts';

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type ParameterStyle = 'simple' | 'label' | 'matrix' | 'form' | 'spaceDelimited' | 'pipeDelimited' | 'deepObject';

export interface ParameterBinding {
  /** The property of the tool's arguments that holds the value. */
  readonly arg: string;
  /** The parameter's name in the HTTP request. */
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly required: boolean;
  readonly style: ParameterStyle;
  readonly explode: boolean;
  /** The parameter is declared with `content: application/json`: the value is sent as JSON text. */
  readonly json: boolean;
}

export interface BodyBinding {
  readonly arg: string;
  readonly required: boolean;
  /** The media type sent, from the document (e.g. `application/json`, `application/merge-patch+json`). */
  readonly contentType: string;
  readonly encoding: 'json' | 'form' | 'text';
}

/** Everything needed to turn a tool call into the operation's HTTP request. */
export interface OperationBinding {
  readonly operationId: string | null;
  /** Upper case: GET, POST, … */
  readonly method: Uppercase<HttpMethod>;
  /** The path as the document writes it, `{name}` placeholders included, relative to the connection's target. */
  readonly pathTemplate: string;
  readonly parameters: readonly ParameterBinding[];
  readonly body: BodyBinding | null;
  /** Accept header to send (`application/json` when the operation answers JSON), or null. */
  readonly accept: string | null;
}

export interface BuiltRequest {
  readonly method: string;
  /** Path and query, starting with `/`, to append to the connection's base path. */
  readonly path: string;
  /** Lower-case names. */
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  readonly contentType?: string;
}

function refuse(what: string): never {
  throw new GatewayError('GW_TOOL_ARGUMENTS_INVALID', `The arguments cannot be sent: ${what}.`);
}

/** RFC 3986 unreserved characters stay; everything else, `!'()*` included, is percent-encoded. */
function encode(value: string, arg: string): string {
  try {
    return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    refuse(`argument "${arg}" is not valid Unicode text (a lone surrogate)`);
  }
}

type Scalar = string | number | boolean;

function scalar(v: unknown, arg: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return JSON.stringify(v) ?? refuse(`argument "${arg}" cannot be written as text`);
}

/** Members of an object value as [key, text] pairs. */
const pairs = (v: Record<string, unknown>, arg: string) => Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, scalar(x, arg)] as const);
const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A path parameter's text, already encoded, by style (OpenAPI 3 "Style Examples"). */
function pathValue(p: ParameterBinding, v: unknown): string {
  const enc = (s: string) => encode(s, p.arg);
  if (p.json) return enc(JSON.stringify(v));
  const sep = p.style === 'label' ? '.' : p.style === 'matrix' ? ';' : ',';
  const prefix = p.style === 'label' ? '.' : p.style === 'matrix' ? `;${enc(p.name)}=` : '';
  if (Array.isArray(v)) {
    const items = v.map((x) => enc(scalar(x, p.arg)));
    if (p.style === 'matrix') return p.explode ? items.map((x) => `;${enc(p.name)}=${x}`).join('') : `${prefix}${items.join(',')}`;
    return `${prefix}${items.join(p.explode ? sep : ',')}`;
  }
  if (isRecord(v)) {
    const kv = pairs(v, p.arg).map(([k, x]) => [enc(k), enc(x)] as const);
    if (p.style === 'matrix') return p.explode ? kv.map(([k, x]) => `;${k}=${x}`).join('') : `${prefix}${kv.flat().join(',')}`;
    return `${prefix}${p.explode ? kv.map(([k, x]) => `${k}=${x}`).join(sep) : kv.flat().join(',')}`;
  }
  const text = scalar(v, p.arg);
  if (text === '') refuse(`argument "${p.arg}" is empty, and a path parameter needs a value`);
  return `${prefix}${enc(text)}`;
}

/** `name=value` pairs of a query parameter, encoded, by style. */
function queryPairs(p: ParameterBinding, v: unknown): string[] {
  const enc = (s: string) => encode(s, p.arg);
  const name = enc(p.name);
  if (p.json) return [`${name}=${enc(JSON.stringify(v))}`];
  if (Array.isArray(v)) {
    const items = v.map((x) => enc(scalar(x, p.arg)));
    if (p.style === 'form' && p.explode) return items.map((x) => `${name}=${x}`);
    const delim = p.style === 'spaceDelimited' ? '%20' : p.style === 'pipeDelimited' ? '%7C' : ',';
    return [`${name}=${items.join(delim)}`];
  }
  if (isRecord(v)) {
    const kv = pairs(v, p.arg);
    if (p.style === 'deepObject') return kv.map(([k, x]) => `${enc(`${p.name}[${k}]`)}=${enc(x)}`);
    if (p.explode) return kv.map(([k, x]) => `${enc(k)}=${enc(x)}`);
    return [`${name}=${kv.map(([k, x]) => `${enc(k)},${enc(x)}`).join(',')}`];
  }
  return [`${name}=${enc(scalar(v, p.arg))}`];
}

/** Header values may not carry control characters (CR/LF would split the header) or text beyond Latin-1. */
function headerValue(p: ParameterBinding, v: unknown): string {
  let text: string;
  if (p.json) text = JSON.stringify(v);
  else if (Array.isArray(v)) text = v.map((x) => scalar(x, p.arg)).join(',');
  else if (isRecord(v)) text = pairs(v, p.arg).map(([k, x]) => (p.explode ? `${k}=${x}` : `${k},${x}`)).join(',');
  else text = scalar(v, p.arg);
  if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(text)) refuse(`argument "${p.arg}" (header ${p.name}) holds control characters or characters outside Latin-1`);
  return text;
}

function bodyOf(binding: BodyBinding, v: unknown): Buffer {
  if (binding.encoding === 'json') return Buffer.from(JSON.stringify(v), 'utf8');
  if (binding.encoding === 'text') {
    if (typeof v !== 'string') refuse(`argument "${binding.arg}" must be text for a ${binding.contentType} body`);
    return Buffer.from(v, 'utf8');
  }
  if (!isRecord(v)) refuse(`argument "${binding.arg}" must be an object for a form body`);
  const form = new URLSearchParams();
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    for (const item of Array.isArray(x) ? x : [x]) form.append(k, scalar(item as Scalar, binding.arg));
  }
  return Buffer.from(form.toString(), 'utf8');
}

/**
 * The HTTP request for a call with `args` (already validated, `_justification` removed). Throws
 * GW_TOOL_ARGUMENTS_INVALID for a missing required argument, an argument the operation does not
 * have, an empty or dot-segment path value, or a header value with control characters.
 */
export function buildRequest(binding: OperationBinding, args: Readonly<Record<string, unknown>>): BuiltRequest {
  const known = new Set([...binding.parameters.map((p) => p.arg), ...(binding.body ? [binding.body.arg] : [])]);
  for (const key of Object.keys(args)) if (!known.has(key)) refuse(`the operation has no argument "${key}"`);
  const present = (arg: string) => args[arg] !== undefined && args[arg] !== null;
  for (const p of binding.parameters) if (p.required && !present(p.arg)) refuse(`missing required argument "${p.arg}"`);

  const path = binding.pathTemplate.replace(/\{([^{}]+)\}/g, (_m, name: string) => {
    const p = binding.parameters.find((x) => x.in === 'path' && x.name === name);
    if (p === undefined) refuse(`the path template names {${name}}, which no argument fills`);
    return pathValue(p, args[p.arg]);
  });
  // Encoding never produces "." or ".." from anything else, so a segment that is one came from a value.
  if (path.split('/').some((s) => s === '.' || s === '..')) refuse('a path argument is "." or "..", which would leave the operation\'s path');

  const query: string[] = [];
  const headers: Record<string, string> = {};
  for (const p of binding.parameters) {
    if (!present(p.arg)) continue;
    if (p.in === 'query') query.push(...queryPairs(p, args[p.arg]));
    else if (p.in === 'header') headers[p.name.toLowerCase()] = headerValue(p, args[p.arg]);
  }
  if (binding.accept !== null) headers.accept = binding.accept;
  const built = { method: binding.method, path: query.length === 0 ? path : `${path}?${query.join('&')}`, headers };
  if (binding.body === null || args[binding.body.arg] === undefined) {
    if (binding.body?.required) refuse(`missing required argument "${binding.body.arg}" (the request body)`);
    return built;
  }
  return { ...built, body: bodyOf(binding.body, args[binding.body.arg]), contentType: binding.body.contentType };
}
