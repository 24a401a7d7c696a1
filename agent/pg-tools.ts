// The agent's side of a postgres connection's built-in MCP tools (gateway/mcp/postgres.ts):
// streams of kind `pg-tool`. The open header names the connection, its target
// (postgres://host:port/database) and the caller; the gateway writes one JSON request and ends
// its side; the agent answers one JSON object and ends:
//
//   read the request (≤ 1 MiB, strict) ─► target in targets.allow? ─► the connection's login
//   from the vault ─► connect (pg: connect timeout, statement_timeout, application_name
//   airlock-agent) ─► run ─► {columns, rows, rowCount, truncated, command} | {error: {code, message}}
//
//   query                        BEGIN READ ONLY; the statement; ROLLBACK: a write that got past
//                                the gateway's classification still cannot change anything
//   execute                      BEGIN; the statement; COMMIT (ROLLBACK if the gateway went away)
//   list_tables, describe_table  fixed catalog queries with bind parameters, read-only
//
// Statements go through the extended protocol (Parse/Bind/Execute), which takes exactly one
// statement, so `SELECT 1; DELETE …` is refused by the server itself. Rows come from the portal
// in batches and are kept up to maxRows and maxBytes: `query` stops fetching there, `execute`
// runs to completion. One database connection per call, so no session state (SET, temporary
// tables, prepared statements) passes from one caller to the next. The password goes to pg only:
// never into a log line, an answer or an error.
import pg from 'pg';
import { z } from 'zod';
import type { TunnelStream } from '../gateway/tunnel/index.ts';
import { parseJson } from '../lib/json.ts';
import type { Logger } from '../lib/log.ts';
import type { AgentErrorCode } from './errors.ts';
import type { StreamHandler } from './handlers.ts';
import { callerOf } from './http-forward.ts';

export const PG_TOOL_LIMITS = Object.freeze({
  /** Largest request, in bytes of JSON. */
  maxRequestBytes: 1024 * 1024,
  /** Rows answered when the request does not say (1000), and at most (10000). */
  defaultMaxRows: 1000,
  maxRows: 10_000,
  /** Bytes of rows (as JSON) answered when the request does not say (1 MiB), and at most (16 MiB). */
  defaultMaxBytes: 1024 * 1024,
  maxBytes: 16 * 1024 * 1024,
  /** statement_timeout in ms when the request does not say (30 s), and at most (10 min). */
  defaultTimeoutMs: 30_000,
  maxTimeoutMs: 600_000,
  /** Milliseconds to connect and log in when the request does not say (5 s), and at most (60 s). */
  defaultConnectTimeoutMs: 5000,
  maxConnectTimeoutMs: 60_000,
  /** Milliseconds the gateway may stay silent while sending its request. */
  requestIdleMs: 10_000,
  /** Rows fetched from the portal per round trip. */
  batchRows: 500,
});

export const PG_TOOL_OPS = ['query', 'execute', 'list_tables', 'describe_table'] as const;

/** The codes a pg-tool answer's error carries (documented in agent/errors.ts). */
export type PgToolErrorCode = Extract<AgentErrorCode, 'AGENT_TARGET_INVALID' | 'AGENT_TARGET_NOT_ALLOWED' | 'AGENT_TARGET_UNREACHABLE' | 'AGENT_TARGET_TIMEOUT'
  | 'AGENT_CREDENTIAL_UNAVAILABLE' | 'AGENT_DB_LOGIN_FAILED' | 'AGENT_REQUEST_INVALID' | 'AGENT_DB_ERROR' | 'AGENT_DB_READ_ONLY'>;

