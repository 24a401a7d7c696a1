// Constant folding over node-sql-parser expressions: the same questions as pg-const.ts (is this
// WHERE always true? is this argument a constant string?) for the other dialects' trees, where
// an expression is {type: 'binary_expr', operator, left, right}, {type: 'number', value}, ...
import { compare, isTruthy, render, showConst, type Const } from './const.ts';

type Obj = Record<string, unknown>;

const MAX_DEPTH = 100;
const STRING_TYPES = new Set(['single_quote_string', 'double_quote_string', 'natural_string', 'string', 'var_string']);
const SAME_OPS = new Set(['=', '==', '<=', '>=', '<=>']);
const DIFFERENT_OPS = new Set(['<>', '!=', '<', '>']);

function stripped(node: unknown): string {
  return JSON.stringify(node, (k, v) => (k === 'loc' || k === 'parentheses' ? undefined : v));
}

/** The same expression, locations aside; the types are compared first, which saves serialising most pairs. */
function same(a: unknown, b: unknown): boolean {
  return (a as Obj | null)?.['type'] === (b as Obj | null)?.['type'] && stripped(a) === stripped(b);
}

function hasCall(node: unknown): boolean {
  return /"type":"(function|aggr_func|window_func)"|"ast":/.test(JSON.stringify(node));
}

export class NspConst {
  tooDeep = false;
  /** MySQL and MariaDB read `a || b` as OR (unless PIPES_AS_CONCAT); the rest as concatenation. */
  readonly #pipesAreOr: boolean;

  /** Values for column references (nsp-bounds.ts samples rows with it); none by default: columns are unknown. */
  readonly #columns: ((name: string) => Const | undefined) | undefined;

  constructor(pipesAreOr: boolean, columns?: (name: string) => Const | undefined) {
    this.#pipesAreOr = pipesAreOr;
    this.#columns = columns;
  }

