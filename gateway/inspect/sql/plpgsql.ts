// PL/pgSQL bodies (DO blocks, CREATE FUNCTION ... LANGUAGE plpgsql) through libpg-query's
// PL/pgSQL parser. Every SQL statement and expression in the body goes back through the SQL
// walker; EXECUTE of a constant string is parsed and judged like any statement (so
// `EXECUTE 'DROP TABLE users'` is a DROP), and EXECUTE of text computed at run time is
// reported as dynamic SQL, since nobody can say here what it will run.
import { parsePlPgSQLSync, scanSync } from 'libpg-query';
import type { PgWalker } from './postgres.ts';
import { constText } from './pg-const.ts';
import { describeParseError } from './text.ts';

type Obj = Record<string, unknown>;

// parseMode of a PLpgSQL_expr (PostgreSQL's RawParseMode).
const RAW_PARSE_DEFAULT = 0;
const RAW_PARSE_PLPGSQL_EXPR = 2;

/** Statement fields whose expression yields SQL text to run (EXECUTE, FOR ... IN EXECUTE, OPEN ... FOR EXECUTE, RETURN QUERY EXECUTE). */
function isDynamic(stmtTag: string, field: string): boolean {
  return field === 'dynquery' || (field === 'query' && (stmtTag === 'PLpgSQL_stmt_dynexecute' || stmtTag === 'PLpgSQL_stmt_dynfors'));
}

/** Inspects the PL/pgSQL function(s) defined by `createFunctionSql` through `walker`. */
export function inspectPlpgsql(walker: PgWalker, createFunctionSql: string, depth: number, context: string): void {
  walker.c.parse(createFunctionSql.length);
  let parsed: unknown;
  try {
    parsed = parsePlPgSQLSync(createFunctionSql);
  } catch (err) {
    walker.add('sql.unparsed', `PL/pgSQL ${context} does not parse: ${describeParseError(err, createFunctionSql).message}`);
    return;
  }
  walker.within(context, () => walk(walker, parsed, depth + 1, '', ''));
}

function walk(walker: PgWalker, value: unknown, depth: number, stmtTag: string, field: string): void {
  walker.c.enter(depth);
  if (Array.isArray(value)) {
    for (const item of value) if (item !== null && typeof item === 'object') walk(walker, item, depth + 1, stmtTag, field);
    return;
  }
  for (const key in value as Obj) {
    const child = (value as Obj)[key];
    if (child === null || typeof child !== 'object') continue;
    if (key === 'PLpgSQL_expr') expr(walker, child as Obj, depth + 1, isDynamic(stmtTag, field));
    else if (key.startsWith('PLpgSQL_stmt_')) walk(walker, child, depth + 1, key, '');
    else walk(walker, child, depth + 1, stmtTag, key);
  }
}

function expr(walker: PgWalker, e: Obj, depth: number, dynamic: boolean): void {
  const query = typeof e['query'] === 'string' ? e['query'] : '';
  const mode = Number(e['parseMode'] ?? RAW_PARSE_DEFAULT);
  if (dynamic) {
    const tree = walker.expression(query, depth, '');
    const sql = tree === undefined ? undefined : constText(tree);
    if (sql !== undefined) walker.embedded(sql, depth, 'in SQL text run by EXECUTE');
    else walker.add('sql.procedural', 'EXECUTE runs SQL text computed at run time');
    return;
  }
  if (mode === RAW_PARSE_DEFAULT) walker.embedded(query, depth, '');
  else if (mode === RAW_PARSE_PLPGSQL_EXPR) walker.expression(query, depth, '');
  else walker.expression(assignedValue(query), depth, '');
}

/** `target := value` (or `=`) → `value`, split at the first assignment token. */
function assignedValue(assignment: string): string {
  try {
    const token = scanSync(assignment).tokens.find((t) => t.text === ':=' || t.text === '=');
    if (token) return Buffer.from(assignment, 'utf8').subarray(token.end).toString('utf8');
  } catch {
    // Falls through: the whole text then fails to parse as an expression, which is reported.
  }
  return assignment;
}
