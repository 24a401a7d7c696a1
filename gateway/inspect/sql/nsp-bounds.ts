// pg-bounds.ts for node-sql-parser trees (every dialect but PostgreSQL): a WHERE restricts the
// rows of the table written only where it compares a column of that table and the constant
// folder (nsp-const.ts) does not reduce it to true. Constant-only sub-expressions, `col IS NOT
// NULL`, subqueries that do not mention the target and self-comparisons restrict nothing.
// This parser writes NOT (...) and EXISTS (...) as function calls and builds AND/OR chains
// left-deep; the chains are flattened so a long flat WHERE is not mistaken for deep nesting.
import { constantRestricts, type Value } from './const.ts';
import { columnName, NspConst, nspName } from './nsp-const.ts';
import { SampleBudget, trueForEverySample as sampled } from './samples.ts';

type Obj = Record<string, unknown>;

/** Deepest expression nesting followed; deeper counts as no restriction (fail closed). */
const MAX_DEPTH = 500;

class TooDeep extends Error {}

/**
 * How the target's columns can be qualified, lower case: each written table's alias (or its
 * name when it has none), and the alias a FROM item gives a written table (`DELETE x FROM t AS x`).
 */
export function nspTargets(tables: unknown, from: unknown): Set<string> {
  const list = (v: unknown) => (Array.isArray(v) ? v : v ? [v] : []) as Obj[];
  const out = new Set<string>();
  for (const t of list(tables)) {
    const name = typeof t?.['table'] === 'string' ? t['table'].toLowerCase() : undefined;
    if (name === undefined) continue;
    out.add(typeof t['as'] === 'string' && t['as'] ? t['as'].toLowerCase() : name);
    for (const f of list(from)) {
      if (typeof f?.['table'] === 'string' && f['table'].toLowerCase() === name && typeof f['as'] === 'string' && f['as']) out.add(f['as'].toLowerCase());
    }
  }
  return out;
}

/** True when `where` restricts the rows of a table qualified as one of `targets`; never throws. */
export function nspRestricts(where: unknown, targets: ReadonlySet<string>, pipesAreOr: boolean): boolean {
  try {
    return new Bounds(targets, pipesAreOr).bounds(where, false, 0);
  } catch (err) {
    if (err instanceof TooDeep || err instanceof RangeError) return false;
    throw err;
  }
}

class Bounds {
  readonly #targets: ReadonlySet<string>;
  readonly #pipesAreOr: boolean;
  readonly #budget = new SampleBudget();

  constructor(targets: ReadonlySet<string>, pipesAreOr: boolean) {
    this.#targets = targets;
    this.#pipesAreOr = pipesAreOr;
  }

