// Sample rows for the tautology check of a comparison that mentions columns (pg-bounds.ts,
// nsp-bounds.ts): a comparison true on every sample row restricts nothing. The samples are
// ordinary values of each type plus, from the comparison itself, each constant and its
// neighbours, so `status <> 'active'` meets 'active' and `id > 10` meets 10 and 9.
import { isTruthy, type Const, type Value } from './const.ts';

/**
 * Ordinary values every column takes in turn (NULL is left out: keys are NOT NULL). Unusual
 * values come first: most comparisons are false for one of them, which ends the check at once.
 */
const SAMPLES: readonly Value[] = [1_000_000_007, 'Z z', 0.5, -1, 0, 1, 2, '', 'a', '%', true, false];

/**
 * Expression nodes evaluated over all samples of one WHERE (a row of a comparison costs its node
 * count). Past it a predicate cannot be shown to restrict anything (fail closed); a WHERE needs
 * several hundred thousand nodes, close to the text size limit, to get there.
 */
export class SampleBudget {
  remaining = 4_000_000;

  /** How many rows of an expression of `nodes` nodes may still be evaluated (0: none). */
  rows(nodes: number): number {
    return Math.floor(this.remaining / Math.max(1, nodes));
  }

  spend(nodes: number): void {
    this.remaining -= Math.max(1, nodes);
  }
}

/** Most rows tried per comparison. */
const MAX_ROWS = 128;

/**
 * Rows as column → value lookups: every column at each value (the value and its neighbours for
 * numbers, the value and a longer string for strings), then, with several columns, rows where
 * they differ (the i-th of `columns` takes value k + i, any other column value k). At most
 * `maxRows` (and MAX_ROWS) rows.
 */
function* sampleRows(columns: readonly string[], values: readonly Value[], maxRows = MAX_ROWS): Generator<(name: string) => { v: Value }> {
  const limit = Math.min(maxRows, MAX_ROWS);
  // Built as it is used: most checks end at the first row.
  const pool: Value[] = [];
  const seen = new Set<Value>();
  for (const v of values) {
    const near = typeof v === 'number' ? [v, v + 1, v - 1] : typeof v === 'string' ? [v, `${v}x`] : [v];
    for (const x of near) {
      if (seen.has(x)) continue;
      seen.add(x);
      pool.push(x);
      if (pool.length > limit) return;
      const value = { v: x };
      yield () => value;
    }
  }
  if (columns.length < 2) return;
  for (let k = 0; k < pool.length && pool.length + k < limit; k++) {
    const base = { v: pool[k]! };
    const row = new Map(columns.map((c, i) => [c, { v: pool[(k + i) % pool.length]! }]));
    yield (name) => row.get(name) ?? base;
  }
}

/**
 * Whether a predicate (under NOT when `negated`) of `nodes` expression nodes is true on every
 * sample row: `evaluate` folds it with the row's column values (undefined when it cannot). A row
 * that gives NULL or false ends the check; none evaluating at all leaves the predicate a
 * restriction; an exhausted `budget` counts as true (fail closed). The one check behind both
 * parsers' bounds (pg-bounds.ts, nsp-bounds.ts), which differ only in how they walk their trees.
 */
export function trueForEverySample(
  columns: readonly string[], constants: readonly Value[], nodes: number, budget: SampleBudget, negated: boolean,
  evaluate: (row: (name: string) => { v: Value }) => Const | undefined,
): boolean {
  budget.spend(nodes);
  const rows = budget.rows(nodes);
  if (rows === 0) return true;
  let evaluated = 0;
  for (const row of sampleRows(columns, [...SAMPLES, ...constants], rows)) {
    budget.spend(nodes);
    const v = evaluate(row);
    if (v === undefined) continue;
    if (v.v === null || isTruthy(v.v) === negated) return false;
    evaluated++;
  }
  return evaluated > 0;
}
