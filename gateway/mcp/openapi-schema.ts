// OpenAPI schema objects → the JSON Schema of a tool argument. The document has been
// dereferenced already (every non-circular $ref is inlined); what is left are the circular refs,
// which are copied once into the tool's own `$defs` and pointed at there, so a recursive type
// (a tree, a linked list) stays a finite JSON document that Ajv and MCP clients understand.
// On the way, OpenAPI's own keywords become JSON Schema: 3.0's `nullable` and boolean
// `exclusiveMinimum`/`exclusiveMaximum`, and `readOnly` properties (which a request must not send)
// are dropped; vendor extensions, `xml`, `externalDocs`, `discriminator` and `example` go.
// Every copy is bounded in nodes and depth, so shared subschemas cannot blow up (a schema used
// twice in each of thirty levels would be 2^30 nodes inlined).
import { GatewayError } from '../errors.ts';
import { isSchemaObject, resolveLocalRef, type SchemaObject } from './schema-walk.ts';

export class OpenApiError extends GatewayError {
  constructor(where: string, what: string) {
    super('GW_OPENAPI_INVALID', `The OpenAPI document is refused at ${where}: ${what}.`);
    this.name = 'OpenApiError';
  }
}

const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const SCHEMA_ARRAYS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const SCHEMA_ONE = new Set(['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'additionalItems', 'contentSchema']);
const DROPPED = new Set(['xml', 'externalDocs', 'discriminator', 'example', 'nullable', '$id', '$schema', '__proto__']);

export interface CopyLimits {
  /** Most schema nodes (objects, arrays and values) in one tool's input schema. */
  readonly maxNodes: number;
  /** Deepest nesting of one tool's input schema. */
  readonly maxDepth: number;
}

/** Copies the schemas of one tool; `defs` holds the recursive types its copies point at. */
export class SchemaCopier {
  readonly #doc: SchemaObject;
  readonly #v30: boolean;
  readonly #limits: CopyLimits;
  readonly #defs: Record<string, SchemaObject | boolean> = {};
  readonly #names = new Map<string, string>();
  #nodes = 0;
  #where = '';

  constructor(doc: SchemaObject, version: '3.0' | '3.1', limits: CopyLimits) {
    this.#doc = doc;
    this.#v30 = version === '3.0';
    this.#limits = limits;
  }

  /** The `$defs` to put at the root of the tool's input schema, or undefined when none were needed. */
  get defs(): Record<string, SchemaObject | boolean> | undefined {
    return Object.keys(this.#defs).length === 0 ? undefined : this.#defs;
  }

  /** A JSON Schema copy of the schema at `where` (a place in the document, for errors). */
  copy(schema: unknown, where: string): SchemaObject | boolean {
    this.#where = where;
    return this.#schema(schema, 0);
  }

  #count(depth: number): void {
    if (++this.#nodes > this.#limits.maxNodes) throw new OpenApiError(this.#where, `the schema expands to more than ${this.#limits.maxNodes} nodes; simplify it or split the operation`);
    if (depth > this.#limits.maxDepth) throw new OpenApiError(this.#where, `the schema nests deeper than ${this.#limits.maxDepth} levels`);
  }

  #schema(node: unknown, depth: number): SchemaObject | boolean {
    this.#count(depth);
    if (typeof node === 'boolean') return node;
    if (!isSchemaObject(node)) throw new OpenApiError(this.#where, 'a schema is not an object');
    if (typeof node.$ref === 'string') return this.#ref(node, depth);
    const out: SchemaObject = {};
    for (const [key, value] of Object.entries(node)) {
      if (key.startsWith('x-') || DROPPED.has(key)) continue;
      if (SCHEMA_MAPS.has(key) && isSchemaObject(value)) {
        const map: SchemaObject = {};
        for (const [k, v] of Object.entries(value)) if (k !== '__proto__') map[k] = this.#schema(v, depth + 1);
        out[key] = map;
      } else if (SCHEMA_ARRAYS.has(key) && Array.isArray(value)) {
        out[key] = value.map((v) => this.#schema(v, depth + 1));
      } else if (SCHEMA_ONE.has(key) && (isSchemaObject(value) || typeof value === 'boolean' || (key === 'items' && Array.isArray(value)))) {
        out[key] = Array.isArray(value) ? value.map((v) => this.#schema(v, depth + 1)) : this.#schema(value, depth + 1);
      } else {
        out[key] = this.#value(value, depth + 1);
      }
    }
    if (this.#v30) this.#from30(node, out);
    this.#dropReadOnly(out);
    return out;
  }

  /** A circular $ref the dereferencer left in place: the target goes into $defs once. */
  #ref(node: SchemaObject, depth: number): SchemaObject {
    const ref = node.$ref as string;
    if (!ref.startsWith('#/')) throw new OpenApiError(this.#where, `the $ref ${JSON.stringify(ref)} is not a reference inside the document`);
    let name = this.#names.get(ref);
    if (name === undefined) {
      const target = resolveLocalRef(this.#doc, ref);
      if (target === undefined) throw new OpenApiError(this.#where, `the $ref ${JSON.stringify(ref)} does not resolve`);
      const base = (ref.split('/').pop() ?? 'def').replace(/[^A-Za-z0-9_.-]+/g, '_') || 'def';
      name = base;
      for (let i = 2; Object.hasOwn(this.#defs, name); i++) name = `${base}_${i}`;
      this.#names.set(ref, name);
      this.#defs[name] = true; // reserved before copying, so a self-reference finds it
      const where = this.#where;
      this.#defs[name] = this.#schema(target, depth + 1);
      this.#where = where;
    }
    // Siblings of a circular $ref are dropped: the dereferencer may hand the same node to every
    // place that refers to the type, so a description here could belong to another property.
    return { $ref: `#/$defs/${name}` };
  }

  #value(value: unknown, depth: number): unknown {
    this.#count(depth);
    if (Array.isArray(value)) return value.map((v) => this.#value(v, depth + 1));
    if (isSchemaObject(value)) {
      const out: SchemaObject = {};
      for (const [k, v] of Object.entries(value)) if (k !== '__proto__') out[k] = this.#value(v, depth + 1);
      return out;
    }
    return value;
  }

  /** OpenAPI 3.0 keywords that mean something else (or nothing) in JSON Schema. */
  #from30(node: SchemaObject, out: SchemaObject): void {
    if (node.nullable === true) {
      if (typeof out.type === 'string') out.type = [out.type, 'null'];
      else if (Array.isArray(out.type) && !out.type.includes('null')) out.type = [...out.type, 'null'];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    }
    for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
      if (out[flag] === true && typeof out[bound] === 'number') {
        out[flag] = out[bound];
        delete out[bound];
      } else if (typeof out[flag] === 'boolean') {
        delete out[flag];
      }
    }
  }

  /** A request never sends readOnly properties, so they are neither offered nor required. */
  #dropReadOnly(out: SchemaObject): void {
    if (!isSchemaObject(out.properties)) return;
    const props = out.properties;
    const readOnly = Object.keys(props).filter((k) => isSchemaObject(props[k]) && (props[k] as SchemaObject).readOnly === true);
    if (readOnly.length === 0) return;
    for (const k of readOnly) delete props[k];
    if (Array.isArray(out.required)) out.required = out.required.filter((r) => !readOnly.includes(r as string));
  }
}
