// PostgreSQL statements through libpg-query (the server's own parser, compiled to WASM). The
// walker visits the whole tree — CTEs, subqueries, function calls, rule actions, the query of
// COPY/PREPARE/DECLARE/EXPLAIN ANALYZE — and follows SQL that runs later or elsewhere: function
// bodies, DO blocks (via the PL/pgSQL parser) and constant SQL text handed to EXECUTE or
// query_to_xml(). Nested statements are judged as if run, with a note saying where they sit.
import { loadModule, parseSync } from 'libpg-query';
import type { Span } from '../types.ts';
import { label, type Collector, type SqlKind } from './collector.ts';
import { catalogWrite } from './catalog.ts';
import { baseName, IDENTITY_SETTINGS, RISKY_EXTENSIONS, RISKY_ROUTINES, sqlTextArgs, UNTRUSTED_LANGUAGES, type SqlTextArgs } from './functions.ts';
import { restricts, targetOf } from './pg-bounds.ts';
import { alwaysTrue, constText, names, PgConst, pgShape, unwrap } from './pg-const.ts';
import { render } from './const.ts';
import { ALTER_TABLE_CMDS, PG_CLASSES } from './pg-classes.ts';
import { inspectPlpgsql } from './plpgsql.ts';
import { describeParseError, utf16Offsets } from './text.ts';

type Obj = Record<string, unknown>;

let loading: Promise<void> | undefined;
let ready = false;

/** Loads the WASM parser once; a failed load can be retried. */
export function loadPostgres(): Promise<void> {
  loading ??= loadModule().then(
    () => { ready = true; },
    (err: unknown) => { loading = undefined; throw err; },
  );
  return loading;
}

export function postgresReady(): boolean {
  return ready;
}

/** SQL inside SQL (a function body holding an EXECUTE of a string ...) is followed this deep. */
const MAX_EMBEDDING = 6;

export function inspectPostgres(text: string, c: Collector): void {
  let parsed: { stmts?: Obj[] };
  try {
    parsed = parseSync(text) as unknown as { stmts?: Obj[] };
  } catch (err) {
    const e = describeParseError(err, text);
    c.add(e.limit ? 'inspect.limit' : 'sql.unparsed', `does not parse as postgresql: ${e.message}`, e.span);
    return;
  }
  const stmts = parsed.stmts ?? [];
  if (stmts.length > 1) c.add('sql.multi_statement', `${stmts.length} statements in one payload; each is judged on its own`, { start: 0, end: text.length });
  const spans = statementSpans(text, stmts);
  stmts.forEach((raw, i) => new PgWalker(c, spans[i]).statement(raw, text, 0));
}

/** UTF-16 spans of the statements (libpg-query reports UTF-8 byte offsets; a missing length runs to the end). */
function statementSpans(text: string, stmts: Obj[]): Span[] {
  const bytes = stmts.flatMap((s) => {
    const start = Number(s['stmt_location'] ?? 0);
    const len = Number(s['stmt_len'] ?? 0);
    return [start, len > 0 ? start + len : Number.POSITIVE_INFINITY];
  });
  const at = utf16Offsets(text, bytes);
  return stmts.map((_, i) => ({ start: at[2 * i]!, end: at[2 * i + 1]! }));
}

function rel(rangeVar: unknown): string {
  const r = rangeVar as Obj | undefined;
  if (!r || typeof r['relname'] !== 'string') return '?';
  return label(typeof r['schemaname'] === 'string' ? `${r['schemaname']}.${r['relname']}` : r['relname']);
}

function defElems(list: unknown): Map<string, Obj> {
  const out = new Map<string, Obj>();
  if (!Array.isArray(list)) return out;
  for (const item of list) {
    const d = (item as Obj)?.['DefElem'] as Obj | undefined;
    if (d && typeof d['defname'] === 'string') out.set(d['defname'], d);
  }
  return out;
}

function defString(d: Obj | undefined): string | undefined {
  const arg = d?.['arg'] as Obj | undefined;
  const s = (arg?.['String'] as Obj | undefined)?.['sval'];
  return typeof s === 'string' ? s : undefined;
}