  value(node: unknown, depth = 0): Const | undefined {
    if (depth > MAX_DEPTH) { this.tooDeep = true; return undefined; }
    if (node === null || typeof node !== 'object') return undefined;
    const n = node as Obj;
    const type = n['type'];
    const d = depth + 1;
    if (type === 'number' || type === 'bigint') { const v = Number(n['value']); return Number.isNaN(v) ? undefined : { v }; }
    if (type === 'bool' || type === 'boolean') return { v: n['value'] === true || /^true$/i.test(String(n['value'])) };
    if (type === 'null') return { v: null };
    if (type === 'column_ref' && this.#columns) return this.#columns(columnName(n));
    if (typeof type === 'string' && STRING_TYPES.has(type) && typeof n['value'] === 'string') return { v: n['value'] };
    if (type === 'unary_expr') {
      const op = String(n['operator'] ?? '').toUpperCase();
      const v = this.value(n['expr'], d);
      if (v === undefined || v.v === null) return v;
      if (op === 'NOT' || op === '!') return { v: !isTruthy(v.v) };
      if (op === '-' && typeof v.v === 'number') return { v: -v.v };
      return op === '+' ? v : undefined;
    }
    if (type !== 'binary_expr') return undefined;
    const op = String(n['operator'] ?? '').toUpperCase();
    if (op === 'AND' || op === '&&' || op === 'OR' || (op === '||' && this.#pipesAreOr) || op === 'XOR') return this.#logic(n, op, d);
    return this.#binary(n, op, d);
  }

  /** AND/OR chains are left-deep in this parser; they are flattened so a long chain is not "too deep". */
  #logic(n: Obj, op: string, d: number): Const | undefined {
    const or = op === 'OR' || op === '||';
    if (op === 'XOR') {
      const [l, r] = [this.value(n['left'], d), this.value(n['right'], d)];
      if (!l || !r || l.v === null || r.v === null) return l?.v === null || r?.v === null ? { v: null } : undefined;
      return { v: isTruthy(l.v) !== isTruthy(r.v) };
    }
    const operands: unknown[] = [];
    const stack: unknown[] = [n];
    // Bounded by the size of the tree: each node is pushed once.
    while (stack.length > 0) {
      const x = stack.pop() as Obj;
      const xop = String(x?.['operator'] ?? '').toUpperCase();
      const same = x?.['type'] === 'binary_expr' && (or ? xop === 'OR' || (xop === '||' && this.#pipesAreOr) : xop === 'AND' || xop === '&&');
      if (same) stack.push(x['right'], x['left']);
      else operands.push(x);
    }
    let unknown = false;
    for (const operand of operands) {
      const v = this.value(operand, d);
      if (v === undefined || v.v === null) { unknown = true; continue; }
      if (or && isTruthy(v.v)) return { v: true };
      if (!or && !isTruthy(v.v)) return { v: false };
    }
    return unknown ? undefined : { v: !or };
  }

  #binary(n: Obj, op: string, d: number): Const | undefined {
    const left = n['left'];
    const right = n['right'] as Obj | undefined;
    if ((SAME_OPS.has(op) || DIFFERENT_OPS.has(op)) && same(left, right) && !hasCall(left)) return { v: SAME_OPS.has(op) };
    if (op === 'LIKE' || op === 'ILIKE') {
      const pattern = this.value(right, d);
      if (typeof pattern?.v === 'string' && /^%+$/.test(pattern.v)) return this.value(left, d)?.v === null ? { v: null } : { v: true };
      return undefined;
    }
    const items = right?.['type'] === 'expr_list' && Array.isArray(right['value']) ? (right['value'] as unknown[]) : undefined;
    if ((op === 'IN' || op === 'NOT IN') && items) {
      if (items.some((item) => same(item, left) && !hasCall(item))) return { v: op === 'IN' };
      const l = this.value(left, d);
      const values = items.map((item) => this.value(item, d));
      if (!l || values.some((v) => v === undefined)) return undefined;
      const hit = values.some((v) => compare('=', l.v, v!.v) === true);
      return { v: op === 'IN' ? hit : !hit };
    }
    if ((op === 'BETWEEN' || op === 'NOT BETWEEN') && items) {
      const [x, lo, hi] = [this.value(left, d), this.value(items[0], d), this.value(items[1], d)];
      if (!x || !lo || !hi) return undefined;
      const a = compare('>=', x.v, lo.v);
      const b = compare('<=', x.v, hi.v);
      if (typeof a !== 'boolean' || typeof b !== 'boolean') return undefined;
      return { v: op === 'BETWEEN' ? a && b : !(a && b) };
    }
    const [l, r] = [this.value(left, d), this.value(right, d)];
    if (!l || !r) return undefined;
    if (op === 'IS' || op === 'IS NOT') {
      const same = l.v === null || r.v === null ? l.v === r.v : typeof r.v === 'boolean' ? isTruthy(l.v) === r.v : compare('=', l.v, r.v) === true;
      return { v: op === 'IS' ? same : !same };
    }
    if (op === '<=>') return { v: l.v === null || r.v === null ? l.v === r.v : compare('=', l.v, r.v) === true };
    const result = compare(op === 'DIV' ? '/' : op, l.v, r.v);
    return result === undefined ? undefined : { v: result };
  }
}

/** See pg-const.ts `alwaysTrue`: the same answer for a node-sql-parser expression. */
export function nspAlwaysTrue(where: unknown, pipesAreOr: boolean): { shown: string } | 'too deep' | undefined {
  const ev = new NspConst(pipesAreOr);
  const v = ev.value(where);
  if (ev.tooDeep) return 'too deep';
  if (v !== undefined && v.v !== null && isTruthy(v.v)) return { shown: render(where, nspShape) };
  return undefined;
}

export function nspConstText(node: unknown): string | undefined {
  const v = new NspConst(false).value(node);
  return typeof v?.v === 'string' ? v.v : undefined;
}

/** A column reference as `table.column` (or `column`), lower case. */
export function columnName(n: Obj): string {
  const col = n['column'];
  const name = typeof col === 'string' ? col : String(((col as Obj | undefined)?.['expr'] as Obj | undefined)?.['value'] ?? '?');
  return (typeof n['table'] === 'string' && n['table'] ? `${n['table']}.${name}` : name).toLowerCase();
}

/** The last part of a node-sql-parser routine name, lower case (names come in three shapes across versions). */
export function nspName(name: unknown): string {
  if (typeof name === 'string') return name.split('.').pop()!.toLowerCase();
  const parts = (name as Obj | undefined)?.['name'];
  if (Array.isArray(parts)) return String((parts[parts.length - 1] as Obj | undefined)?.['value'] ?? '').toLowerCase();
  if (typeof parts === 'string') return parts.toLowerCase();
  return '';
}

export function nspShape(node: unknown, show: (x: unknown) => string): string {
  if (node === null || typeof node !== 'object') return '...';
  const n = node as Obj;
  const type = String(n['type'] ?? '');
  if (type === 'number' || type === 'bigint') return showConst({ v: Number(n['value']) });
  if (type === 'bool' || type === 'boolean') return String(n['value']).toLowerCase();
  if (type === 'null') return 'NULL';
  if (STRING_TYPES.has(type)) return showConst({ v: String(n['value'] ?? '') });
  if (type === 'column_ref') {
    const col = n['column'];
    return typeof col === 'string' ? col : String(((col as Obj | undefined)?.['expr'] as Obj | undefined)?.['value'] ?? '?');
  }
  if (type === 'unary_expr') return `${String(n['operator'])} ${show(n['expr'])}`;
  if (type === 'binary_expr') return `${show(n['left'])} ${String(n['operator'])} ${show(n['right'])}`;
  if (type === 'expr_list' && Array.isArray(n['value'])) return `(${(n['value'] as unknown[]).map(show).join(', ')})`;
  if (type === 'function') return `${nspName(n['name'])}(...)`;
  return '...';
}
