// The JSON an `airlock policy eval` run reads: one request (or response) to decide on. The shapes
// are stable: scripts and corpora depend on them.
//
//   {"kind":"sql","dialect":"postgresql","sql":"…"}          dialect defaults to postgresql
//   {"kind":"shell","command":"…"}
//   {"kind":"text","text":"…"}                                a response by default
//   {"kind":"json","value":…}                                 a response by default
//   {"kind":"http","method":"GET","path":"/customers","body":…}
//   {"kind":"mcp","tool":"query","arguments":{…}}             or "result" with "direction":"response"
// Every shape may add: "direction" (request|response), "connection" ({name, kind, tags}),
// "identity" ({sub, groups, roles, email}), "justification"; http and mcp may carry "sql" (with
// "dialect") or "command" that the data path extracted from them.
import { z } from 'zod';
import type { EvalContext, PolicyRequest } from '../../gateway/policy/context.ts';
import { DIRECTIONS } from '../../gateway/policy/schema.ts';
import { SQL_DIALECTS } from '../../gateway/inspect/types.ts';

const common = {
  direction: z.enum(DIRECTIONS).optional(),
  connection: z.strictObject({ name: z.string().min(1), kind: z.string().default('http'), tags: z.array(z.string()).default([]) }).optional(),
  identity: z.strictObject({
    sub: z.string().min(1), email: z.string().nullable().default(null), name: z.string().nullable().default(null),
    groups: z.array(z.string()).default([]), roles: z.array(z.string()).default(['user']), via: z.string().default('oidc'),
  }).optional(),
  justification: z.string().max(10_000).optional(),
};
const embedded = { sql: z.string().optional(), dialect: z.enum(SQL_DIALECTS).optional(), command: z.string().optional() };

export const evalInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sql'), dialect: z.enum(SQL_DIALECTS).default('postgresql'), sql: z.string(), ...common }),
  z.strictObject({ kind: z.literal('shell'), command: z.string(), ...common }),
  z.strictObject({ kind: z.literal('text'), text: z.string(), ...common }),
  z.strictObject({ kind: z.literal('json'), value: z.unknown(), ...common }),
  z.strictObject({ kind: z.literal('http'), method: z.string().regex(/^[A-Za-z]{1,20}$/).default('GET'), path: z.string().startsWith('/').default('/'), status: z.number().int().optional(), body: z.unknown().optional(), ...embedded, ...common }),
  z.strictObject({ kind: z.literal('mcp'), tool: z.string().min(1), arguments: z.unknown().optional(), result: z.unknown().optional(), ...embedded, ...common }),
]);

export type EvalInput = z.infer<typeof evalInputSchema>;

/** The decision context for an input (findings are added by the inspectors). */
export function contextOf(input: EvalInput, now: number): Omit<EvalContext, 'findings'> {
  const responseByDefault = input.kind === 'text' || input.kind === 'json' || (input.kind === 'mcp' && input.result !== undefined && input.arguments === undefined);
  const direction = input.direction ?? (responseByDefault ? 'response' : 'request');
  const request: { -readonly [K in keyof PolicyRequest]: PolicyRequest[K] } = { kind: input.kind, direction };
  switch (input.kind) {
    case 'sql': Object.assign(request, { sql: input.sql, dialect: input.dialect }); break;
    case 'shell': request.command = input.command; break;
    case 'text': request.text = input.text; break;
    case 'json': request.body = input.value; break;
    case 'http':
      Object.assign(request, { method: input.method.toUpperCase(), path: input.path, ...defined({ body: input.body, sql: input.sql, dialect: input.dialect, command: input.command }) });
      break;
    case 'mcp':
      Object.assign(request, { tool: input.tool, ...defined({ args: input.arguments, body: input.result, sql: input.sql, dialect: input.dialect, command: input.command }) });
      break;
  }
  if (input.justification !== undefined) request.justification = input.justification;
  return {
    identity: input.identity ?? null,
    connection: input.connection ?? null,
    request,
    now,
  };
}

function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
