// What a connection is: one zod schema, strict (unknown keys are errors), one branch per kind
// (a discriminated union on `kind`), every default written here. The gateway validates every
// write and every record it reads back from the store with it; the CLI validates with it too,
// before sending, so a bad flag is a usage error naming the field.
//
// A connection definition is not secret: users who may use a connection can read it. Credentials
// live in the agent's vault, which is why a target refuses `user:password@` and query strings.
import { z } from 'zod';
import { parseBodyPath } from '../guard/embedded.ts';
import { jmespathProblem } from '../mcp/shape.ts';
import { ACTIONS } from '../policy/schema.ts';
import { SQL_DIALECTS } from '../inspect/types.ts';
import { closest } from '../../lib/config.ts';

export const CONNECTION_KINDS = ['http', 'mcp', 'postgres'] as const;
export type ConnectionKind = (typeof CONNECTION_KINDS)[number];

/** Largest OpenAPI document, in bytes of its JSON text: 512 KiB (the CLI reads answers up to 1 MiB; raise both together). */
export const OPENAPI_MAX_BYTES = 512 * 1024;
/** Deepest nesting of an OpenAPI document (objects and arrays), in levels. */
export const OPENAPI_MAX_DEPTH = 100;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const label = z.string().regex(DNS_LABEL, 'a DNS label (1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit)');
/** No NUL and no control characters other than tab and newline. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;
const text = (max: number) => z.string().max(max).refine((s) => !CONTROL.test(s), 'must not contain control characters');
/** A strict object whose unknown-key error names the closest known key, else lists them (a misspelt field is the usual cause). */
function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const close = closest(issue.keys[0] ?? '', known);
      return close === undefined ? `unknown field (known here: ${known.join(', ')})` : `unknown field (did you mean ${JSON.stringify(close)}?)`;
    },
  });
}
const absolutePath = z.string().min(2).max(4096).refine((s) => s.startsWith('/') && !s.includes('\0'), 'an absolute path (starting with /)');

/** Why `raw` is not an acceptable http(s) URL for a target, or undefined. Parsed by WHATWG URL. */
function webUrlProblem(raw: string): string | undefined {
  if (/[\s\\]/.test(raw) || CONTROL.test(raw)) return 'must not contain spaces, backslashes or control characters';
  if (!/^https?:\/\//i.test(raw)) return 'must be an absolute http:// or https:// URL';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials (user:password@): the agent injects them from its vault';
  // '?' and '#' can only start a query or a fragment here (spaces and backslashes are refused above).
  if (raw.includes('?')) return 'must not have a query string (credentials belong in the agent\'s vault, not in the URL)';
  if (raw.includes('#')) return 'must not have a fragment';
  return undefined;
}

/** An absolute http(s) URL with an optional base path, stored in its canonical form (URL.href). */
const webUrl = z.string().max(2048).transform((raw, ctx) => {
  const problem = webUrlProblem(raw);
  if (problem !== undefined) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return new URL(raw).href;
});

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)$/;

/** `postgres://host:port/database` (postgresql:// accepted), no credentials, no options; port defaults to 5432. */
const postgresUrl = z.string().max(1024).transform((raw, ctx) => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (/[\s\\]/.test(raw) || CONTROL.test(raw)) return fail('must not contain spaces, backslashes or control characters');
  if (!/^postgres(ql)?:\/\//i.test(raw)) return fail('must be a postgres://host:port/database URL');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail('is not a valid URL');
  }
  if (url.username !== '' || url.password !== '') return fail('must not carry credentials (user:password@): the agent authenticates to the database with its vault\'s credential');
  if (raw.includes('?') || raw.includes('#')) return fail('must not have options (?…) or a fragment: connection options belong to the agent');
  const host = url.hostname.toLowerCase();
  if (!HOST.test(host)) return fail('must name a host (a DNS name, an IPv4 address or a bracketed IPv6 address)');
  const port = url.port === '' ? '5432' : url.port;
  if (port === '0') return fail('port must be between 1 and 65535');
  let database: string;
  try {
    database = decodeURIComponent(url.pathname.slice(1));
  } catch {
    return fail('the database name is not valid percent-encoding');
  }
  if (database === '' || database.includes('/') || CONTROL.test(database)) return fail('must end with /<database>: one database name');
  if (Buffer.byteLength(database) > 63) return fail('the database name is longer than PostgreSQL\'s 63 bytes');
  return `postgres://${host}:${port}/${encodeURIComponent(database)}`;
});

