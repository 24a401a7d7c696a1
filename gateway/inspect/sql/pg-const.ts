// Constant folding over libpg-query expressions, enough to tell a WHERE that filters from one
// that is always true (`1=1`, `true`, `'a'='a'`, `2>1`, `NOT false`, `x = x`, `col LIKE '%'`,
// `1 IN (1,2)`, `EXISTS (SELECT 1)`, `id = 5 OR 1=1`) and to read constant SQL text handed to
// EXECUTE. Anything it cannot decide is "unknown", which callers treat as a real filter; an
// expression nested past MAX_DEPTH is reported as too deep, which callers treat as no filter.
import { compare, isTruthy, render, showConst, type Const } from './const.ts';

type Obj = Record<string, unknown>;

const MAX_DEPTH = 100;

export function unwrap(wrapper: unknown): [string, Obj] | undefined {
  if (wrapper === null || typeof wrapper !== 'object' || Array.isArray(wrapper)) return undefined;
  for (const key in wrapper) {
    const node = (wrapper as Obj)[key];
    if (node !== null && typeof node === 'object') return [key, node as Obj];
  }
  return undefined;
}

function sval(node: unknown): string | undefined {
  const s = (node as Obj | undefined)?.['String'] as Obj | undefined;
  return typeof s?.['sval'] === 'string' ? s['sval'] : undefined;
}

/** Dotted name from a list of String nodes (`funcname`, `names`, ColumnRef `fields`). */
export function names(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) => sval(item) ?? ((item as Obj)?.['A_Star'] ? '*' : '?'));
}

/** The value of an A_Const (protobuf leaves zero, false and '' out of the JSON). */
export function aConst(n: Obj): Const | undefined {
  if (n['isnull'] === true) return { v: null };
  if ('ival' in n) return { v: Number((n['ival'] as Obj)['ival'] ?? 0) };
  if ('fval' in n) return { v: Number((n['fval'] as Obj)['fval'] ?? 0) };
  if ('boolval' in n) return { v: (n['boolval'] as Obj)['boolval'] === true };
  if ('sval' in n) return { v: String((n['sval'] as Obj)['sval'] ?? '') };
  if ('bsval' in n) return { v: String((n['bsval'] as Obj)['bsval'] ?? '') };
  return undefined;
}

function stripped(node: unknown): string {
  return JSON.stringify(node, (k, v) => (k === 'location' ? undefined : v));
}

/** The same expression, locations aside; the tags are compared first, which saves serialising most pairs. */
function same(a: unknown, b: unknown): boolean {
  return a !== undefined && unwrap(a)?.[0] === unwrap(b)?.[0] && stripped(a) === stripped(b);
}

function hasCall(node: unknown): boolean {
  return /"(FuncCall|SubLink)"/.test(JSON.stringify(node));
}

export class PgConst {
  tooDeep = false;
  /** Values for column references (pg-bounds.ts samples rows with it); none by default: columns are unknown. */
  readonly #columns: ((fields: string[]) => Const | undefined) | undefined;

  constructor(columns?: (fields: string[]) => Const | undefined) {
    this.#columns = columns;
  }

  /** The constant value of an expression, or undefined when it depends on data. */
  value(wrapper: unknown, depth = 0): Const | undefined {
    if (depth > MAX_DEPTH) { this.tooDeep = true; return undefined; }
    const u = unwrap(wrapper);
    if (!u) return undefined;
    const [tag, n] = u;
    const d = depth + 1;
    switch (tag) {
      case 'A_Const': return aConst(n);
      case 'ColumnRef': return this.#columns?.(names(n['fields']));
      case 'TypeCast': return cast(this.value(n['arg'], d), names((n['typeName'] as Obj | undefined)?.['names']));
      case 'BoolExpr': return this.bool(n, d);
      case 'A_Expr': return this.aExpr(n, d);
      case 'NullTest': {
        const v = this.value(n['arg'], d);
        if (v === undefined) return undefined;
        return { v: n['nulltesttype'] === 'IS_NOT_NULL' ? v.v !== null : v.v === null };
      }
      case 'BooleanTest': {
        const v = this.value(n['arg'], d);
        if (v === undefined) return undefined;
        const t = v.v === null ? null : isTruthy(v.v);
        switch (n['booltesttype']) {
          case 'IS_TRUE': return { v: t === true };
          case 'IS_NOT_TRUE': return { v: t !== true };
          case 'IS_FALSE': return { v: t === false };
          case 'IS_NOT_FALSE': return { v: t !== false };
          case 'IS_UNKNOWN': return { v: t === null };
          case 'IS_NOT_UNKNOWN': return { v: t !== null };
          default: return undefined;
        }
      }
      case 'CoalesceExpr': {
        for (const arg of (n['args'] as unknown[] | undefined) ?? []) {
          const v = this.value(arg, d);
          if (v === undefined) return undefined;
          if (v.v !== null) return v;
        }
        return { v: null };
      }
      case 'SubLink': {
        // EXISTS over a SELECT without FROM is true whenever its own WHERE is.
        const sub = unwrap(n['subselect']);
        if (n['subLinkType'] !== 'EXISTS_SUBLINK' || !sub || sub[0] !== 'SelectStmt') return undefined;
        const s = sub[1];
        if (s['fromClause'] || s['havingClause'] || s['limitCount'] || s['valuesLists'] || s['larg']) return undefined;
        if (s['whereClause'] === undefined) return { v: true };
        const w = this.value(s['whereClause'], d);
        return w !== undefined && w.v !== null && isTruthy(w.v) ? { v: true } : undefined;
      }
      default: return undefined;
    }
  }