  bounds(node: unknown, negated: boolean, depth: number): boolean {
    if (depth > MAX_DEPTH) throw new TooDeep();
    const d = depth + 1;
    const folded = new NspConst(this.#pipesAreOr).value(node);
    if (folded !== undefined) return constantRestricts(folded, negated);
    if (node === null || typeof node !== 'object') return false;
    const n = node as Obj;
    const type = String(n['type'] ?? '');
    const op = String(n['operator'] ?? '').toUpperCase();
    if (type === 'binary_expr') {
      const or = op === 'OR' || (op === '||' && this.#pipesAreOr);
      if (or || op === 'AND' || op === '&&') {
        const operands = this.#flatten(n, or);
        // An OR of restrictions can still cover every row (`id >= 0 OR id < 0`): sampled as a whole.
        const all = or !== negated;
        if (all) return operands.every((o) => this.bounds(o, negated, d)) && !this.trueForEverySample(n, negated);
        return operands.some((o) => this.bounds(o, negated, d));
      }
      if (sameSides(n['left'], n['right'])) return false;
      if ((op === 'IS' || op === 'IS NOT') && (n['right'] as Obj | undefined)?.['type'] === 'null') {
        const notNull = (op === 'IS NOT') !== negated;
        return !notNull && this.mentions(n['left'], d, true);
      }
      return (this.mentions(n['left'], d, true) || this.mentions(n['right'], d, true)) && !this.trueForEverySample(n, negated);
    }
    if (type === 'unary_expr' && (op === 'NOT' || op === '!')) return this.bounds(n['expr'], !negated, d);
    if (type === 'function' && nspName(n['name']) === 'not') {
      const args = ((n['args'] as Obj | undefined)?.['value'] as unknown[] | undefined) ?? [];
      return this.bounds(args[0], !negated, d);
    }
    if (type === 'case') {
      const args = (Array.isArray(n['args']) ? n['args'] : []) as Obj[];
      const whens = args.filter((a) => a?.['type'] === 'when');
      const otherwise = args.find((a) => a?.['type'] === 'else');
      if (otherwise !== undefined && !this.bounds(otherwise['result'], negated, d)) return false;
      if (whens.every((w) => this.bounds(w['result'], negated, d))) return true;
      return whens.every((w) => (n['expr'] ? this.mentions(n['expr'], d, true) || this.mentions(w['cond'], d, true) : this.bounds(w['cond'], false, d)));
    }
    if (type === 'origin' || type === 'param' || type === 'var') return false;
    return this.mentions(node, d, true);
  }

  /** See pg-bounds.ts: a predicate true (false when `negated`) on every sample row restricts nothing. */
  trueForEverySample(leaf: unknown, negated: boolean): boolean {
    const columns: string[] = [];
    const constants: Value[] = [];
    const stack: Array<[unknown, number]> = [[leaf, 0]];
    let nodes = 0;
    while (stack.length > 0) { // bounded: each node is pushed once, no deeper than MAX_DEPTH
      const [x, depth] = stack.pop()!;
      nodes++;
      if (depth > MAX_DEPTH || x === null || typeof x !== 'object') continue;
      const n = x as Obj;
      if (n['type'] === 'column_ref') {
        const name = columnName(n);
        if (!columns.includes(name) && columns.length < 8) columns.push(name);
        continue;
      }
      const c = n['type'] === 'binary_expr' || n['type'] === 'expr_list' || Array.isArray(x) ? undefined : new NspConst(false).value(n);
      if (c !== undefined && c.v !== null) { if (constants.length < 16) constants.push(c.v); continue; }
      for (const key in n) if (key !== 'loc') stack.push([n[key], depth + 1]);
    }
    return sampled(columns, constants, nodes, this.#budget, negated, (row) => new NspConst(this.#pipesAreOr, row).value(leaf));
  }

  /** The operands of a left-deep AND (or OR) chain, iteratively. */
  #flatten(n: Obj, or: boolean): unknown[] {
    const operands: unknown[] = [];
    const stack: unknown[] = [n];
    while (stack.length > 0) { // bounded: each node of the tree is pushed once
      const x = stack.pop() as Obj;
      const xop = String(x?.['operator'] ?? '').toUpperCase();
      const same = x?.['type'] === 'binary_expr' && (or ? xop === 'OR' || (xop === '||' && this.#pipesAreOr) : xop === 'AND' || xop === '&&');
      if (same) stack.push(x['right'], x['left']);
      else operands.push(x);
    }
    return operands;
  }

  /** Whether an expression reads a target column (unqualified names count outside subqueries with a FROM). */
  mentions(value: unknown, depth: number, unqualified: boolean): boolean {
    if (depth > MAX_DEPTH) throw new TooDeep();
    if (value === null || typeof value !== 'object') return false;
    if (Array.isArray(value)) return value.some((v) => this.mentions(v, depth + 1, unqualified));
    const n = value as Obj;
    if (n['type'] === 'column_ref') {
      const table = n['table'];
      return typeof table === 'string' && table !== '' ? this.#targets.has(table.toLowerCase()) : unqualified;
    }
    let inner = unqualified;
    if (n['type'] === 'select') {
      const from = (Array.isArray(n['from']) ? n['from'] : []) as Obj[];
      const shadows = from.some((f) => [f?.['table'], f?.['as']].some((x) => typeof x === 'string' && this.#targets.has(x.toLowerCase())));
      if (shadows) return false;
      inner = unqualified && from.length === 0;
    }
    for (const key in n) {
      if (key === 'loc' || key === 'tableList' || key === 'columnList') continue;
      if (this.mentions(n[key], depth + 1, inner)) return true;
    }
    return false;
  }
}

function sameSides(l: unknown, r: unknown): boolean {
  const strip = (x: unknown) => JSON.stringify(x, (k, v) => (k === 'loc' || k === 'parentheses' ? undefined : v));
  return l !== undefined && l !== null && (l as Obj)['type'] === (r as Obj | null)?.['type'] && strip(l) === strip(r);
}