const argv = z.array(z.string().min(1).max(4096).refine((s) => !s.includes('\0'), 'must not contain NUL')).min(1).max(64);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'a variable name (letters, digits, underscore)');

/**
 * An MCP server as the agent reaches it: `{url}` (Streamable HTTP or SSE) or `{command, cwd?, env?}`
 * (stdio: the agent starts it, if its allowlist permits). A bare URL string is shorthand for `{url}`.
 * Never put secrets in `env`: definitions are readable by their users; the agent injects credentials.
 */
const mcpTarget = z.preprocess(
  (v) => (typeof v === 'string' ? { url: v } : v),
  strict({
    url: webUrl.optional(),
    command: argv.optional(),
    cwd: absolutePath.optional(),
    env: z.record(envName, text(4096)).refine((e) => Object.keys(e).length <= 64, 'at most 64 variables').optional(),
  }).superRefine((t, ctx) => {
    if ((t.url === undefined) === (t.command === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give either url (an MCP server over HTTP) or command (a stdio MCP server the agent starts)' });
    }
    if (t.url !== undefined && t.cwd !== undefined) ctx.addIssue({ code: 'custom', path: ['cwd'], message: 'goes with command (stdio), not url' });
    if (t.url !== undefined && t.env !== undefined) ctx.addIssue({ code: 'custom', path: ['env'], message: 'goes with command (stdio), not url' });
  }).transform((t): McpTarget => (t.url !== undefined
    ? { url: t.url }
    : { command: t.command!, ...(t.cwd === undefined ? {} : { cwd: t.cwd }), ...(t.env === undefined ? {} : { env: t.env }) })),
);
export type McpTarget = { readonly url: string } | { readonly command: readonly string[]; readonly cwd?: string; readonly env?: Readonly<Record<string, string>> };

const groups = z.array(text(256).min(1).refine((g) => g.trim() === g, 'must not start or end with a space')).max(100)
  .superRefine((list, ctx) => {
    if (list.includes('*') && list.length > 1) ctx.addIssue({ code: 'custom', message: '"*" already means every user; list it alone' });
    list.forEach((g, i) => { if (list.indexOf(g) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `"${g}" is listed twice` }); });
  });

const PACK = /^[a-z0-9][a-z0-9-]{0,62}$/;
const policy = strict({
  /** Policy packs from policies/, by name, evaluated in this order. Default [default]. */
  packs: z.array(z.string().regex(PACK, 'a pack name (lower-case letters, digits, dashes)')).max(20).default(['default'])
    .refine((l) => new Set(l).size === l.length, 'lists a pack twice'),
  /** Extra policy files (YAML) on the gateway, absolute paths, after the packs. Default []. */
  files: z.array(absolutePath).max(20).default([]),
  /** The decision when no rule matches (an inspector failure still denies). Default allow. */
  defaultAction: z.enum(ACTIONS).default('allow'),
}).prefault({});

