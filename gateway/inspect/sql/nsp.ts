// Every dialect but PostgreSQL, through node-sql-parser (one PEG grammar per dialect, loaded on
// first use). Its grammars cover less than the servers accept, so more statements come back
// `sql.unparsed` (refused) than with libpg-query: that is the fail-closed direction. The walker
// visits every node that has a `type`, so writes in CTEs, subqueries, UNION branches, IF
// blocks and trigger bodies are found, and so are risky function calls anywhere.
import { createRequire } from 'node:module';
import type { Parser } from 'node-sql-parser';
import type { Span, SqlDialect } from '../types.ts';
import { label, type Collector, type SqlKind } from './collector.ts';
import { IDENTITY_SETTINGS, RISKY_ROUTINES, SQL_TEXT_ROUTINES } from './functions.ts';
import { catalogWrite } from './catalog.ts';
import { nspRestricts, nspTargets } from './nsp-bounds.ts';
import { nspAlwaysTrue, nspConstText, nspName, nspShape } from './nsp-const.ts';
import { render } from './const.ts';
import { describeParseError } from './text.ts';

type Obj = Record<string, unknown>;
export type NspDialect = Exclude<SqlDialect, 'postgresql'>;

const require = createRequire(import.meta.url);
const parsers = new Map<NspDialect, Parser>();

/** The dialect's parser; loads its grammar (200–300 kB of JS) on first use. */
export function nspParser(dialect: NspDialect): Parser {
  let parser = parsers.get(dialect);
  if (!parser) {
    const mod = require(`node-sql-parser/build/${dialect}.js`) as { Parser: new () => Parser };
    parser = new mod.Parser();
    parsers.set(dialect, parser);
  }
  return parser;
}

/** Embedded SQL (sp_executesql N'...') is followed this deep. */
const MAX_EMBEDDING = 3;
const INNER_JOINS = new Set(['JOIN', 'INNER JOIN', 'CROSS APPLY', 'STRAIGHT_JOIN']);

export function inspectNsp(text: string, dialect: NspDialect, segments: readonly Span[], c: Collector): void {
  const stmts = parse(text, dialect, c, 'does not parse as', true);
  if (!stmts) return;
  // The T-SQL grammar falls back to reading unknown words as `name expr` assignments
  // ({stmt: {type: 'assign', ...}, vars}): GRANT, MERGE, BEGIN TRAN all come out that way, split
  // into several bogus statements. One such element means the parser did not understand the text.
  if (stmts.some((s) => typeof s['type'] !== 'string' && !Array.isArray(s))) {
    c.add('sql.unparsed', `the ${dialect} parser did not recognise the statement (it read it as variable assignments)`, { start: 0, end: text.length });
    return;
  }
  if (stmts.length > 1) c.add('sql.multi_statement', `${stmts.length} statements in one payload; each is judged on its own`, { start: 0, end: text.length });
  // The pre-lexer's statement split gives spans when it agrees with the parser on the count.
  const spans = segments.length === stmts.length ? segments : [];
  stmts.forEach((s, i) => new NspWalker(c, spans[i], dialect, 0).statement(s, 0));
}

function parse(text: string, dialect: NspDialect, c: Collector, what: string, withSpan: boolean): Obj[] | undefined {
  let ast: unknown;
  try {
    ast = nspParser(dialect).astify(text, { database: dialect });
  } catch (err) {
    const e = describeParseError(err, text);
    c.add(e.limit ? 'inspect.limit' : 'sql.unparsed', `${what} ${dialect}: ${e.message}`, withSpan ? e.span : undefined);
    return undefined;
  }
  // `;` alone comes back as [[]]; blank text as [].
  return (Array.isArray(ast) ? ast : [ast]).filter((s): s is Obj => s !== null && typeof s === 'object' && !(Array.isArray(s) && s.length === 0));
}

/** `DELETE x FROM db.t AS x`: the written tables with their aliases resolved through FROM. */
function resolveAliases(tables: Obj[], from: Obj[]): Obj[] {
  return tables.map((t) => from.find((f) => typeof f?.['as'] === 'string' && f['as'] === t?.['table']) ?? t);
}