export class PgWalker {
  readonly c: Collector;
  readonly #span: Span | undefined;
  readonly #contexts: string[] = [];
  #embedding = 0;
  /** Text of the statement being walked and the text it was parsed from (for PL/pgSQL bodies). */
  #current: { raw: Obj; source: string } | undefined;

  constructor(c: Collector, span: Span | undefined) {
    this.c = c;
    this.#span = span;
  }

  add(kind: SqlKind, detail: string): void {
    this.c.add(kind, this.#contexts.length > 0 ? `${detail} (${this.#contexts.join(', ')})` : detail, this.#span);
  }

  statement(raw: Obj, source: string, depth: number): void {
    const saved = this.#current;
    this.#current = { raw, source };
    try {
      const u = unwrap(raw['stmt']);
      if (u) this.node(u[0], u[1], depth + 1, true);
    } finally {
      this.#current = saved;
    }
  }

  /** Parses and walks SQL text that runs inside the current statement (a body, an EXECUTE string). */
  embedded(sql: string, depth: number, context: string): void {
    this.c.parse(sql.length);
    let parsed: { stmts?: Obj[] };
    try {
      parsed = parseSync(sql) as unknown as { stmts?: Obj[] };
    } catch (err) {
      this.add('sql.unparsed', `SQL text${context ? ` ${context}` : ''} does not parse: ${describeParseError(err, sql).message}`);
      return;
    }
    this.within(context, () => {
      for (const raw of parsed.stmts ?? []) this.statement(raw, sql, depth + 1);
    });
  }

  /** Walks an expression given as text (PL/pgSQL); returns its tree for constant folding. */
  expression(expr: string, depth: number, context: string): unknown {
    this.c.parse(expr.length);
    let parsed: { stmts?: Obj[] };
    try {
      parsed = parseSync(`SELECT ${expr}`) as unknown as { stmts?: Obj[] };
    } catch (err) {
      this.add('sql.unparsed', `expression${context ? ` ${context}` : ''} does not parse: ${describeParseError(err, expr).message}`);
      return undefined;
    }
    const select = unwrap(parsed.stmts?.[0]?.['stmt']);
    if (!select) return undefined;
    this.within(context, () => this.node(select[0], select[1], depth + 1, false));
    const target = (select[1]['targetList'] as unknown[] | undefined)?.[0] as Obj | undefined;
    return (target?.['ResTarget'] as Obj | undefined)?.['val'];
  }

  /** Runs `fn` with `context` noted on every finding; past MAX_EMBEDDING levels reports inspect.limit instead. */
  within(context: string, fn: () => void): void {
    if (this.#embedding >= MAX_EMBEDDING) {
      this.add('inspect.limit', `code nested more than ${MAX_EMBEDDING} levels deep ${context} was not inspected`);
      return;
    }
    if (context !== '') this.#contexts.push(context);
    this.#embedding++;
    try {
      fn();
    } finally {
      if (context !== '') this.#contexts.pop();
      this.#embedding--;
    }
  }

  node(tag: string, n: Obj, depth: number, top: boolean): void {
    this.c.enter(depth);
    switch (tag) {
      case 'SelectStmt':
        if (top) this.add('sql.read', n['valuesLists'] ? 'VALUES reads constants' : 'SELECT reads data');
        if (n['intoClause']) this.add('sql.ddl.create', `SELECT ... INTO ${rel((n['intoClause'] as Obj)['rel'])} creates a table`);
        break;
      case 'InsertStmt': this.#catalog('INSERT INTO', n['relation']); this.add('sql.write', `INSERT INTO ${rel(n['relation'])}`); break;
      case 'UpdateStmt': this.#catalog('UPDATE', n['relation']); this.#bounded(`UPDATE ${rel(n['relation'])}`, n['whereClause'], n['relation']); break;
      case 'DeleteStmt': this.#catalog('DELETE FROM', n['relation']); this.#bounded(`DELETE FROM ${rel(n['relation'])}`, n['whereClause'], n['relation']); break;
      case 'MergeStmt': this.#merge(n); break;
      case 'CopyStmt': if (n['is_from']) this.#catalog('COPY', n['relation']); this.#copy(n); break;
      case 'ExplainStmt': this.#explain(n, depth); return;
      case 'PrepareStmt': this.within('prepared for a later EXECUTE', () => this.#inner(n['query'], depth, true)); return;
      case 'DeclareCursorStmt': this.#inner(n['query'], depth, true); return;
      case 'CreateTableAsStmt': {
        const target = rel((n['into'] as Obj | undefined)?.['rel']);
        const what = n['objtype'] === 'OBJECT_MATVIEW' ? `CREATE MATERIALIZED VIEW ${target}` : `CREATE TABLE ${target} AS`;
        this.add('sql.ddl.create', `${what} runs its query and stores the result`);
        break;
      }
      case 'DropStmt': this.#drop(n); break;
      case 'AlterTableStmt': this.#alterTable(n); break;
      case 'GrantStmt': this.add('sql.privilege', `${n['is_grant'] ? 'GRANT' : 'REVOKE'} of privileges`); break;
      case 'VariableSetStmt': this.#set(n); break;
      case 'TransactionStmt': this.add('sql.transaction', String(n['kind'] ?? 'TRANSACTION').replace(/^TRANS_STMT_/, '').replace(/_/g, ' ')); break;
      case 'CreateExtensionStmt': {
        const ext = String(n['extname'] ?? '').toLowerCase();
        if (RISKY_EXTENSIONS.has(ext)) this.add('sql.escape', `CREATE EXTENSION ${label(ext)} gives SQL access to files, programs or other hosts`);
        else this.add('sql.ddl.create', `CREATE EXTENSION ${label(ext)}`);
        break;
      }
      case 'CreateForeignTableStmt': {
        const opts = defElems(n['options']);
        if (opts.has('filename') || opts.has('program')) this.add('sql.escape', 'CREATE FOREIGN TABLE over a server file or program');
        else this.add('sql.ddl.create', 'CREATE FOREIGN TABLE');
        break;
      }
      case 'CreatePLangStmt': {
        const lang = String(n['plname'] ?? '').toLowerCase();
        this.add(UNTRUSTED_LANGUAGES.has(lang) || RISKY_EXTENSIONS.has(lang) ? 'sql.escape' : 'sql.procedural', `CREATE LANGUAGE ${label(lang)}`);
        break;
      }
      case 'DoStmt': this.#doBlock(n, depth); return;
      case 'CreateFunctionStmt': this.#createFunction(n, depth); break;
      case 'AlterFunctionStmt':
        this.add('sql.procedural', 'ALTER FUNCTION/PROCEDURE');
        if (securityDefiner(n['actions'])) this.add('sql.privilege', 'ALTER FUNCTION ... SECURITY DEFINER makes it run with its owner\'s privileges');
        break;
      case 'FuncCall': this.#call(n, depth); break;
      default: {
        const cls = PG_CLASSES.get(tag);
        const target = n['relation'] ?? n['view'] ?? (n['relations'] as unknown[] | undefined)?.[0];
        const on = target === undefined ? '' : ` (${rel((target as Obj)['RangeVar'] ?? target)})`;
        if (cls) this.add(cls[0], `${cls[1]}${on}`);
        else if (top) this.add('sql.other', `${tag.replace(/Stmt$/, '')} statement is not classified by the inspector`);
      }
    }
    this.#children(n, depth);
  }

  #children(value: unknown, depth: number): void {
    if (Array.isArray(value)) {
      for (const item of value) if (item !== null && typeof item === 'object') this.#children(item, depth + 1);
      return;
    }
    this.c.enter(depth);
    for (const key in value as Obj) {
      const child = (value as Obj)[key];
      if (child === null || typeof child !== 'object') continue;
      const first = key.charCodeAt(0);
      // libpg-query wraps every Node as {TagName: {...}}; field names start lower case.
      if (first >= 65 && first <= 90 && !Array.isArray(child)) this.node(key, child as Obj, depth + 1, false);
      else this.#children(child, depth + 1);
    }
  }

  #inner(wrapper: unknown, depth: number, top: boolean): void {
    const u = unwrap(wrapper);
    if (u) this.node(u[0], u[1], depth + 1, top);
  }