const bytes = (min: number, max: number) => z.number().int().min(min).max(max);
const ms = (min: number, max: number) => z.number().int().min(min).max(max);
const limits = strict({
  /** Largest request body forwarded, in bytes. Default 10 MiB, at most 1 GiB. */
  maxRequestBytes: bytes(KiB, GiB).default(10 * MiB),
  /** Largest response body returned, in bytes. Default 50 MiB, at most 1 GiB. */
  maxResponseBytes: bytes(KiB, GiB).default(50 * MiB),
  /** Largest body (request or response) that is inspected, in bytes. Default 1 MiB, at most 64 MiB. */
  inspectBytes: bytes(KiB, 64 * MiB).default(MiB),
  /**
   * What happens to an HTTP body larger than inspectBytes: `deny` (default), `review`, or `stream`:
   * forwarded as it arrives, inspected window by window (gateway/inspect/stream.ts) and masked as
   * it flows; JSON and form bodies are still refused, their structure cannot be inspected in
   * windows. There is no "allow uninspected": what the gateway cannot inspect is never silently
   * allowed (docs/architecture.md, invariant 3). WebSocket messages over inspectBytes are always refused.
   */
  oversize: z.enum(['deny', 'review', 'stream']).default('deny'),
  timeouts: strict({
    /** Milliseconds to open a connection to the target (through the agent). Default 5000. */
    connectMs: ms(100, 60_000).default(5_000),
    /** Milliseconds from the request sent to the first byte of the answer. Default 30000. */
    firstByteMs: ms(100, 600_000).default(30_000),
    /** Milliseconds without a byte either way before the exchange is cut. Default 60000. */
    idleMs: ms(100, 3_600_000).default(60_000),
  }).prefault({}),
}).prefault({});

const TAG = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}(=[A-Za-z0-9._:/@+-]{1,200})?$/;
const tags = z.array(z.string().regex(TAG, 'a tag: key or key=value (key: letters, digits, . _ / -, at most 63; value: at most 200 of letters, digits, . _ : / @ + -)')).max(32)
  .superRefine((list, ctx) => {
    const keys = list.map((t) => t.split('=')[0]);
    keys.forEach((k, i) => { if (keys.indexOf(k) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `the key "${k}" is tagged twice` }); });
  });

/** Depth and JSON size of a value, walked iteratively (a hostile document cannot blow the stack). */
function jsonShapeProblem(value: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 1]];
  let nodes = 0;
  while (stack.length > 0) { // bounded: every node is visited once, and at most OPENAPI_MAX_BYTES nodes can exist in a capped body
    const [v, depth] = stack.pop()!;
    if (++nodes > OPENAPI_MAX_BYTES) return `has more than ${OPENAPI_MAX_BYTES} values`;
    if (v === null || typeof v !== 'object') continue;
    if (depth > OPENAPI_MAX_DEPTH) return `is nested deeper than ${OPENAPI_MAX_DEPTH} levels`;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  const size = Buffer.byteLength(JSON.stringify(value));
  return size > OPENAPI_MAX_BYTES ? `is ${size} bytes as JSON, more than the ${OPENAPI_MAX_BYTES} allowed` : undefined;
}

/**
 * An OpenAPI 3.0 or 3.1 document, as an object. Checked here: the shape (size, depth), `openapi`
 * and `paths`; the full structural validation comes with the tools generated from it.
 */
const openapi = z.record(z.string(), z.unknown()).superRefine((doc, ctx) => {
  const shape = jsonShapeProblem(doc);
  if (shape !== undefined) {
    ctx.addIssue({ code: 'custom', message: shape });
    return;
  }
  if (typeof doc.openapi !== 'string' || !/^3\.[01]\.\d{1,3}$/.test(doc.openapi)) {
    ctx.addIssue({ code: 'custom', path: ['openapi'], message: 'must be "3.0.x" or "3.1.x": an OpenAPI 3 document (Swagger 2.0 is not supported)' });
  }
  const paths = doc.paths;
  if (paths === null || typeof paths !== 'object' || Array.isArray(paths)) {
    ctx.addIssue({ code: 'custom', path: ['paths'], message: 'must be an object of paths ("/items": {…})' });
  } else {
    for (const key of Object.keys(paths).slice(0, 10_000)) {
      if (!key.startsWith('/')) ctx.addIssue({ code: 'custom', path: ['paths', key], message: 'a path must start with /' });
    }
  }
});