export interface PgToolResult {
  /** Column names, in order (duplicates kept: rows are arrays). */
  readonly columns: string[];
  readonly rows: unknown[][];
  /** Rows the statement returned (kept or not) or affected; the rows kept when `query` stopped reading early. */
  readonly rowCount: number;
  /** More rows existed than maxRows or maxBytes let through. */
  readonly truncated: boolean;
  /** The command tag's verb (SELECT, UPDATE, …); null when the agent stopped reading early. */
  readonly command: string | null;
}
export interface PgToolError { readonly error: { readonly code: PgToolErrorCode; readonly message: string; readonly sqlstate?: string } }
export type PgToolAnswer = PgToolResult | PgToolError;

export interface PgLogin { readonly username: string; readonly password: string }

export interface PgToolsOptions {
  /** targets.allow: a target is reached only if `postgres://host:port` (or `postgres://host` on port 5432) matches one. */
  readonly allow: readonly string[];
  /** The connection's database login (the vault's `postgres` entry); undefined when it has none. */
  readonly login: (connection: string) => Promise<PgLogin | undefined>;
  readonly logger: Logger;
}

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)$/;
const CONNECTION = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const APPLICATION_NAME = 'airlock-agent';

export interface PgTarget {
  /** As pg takes it: a DNS name or an IP address, without brackets. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** `postgres://host:port`, as logs and messages name it. */
  readonly origin: string;
}