  /** An UPDATE/DELETE is bounded only when its WHERE restricts the target's rows (pg-bounds.ts). */
  #bounded(what: string, where: unknown, relation: unknown): void {
    if (where === undefined) { this.add('sql.write.unbounded', `${what} without a WHERE`); return; }
    const t = alwaysTrue(where);
    if (t === 'too deep') this.add('sql.write.unbounded', `${what}: the WHERE is nested too deeply to show that it filters`);
    else if (t) this.add('sql.write.unbounded', `${what} without an effective WHERE (WHERE ${t.shown} is always true)`);
    else if (!restricts(where, targetOf(relation))) {
      this.add('sql.write.unbounded', `${what} without an effective WHERE (WHERE ${render(where, pgShape)} does not restrict the rows of ${rel(relation)})`);
    } else this.add('sql.write', `${what} with a WHERE`);
  }

  /**
   * MERGE, judged action by action like the statement each one performs: a WHEN MATCHED
   * UPDATE/DELETE touches the target rows that ON and its AND condition pick, a WHEN NOT MATCHED
   * BY SOURCE one those that its AND condition picks, and an INSERT is an insert.
   */
  #merge(n: Obj): void {
    const name = rel(n['relation']);
    const target = targetOf(n['relation']);
    this.#catalog('MERGE INTO', n['relation']);
    const clauses = ((n['mergeWhenClauses'] as unknown[] | undefined) ?? []).map((w) => ((w as Obj)['MergeWhenClause'] ?? {}) as Obj);
    let bounded = true;
    for (const w of clauses) {
      const verb = w['commandType'] === 'CMD_UPDATE' ? 'UPDATE' : w['commandType'] === 'CMD_DELETE' ? 'DELETE' : undefined;
      if (verb === undefined) continue;
      const bySource = w['matchKind'] === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE';
      const when = `MERGE INTO ${name} WHEN ${bySource ? 'NOT MATCHED BY SOURCE' : 'MATCHED'}${w['condition'] === undefined ? '' : ' AND ...'} THEN ${verb}`;
      const picks = bySource ? w['condition'] : and(n['joinCondition'], w['condition']);
      if (picks === undefined) { this.add('sql.write.unbounded', `${when} changes every target row without a match`); bounded = false; continue; }
      const t = alwaysTrue(picks);
      if (t === 'too deep') this.add('sql.write.unbounded', `${when}: the condition is nested too deeply to show that it filters`);
      else if (t) this.add('sql.write.unbounded', `${when} changes every target row (the condition ${t.shown} is always true)`);
      else if (!restricts(picks, target)) this.add('sql.write.unbounded', `${when} changes every target row (the condition ${render(picks, pgShape)} does not restrict the rows of ${name})`);
      else continue;
      bounded = false;
    }
    if (bounded) this.add('sql.write', `MERGE INTO ${name}`);
  }

  /** A write to a system catalog is what it amounts to (catalog.ts): a privilege or server change. */
  #catalog(verb: string, relation: unknown): void {
    const r = relation as Obj | undefined;
    if (typeof r?.['relname'] !== 'string') return;
    const risk = catalogWrite(typeof r['schemaname'] === 'string' ? r['schemaname'] : undefined, r['relname'], false);
    if (risk) this.add(risk.kind, `${verb} ${rel(r)} ${risk.why}`);
  }

  #copy(n: Obj): void {
    const dir = n['is_from'] ? 'FROM' : 'TO';
    if (n['is_program']) this.add('sql.escape', `COPY ... ${dir} PROGRAM runs a shell command on the database server`);
    else if (typeof n['filename'] === 'string') this.add('sql.escape', `COPY ... ${dir} a server file ${n['is_from'] ? 'reads' : 'writes'} files on the database server`);
    else if (n['is_from']) this.add('sql.write', `COPY ${rel(n['relation'])} FROM STDIN loads rows`);
    else this.add('sql.read', 'COPY ... TO STDOUT reads data');
  }

  #explain(n: Obj, depth: number): void {
    const analyze = defElems(n['options']).get('analyze');
    const off = analyze !== undefined && /^(false|off|no|0)$/i.test(defString(analyze) ?? String(((analyze['arg'] as Obj | undefined)?.['Integer'] as Obj | undefined)?.['ival'] ?? (analyze['arg'] ? '1' : '')));
    if (analyze !== undefined && !off) this.within('EXPLAIN ANALYZE executes it', () => this.#inner(n['query'], depth, true));
    else this.add('sql.read', 'EXPLAIN without ANALYZE plans the statement without running it');
  }

  #drop(n: Obj): void {
    const type = String(n['removeType'] ?? 'OBJECT').replace(/^OBJECT_/, '').replace(/_/g, ' ');
    const objects = ((n['objects'] as unknown[] | undefined) ?? []).slice(0, 3).map((o) => {
      const list = ((o as Obj)?.['List'] as Obj | undefined)?.['items'];
      return label((Array.isArray(list) ? names(list) : names([o])).join('.'));
    });
    this.add('sql.ddl.drop', `DROP ${type} ${objects.join(', ')}`.trimEnd());
  }

  #alterTable(n: Obj): void {
    const what = `ALTER ${String(n['objtype'] ?? 'OBJECT_TABLE').replace(/^OBJECT_/, '').replace(/_/g, ' ')} ${rel(n['relation'])}`;
    let plain = false;
    for (const cmd of (n['cmds'] as unknown[] | undefined) ?? []) {
      const c = ((cmd as Obj)?.['AlterTableCmd'] ?? {}) as Obj;
      const special = ALTER_TABLE_CMDS.get(String(c['subtype']));
      if (special) this.add(special[0], `${what} ${special[1]}`);
      else plain = true;
    }
    if (plain) this.add('sql.ddl.create', what);
  }

  #set(n: Obj): void {
    const name = typeof n['name'] === 'string' ? n['name'].toLowerCase() : '';
    const verb = String(n['kind'] ?? '').startsWith('VAR_RESET') ? 'RESET' : 'SET';
    if (IDENTITY_SETTINGS.has(name)) this.add('sql.privilege', `${verb} ${name.replace(/_/g, ' ').toUpperCase()} changes the session's identity`);
    else if (name === 'transaction' || name === 'session_characteristics' || name.startsWith('transaction_')) this.add('sql.transaction', `${verb} TRANSACTION`);
    else this.add('sql.other', `${verb} ${name === '' ? 'ALL' : label(name)} changes a session setting`);
  }

  #call(n: Obj, depth: number): void {
    const name = baseName(names(n['funcname']));
    const args = (n['args'] as unknown[] | undefined) ?? [];
    const risk = RISKY_ROUTINES.get(name);
    if (risk) this.add(risk.kind, `${label(name)}() ${risk.why}`);
    const text = sqlTextArgs(names(n['funcname']));
    if (text) this.#sqlText(label(names(n['funcname']).join('.')), args, text, depth);
    if (name === 'set_config') {
      // The function form of SET: judged like the SET it performs; a computed name may be 'role'.
      const setting = constText(args[0])?.toLowerCase();
      if (setting === undefined) this.add('sql.privilege', 'set_config() with a setting name computed at run time may change the session\'s identity (like SET ROLE)');
      else if (IDENTITY_SETTINGS.has(setting)) this.add('sql.privilege', `set_config('${setting}') changes the session's identity (like SET ${setting.replace(/_/g, ' ').toUpperCase()})`);
      else this.add('sql.other', `set_config('${label(setting)}') changes a session setting`);
    }
  }

  /** SQL text handed to a routine that runs it: a constant is inspected as SQL, anything else is dynamic SQL. */
  #sqlText(name: string, args: unknown[], spec: SqlTextArgs, depth: number): void {
    // Positional arguments come first; a named one at a listed position is found by its name.
    const isNamed = (a: unknown) => unwrap(a)?.[0] === 'NamedArgExpr';
    const positional = spec.at(args.length).map((i) => args[i]).filter((a) => !isNamed(a));
    const named = args.filter(isNamed).map((a) => unwrap(a)![1]).filter((a) => spec.named.includes(String(a['name']).toLowerCase())).map((a) => a['arg']);
    for (const arg of [...positional, ...named]) {
      if (arg === undefined) continue;
      const v = new PgConst().value(arg);
      if (typeof v?.v === 'string') this.embedded(v.v, depth, `in SQL text passed to ${name}()`);
      else if (v === undefined) this.add('sql.procedural', `${name}() runs SQL text computed at run time (dynamic SQL, not inspectable here)`);
    }
  }

  #doBlock(n: Obj, depth: number): void {
    const opts = defElems(n['args']);
    const lang = (defString(opts.get('language')) ?? 'plpgsql').toLowerCase();
    if (UNTRUSTED_LANGUAGES.has(lang)) this.add('sql.escape', `DO block in ${label(lang)} runs untrusted code on the database server`);
    if (lang !== 'plpgsql') { this.add('sql.procedural', `DO block in ${label(lang)} (body not inspected)`); return; }
    this.add('sql.procedural', 'DO block runs PL/pgSQL code');
    const body = defString(opts.get('as')) ?? '';
    inspectPlpgsql(this, doAsFunction(body), depth, 'in a DO block');
  }

  #createFunction(n: Obj, depth: number): void {
    const opts = defElems(n['options']);
    const what = `${n['is_procedure'] ? 'PROCEDURE' : 'FUNCTION'} ${label(names(n['funcname']).join('.'))}`;
    const lang = (defString(opts.get('language')) ?? 'sql').toLowerCase();
    this.add('sql.procedural', `CREATE ${what} in ${label(lang)}`);
    if (UNTRUSTED_LANGUAGES.has(lang)) this.add('sql.escape', `CREATE ${what} in ${label(lang)} runs untrusted or native code on the database server`);
    if (securityDefiner(n['options'])) {
      this.add('sql.privilege', `CREATE ${what} with SECURITY DEFINER runs with its owner's privileges`);
    }
    const body = ((opts.get('as')?.['arg'] as Obj | undefined)?.['List'] as Obj | undefined)?.['items'];
    const text = Array.isArray(body) ? names(body)[0] : undefined;
    const context = `in the body of ${what.toLowerCase()}`;
    if (lang === 'sql' && text !== undefined) this.embedded(text, depth, context);
    else if (lang === 'plpgsql' && this.#current) inspectPlpgsql(this, statementText(this.#current.raw, this.#current.source), depth, context);
  }
}