  private bool(n: Obj, d: number): Const | undefined {
    const args = (n['args'] as unknown[] | undefined) ?? [];
    const op = n['boolop'];
    if (op === 'NOT_EXPR') {
      const v = this.value(args[0], d);
      return v === undefined || v.v === null ? v : { v: !isTruthy(v.v) };
    }
    let unknown = false;
    for (const arg of args) {
      const v = this.value(arg, d);
      if (v === undefined || v.v === null) { unknown = true; continue; }
      const t = isTruthy(v.v);
      if (op === 'OR_EXPR' && t) return { v: true };
      if (op === 'AND_EXPR' && !t) return { v: false };
    }
    if (unknown) return undefined;
    return { v: op === 'AND_EXPR' };
  }

  private aExpr(n: Obj, d: number): Const | undefined {
    const op = names(n['name'])[0] ?? '';
    const kind = n['kind'];
    if (kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE') {
      // `col LIKE '%'` keeps every non-NULL row: no filter in practice.
      const pattern = this.value(n['rexpr'], d);
      if ((op === '~~' || op === '~~*') && typeof pattern?.v === 'string' && /^%+$/.test(pattern.v)) {
        const left = this.value(n['lexpr'], d);
        return left?.v === null ? { v: null } : { v: true };
      }
      return undefined;
    }
    if (kind === 'AEXPR_IN') {
      const left = this.value(n['lexpr'], d);
      const items = ((n['rexpr'] as Obj | undefined)?.['List'] as Obj | undefined)?.['items'] as unknown[] | undefined;
      if (!items) return undefined;
      const member = items.some((item) => same(item, n['lexpr']) && !hasCall(item));
      if (member) return { v: op === '=' };
      if (left === undefined) return undefined;
      const values = items.map((item) => this.value(item, d));
      if (values.some((v) => v === undefined)) return undefined;
      const hit = values.some((v) => compare('=', left.v, v!.v) === true);
      return { v: op === '=' ? hit : !hit };
    }
    if (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN' || kind === 'AEXPR_BETWEEN_SYM' || kind === 'AEXPR_NOT_BETWEEN_SYM') {
      const items = ((n['rexpr'] as Obj | undefined)?.['List'] as Obj | undefined)?.['items'] as unknown[] | undefined;
      const [x, lo, hi] = [this.value(n['lexpr'], d), this.value(items?.[0], d), this.value(items?.[1], d)];
      if (!x || !lo || !hi) return undefined;
      const a = compare('>=', x.v, lo.v);
      const b = compare('<=', x.v, hi.v);
      if (a === undefined || b === undefined || a === null || b === null) return undefined;
      const inside = a && b;
      return { v: kind.startsWith('AEXPR_NOT') ? !inside : inside };
    }
    if (kind === 'AEXPR_NOT_DISTINCT' || kind === 'AEXPR_DISTINCT') {
      if (same(n['lexpr'], n['rexpr']) && !hasCall(n['lexpr'])) return { v: kind === 'AEXPR_NOT_DISTINCT' };
      const [l, r] = [this.value(n['lexpr'], d), this.value(n['rexpr'], d)];
      if (!l || !r) return undefined;
      const equal = l.v === null || r.v === null ? l.v === r.v : compare('=', l.v, r.v) === true;
      return { v: kind === 'AEXPR_NOT_DISTINCT' ? equal : !equal };
    }
    if (kind !== 'AEXPR_OP') return undefined;
    if (n['lexpr'] === undefined) {
      const r = this.value(n['rexpr'], d);
      if (op === '-' && typeof r?.v === 'number') return { v: -r.v };
      return op === '+' ? r : undefined;
    }
    // The same expression on both sides (`x = x`): true except on NULL, which is no filter in practice.
    if (['=', '<=', '>=', '<>', '!=', '<', '>'].includes(op) && same(n['lexpr'], n['rexpr']) && !hasCall(n['lexpr'])) {
      return { v: op === '=' || op === '<=' || op === '>=' };
    }
    const [l, r] = [this.value(n['lexpr'], d), this.value(n['rexpr'], d)];
    if (!l || !r) return undefined;
    const result = compare(op, l.v, r.v);
    return result === undefined ? undefined : { v: result };
  }
}

