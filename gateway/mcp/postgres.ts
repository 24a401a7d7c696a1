// The `postgres` connection kind as MCP tools, run by the agent (agent/pg-tools.ts) with the
// database login of its vault, over one `pg-tool` tunnel stream per call: the gateway writes one
// JSON request and ends its side, the agent answers one JSON object.
//
//   query           classified here first: only one statement the SQL inspector calls a read
//                   (findings `sql.read` and nothing else) is sent; anything else is refused with
//                   a pointer to execute. The agent runs it in a READ ONLY transaction as well, so
//                   a write the classification misses (nextval(), a function that writes) fails.
//   execute         sent as it is: the firewall's inspection and policy have decided on it.
//   list_tables,    fixed catalog queries on the agent.
//   describe_table
//
// A result is a text block (its JSON) and structuredContent {columns, rows, rowCount, truncated,
// command}. What the database refuses is a tool error the model can act on (GW_DATABASE_ERROR);
// failing to reach the database (agent, allowlist, login, network) throws a GatewayError with the
// codes of the HTTP data path.
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { GatewayError, type GatewayErrorCode } from '../errors.ts';
import { inspectRequest } from '../inspect/index.ts';
import type { TunnelStream } from '../tunnel/index.ts';
import { parseJson } from '../../lib/json.ts';
import type { CallContext, SourceContext, SourceFactory } from './source.ts';
import { agentPool } from '../connections/schema.ts';

export const POSTGRES_TOOL_LIMITS = Object.freeze({
  /** Longest SQL text, in characters. */
  maxSqlChars: 100_000,
  /** Most bind parameters, and most elements of an array parameter. */
  maxParams: 1000,
  maxArrayItems: 10_000,
  /** Rows a query returns when the call does not say, and at most. */
  defaultMaxRows: 1000,
  maxRows: 10_000,
  /**
   * Bytes of rows (as JSON) in one result: 64 KiB, or less when the connection's inspectBytes or
   * maxResponseBytes is smaller (halved: the rows appear in the text and in structuredContent).
   */
  resultBytes: 64 * 1024,
  /** Largest request sent to the agent, in bytes of JSON (the agent reads no more). */
  maxRequestBytes: 1024 * 1024,
  /** What an answer may add to its rows (column names, framing, an error message), in bytes. */
  answerOverheadBytes: 256 * 1024,
});

export const PG_TOOL_KIND = 'pg-tool';

const scalar = { type: ['string', 'number', 'boolean', 'null'] };
const sql = (what: string) => ({ type: 'string', minLength: 1, maxLength: POSTGRES_TOOL_LIMITS.maxSqlChars, description: `${what} Put values in params as $1, $2, … rather than in the SQL text.` });
const params = {
  type: 'array', maxItems: POSTGRES_TOOL_LIMITS.maxParams,
  items: { anyOf: [scalar, { type: 'array', items: scalar, maxItems: POSTGRES_TOOL_LIMITS.maxArrayItems }] },
  description: 'Values of $1, $2, … in order: strings, numbers, booleans, null, or arrays of those (PostgreSQL arrays, e.g. for `= ANY($1)`).',
};
const name = (what: string) => ({ type: 'string', minLength: 1, maxLength: 128, description: what });
const OUTPUT_SCHEMA = {
  type: 'object' as const,
  properties: {
    columns: { type: 'array', items: { type: 'string' }, description: 'Column names, in order.' },
    rows: { type: 'array', items: { type: 'array' }, description: 'One array of values per row, in the order of columns.' },
    rowCount: { type: 'integer', minimum: 0, description: 'Rows returned or affected, as the database counts them (the rows returned when truncated).' },
    truncated: { type: 'boolean', description: 'More rows existed than were returned.' },
    command: { type: ['string', 'null'], description: 'The statement\'s command (SELECT, INSERT, UPDATE, …).' },
  },
  required: ['columns', 'rows', 'rowCount', 'truncated', 'command'],
};

