// The SQL inspector: text in, findings out, never a throw. The pipeline reads like this:
//
//   cache hit? ─► findings
//   well-formed Unicode, valid UTF-8, no NUL, size limit   (else sql.unparsed / inspect.limit)
//   pre-lexer: executable comments, look-alikes, nesting   (sql.obfuscation / inspect.limit)
//   parse: libpg-query (postgresql) | node-sql-parser      (sql.unparsed on failure)
//   walk the whole tree ─► one finding per thing that matters, budgets enforced (inspect.limit)
//   cache (bounded LRU keyed by dialect + text)
//
// Findings are computed with path `$` and stamped with the caller's path on the way out, so one
// cached result serves every place the same statement appears.
import { SQL_DIALECTS, type Finding, type SqlDialect } from '../types.ts';
import { Lru } from '../../../lib/lru.ts';
import { Collector, InspectLimit, SEVERITY, type Budget } from './collector.ts';
import { inspectNsp } from './nsp.ts';
import { inspectPostgres, loadPostgres, postgresReady } from './postgres.ts';
import { prelex, riskyWords } from './prelex.ts';

export interface SqlInspectOptions {
  /** The connection's dialect; `postgresql` uses libpg-query, the others node-sql-parser. */
  readonly dialect: SqlDialect;
  /** JSONPath of the inspected value, copied into every finding. Default `$`. */
  readonly path?: string;
  /** Largest text parsed, in UTF-16 code units. Default SQL_LIMITS.maxChars[parser]. Results are not cached when set. */
  readonly maxChars?: number;
}

export const SQL_LIMITS = Object.freeze({
  /**
   * Largest text parsed, in UTF-16 code units; longer text is one `inspect.limit` finding.
   * libpg-query parses 1 MiB in about a second at worst; node-sql-parser (a PEG parser) manages
   * about 30–65 kB/s on hostile shapes, so its dialects stop at 16 KiB (half a second or less).
   */
  maxChars: Object.freeze({ postgresql: 1024 * 1024, other: 16 * 1024 }),
  /** Cache entries kept (most recently used). */
  cacheEntries: 10_000,
  /** Longest text cached, in UTF-16 code units; longer texts are inspected every time. */
  cacheTextChars: 16 * 1024,
  /** Summed length of all cached texts, in UTF-16 code units (about 16 MB of keys at most). */
  cacheTotalChars: 8 * 1024 * 1024,
  /** Walk budget per inspection, embedded SQL included. */
  budget: Object.freeze({ maxNodes: 2_000_000, maxDepth: 2_000, maxFindings: 256, maxEmbeddedChars: 2 * 1024 * 1024 } satisfies Budget),
});

const cache = new Lru<string, readonly Finding[]>({
  maxEntries: SQL_LIMITS.cacheEntries,
  maxWeight: SQL_LIMITS.cacheTotalChars,
  weigh: (key) => key.length,
});

/** Loads the libpg-query WASM module once (idempotent; call at start-up). Rejects if it cannot load. */
export async function initSqlInspector(): Promise<void> {
  await loadPostgres();
}

/**
 * Findings for one SQL text in `options.dialect`. Synchronous; never throws: bad input, parser
 * failures, exhausted budgets and a PostgreSQL inspection before `initSqlInspector()` all come
 * back as findings (`sql.unparsed`, `inspect.limit`, `inspect.error`) so the policy fails closed.
 */
