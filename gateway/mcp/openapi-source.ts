// The `http` connection kind as MCP tools: one tool per operation of the connection's OpenAPI
// document (openapi.ts), each call sent over the HTTP data path's tunnel exchange to the agent,
// which adds the target's credential. The answer is shaped (per-tool `jmespath`) and capped
// (`maxToolResultBytes`) with a visible marker; an HTTP error status becomes an error result the
// model can read.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.ts';
import { AGENT_ERRORS, exchange, readLimited } from '../agents/exchange.ts';
import { parseJson } from '../../lib/json.ts';
import { toolsFromOpenApi, buildRequest, type OpenApiTool } from './openapi.ts';
import { compileShape, shapeJson, truncateUtf8, type Shape } from './shape.ts';
import type { SourceFactory } from './source.ts';
import { agentPool } from '../connections/schema.ts';

/** Tools made from one version of a connection's document, shared by its sessions. */
const cache = new Map<string, Promise<OpenApiTool[]>>();
const MAX_CACHED = 200;

export const openapiSource: SourceFactory = async (ctx) => {
  const { connection, identity } = ctx;
  if (connection.kind !== 'http' || connection.openapi === undefined) {
    throw new GatewayError('GW_BAD_REQUEST', `Connection ${connection.name} has no OpenAPI document, so it offers no MCP tools; an admin can add one (\`airlock connections update ${connection.name} --openapi FILE\`).`);
  }
  const key = `${connection.name}@${connection.version}`;
  let made = cache.get(key);
  if (!made) {
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    made = toolsFromOpenApi(connection.openapi, { onSkip: (s) => ctx.logger.info('openapi operation skipped', { ...s }) });
    cache.set(key, made);
    made.catch(() => cache.delete(key));
  }
  const tools = await made;
  const byName = new Map(tools.map((t) => [t.tool.name, t]));
  const shapes = new Map<string, Shape>();
  for (const [tool, spec] of Object.entries(connection.tools ?? {})) shapes.set(tool, compileShape(spec.jmespath, tool));
  const target = new URL(connection.target as string);
  const base = target.pathname.replace(/\/$/, '');
  const agents = ctx.agents ?? { open: ctx.openStream };

  return {
    listTools: async () => tools.map((t) => t.tool),
    async callTool(name, args, call): Promise<CallToolResult> {
      const t = byName.get(name);
      if (!t) return { isError: true, content: [{ type: 'text', text: `airlock: no operation ${name} in ${connection.name}'s OpenAPI document.` }] };
      const out = buildRequest(t.binding, args);
      const body = out.body ?? Buffer.alloc(0);
      const headers: Record<string, string> = {
        ...out.headers, host: target.host, 'accept-encoding': 'identity', 'x-request-id': call.requestId,
        ...(out.contentType ? { 'content-type': out.contentType } : {}),
        ...(body.length > 0 || ['POST', 'PUT', 'PATCH'].includes(out.method) ? { 'content-length': String(body.length) } : {}),
      };
      const answer = await exchange(agents, agentPool(connection), { kind: 'http', connection: connection.name, target: target.origin, caller: identity.sub }, { method: out.method, path: `${base}${out.path}`, headers, body }, connection.limits.timeouts);
      const agentError = answer.headers['x-airlock-agent-error'];
      if (typeof agentError === 'string') {
        answer.resume();
        const mapped = AGENT_ERRORS[agentError] ?? { code: 'GW_TARGET_UNREACHABLE' as const, what: 'The agent failed' };
        throw new GatewayError(mapped.code, `${mapped.what} for connection ${connection.name} (${agentError}).`);
      }
      const raw = await readLimited(answer, connection.limits.maxResponseBytes, 'GW_RESPONSE_TOO_LARGE', `The answer to ${name} is larger than connection ${connection.name} returns (${connection.limits.maxResponseBytes} bytes).`);
      const status = answer.statusCode ?? 502;
      const text = raw.toString('utf8');
      let json: unknown;
      if (/json/i.test(String(answer.headers['content-type'] ?? ''))) {
        try { json = parseJson(text); } catch { json = undefined; }
      }
      const shape = shapes.get(name);
      const shaped = json === undefined ? truncateUtf8(text, connection.maxToolResultBytes) : shapeJson(json, { ...(shape ? { shape } : {}), maxBytes: connection.maxToolResultBytes });
      const prefix = status >= 400 ? `HTTP ${status} from ${connection.name}: ` : '';
      return {
        ...(status >= 400 ? { isError: true } : {}),
        content: [{ type: 'text', text: `${prefix}${shaped.text}` }, ...('shapeError' in shaped && shaped.shapeError ? [{ type: 'text' as const, text: `airlock: ${shaped.shapeError}` }] : [])],
      };
    },
    close: async () => {},
  };
};