function securityDefiner(options: unknown): boolean {
  return ((defElems(options).get('security')?.['arg'] as Obj | undefined)?.['Boolean'] as Obj | undefined)?.['boolval'] === true;
}

/** A DO body as a function definition, the form the PL/pgSQL parser accepts. */
function doAsFunction(body: string): string {
  let tag = '$airlock$';
  // Bounded: each attempt lengthens the tag; a body cannot contain every one of them.
  for (let i = 0; i < 64 && body.includes(tag); i++) tag = `$airlock${i}$`;
  return `CREATE FUNCTION pg_temp.airlock_do() RETURNS void LANGUAGE plpgsql AS ${tag}${body}${tag}`;
}

/** The text of one parsed statement (libpg-query locations are UTF-8 byte offsets). */
function statementText(raw: Obj, source: string): string {
  const start = Number(raw['stmt_location'] ?? 0);
  const len = Number(raw['stmt_len'] ?? 0);
  const buf = Buffer.from(source, 'utf8');
  return buf.subarray(start, len > 0 ? start + len : buf.length).toString('utf8');
}

/** `a AND b` as a libpg-query node (either may be missing). */
function and(a: unknown, b: unknown): unknown {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { BoolExpr: { boolop: 'AND_EXPR', args: [a, b] } };
}