/** A matcher for targets.allow patterns (`*` matches any run of characters), as the HTTP forwarder reads them. */
export function allowlist(patterns: readonly string[]): (origin: string) => boolean {
  const res = patterns.map((pattern) => new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*') + '$'));
  return (origin) => res.some((re) => re.test(origin));
}

/** The stream's postgres target, if the agent may reach it; else the refusal to answer. */
export function pgTargetOf(header: Readonly<Record<string, unknown>>, allowed: (origin: string) => boolean): PgTarget | PgToolError['error'] {
  const invalid = (why: string) => ({ code: 'AGENT_TARGET_INVALID' as const, message: `the stream's target ${why}` });
  const raw = header.target;
  if (typeof raw !== 'string' || raw.length > 1024 || !/^postgres(ql)?:\/\//i.test(raw)) return invalid('is not a postgres://host:port/database URL');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid('is not a valid URL');
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return invalid('must carry no credentials and no options');
  const hostname = url.hostname.toLowerCase();
  const port = url.port === '' ? 5432 : Number(url.port);
  if (!HOST.test(hostname) || !Number.isInteger(port) || port < 1 || port > 65535) return invalid('names no valid host and port');
  let database: string;
  try {
    database = decodeURIComponent(url.pathname.slice(1));
  } catch {
    return invalid('has a database name that is not valid percent-encoding');
  }
  if (database === '' || database.includes('/') || database.includes('\0')) return invalid('must end with /<database>');
  const origin = `postgres://${hostname}:${port}`;
  if (!allowed(origin) && !(port === 5432 && allowed(`postgres://${hostname}`))) {
    return { code: 'AGENT_TARGET_NOT_ALLOWED', message: `this agent does not reach ${origin} (targets.allow)` };
  }
  return { host: hostname.startsWith('[') ? hostname.slice(1, -1) : hostname, port, database, origin };
}

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const identifier = z.string().min(1).max(128);
const requestSchema = z.strictObject({
  op: z.enum(PG_TOOL_OPS),
  sql: z.string().min(1).optional(),
  /** $1, $2, …: scalars, or arrays of scalars (sent as PostgreSQL arrays). */
  params: z.array(z.union([scalar, z.array(scalar).max(10_000)])).max(10_000).optional(),
  schema: identifier.optional(),
  table: identifier.optional(),
  maxRows: z.number().int().min(1).max(PG_TOOL_LIMITS.maxRows).default(PG_TOOL_LIMITS.defaultMaxRows),
  maxBytes: z.number().int().min(1024).max(PG_TOOL_LIMITS.maxBytes).default(PG_TOOL_LIMITS.defaultMaxBytes),
  timeoutMs: z.number().int().min(100).max(PG_TOOL_LIMITS.maxTimeoutMs).default(PG_TOOL_LIMITS.defaultTimeoutMs),
  connectTimeoutMs: z.number().int().min(100).max(PG_TOOL_LIMITS.maxConnectTimeoutMs).default(PG_TOOL_LIMITS.defaultConnectTimeoutMs),
}).superRefine((r, ctx) => {
  const statement = r.op === 'query' || r.op === 'execute';
  if (statement !== (r.sql !== undefined)) ctx.addIssue({ code: 'custom', path: ['sql'], message: statement ? `${r.op} needs sql` : `${r.op} takes no sql` });
  if (!statement && r.params !== undefined) ctx.addIssue({ code: 'custom', path: ['params'], message: `${r.op} takes no params` });
  if (statement && r.schema !== undefined) ctx.addIssue({ code: 'custom', path: ['schema'], message: `${r.op} takes no schema` });
  if ((r.op === 'describe_table') !== (r.table !== undefined)) ctx.addIssue({ code: 'custom', path: ['table'], message: r.op === 'describe_table' ? 'describe_table needs table' : `${r.op} takes no table` });
});
export type PgToolRequest = z.output<typeof requestSchema>;

// Tables and views the login can use (privileges on the table or a column), partitions left out;
// every schema but the system ones, or the one asked for.
const LIST_TABLES = `
SELECT n.nspname AS "schema", c.relname AS "name",
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS "type",
       pg_catalog.obj_description(c.oid, 'pg_class') AS "comment"
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
   AND CASE WHEN $1::text IS NULL THEN n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
            ELSE n.nspname = $1::text END
   AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
   AND (pg_catalog.has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
 ORDER BY 1, 2`;

// The columns of one table or view: the one on the search_path when no schema is given.
const DESCRIBE_TABLE = `
SELECT a.attname AS "column",
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS "type",
       NOT a.attnotnull AS "nullable",
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS "default",
       COALESCE(a.attnum = ANY (pk.conkey), false) AS "primary_key",
       (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I(%I)', fn.nspname, fc.relname, fa.attname), ', ')
          FROM pg_catalog.pg_constraint k
         CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey)) AS u(src, dst)
          JOIN pg_catalog.pg_class fc ON fc.oid = k.confrelid
          JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
          JOIN pg_catalog.pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.dst
         WHERE k.conrelid = c.oid AND k.contype = 'f' AND u.src = a.attnum) AS "references",
       pg_catalog.col_description(c.oid, a.attnum) AS "comment"
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  LEFT JOIN pg_catalog.pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
 WHERE c.relname = $2::text AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND CASE WHEN $1::text IS NULL THEN pg_catalog.pg_table_is_visible(c.oid) ELSE n.nspname = $1::text END
 ORDER BY a.attnum`;

// Values as JSON can carry them exactly: booleans, 16/32-bit integers and json(b) parsed; the rest
// (int8, numeric, floats, dates, bytea, arrays, …) as PostgreSQL's own text, so nothing is rounded
// or shifted to the agent's time zone.
const PARSED_OIDS = new Set([16, 21, 23, 26, 114, 3802]); // bool, int2, int4, oid, json, jsonb
const asText = (value: string) => value;
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (PARSED_OIDS.has(oid) ? pg.types.getTypeParser(oid, format ?? 'text') : asText)) as typeof pg.types.getTypeParser,
};

interface QueryInternals {
  handlePortalSuspended(connection: pg.Connection): void;
  handleError(err: Error, connection: pg.Connection): void;
}
const QUERY = pg.Query.prototype as unknown as QueryInternals;

/**
 * A statement whose rows are fetched from the portal `batchRows` at a time and kept up to the
 * limits; with `drain` false, fetching stops once the limits are reached (what pg-cursor does,
 * without another dependency). pg sends no Sync after a batched Execute, so after the server's
 * error this sends it, or the connection would wait forever.
 */