const TOOLS: Tool[] = [
  {
    name: 'query',
    title: 'Run a read-only SQL query',
    description: 'Run one SQL statement that only reads (PostgreSQL: SELECT, WITH … SELECT, VALUES, TABLE, SHOW, EXPLAIN) on the database of this connection and return its rows. '
      + 'Statements that change data or schema are refused here; the execute tool runs those. At most maxRows rows (default 1000) and about 64 KB of rows are returned; truncated is true when there were more.',
    inputSchema: {
      type: 'object',
      properties: {
        sql: sql('One read-only SQL statement.'),
        params,
        maxRows: { type: 'integer', minimum: 1, maximum: POSTGRES_TOOL_LIMITS.maxRows, default: POSTGRES_TOOL_LIMITS.defaultMaxRows, description: `Most rows to return (1–${POSTGRES_TOOL_LIMITS.maxRows}, default ${POSTGRES_TOOL_LIMITS.defaultMaxRows}).` },
      },
      required: ['sql'],
      additionalProperties: false,
    },
    outputSchema: OUTPUT_SCHEMA,
    annotations: { title: 'Run a read-only SQL query', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'execute',
    title: 'Run a SQL statement that changes data',
    description: 'Run one SQL statement that changes data or schema (INSERT, UPDATE, DELETE, MERGE, CREATE, ALTER, …) on the database of this connection, in a transaction committed when it succeeds. '
      + 'Each call is checked by the connection\'s policies, which may refuse it or hold it for a human review. Rows of a RETURNING clause are returned as a query\'s are.',
    inputSchema: {
      type: 'object',
      properties: { sql: sql('One SQL statement.'), params },
      required: ['sql'],
      additionalProperties: false,
    },
    outputSchema: OUTPUT_SCHEMA,
    annotations: { title: 'Run a SQL statement that changes data', readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  },
  {
    name: 'list_tables',
    title: 'List tables',
    description: 'List the tables, views, materialized views and foreign tables of the database of this connection that its login may use: schema, name, type and comment. Every schema but the system ones, unless schema is given.',
    inputSchema: {
      type: 'object',
      properties: { schema: name('Only this schema (e.g. public).') },
      additionalProperties: false,
    },
    outputSchema: OUTPUT_SCHEMA,
    annotations: { title: 'List tables', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'describe_table',
    title: 'Describe a table',
    description: 'The columns of one table or view of the database of this connection: name, type, nullable, default, primary key, foreign-key references and comment. The table is looked up on the search path unless schema is given.',
    inputSchema: {
      type: 'object',
      properties: { table: name('The table or view, without its schema.'), schema: name('Its schema (e.g. public); default: the one on the search path.') },
      required: ['table'],
      additionalProperties: false,
    },
    outputSchema: OUTPUT_SCHEMA,
    annotations: { title: 'Describe a table', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
];

/** The four built-in tools, frozen. */
export const POSTGRES_TOOLS: readonly Tool[] = Object.freeze(TOOLS.map((t) => Object.freeze(t)));

// The same bounds as the inputSchemas; the firewall has validated already, this keeps the source
// safe to call on its own. Unknown members (`_justification`) are dropped, never sent.
const zScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const zParams = z.array(z.union([zScalar, z.array(zScalar).max(POSTGRES_TOOL_LIMITS.maxArrayItems)])).max(POSTGRES_TOOL_LIMITS.maxParams).optional();
const zSql = z.string().min(1).max(POSTGRES_TOOL_LIMITS.maxSqlChars);
const zName = z.string().min(1).max(128);
const ARGS = {
  query: z.object({ sql: zSql, params: zParams, maxRows: z.number().int().min(1).max(POSTGRES_TOOL_LIMITS.maxRows).optional() }),
  execute: z.object({ sql: zSql, params: zParams }),
  list_tables: z.object({ schema: zName.optional() }),
  describe_table: z.object({ table: zName, schema: zName.optional() }),
} as const;
type Op = keyof typeof ARGS;

const answerSchema = z.union([
  z.strictObject({ columns: z.array(z.string()), rows: z.array(z.array(z.unknown())), rowCount: z.number().int().min(0), truncated: z.boolean(), command: z.string().nullable() }),
  z.strictObject({ error: z.strictObject({ code: z.string().max(64), message: z.string().max(4000), sqlstate: z.string().max(5).optional() }) }),
]);
type Answer = z.infer<typeof answerSchema>;
type Rows = Extract<Answer, { columns: unknown }>;

/** What the agent's answer codes mean to the caller when the database could not be used at all. */
const AGENT_FAILURES: Readonly<Record<string, { code: GatewayErrorCode; what: string }>> = {
  AGENT_TARGET_INVALID: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses this database as a target' },
  AGENT_TARGET_NOT_ALLOWED: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses to reach this database (its targets.allow)' },
  AGENT_TARGET_UNREACHABLE: { code: 'GW_TARGET_UNREACHABLE', what: 'The agent cannot reach the database' },
  AGENT_TARGET_TIMEOUT: { code: 'GW_TARGET_TIMEOUT', what: 'The database did not answer in time' },
  AGENT_CREDENTIAL_UNAVAILABLE: { code: 'GW_CREDENTIAL_UNAVAILABLE', what: 'The agent has no usable database login' },
  AGENT_DB_LOGIN_FAILED: { code: 'GW_TARGET_LOGIN_FAILED', what: 'The database refused the agent\'s login' },
  AGENT_REQUEST_INVALID: { code: 'GW_TOOL_ARGUMENTS_INVALID', what: 'The agent refused the request' },
};

function toolError(code: GatewayErrorCode, text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `airlock: ${text} (${code})` }] };
}

/** Why `sql` may not go through `query`, or undefined when it is one statement that only reads. */
export function notReadOnly(sql: string): string | undefined {
  const findings = inspectRequest({ kind: 'sql', direction: 'request', sql, dialect: 'postgresql' });
  const other = findings.filter((f) => f.kind !== 'sql.read');
  if (findings.length > 0 && other.length === 0) return undefined;
  if (other.length === 0) return 'it holds no statement';
  const kinds = [...new Set(other.map((f) => f.kind))].slice(0, 5).join(', ');
  return `it was classified as ${kinds} (${other[0]!.detail.slice(0, 200)})`;
}

function resultOf(answer: Rows): CallToolResult {
  const structured = { columns: answer.columns, rows: answer.rows, rowCount: answer.rowCount, truncated: answer.truncated, command: answer.command };
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

export const postgresSource: SourceFactory = async (ctx) => {
  const { connection } = ctx;
  if (connection.kind !== 'postgres') throw new TypeError(`postgresSource serves postgres connections, not ${connection.kind} (${connection.name})`);
  const { limits } = connection;
  const resultBytes = Math.max(1024, Math.min(POSTGRES_TOOL_LIMITS.resultBytes, Math.floor(limits.inspectBytes / 2), Math.floor(limits.maxResponseBytes / 2)));

  return {
    listTools: async () => structuredClone(TOOLS), // copies: the server decorates what it lists
    async callTool(tool, args, call): Promise<CallToolResult> {
      if (!Object.hasOwn(ARGS, tool)) throw new GatewayError('GW_NOT_FOUND', `Connection ${connection.name} has no tool ${JSON.stringify(tool.slice(0, 100))}; its tools are ${Object.keys(ARGS).join(', ')}.`);
      const op = tool as Op;
      const parsed = ARGS[op].safeParse(args);
      if (!parsed.success) {
        return toolError('GW_TOOL_ARGUMENTS_INVALID', `The arguments do not fit ${op}: ${parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ')}.`);
      }
      const a = parsed.data as { sql?: string; params?: unknown[]; maxRows?: number; schema?: string; table?: string };
      if (op === 'query') {
        const why = notReadOnly(a.sql!);
        if (why !== undefined) {
          return toolError('GW_SQL_NOT_READ_ONLY', `query runs only one statement that reads, and ${why}. Send statements that change data or schema with the execute tool, which the connection's policies check.`);
        }
      }
      const request = {
        op,
        ...(a.sql === undefined ? {} : { sql: a.sql }),
        ...(a.params === undefined ? {} : { params: a.params }),
        ...(a.schema === undefined ? {} : { schema: a.schema }),
        ...(a.table === undefined ? {} : { table: a.table }),
        maxRows: op === 'execute' ? POSTGRES_TOOL_LIMITS.defaultMaxRows : a.maxRows ?? POSTGRES_TOOL_LIMITS.defaultMaxRows,
        maxBytes: resultBytes,
        timeoutMs: limits.timeouts.firstByteMs,
        connectTimeoutMs: limits.timeouts.connectMs,
      };
      const body = JSON.stringify(request);
      if (Buffer.byteLength(body) > POSTGRES_TOOL_LIMITS.maxRequestBytes) {
        return toolError('GW_TOOL_ARGUMENTS_INVALID', `The SQL and its params are larger than the ${POSTGRES_TOOL_LIMITS.maxRequestBytes} bytes a call may send; send less per call.`);
      }
      const answer = await askAgent(ctx, body, call, resultBytes + POSTGRES_TOOL_LIMITS.answerOverheadBytes);
      if ('error' in answer) {
        const { code, message, sqlstate } = answer.error;
        if (code === 'AGENT_DB_ERROR' || code === 'AGENT_DB_READ_ONLY') {
          return toolError('GW_DATABASE_ERROR', `The database refused the statement: ${message}${sqlstate === undefined ? '' : ` [SQLSTATE ${sqlstate}]`}.`);
        }
        const mapped = AGENT_FAILURES[code] ?? { code: 'GW_UPSTREAM_FAILED' as const, what: 'The agent failed' };
        throw new GatewayError(mapped.code, `${mapped.what} for connection ${connection.name}: ${message} (${code}).`, { detail: { agentCode: code } });
      }
      if (op === 'describe_table' && answer.rows.length === 0) {
        return toolError('GW_DATABASE_ERROR', `No table or view ${JSON.stringify(a.table)} ${a.schema === undefined ? 'on the search path' : `in schema ${JSON.stringify(a.schema)}`} that the connection's login can see; list_tables shows them.`);
      }
      return resultOf(answer);
    },
    close: async () => {},
  };
};

/**
 * One request (`body`, JSON) to the agent and its answer: a stream opened with the caller's `sub` (never a
 * token), the request written and ended, at most `maxBytes` read back. Cancellation resets the
 * stream (the agent then rolls back); the deadline covers connect, statement and commit.
 */
function askAgent(ctx: SourceContext, body: string, call: CallContext, maxBytes: number): Promise<Answer> {
  const { connection } = ctx;
  call.signal.throwIfAborted();
  const header = { kind: PG_TOOL_KIND, connection: connection.name, target: connection.target as string, caller: ctx.identity.sub, requestId: call.requestId };
  const stream: TunnelStream = ctx.openStream(agentPool(connection), header); // GW_AGENT_OFFLINE when no agent of the pool is here
  const { connectMs, firstByteMs } = connection.limits.timeouts;
  const deadlineMs = connectMs + 2 * firstByteMs + 10_000; // beyond the agent's own, so its clearer answer comes first
  return new Promise<Answer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: unknown, answer?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      call.signal.removeEventListener('abort', onAbort);
      if (err === undefined) return resolve(answer!);
      if (!stream.destroyed) stream.reset('TUNNEL_STREAM_CANCELLED', 'the gateway gave up on this call');
      reject(err);
    };
    const onAbort = () => settle(call.signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => settle(new GatewayError('GW_TARGET_TIMEOUT', `The database of connection ${connection.name} did not answer within ${Math.round(deadlineMs / 1000)} s; retry, or ask an admin to check the agent and the database.`)), deadlineMs);
    call.signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) settle(new GatewayError('GW_RESPONSE_TOO_LARGE', `The agent's answer for connection ${connection.name} is larger than ${maxBytes} bytes.`));
      else chunks.push(chunk);
    });
    stream.on('end', () => {
      let answer: Answer;
      try {
        answer = answerSchema.parse(parseJson(Buffer.concat(chunks, size).toString('utf8')));
      } catch (err) {
        ctx.logger.error('postgres tool: the agent answered outside the protocol', { connection: connection.name, agent: connection.agent, error: (err as Error).message });
        return settle(new GatewayError('GW_UPSTREAM_FAILED', `Agent ${connection.agent} answered the call on connection ${connection.name} with something that is not a pg-tool answer; upgrade the agent.`));
      }
      settle(undefined, answer);
    });
    stream.on('error', (err: Error & { resetCode?: string }) => {
      ctx.logger.warn('postgres tool: tunnel stream failed', { connection: connection.name, agent: connection.agent, resetCode: err.resetCode, error: err.message });
      settle(new GatewayError('GW_UPSTREAM_FAILED', err.resetCode === 'AGENT_STREAM_KIND_UNKNOWN'
        ? `Agent ${connection.agent} does not run the built-in postgres tools (it knows no ${PG_TOOL_KIND} streams); upgrade it.`
        : `The tunnel to agent ${connection.agent} failed during the call on connection ${connection.name}${err.resetCode === undefined ? '' : ` (${err.resetCode})`}; retry.`));
    });
    stream.on('close', () => settle(new GatewayError('GW_UPSTREAM_FAILED', `The tunnel to agent ${connection.agent} closed before it answered the call on connection ${connection.name}; retry.`)));
    stream.end(body);
  });
}