function cast(v: Const | undefined, type: string[]): Const | undefined {
  if (v === undefined || v.v === null) return v;
  const t = (type[type.length - 1] ?? '').toLowerCase();
  if (t === 'bool' || t === 'boolean') return { v: isTruthy(v.v) };
  if (/^(int[248]?|integer|smallint|bigint|numeric|decimal|float[48]?|real|double)$/.test(t)) {
    const num = Number(v.v);
    return Number.isNaN(num) ? undefined : { v: num };
  }
  if (/^(text|varchar|bpchar|char|name)$/.test(t)) return { v: String(v.v) };
  return v;
}

/** A WHERE/ON that filters nothing: returns how it reads, or 'too deep'; undefined when it may filter. */
export function alwaysTrue(where: unknown): { shown: string } | 'too deep' | undefined {
  const ev = new PgConst();
  const v = ev.value(where);
  if (ev.tooDeep) return 'too deep';
  if (v !== undefined && v.v !== null && isTruthy(v.v)) return { shown: render(where, pgShape) };
  return undefined;
}

/** The text of a constant string expression ('…', '…' || '…', '…'::text), or undefined. */
export function constText(wrapper: unknown): string | undefined {
  const v = new PgConst().value(wrapper);
  return typeof v?.v === 'string' ? v.v : undefined;
}

/** How `render` reads a libpg-query node (see const.ts). */
export function pgShape(wrapper: unknown, show: (x: unknown) => string): string {
  const u = unwrap(wrapper);
  if (!u) return '...';
  const [tag, n] = u;
  switch (tag) {
    case 'A_Const': {
      const c = aConst(n);
      return c === undefined ? '...' : showConst(c);
    }
    case 'ColumnRef': return names(n['fields']).join('.');
    case 'ParamRef': return `$${String(n['number'] ?? '?')}`;
    case 'TypeCast': return `${show(n['arg'])}::${names((n['typeName'] as Obj | undefined)?.['names']).slice(-1)[0] ?? '?'}`;
    case 'A_Expr': {
      const op = names(n['name'])[0] ?? '?';
      const kind = String(n['kind']);
      const list = ((n['rexpr'] as Obj | undefined)?.['List'] as Obj | undefined)?.['items'] as unknown[] | undefined;
      if (list && kind.includes('BETWEEN')) return `${show(n['lexpr'])} ${kind.includes('NOT') ? 'NOT BETWEEN' : 'BETWEEN'} ${show(list[0])} AND ${show(list[1])}`;
      const right = list ? `(${list.map(show).join(', ')})` : show(n['rexpr']);
      const word = kind === 'AEXPR_IN' ? (op === '=' ? 'IN' : 'NOT IN') : kind.includes('BETWEEN') ? 'BETWEEN' : op === '~~' ? 'LIKE' : op === '~~*' ? 'ILIKE' : op;
      return n['lexpr'] === undefined ? `${op}${right}` : `${show(n['lexpr'])} ${word} ${right}`;
    }
    case 'BoolExpr': {
      const args = ((n['args'] as unknown[] | undefined) ?? []).map(show);
      if (n['boolop'] === 'NOT_EXPR') return `NOT ${args[0] ?? '?'}`;
      return args.join(n['boolop'] === 'AND_EXPR' ? ' AND ' : ' OR ');
    }
    case 'NullTest': return `${show(n['arg'])} ${n['nulltesttype'] === 'IS_NOT_NULL' ? 'IS NOT NULL' : 'IS NULL'}`;
    case 'BooleanTest': return `${show(n['arg'])} ${String(n['booltesttype']).replace(/_/g, ' ')}`;
    case 'SubLink': return n['subLinkType'] === 'EXISTS_SUBLINK' ? 'EXISTS (...)' : '(...)';
    case 'FuncCall': return `${names(n['funcname']).join('.')}(...)`;
    default: return '...';
  }
}