export function inspectSql(sql: string, options: SqlInspectOptions): Finding[] {
  const path = typeof options?.path === 'string' ? options.path : '$';
  try {
    const dialect = options?.dialect;
    if (typeof sql !== 'string' || !(SQL_DIALECTS as readonly string[]).includes(dialect)) {
      return [error(path, typeof sql !== 'string' ? 'the value to inspect is not a string' : `unknown SQL dialect "${String(dialect).slice(0, 32)}"`)];
    }
    const custom = options.maxChars !== undefined;
    const key = `${dialect}\n${sql}`;
    const hit = custom ? undefined : cache.get(key);
    if (hit) return stamp(hit, path);
    const maxChars = options.maxChars ?? (dialect === 'postgresql' ? SQL_LIMITS.maxChars.postgresql : SQL_LIMITS.maxChars.other);
    const c = inspect(sql, dialect, maxChars);
    // Frozen all the way down: cached findings are shared by every caller.
    const findings = Object.freeze(c.findings.map((f) => Object.freeze(f.span ? { ...f, span: Object.freeze({ ...f.span }) } : f)));
    if (!custom && sql.length <= SQL_LIMITS.cacheTextChars && !c.has('inspect.error')) cache.set(key, findings);
    return stamp(findings, path);
  } catch {
    return [error(path, 'the SQL inspector failed on this value, so it is refused (fail closed)')];
  }
}

function inspect(sql: string, dialect: SqlDialect, maxChars: number): Collector {
  const c = new Collector(SQL_LIMITS.budget);
  const all = { start: 0, end: sql.length };
  if (!sql.isWellFormed()) {
    const at = sql.search(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    c.add('sql.unparsed', `the text is not well-formed Unicode (a lone surrogate at offset ${at}), so it cannot reach the server as written`, { start: at, end: at + 1 });
    return c;
  }
  if (sql.length > maxChars) {
    c.add('inspect.limit', `${sql.length} characters of SQL is more than the ${maxChars} the inspector parses`, all);
    return c;
  }
  // U+FFFD is what a decoder leaves for bytes that were not UTF-8: the payload arrived corrupt.
  const replaced = sql.indexOf('\ufffd');
  if (replaced >= 0) {
    c.add('sql.unparsed', `replacement character U+FFFD at offset ${replaced}: the text was not valid UTF-8 when it arrived`, { start: replaced, end: replaced + 1 });
    return c;
  }
  const nul = sql.indexOf('\u0000');
  if (nul >= 0) {
    c.add('sql.unparsed', `NUL character at offset ${nul}: parsers and servers disagree on where such text ends`, { start: nul, end: nul + 1 });
    return c;
  }
  // Blank or comment-only text runs nothing (PostgreSQL answers it with EmptyQueryResponse).
  if (sql.trim() === '') return c;
  const pre = prelex(sql, dialect);
  for (const f of pre.findings) c.add(f.kind, f.detail, f.span);
  if (c.has('inspect.limit')) return c;
  try {
    if (dialect !== 'postgresql') inspectNsp(sql, dialect, pre.segments, c);
    else if (postgresReady()) inspectPostgres(sql, c);
    else c.add('inspect.error', 'the PostgreSQL parser is not loaded (initSqlInspector() was not awaited), so the statement is refused', all);
  } catch (err) {
    if (err instanceof InspectLimit) c.add('inspect.limit', `${err.message}; the rest was not inspected`, all);
    else if (err instanceof RangeError) c.add('inspect.limit', 'the statement nests too deeply to inspect', all);
    else c.add('inspect.error', 'the SQL inspector failed on this text, so it is refused (fail closed)', all);
  }
  // Text that does not parse is refused anyway; naming the risky routines it mentions tells the
  // reviewer why it may have been sent (`EXEC xp_cmdshell 'dir'` is beyond the T-SQL grammar).
  if (c.has('sql.unparsed')) {
    for (const w of riskyWords(sql, pre.code)) c.add(w.risk.kind, `${w.name} ${w.risk.why} (named in text that did not parse)`, w.span);
  }
  return c;
}

function stamp(findings: readonly Finding[], path: string): Finding[] {
  return path === '$' ? findings.slice() : findings.map((f) => ({ ...f, path }));
}

function error(path: string, detail: string): Finding {
  return { kind: 'inspect.error', path, severity: SEVERITY['inspect.error'], detail };
}