class BoundedQuery extends pg.Query {
  readonly kept: unknown[][] = [];
  /** Every row the server sent, kept or not (a batched portal's command tag counts only its last batch). */
  seen = 0;
  truncated = false;
  #bytes = 0;
  #stopped = false;
  readonly #limits: { readonly maxRows: number; readonly maxBytes: number; readonly drain: boolean };

  constructor(text: string, values: readonly unknown[] | undefined, limits: { maxRows: number; maxBytes: number; drain: boolean }) {
    super({ text, values: values === undefined ? [] : [...values], rowMode: 'array', rows: Math.min(limits.maxRows + 1, PG_TOOL_LIMITS.batchRows) } as pg.QueryConfig);
    this.#limits = limits;
    this.on('row', (row: unknown[]) => this.#row(row)); // with a row listener pg keeps no rows itself
  }

  get stopped(): boolean { return this.#stopped; }

  #row(row: unknown[]): void {
    this.seen++;
    if (this.truncated) return;
    const size = Buffer.byteLength(JSON.stringify(row)) + 1;
    if (this.kept.length < this.#limits.maxRows && this.#bytes + size <= this.#limits.maxBytes) {
      this.kept.push(row);
      this.#bytes += size;
      return;
    }
    this.truncated = true;
    this.#stopped = !this.#limits.drain;
  }

  handlePortalSuspended(connection: pg.Connection): void {
    if (this.#stopped) connection.sync(); // the portal stays suspended until the transaction ends
    else QUERY.handlePortalSuspended.call(this, connection);
  }

  handleError(err: Error, connection: pg.Connection): void {
    if (err instanceof pg.DatabaseError) connection.sync();
    QUERY.handleError.call(this, err, connection);
  }
}

function runBounded(client: pg.Client, text: string, values: readonly unknown[] | undefined, limits: { maxRows: number; maxBytes: number; drain: boolean }): Promise<PgToolResult> {
  return new Promise((resolve, reject) => {
    const query = new BoundedQuery(text, values, limits);
    query.once('error', reject);
    query.once('end', (result: pg.QueryResult) => {
      const columns = (result.fields ?? []).map((f) => f.name);
      resolve({
        columns,
        rows: query.kept,
        rowCount: query.stopped ? query.kept.length : columns.length > 0 ? query.seen : result.rowCount ?? 0,
        truncated: query.truncated,
        command: typeof result.command === 'string' ? result.command : null,
      });
    });
    client.query(query);
  });
}

type Phase = 'connect' | 'run' | 'commit';

/** The answer for a failure of pg or the database; messages never carry the password (pg's and the server's never do). */
function failure(err: unknown, phase: Phase, target: PgTarget, connection: string, timedOut: boolean, ms: { connect: number; total: number }): PgToolError {
  const error = (code: PgToolErrorCode, message: string, sqlstate?: string): PgToolError => ({ error: { code, message: message.slice(0, 2000), ...(sqlstate === undefined ? {} : { sqlstate }) } });
  if (err instanceof pg.DatabaseError) {
    const sqlstate = err.code;
    if (phase === 'connect') {
      if (sqlstate?.startsWith('28')) return error('AGENT_DB_LOGIN_FAILED', `the database at ${target.origin} refused the login of connection ${connection} (${err.message}); fix it with \`airlock-agent secrets set ${connection} --type postgres\``, sqlstate);
      return error('AGENT_TARGET_UNREACHABLE', `${target.origin} refused the connection: ${err.message}`, sqlstate);
    }
    if (sqlstate === '25006') return error('AGENT_DB_READ_ONLY', `${err.message}: query runs in a read-only transaction and nothing was changed; use execute for statements that write`, sqlstate);
    const more = [err.detail, err.hint === undefined ? undefined : `hint: ${err.hint}`].filter((s) => s !== undefined && s !== '').join('; ');
    return error('AGENT_DB_ERROR', `${err.message}${more === '' ? '' : ` (${more})`}`, sqlstate);
  }
  const e = err as NodeJS.ErrnoException;
  const why = typeof e?.code === 'string' ? e.code : String(e?.message ?? err).slice(0, 200);
  if (timedOut) return error('AGENT_TARGET_TIMEOUT', `${target.origin} did not finish within ${Math.round(ms.total / 1000)} s${phase === 'commit' ? '; whether the statement was committed is unknown' : ''}`);
  if (phase === 'connect') {
    if (/timeout/i.test(String(e?.message))) return error('AGENT_TARGET_TIMEOUT', `${target.origin} did not accept a connection within ${ms.connect / 1000} s`);
    return error('AGENT_TARGET_UNREACHABLE', `${target.origin} cannot be reached (${why})`);
  }
  return error('AGENT_TARGET_UNREACHABLE', `the connection to ${target.origin} was lost (${why})${phase === 'commit' ? '; whether the statement was committed is unknown' : ''}`);
}

/** Connects, runs `request` and disconnects; never throws. `gone` aborts when the gateway went away. */
async function runRequest(target: PgTarget, login: PgLogin, request: PgToolRequest, connection: string, gone: AbortSignal): Promise<PgToolAnswer> {
  const client = new pg.Client({
    host: target.host, port: target.port, database: target.database, user: login.username, password: login.password,
    connectionTimeoutMillis: request.connectTimeoutMs, statement_timeout: request.timeoutMs, application_name: APPLICATION_NAME,
    types: TYPES, keepAlive: true,
  });
  const kill = () => client.connection.stream.destroy();
  client.on('error', () => {}); // a dropped socket also fails the statement in flight, which answers
  // A backstop for a database that stops answering altogether (statement_timeout covers the rest):
  // connect, the statement, and COMMIT.
  const totalMs = request.connectTimeoutMs + 2 * request.timeoutMs + 5000;
  let timedOut = false;
  const deadline = setTimeout(() => { timedOut = true; kill(); }, totalMs);
  gone.addEventListener('abort', kill, { once: true }); // no COMMIT after that: the server rolls back
  let phase: Phase = 'connect';
  try {
    await client.connect();
    phase = 'run';
    const limits = { maxRows: request.maxRows, maxBytes: request.maxBytes, drain: request.op === 'execute' };
    if (request.op === 'execute') {
      await client.query('BEGIN');
      const result = await runBounded(client, request.sql!, request.params, limits);
      if (gone.aborted) throw new Error('the gateway went away before COMMIT');
      phase = 'commit';
      const commit = await client.query('COMMIT');
      if (commit.command !== 'COMMIT') return { error: { code: 'AGENT_DB_ERROR', message: `the transaction ended with ${commit.command} instead of COMMIT; nothing was committed` } };
      return result;
    }
    await client.query('BEGIN READ ONLY');
    const result = request.op === 'query'
      ? await runBounded(client, request.sql!, request.params, limits)
      : await runBounded(client, request.op === 'list_tables' ? LIST_TABLES : DESCRIBE_TABLE, request.op === 'list_tables' ? [request.schema ?? null] : [request.schema ?? null, request.table!], limits);
    await client.query('ROLLBACK');
    return result;
  } catch (err) {
    return failure(err, phase, target, connection, timedOut, { connect: request.connectTimeoutMs, total: totalMs });
  } finally {
    clearTimeout(deadline);
    gone.removeEventListener('abort', kill);
    await client.end().catch(() => {});
  }
}

/** The request's bytes; an error answer when it is too large or too slow; undefined when the stream closed first. */
function readRequest(stream: TunnelStream): Promise<Buffer | PgToolError | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (value: Buffer | PgToolError | undefined) => {
      stream.off('data', onData).off('end', onEnd).off('close', onClose).off('timeout', onTimeout);
      stream.setTimeout(0);
      if (value !== undefined && !Buffer.isBuffer(value)) stream.pause();
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > PG_TOOL_LIMITS.maxRequestBytes) settle({ error: { code: 'AGENT_REQUEST_INVALID', message: `the request is larger than ${PG_TOOL_LIMITS.maxRequestBytes} bytes` } });
      else chunks.push(chunk);
    };
    const onEnd = () => settle(Buffer.concat(chunks, size));
    const onClose = () => settle(undefined);
    const onTimeout = () => settle({ error: { code: 'AGENT_REQUEST_INVALID', message: `the request did not arrive within ${PG_TOOL_LIMITS.requestIdleMs / 1000} s` } });
    stream.on('data', onData).once('end', onEnd).once('close', onClose).once('timeout', onTimeout);
    stream.setTimeout(PG_TOOL_LIMITS.requestIdleMs);
  });
}

