// The JSON an `airlock policy eval` run (and the console's Explain panel) reads: one request (or
// response) to decide on. The shapes are stable: scripts and corpora depend on them.
//
//   {"kind":"sql","dialect":"postgresql","sql":"…"}          dialect: see dialectOf
//   {"kind":"shell","command":"…"}
//   {"kind":"text","text":"…"}                                a response by default
//   {"kind":"json","value":…}                                 a response by default
//   {"kind":"http","method":"GET","path":"/customers","body":…}
//   {"kind":"mcp","tool":"query","arguments":{…}}             or "result" with "direction":"response"
// Every shape may add: "direction" (request|response), "connection" ({name, kind, tags}),
// "identity" ({sub, groups, roles, email}), "justification"; http and mcp may carry "sql" (with
// "dialect") or "command" that the data path extracted from them.
import { z } from 'zod';
import type { EvalContext, PolicyRequest } from './context.ts';
import { DIRECTIONS } from './schema.ts';
import { SQL_DIALECTS, type SqlDialect } from '../inspect/types.ts';

const common = {
  direction: z.enum(DIRECTIONS).optional(),
  connection: z.strictObject({
    name: z.string().min(1), kind: z.string().default('http'), tags: z.array(z.string()).default([]),
    /** The connection's SQL settings, as in its definition (sql.dialect). */
    sql: z.strictObject({ dialect: z.enum(SQL_DIALECTS) }).optional(),
  }).optional(),
  identity: z.strictObject({
    sub: z.string().min(1), email: z.string().nullable().default(null), name: z.string().nullable().default(null),
    groups: z.array(z.string()).default([]), roles: z.array(z.string()).default(['user']), via: z.string().default('oidc'),
  }).optional(),
  justification: z.string().max(10_000).optional(),
};
const embedded = { sql: z.string().optional(), dialect: z.enum(SQL_DIALECTS).optional(), command: z.string().optional() };

export const evalInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sql'), dialect: z.enum(SQL_DIALECTS).optional(), sql: z.string(), ...common }),
  z.strictObject({ kind: z.literal('shell'), command: z.string(), ...common }),
  z.strictObject({ kind: z.literal('text'), text: z.string(), ...common }),
  z.strictObject({ kind: z.literal('json'), value: z.unknown(), ...common }),
  z.strictObject({ kind: z.literal('http'), method: z.string().regex(/^[A-Za-z]{1,20}$/).default('GET'), path: z.string().startsWith('/').default('/'), status: z.number().int().optional(), body: z.unknown().optional(), ...embedded, ...common }),
  z.strictObject({ kind: z.literal('mcp'), tool: z.string().min(1), arguments: z.unknown().optional(), result: z.unknown().optional(), ...embedded, ...common }),
]);

export type EvalInput = z.infer<typeof evalInputSchema>;

/** The input, or a sentence naming the field that is wrong (the caller words it as its own error). */
export function parseEvalInput(value: unknown): EvalInput | { readonly problem: string } {
  const parsed = evalInputSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
  return { problem: `${path.map(String).join('.') || '(input)'}: ${issue.message}` };
}

/**
 * The dialect SQL in an input is parsed in, as the gateway would: the input's own `dialect`, else
 * its connection's `sql.dialect` (a `postgres` connection is always postgresql), else `fallback`
 * (the --dialect flag of policy eval). Default postgresql, the connections' default.
 */
export function dialectOf(input: EvalInput, fallback: SqlDialect = 'postgresql'): SqlDialect {
  if (input.kind === 'sql' || input.kind === 'http' || input.kind === 'mcp') {
    if (input.dialect !== undefined) return input.dialect;
  }
  if (input.connection?.sql !== undefined) return input.connection.sql.dialect;
  if (input.connection?.kind === 'postgres') return 'postgresql';
  return fallback;
}

/** The decision context for an input (findings are added by the inspectors); `dialect` as dialectOf's fallback. */
export function contextOf(input: EvalInput, now: number, dialect: SqlDialect = 'postgresql'): Omit<EvalContext, 'findings'> {
  const responseByDefault = input.kind === 'text' || input.kind === 'json' || (input.kind === 'mcp' && input.result !== undefined && input.arguments === undefined);
  const direction = input.direction ?? (responseByDefault ? 'response' : 'request');
  const request: { -readonly [K in keyof PolicyRequest]: PolicyRequest[K] } = { kind: input.kind, direction };
  switch (input.kind) {
    case 'sql': Object.assign(request, { sql: input.sql, dialect: dialectOf(input, dialect) }); break;
    case 'shell': request.command = input.command; break;
    case 'text': request.text = input.text; break;
    case 'json': request.body = input.value; break;
    case 'http':
      Object.assign(request, { method: input.method.toUpperCase(), path: input.path, ...defined({ body: input.body, sql: input.sql, dialect: input.sql === undefined ? undefined : dialectOf(input, dialect), command: input.command }) });
      break;
    case 'mcp':
      Object.assign(request, { tool: input.tool, ...defined({ args: input.arguments, body: input.result, sql: input.sql, dialect: input.sql === undefined ? undefined : dialectOf(input, dialect), command: input.command }) });
      break;
  }
  if (input.justification !== undefined) request.justification = input.justification;
  return {
    identity: input.identity ?? null,
    connection: input.connection === undefined ? null : { name: input.connection.name, kind: input.connection.kind, tags: input.connection.tags },
    request,
    now,
  };
}

function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
