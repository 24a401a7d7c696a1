// The value model shared by the two constant folders (pg-const.ts over libpg-query trees,
// nsp-const.ts over node-sql-parser trees): SQL NULL is `null`; numbers are JS numbers (a
// 5,000-digit literal becomes Infinity, which still compares sanely); booleans and strings as is.

export type Value = number | string | boolean | null;
export interface Const {
  readonly v: Value;
}

/** How a WHERE treats a value: PostgreSQL's boolean input forms, else MySQL's "non-zero number". */
export function isTruthy(v: Exclude<Value, null>): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (/^\s*(t|true|y|yes|on)\s*$/i.test(v)) return true;
  const n = Number(v);
  return !Number.isNaN(n) && n !== 0 && v.trim() !== '';
}

/**
 * Whether a WHERE that folds to the constant `c` (under NOT when `negated`) restricts the rows:
 * NULL and false keep no row at all, true keeps every row (pg-bounds.ts, nsp-bounds.ts).
 */
export function constantRestricts(c: Const, negated: boolean): boolean {
  if (c.v === null) return true;
  return negated ? isTruthy(c.v) : !isTruthy(c.v);
}

function coerce(a: Exclude<Value, null>, b: Exclude<Value, null>): [number, number] | [string, string] | [boolean, boolean] | undefined {
  if (typeof a === typeof b) return [a, b] as [number, number];
  const num = (x: Exclude<Value, null>) => (typeof x === 'boolean' ? (x ? 1 : 0) : typeof x === 'number' ? x : x.trim() === '' ? NaN : Number(x));
  const [x, y] = [num(a), num(b)];
  return Number.isNaN(x) || Number.isNaN(y) ? undefined : [x, y];
}

/** `a op b` for comparison and arithmetic operators; null when either side is NULL; undefined when unknown. */
export function compare(op: string, a: Value, b: Value): Value | undefined {
  if (a === null || b === null) return null;
  if (op === '||') return String(a) + String(b);
  const pair = coerce(a, b);
  if (!pair) return undefined;
  const [x, y] = pair;
  switch (op) {
    case '=': case '==': return x === y;
    case '<>': case '!=': return x !== y;
    case '<': return x < y;
    case '>': return x > y;
    case '<=': return x <= y;
    case '>=': return x >= y;
  }
  if (typeof x !== 'number' || typeof y !== 'number') return undefined;
  switch (op) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return y === 0 ? undefined : x / y;
    case '%': return y === 0 ? undefined : x % y;
    default: return undefined;
  }
}

/**
 * A short, bounded rendering of an expression for a finding's detail (at most 40 nodes and 80
 * characters); `shape` renders one node of a given parser's tree, calling `show` for children.
 */
export function render(node: unknown, shape: (node: unknown, show: (child: unknown) => string) => string): string {
  let budget = 40;
  const show = (child: unknown): string => (budget-- <= 0 ? '...' : shape(child, show));
  const text = show(node);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A constant for a finding's detail. Strings longer than 4 characters are elided: a detail must never carry a value that could be a secret. */
export function showConst(c: Const): string {
  if (c.v === null) return 'NULL';
  if (typeof c.v === 'boolean') return c.v ? 'true' : 'false';
  if (typeof c.v === 'number') return Number.isFinite(c.v) ? String(c.v).slice(0, 20) : 'a huge number';
  return c.v.length <= 4 && /^[\w ]*$/.test(c.v) ? `'${c.v}'` : `'...'`;
}