const notHttp = (kind: string) => z.never({ error: `only http connections have an OpenAPI document, not ${kind}` }).optional();

/** Fields every kind has, after name, kind, agent and target. */
const common = {
  /**
   * An agent pool: more agents that reach the same target with the same credentials (agent hosts
   * for failover and load). The connection is served by whichever of `agent` and these has a
   * tunnel, the least busy first; `agent` may be listed again. At most 16. Default none.
   */
  agents: z.array(label).max(16).optional().refine((l) => l === undefined || new Set(l).size === l.length, 'lists an agent twice'),
  /** A sentence for people choosing a connection. Default none. */
  description: text(1000).optional(),
  /**
   * Groups whose members may use the connection; `["*"]` = every authenticated user. Default []:
   * nobody but admins (who may use and see every connection). API keys use their own list instead.
   */
  groups: groups.default([]),
  policy,
  limits,
  /** Labels, `key` or `key=value`, at most 32. Default []. */
  tags: tags.default([]),
  /**
   * How SQL bound for this target is read. `dialect`: the target's SQL dialect (one of
   * SQL_DIALECTS), which decides the parser (libpg-query for postgresql, node-sql-parser for the
   * others) and so where strings, comments and escapes end. Default postgresql: a postgres
   * connection is always postgresql; for http and mcp targets it is the default because nothing
   * about them says otherwise — set it for a MySQL, SQLite or SQL Server behind the API.
   */
  sql: strict({
    dialect: z.enum(SQL_DIALECTS, { error: `one of ${SQL_DIALECTS.join(', ')}` }).default('postgresql'),
  }).prefault({}),
  recording: strict({
    /** Days a recorded session is kept, then purged; 0 = forever. Default 0. */
    retentionDays: z.number().int().min(0).max(36_500).default(0),
    /** Record every event without its payload (method, path, status, decisions, findings only). Default false. */
    metadataOnly: z.boolean().default(false),
  }).prefault({}),
};

/** The connection's name: a DNS label, 1–63 characters; it appears in /proxy/<name>, /mcp/<name>, dbname=<name>. */
const name = label;
/** The agent that reaches the target: a DNS label. */
const agent = label;

export const httpConnectionSchema = strict({
  name,
  kind: z.literal('http'),
  agent,
  /** As seen from the agent: an absolute http(s) URL, optional base path, no credentials, query or fragment. */
  target: webUrl,
  ...common,
  /** Optional OpenAPI 3.0/3.1 document (an object, at most OPENAPI_MAX_BYTES) from which MCP tools are made. */
  openapi: openapi.optional(),
  /** Per OpenAPI tool (by name): `jmespath`, an expression that shapes its JSON answer to cut the model's context. Default none. */
  tools: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a tool name'), strict({
    jmespath: z.string().min(1).max(1000).superRefine((e, ctx) => {
      const problem = jmespathProblem(e);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    }),
  })).optional(),
  /** Largest tool answer given to the model, in bytes; longer ones are cut with a visible marker. Default 65536. */
  maxToolResultBytes: z.number().int().min(1024).max(16 * MiB).default(64 * KiB),
  http: strict({
    /**
     * Method-override headers the target honours (x-http-method-override, x-method-override,
     * x-http-method): forwarded, and policy sees the method they name. Default []: a request
     * carrying one is refused (GW_METHOD_OVERRIDE), so a POST cannot escape a rule about DELETE.
     */
    methodOverride: z.array(z.enum(['x-http-method-override', 'x-method-override', 'x-http-method'])).max(3).default([])
      .refine((l) => new Set(l).size === l.length, 'lists a header twice'),
    /**
     * Forward Range and If-Range, with the reason partial answers are safe here (e.g. "video
     * files, no PII"). Default: both removed, so every answer is inspected and masked whole.
     */
    ranges: strict({ reason: text(500).min(3) }).optional(),
  }).prefault({}),
  /**
   * Where requests carry SQL or shell commands: each entry names a JSON path in the body
   * (`{in: body, path: "$.query", as: sql}`), a query parameter or a header (`{in: query, name:
   * cmd, as: shell}`); those values are judged in full by the SQL (in `sql.dialect`) or shell
   * inspector. Elsewhere, statements and commands are still detected (gateway/guard/embedded.ts).
   * Default [].
   */
  inspect: z.array(z.discriminatedUnion('in', [
    strict({ in: z.literal('body'), path: z.string().max(500).refine((p) => parseBodyPath(p) !== null, 'a JSON path of member names and indexes ($.query, $.steps[0].sql, $.items[*].cmd)'), as: z.enum(['sql', 'shell']) }),
    strict({ in: z.literal('query'), name: z.string().min(1).max(200), as: z.enum(['sql', 'shell']) }),
    strict({ in: z.literal('header'), name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'a header name'), as: z.enum(['sql', 'shell']) }),
  ])).max(50).default([]),
});