/** Sends the one answer and ends the stream (destroyed once sent if the gateway is still sending: it gets the answer, then a reset). */
function answer(stream: TunnelStream, body: PgToolAnswer): void {
  if (stream.destroyed || !stream.writable) return;
  stream.end(JSON.stringify(body));
  if (!stream.readableEnded) stream.once('finish', () => stream.destroy());
}

function parseRequest(raw: Buffer): PgToolRequest | PgToolError {
  const invalid = (why: string): PgToolError => ({ error: { code: 'AGENT_REQUEST_INVALID', message: `the request ${why}` } });
  let json: unknown;
  try {
    json = parseJson(raw.toString('utf8'));
  } catch {
    return invalid('is not JSON');
  }
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) return invalid(`is not valid: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** The `pg-tool` stream handler. */
export function createPgToolHandler(options: PgToolsOptions): StreamHandler {
  const allowed = allowlist(options.allow);
  const log = options.logger;

  return async (stream, header) => {
    const gone = new AbortController();
    stream.once('close', () => gone.abort());
    const raw = await readRequest(stream);
    if (raw === undefined) return;
    if (!Buffer.isBuffer(raw)) return answer(stream, raw);
    const connection = typeof header.connection === 'string' && CONNECTION.test(header.connection) ? header.connection : undefined;
    if (connection === undefined) return answer(stream, { error: { code: 'AGENT_REQUEST_INVALID', message: 'the stream names no valid connection' } });
    const request = parseRequest(raw);
    if ('error' in request) return answer(stream, request);
    const target = pgTargetOf(header, allowed);
    if ('code' in target) {
      log.warn('postgres target refused', { connection, code: target.code, reason: target.message });
      return answer(stream, { error: target });
    }
    let login: PgLogin | undefined;
    try {
      login = await options.login(connection);
    } catch (err) {
      const code = (err as { code?: unknown })?.code;
      log.error('credential unavailable', { connection, code, error: (err as Error)?.message });
      return answer(stream, { error: { code: 'AGENT_CREDENTIAL_UNAVAILABLE', message: `the agent cannot read the database login of connection ${connection}${typeof code === 'string' ? ` (${code})` : ''}; its log has the detail` } });
    }
    if (login === undefined) {
      return answer(stream, { error: { code: 'AGENT_CREDENTIAL_UNAVAILABLE', message: `the agent's vault holds no database login for connection ${connection}; run \`airlock-agent secrets set ${connection} --type postgres\`` } });
    }
    const started = performance.now();
    const result = await runRequest(target, login, request, connection, gone.signal);
    const fields = { connection, op: request.op, caller: callerOf(header), requestId: typeof header.requestId === 'string' ? header.requestId.slice(0, 128) : undefined, ms: Math.round(performance.now() - started) };
    if (gone.signal.aborted) return log.info('postgres tool cancelled by the gateway; nothing committed after that', fields);
    if ('error' in result) log.warn('postgres tool failed', { ...fields, code: result.error.code, sqlstate: result.error.sqlstate });
    else log.debug('postgres tool', { ...fields, rows: result.rows.length, truncated: result.truncated });
    answer(stream, result);
  };
}
