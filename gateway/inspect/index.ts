// Inspecting a request: each part of it goes to the inspector for its kind — SQL to the SQL
// inspector in the connection's dialect, shell commands to the shell inspector, text and JSON
// (bodies, tool arguments, responses) to the PII and secrets scanner. Paths in the findings are
// relative to the payload they came from (`$` for SQL, a command or a text; `$.a.b` inside JSON).
import type { PolicyRequest } from '../policy/context.ts';
import { PARTS, partFindings } from './parts.ts';
import { inspectJson, inspectText } from './pii/index.ts';
import { initShellInspector, inspectArgv, inspectShell } from './shell/index.ts';
import { initSqlInspector, inspectSql } from './sql/index.ts';
import { SQL_DIALECTS, type Finding, type SqlDialect } from './types.ts';

/** Loads the parsers' WASM modules; call once at start. Rejects if one cannot load. */
export async function initInspectors(): Promise<void> {
  await Promise.all([initSqlInspector(), initShellInspector()]);
}

/** Every finding for a request (or a response, when request.direction is `response`). Never throws. */
export function inspectRequest(request: PolicyRequest): Finding[] {
  const findings: Finding[] = [];
  if (request.sql !== undefined) {
    const dialect = (request.dialect ?? 'postgresql') as SqlDialect;
    findings.push(...inspectSql(request.sql, { dialect: SQL_DIALECTS.includes(dialect) ? dialect : ('unknown' as SqlDialect) }));
  }
  if (request.argv !== undefined) findings.push(...inspectArgv(request.argv));
  else if (request.command !== undefined) findings.push(...inspectShell(request.command));
  if (request.text !== undefined) findings.push(...inspectText(request.text));
  if (request.body !== undefined) findings.push(...inspectPayload(request.body));
  if (request.args !== undefined) findings.push(...inspectPayload(request.args));
  for (const part of PARTS) {
    const value = request[part];
    if (value !== undefined) findings.push(...partFindings(part, inspectJson(value)));
  }
  return findings;
}

/** A payload that is JSON (objects, arrays) or text (a string body). */
function inspectPayload(value: unknown): Finding[] {
  return typeof value === 'string' ? inspectText(value) : inspectJson(value);
}