export const mcpConnectionSchema = strict({
  name,
  kind: z.literal('mcp'),
  agent,
  /** The MCP server as seen from the agent: `{url}` or `{command, cwd?, env?}`. */
  target: mcpTarget,
  ...common,
  openapi: notHttp('mcp'),
});

export const postgresConnectionSchema = strict({
  name,
  kind: z.literal('postgres'),
  agent,
  /** As seen from the agent: postgres://host:port/database, without credentials or options. */
  target: postgresUrl,
  ...common,
  /** The PostgreSQL wire protocol carries PostgreSQL: no other dialect. */
  sql: strict({
    dialect: z.literal('postgresql', { error: 'a postgres connection speaks postgresql' }).default('postgresql'),
  }).prefault({}),
  openapi: notHttp('postgres'),
});

export const connectionSchema = z.discriminatedUnion('kind', [httpConnectionSchema, mcpConnectionSchema, postgresConnectionSchema], {
  error: (issue) => (issue.code === 'invalid_union' ? `must be one of ${CONNECTION_KINDS.join(', ')}` : undefined),
});

/** A validated connection definition, defaults filled in. */
export type ConnectionSpec = z.output<typeof connectionSchema>;

/**
 * The agents that may serve a connection: `agent`, then the rest of `agents` (its pool), each
 * once. What the data paths hand the hub's `open`.
 */
export function agentPool(spec: Pick<ConnectionSpec, 'agent' | 'agents'>): readonly string[] {
  return spec.agents === undefined ? [spec.agent] : [spec.agent, ...spec.agents.filter((a) => a !== spec.agent)];
}
/** What may be written: defaults may be left out. */
export type ConnectionInput = z.input<typeof connectionSchema>;

/** One validation problem: the field's dotted path (`target.command.0`) and what is wrong with it. */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

export type Validated =
  | { readonly ok: true; readonly connection: ConnectionSpec }
  | { readonly ok: false; readonly issues: readonly FieldIssue[] };

/** Validates a connection definition; never throws on any input. */
export function validateConnection(input: unknown): Validated {
  const parsed = connectionSchema.safeParse(input);
  if (parsed.success) return { ok: true, connection: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => {
      const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
      // A record's bad key: zod's own words are "Invalid key in record"; the key schema's say why.
      const message = issue.code === 'invalid_key' && issue.issues[0] ? `the key is not valid: ${issue.issues[0].message}` : issue.message;
      return { field: path.map(String).join('.') || '(connection)', message };
    }),
  };
}

/** `field: message; field: message` for the first few issues, for one-line errors. */
export function describeFieldIssues(issues: readonly FieldIssue[], max = 3): string {
  const shown = issues.slice(0, max).map((i) => `${i.field}: ${i.message}`).join('; ');
  return issues.length > max ? `${shown} (and ${issues.length - max} more)` : shown;
}