function tableName(t: unknown): string | undefined {
  const o = t as Obj | undefined;
  if (typeof o?.['table'] !== 'string') return undefined;
  return label(typeof o['db'] === 'string' && o['db'] ? `${o['db']}.${o['table']}` : o['table']);
}

function firstTable(...lists: unknown[]): string {
  for (const list of lists) {
    for (const t of Array.isArray(list) ? list : [list]) {
      const name = tableName(t);
      if (name) return name;
    }
  }
  return '?';
}

class NspWalker {
  readonly #c: Collector;
  readonly #span: Span | undefined;
  readonly #dialect: NspDialect;
  readonly #embedding: number;
  readonly #context: string;

  constructor(c: Collector, span: Span | undefined, dialect: NspDialect, embedding: number, context = '') {
    this.#c = c;
    this.#span = span;
    this.#dialect = dialect;
    this.#embedding = embedding;
    this.#context = context;
  }

  #add(kind: SqlKind, detail: string): void {
    this.#c.add(kind, this.#context ? `${detail} (${this.#context})` : detail, this.#span);
  }

  statement(s: Obj, depth: number): void {
    if (Array.isArray(s)) {
      for (const item of s) if (item !== null && typeof item === 'object') this.statement(item as Obj, depth + 1);
      return;
    }
    if (typeof s['type'] !== 'string') {
      this.#add('sql.unparsed', `statement not recognised by the ${this.#dialect} parser`);
      return;
    }
    this.node(s, depth + 1, true);
  }

  node(n: Obj, depth: number, top: boolean): void {
    this.#c.enter(depth);
    const type = String(n['type']).toLowerCase();
    switch (type) {
      case 'select': this.#select(n, top); break;
      case 'insert': {
        this.#catalog('INSERT INTO', n['table']);
        const overwrite = /overwrite/i.test(String(n['prefix'] ?? ''));
        if (overwrite) this.#add('sql.write.unbounded', `INSERT OVERWRITE ${firstTable(n['table'])} replaces the table's contents`);
        else this.#add('sql.write', `INSERT INTO ${firstTable(n['table'])}`);
        break;
      }
      case 'replace': this.#catalog('REPLACE INTO', n['table']); this.#add('sql.write', `REPLACE INTO ${firstTable(n['table'])}`); break;
      case 'update': this.#catalog('UPDATE', n['table']); this.#bounded(`UPDATE ${firstTable(n['table'])}`, n, nspTargets(n['table'], n['from'])); break;
      case 'delete': {
        // `DELETE x FROM t AS x` names aliases in table; `DELETE FROM t` names the table in both.
        const written = Array.isArray(n['table']) && n['table'].length > 0 ? n['table'] : n['from'];
        this.#catalog('DELETE FROM', Array.isArray(n['table']) && n['table'].length > 0 && Array.isArray(n['from']) ? resolveAliases(n['table'], n['from']) : written);
        this.#bounded(`DELETE FROM ${firstTable(n['table'], n['from'])}`, n, nspTargets(written, n['from']));
        break;
      }
      case 'merge': {
        const target = n['table'] ?? n['target'];
        this.#catalog('MERGE INTO', target);
        this.#bounded(`MERGE INTO ${firstTable(n['table'], n['target'])}`, { where: n['on'] }, nspTargets(target, undefined));
        break;
      }
      case 'create': this.#create(n); break;
      case 'alter': if (!('action' in n)) this.#alter(n); break;
      case 'drop': {
        const what = String(n['keyword'] ?? '').toLowerCase();
        if (what === 'user' || what === 'role' || what === 'login') this.#add('sql.privilege', `DROP ${what.toUpperCase()}`);
        else this.#add('sql.ddl.drop', `DROP ${what.toUpperCase()} ${firstTable(n['name'])}`.replace(/ \?$/, ''));
        break;
      }
      case 'truncate': this.#add('sql.ddl.drop', `TRUNCATE ${firstTable(n['name'])} removes every row`); break;
      case 'rename': this.#add('sql.ddl.create', 'RENAME TABLE'); break;
      case 'comment': this.#add('sql.ddl.create', 'COMMENT ON'); break;
      case 'grant': case 'revoke': this.#add('sql.privilege', `${type.toUpperCase()} of privileges`); break;
      case 'show': case 'desc': case 'describe': if (top) this.#add('sql.read', `${type.toUpperCase()} reads metadata`); break;
      case 'explain':
        if (/analy[sz]e/i.test(JSON.stringify({ ...n, expr: undefined }))) {
          new NspWalker(this.#c, this.#span, this.#dialect, this.#embedding, 'EXPLAIN ANALYZE executes it').#inner(n['expr'], depth);
        } else this.#add('sql.read', 'EXPLAIN without ANALYZE plans the statement without running it');
        return;
      case 'use': this.#add('sql.other', 'USE switches the current database'); break;
      case 'transaction': this.#add('sql.transaction', 'transaction control'); break;
      case 'lock': case 'unlock': this.#add('sql.other', `${type.toUpperCase()} TABLES`); break;
      case 'set': this.#set(n); break;
      case 'load_data': {
        const local = n['local'] ? 'LOCAL ' : '';
        this.#add('sql.escape', `LOAD DATA ${local}INFILE reads a file ${local ? 'from the client host' : 'on the database server'}`);
        break;
      }
      case 'attach': this.#add('sql.escape', 'ATTACH DATABASE opens another database file'); break;
      case 'call': this.#routine(nspName((n['expr'] as Obj | undefined)?.['name']), 'CALL', undefined, depth); break;
      case 'exec': {
        const mod = n['module'] as Obj | undefined;
        const params = (n['parameters'] as Obj[] | null | undefined) ?? [];
        this.#routine(String(mod?.['table'] ?? '').toLowerCase(), 'EXEC', params[0]?.['value'] ?? params[0], depth);
        break;
      }
      case 'function': {
        const name = nspName(n['name']);
        const risk = RISKY_ROUTINES.get(name);
        if (risk) this.#add(risk.kind, `${label(name)}() ${risk.why}`);
        if (name === 'set_config') this.#setConfig(n);
        break;
      }
      case 'declare': this.#add('sql.other', 'DECLARE of a variable'); break;
      case 'if': case 'proc': case 'return': case 'raise': this.#add('sql.procedural', `${type.toUpperCase()} (procedural code)`); break;
      case 'execute': this.#add('sql.other', 'EXECUTE runs a prepared statement whose text is not in this payload'); break;
      case 'deallocate': case 'analyze': this.#add('sql.other', type.toUpperCase()); break;
      case 'go': break;
      case 'binary_expr': {
        // This parser builds `a AND b AND c …` and `x + y + z …` left-deep; walking the left
        // spine as a list keeps a long, flat chain from counting as deep nesting.
        let spine: Obj = n;
        const rights: unknown[] = [];
        while ((spine['left'] as Obj | undefined)?.['type'] === 'binary_expr') {
          this.#c.enter(depth);
          rights.push(spine['right']);
          spine = spine['left'] as Obj;
        }
        this.#children(spine, depth);
        for (const right of rights) if (right !== null && typeof right === 'object') this.#children({ right }, depth);
        return;
      }
      default:
        // A statement type this walker does not know: refused, since it cannot be judged.
        if (top) this.#add('sql.unparsed', `statement type "${label(type)}" is not understood by the inspector`);
    }
    this.#children(n, depth);
  }

  #children(value: unknown, depth: number): void {
    this.#c.enter(depth);
    if (Array.isArray(value)) {
      for (const item of value) if (item !== null && typeof item === 'object') this.#children(item, depth + 1);
      return;
    }
    for (const key in value as Obj) {
      if (key === 'loc') continue;
      const child = (value as Obj)[key];
      if (child === null || typeof child !== 'object') continue;
      if (!Array.isArray(child) && typeof (child as Obj)['type'] === 'string') this.node(child as Obj, depth + 1, false);
      else this.#children(child, depth + 1);
    }
  }

  #inner(value: unknown, depth: number): void {
    if (value === null || typeof value !== 'object') return;
    const n = value as Obj;
    if (typeof n['type'] === 'string') this.node(n, depth + 1, true);
    else if (n['ast']) this.#inner(n['ast'], depth + 1);
  }

  #select(n: Obj, top: boolean): void {
    if (top) this.#add('sql.read', 'SELECT reads data');
    const into = n['into'] as Obj | undefined;
    const keyword = String(into?.['keyword'] ?? '').toUpperCase();
    if (keyword === 'OUTFILE' || keyword === 'DUMPFILE') this.#add('sql.escape', `SELECT ... INTO ${keyword} writes a file on the database server`);
    else if (into && keyword !== 'VAR' && into['expr'] !== undefined && into['expr'] !== null && !Array.isArray(into['expr'])) {
      this.#add('sql.ddl.create', 'SELECT ... INTO creates a table');
    }
  }

  /** A write to a system catalog is what it amounts to (catalog.ts): a privilege or server change. */
  #catalog(verb: string, tables: unknown): void {
    for (const t of (Array.isArray(tables) ? tables : [tables]) as Obj[]) {
      if (typeof t?.['table'] !== 'string') continue;
      const risk = catalogWrite(typeof t['db'] === 'string' && t['db'] ? t['db'] : typeof t['schema'] === 'string' && t['schema'] ? t['schema'] : undefined, t['table']);
      if (risk) this.#add(risk.kind, `${verb} ${tableName(t)} ${risk.why}`);
    }
  }

  /** An UPDATE/DELETE/MERGE is bounded only when its WHERE restricts the target's rows (nsp-bounds.ts). */
  #bounded(what: string, n: Obj, targets: ReadonlySet<string>): void {
    const where = n['where'];
    const pipesAreOr = this.#dialect === 'mysql' || this.#dialect === 'mariadb';
    // MySQL/T-SQL multi-table forms can restrict rows through an inner join instead of a WHERE.
    const joins = (Array.isArray(n['from']) ? n['from'] : []) as Obj[];
    const restricting = joins.some((j) => INNER_JOINS.has(String(j['join'] ?? '').toUpperCase()) && j['on'] && nspAlwaysTrue(j['on'], pipesAreOr) === undefined && nspRestricts(j['on'], targets, pipesAreOr));
    if (where === undefined || where === null) {
      if (restricting) this.#add('sql.write', `${what} restricted by an inner join`);
      else this.#add('sql.write.unbounded', `${what} without a WHERE`);
      return;
    }
    // node-sql-parser groups `id = 1 || 1` as `id = (1 || 1)`; MySQL reads `(id = 1) OR 1`.
    if (pipesAreOr && JSON.stringify(where).includes('"operator":"||"')) {
      this.#add('sql.write.unbounded', `${what}: the WHERE uses ||, which ${this.#dialect} reads as OR with other precedence than the parser, so it cannot be shown to filter`);
      return;
    }
    const t = nspAlwaysTrue(where, pipesAreOr);
    if (t === 'too deep') this.#add('sql.write.unbounded', `${what}: the WHERE is nested too deeply to show that it filters`);
    else if (t) this.#add('sql.write.unbounded', `${what} without an effective WHERE (WHERE ${t.shown} is always true)`);
    else if (restricting) this.#add('sql.write', `${what} with a WHERE, restricted by an inner join`);
    else if (!nspRestricts(where, targets, pipesAreOr)) {
      this.#add('sql.write.unbounded', `${what} without an effective WHERE (WHERE ${render(where, nspShape)} does not restrict the rows of the table)`);
    } else this.#add('sql.write', `${what} with a WHERE`);
  }

  #create(n: Obj): void {
    const what = String(n['keyword'] ?? '').toLowerCase();
    const word = `CREATE ${what.toUpperCase()}`;
    if (what === 'user' || what === 'role' || what === 'login') this.#add('sql.privilege', word);
    else if (what === 'trigger' || what === 'function' || what === 'procedure') this.#add('sql.procedural', `${word} (procedural code)`);
    else if (what === 'table' && n['query_expr']) this.#add('sql.ddl.create', `CREATE TABLE ${firstTable(n['table'])} AS runs its query and stores the result`);
    else this.#add('sql.ddl.create', `${word} ${what === 'table' ? firstTable(n['table']) : ''}`.trimEnd());
  }

  #alter(n: Obj): void {
    const what = `ALTER TABLE ${firstTable(n['table'])}`;
    let plain = false;
    for (const cmd of (Array.isArray(n['expr']) ? n['expr'] : []) as Obj[]) {
      if (String(cmd?.['action']).toLowerCase() === 'drop' && String(cmd['resource']).toLowerCase() === 'column') {
        this.#add('sql.ddl.drop', `${what} DROP COLUMN destroys the column's data`);
      } else plain = true;
    }
    if (plain || !Array.isArray(n['expr'])) this.#add('sql.ddl.create', what);
  }

  #set(n: Obj): void {
    const keyword = String(n['keyword'] ?? '').toUpperCase();
    const vars = ((Array.isArray(n['expr']) ? n['expr'] : []) as Obj[]).map((e) => (e?.['left'] ?? {}) as Obj);
    const global = /^(GLOBAL|PERSIST|PERSIST_ONLY)$/.test(keyword)
      || vars.some((v) => v['prefix'] === '@@' && /^(global|persist|persist_only)$/i.test(String(v['name'])));
    if (global) { this.#add('sql.server_config', `SET ${keyword || 'GLOBAL'} changes server-wide configuration`); return; }
    if (vars.some((v) => IDENTITY_SETTINGS.has(String(v['name']).toLowerCase()))) { this.#add('sql.privilege', 'SET changes the session\'s identity'); return; }
    this.#add('sql.other', 'SET changes a session setting or variable');
  }

  /** set_config() (Redshift and other PostgreSQL-derived engines) is judged like the SET it performs. */
  #setConfig(n: Obj): void {
    const args = ((n['args'] as Obj | undefined)?.['value'] as unknown[] | undefined) ?? [];
    const setting = nspConstText(args[0])?.toLowerCase();
    if (setting === undefined) this.#add('sql.privilege', 'set_config() with a setting name computed at run time may change the session\'s identity (like SET ROLE)');
    else if (IDENTITY_SETTINGS.has(setting)) this.#add('sql.privilege', `set_config('${setting}') changes the session's identity (like SET ${setting.replace(/_/g, ' ').toUpperCase()})`);
    else this.#add('sql.other', `set_config('${label(setting)}') changes a session setting`);
  }

  #routine(name: string, verb: string, firstArg: unknown, depth: number): void {
    const risk = RISKY_ROUTINES.get(name);
    if (risk) this.#add(risk.kind, `${verb} ${label(name)} ${risk.why}`);
    this.#add('sql.procedural', `${verb} ${label(name) || '?'} runs a stored procedure`);
    if (!SQL_TEXT_ROUTINES.has(name)) return;
    const sql = nspConstText(firstArg);
    if (sql === undefined) { this.#add('sql.procedural', `${name} runs SQL text computed at run time`); return; }
    if (this.#embedding >= MAX_EMBEDDING) { this.#add('inspect.limit', `SQL text nested more than ${MAX_EMBEDDING} levels deep was not inspected`); return; }
    this.#c.parse(sql.length);
    const inner = parse(sql, this.#dialect, this.#c, `SQL text passed to ${name} does not parse as`, false);
    const walker = new NspWalker(this.#c, this.#span, this.#dialect, this.#embedding + 1, `in SQL text passed to ${name}`);
    for (const s of inner ?? []) walker.statement(s, depth + 1);
  }
}
