// Reading JSON Schemas the way arguments.ts and roles.ts need: which keywords hold subschemas,
// and resolving a local `$ref` ("#/$defs/x", "#/definitions/x", "#") against the root. Remote
// refs are never followed (the validator refuses a schema that needs one).

export type SchemaObject = Record<string, unknown>;

export const isSchemaObject = (v: unknown): v is SchemaObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Keywords whose value is a map of subschemas that describe values of the instance (object members). */
export const VALUE_MAPS = ['properties', 'patternProperties'] as const;
/** Keywords whose value is one subschema describing values inside the instance. */
export const VALUE_ONE = ['items', 'additionalProperties', 'additionalItems', 'unevaluatedItems', 'unevaluatedProperties', 'contains'] as const;
/** Keywords whose value is an array of subschemas describing array elements. */
export const VALUE_ARRAYS = ['prefixItems', 'items'] as const;
/** Keywords whose subschemas apply to the same instance (combinators, conditionals). */
export const BRANCH_ARRAYS = ['allOf', 'anyOf', 'oneOf'] as const;
export const BRANCH_ONE = ['not', 'if', 'then', 'else'] as const;
/** Keywords holding definitions that only apply where referenced. */
export const DEF_MAPS = ['$defs', 'definitions', 'dependentSchemas'] as const;

/** The subschema a local JSON Pointer `$ref` names inside `root`, or undefined (remote or missing). */
export function resolveLocalRef(root: SchemaObject, ref: unknown): unknown {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    let token: string;
    try {
      token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    if (Array.isArray(node)) node = /^\d+$/.test(token) ? node[Number(token)] : undefined;
    else if (isSchemaObject(node) && Object.hasOwn(node, token)) node = node[token];
    else return undefined;
  }
  return node;
}

/** `$.a.b[0]` style path of a child (object key or array index) under `parent`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}
