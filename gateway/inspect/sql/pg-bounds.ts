// Does a WHERE (or a MERGE ON/AND) restrict the rows of the table being written? Decided by
// construction rather than by a list of tautologies: a predicate restricts only where it compares
// a column of the target table, and the constant folder (pg-const.ts) does not reduce it to true.
// Everything else counts as no restriction — a sub-expression over constants only
// (`length('a') > 0`, `now() > '2000-01-01'`, `CASE WHEN true THEN true END`, `$1`), a test that
// merely asks for a value (`id IS NOT NULL`), a subquery that does not mention the target
// (`EXISTS (SELECT 1 FROM other)`), or a comparison of an expression with itself. So an unknown
// shape is judged "unbounded" and waits for a reviewer; it is never waved through as a filter.
//
// NOT is pushed inwards (De Morgan), so `NOT (id IS NULL)` is read as the `id IS NOT NULL` it is.
import { constantRestricts, type Const, type Value } from './const.ts';
import { aConst, names, PgConst, unwrap } from './pg-const.ts';
import { SampleBudget, trueForEverySample as sampled } from './samples.ts';

type Obj = Record<string, unknown>;

/** Deepest expression nesting followed; deeper counts as no restriction (fail closed). */
const MAX_DEPTH = 500;

/** The table written, as its columns can be qualified: the alias if it has one, else its name. */
export interface Target {
  readonly qualifier: string;
}

export function targetOf(rangeVar: unknown): Target {
  const r = (rangeVar ?? {}) as Obj;
  const alias = (r['alias'] as Obj | undefined)?.['aliasname'];
  return { qualifier: typeof alias === 'string' ? alias : String(r['relname'] ?? '') };
}

class TooDeep extends Error {}

/** True when `where` restricts the target's rows (see the head of this file); never throws. */
export function restricts(where: unknown, target: Target): boolean {
  try {
    return bounds(where, false, target, 0, new SampleBudget());
  } catch (err) {
    if (err instanceof TooDeep || err instanceof RangeError) return false;
    throw err;
  }
}

function bounds(wrapper: unknown, negated: boolean, target: Target, depth: number, budget: SampleBudget): boolean {
  if (depth > MAX_DEPTH) throw new TooDeep();
  const d = depth + 1;
  const folded = new PgConst().value(wrapper);
  if (folded !== undefined) return constantRestricts(folded, negated);
  const u = unwrap(wrapper);
  if (!u) return false;
  const [tag, n] = u;
  const args = (n['args'] as unknown[] | undefined) ?? [];
  switch (tag) {
    case 'BoolExpr': {
      if (n['boolop'] === 'NOT_EXPR') return bounds(args[0], !negated, target, d, budget);
      // AND restricts when one operand does; OR only when every operand does (negated: the reverse).
      // An OR of restrictions can still cover every row (`id >= 0 OR id < 0`): sampled as a whole.
      const all = (n['boolop'] === 'OR_EXPR') !== negated;
      if (all) return args.every((a) => bounds(a, negated, target, d, budget)) && !trueForEverySample(wrapper, negated, budget);
      return args.some((a) => bounds(a, negated, target, d, budget));
    }
    case 'NullTest': {
      // `col IS NULL` picks rows; `col IS NOT NULL` keeps nearly all of them (keys are NOT NULL).
      const notNull = (n['nulltesttype'] === 'IS_NOT_NULL') !== negated;
      return !notNull && mentions(n['arg'], target, d);
    }
    case 'BooleanTest': {
      // `flag IS NOT UNKNOWN` is `flag IS NOT NULL`.
      const notUnknown = n['booltesttype'] === (negated ? 'IS_UNKNOWN' : 'IS_NOT_UNKNOWN');
      return !notUnknown && mentions(n['arg'], target, d);
    }
    case 'TypeCast': return bounds(n['arg'], negated, target, d, budget);
    case 'CurrentOfExpr': return true;
    case 'CaseExpr': {
      const whens = args.map((a) => ((a as Obj)['CaseWhen'] ?? {}) as Obj);
      // No ELSE is ELSE NULL, which keeps no row.
      const otherwise = n['defresult'] === undefined || bounds(n['defresult'], negated, target, d, budget);
      if (!otherwise) return false;
      if (whens.every((w) => bounds(w['result'], negated, target, d, budget))) return true;
      // Otherwise each branch is only taken for rows its condition picks.
      return whens.every((w) => (n['arg'] === undefined ? bounds(w['expr'], false, target, d, budget) : mentions(n['arg'], target, d) || mentions(w['expr'], target, d)));
    }
    // The first argument decides every row where it is not NULL, so it must restrict.
    case 'CoalesceExpr': return args.length > 0 && bounds(args[0], negated, target, d, budget);
    case 'A_Expr': {
      const kind = n['kind'];
      if (sameSides(n['lexpr'], n['rexpr'])) return false;
      if (kind === 'AEXPR_DISTINCT' || kind === 'AEXPR_NOT_DISTINCT') {
        // `col IS DISTINCT FROM NULL` is `col IS NOT NULL`.
        const nullSide = [n['lexpr'], n['rexpr']].find((x) => new PgConst().value(x)?.v === null);
        if (nullSide !== undefined && (kind === 'AEXPR_DISTINCT') !== negated) return false;
      }
      return (mentions(n['lexpr'], target, d) || mentions(n['rexpr'], target, d)) && !trueForEverySample(wrapper, negated, budget);
    }
    case 'ParamRef': return false;
    default: return mentions(wrapper, target, d);
  }
}

/** The same expression on both sides compares a row with itself: no restriction (or, with a volatile call, a random one). */
function sameSides(l: unknown, r: unknown): boolean {
  if (l === undefined || r === undefined || unwrap(l)?.[0] !== unwrap(r)?.[0]) return false;
  const strip = (x: unknown) => JSON.stringify(x, (k, v) => (k === 'location' ? undefined : v));
  return strip(l) === strip(r);
}

/**
 * Whether an expression reads a column of the target. Unqualified names count at the statement's
 * own level; inside a subquery with a FROM they name the subquery's tables first, so only
 * qualified references to the target count there (and none when the subquery reuses its name).
 */
function mentions(value: unknown, target: Target, depth: number, unqualified = true): boolean {
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((v) => mentions(v, target, depth + 1, unqualified));
  for (const key in value as Obj) {
    const child = (value as Obj)[key];
    if (child === null || typeof child !== 'object') continue;
    if (key === 'ColumnRef') {
      const fields = names((child as Obj)['fields']);
      if (fields.length === 1 ? unqualified : fields[fields.length - 2] === target.qualifier) return true;
      continue;
    }
    if (key === 'SelectStmt') {
      const s = child as Obj;
      const from = s['fromClause'];
      if (from !== undefined && shadows(from, target)) continue;
      if (mentions(child, target, depth + 1, unqualified && from === undefined)) return true;
      continue;
    }
    if (mentions(child, target, depth + 1, unqualified)) return true;
  }
  return false;
}

/** A FROM list that names a table or alias equal to the target's qualifier hides the target. */
function shadows(from: unknown, target: Target): boolean {
  return JSON.stringify(from).includes(`"aliasname":${JSON.stringify(target.qualifier)}`)
    || JSON.stringify(from).includes(`"relname":${JSON.stringify(target.qualifier)}`);
}

/**
 * A predicate (under NOT when `negated`) that is true whatever the row holds (`id * 0 = 0`, `id = id + 0`, `id + 1 > id`)
 * restricts nothing, though it mentions a column. It is evaluated on sample rows (samples.ts):
 * every column set to ordinary values and to the constants of the comparison and their
 * neighbours; true on every row that evaluates means a tautology. Whatever cannot be evaluated
 * (a function call, a type mismatch) leaves the comparison as a restriction.
 */
function trueForEverySample(leaf: unknown, negated: boolean, budget: SampleBudget): boolean {
  const columns: string[] = [];
  const constants: Value[] = [];
  const nodes = collect(leaf, columns, constants, 0);
  return sampled(columns, constants, nodes, budget, negated, (row) => new PgConst((fields) => row(fields.join('.'))).value(leaf));
}

/** Collects the distinct column names (dotted, at most 8) and up to 16 constants of an expression; returns its node count. */
function collect(value: unknown, columns: string[], constants: Value[], depth: number): number {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return 0;
  let nodes = 1;
  if (Array.isArray(value)) { for (const v of value) nodes += collect(v, columns, constants, depth + 1); return nodes; }
  for (const key in value as Obj) {
    const child = (value as Obj)[key];
    if (child === null || typeof child !== 'object') continue;
    if (key === 'ColumnRef') {
      const name = names((child as Obj)['fields']).join('.');
      if (!columns.includes(name) && columns.length < 8) columns.push(name);
    } else if (key === 'A_Const') {
      const c: Const | undefined = aConst(child as Obj);
      if (c !== undefined && c.v !== null && constants.length < 16) constants.push(c.v);
    } else nodes += collect(child, columns, constants, depth + 1);
  }
  return nodes;
}
