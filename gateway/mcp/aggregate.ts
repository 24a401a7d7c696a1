// /mcp: every connection the caller may use, in one MCP session. Each connection keeps its own
// source and firewall; its tools appear as `<connection>__<tool>` (connection names are DNS
// labels, so the first `__` splits a name unambiguously; a duplicate is refused and logged).
// Above mcp.aggregateToolLimit tools, only search_tools, describe_tool and call_tool are listed,
// so a large catalogue does not flood the model's context: it searches, reads one schema, calls.
// The set of connections is fixed when the session opens; each firewall re-checks on every use
// that the caller may still use its connection (a revoked one's tools drop out of the list, and
// calling one is refused GW_ACCESS_REVOKED). A connection granted later needs a new session.
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../../lib/log.ts';
import { GatewayError } from '../errors.ts';
import { CALL_TOOL, DESCRIBE_TOOL, META_TOOLS, SEARCH_MAX_LIMIT, SEARCH_TOOLS, buildSearchIndex, searchTools, type SearchIndex } from './search.ts';
import type { CallerContext, Firewall } from './firewall.ts';

export const SEPARATOR = '__';

export interface Catalog {
  listTools(signal?: AbortSignal): Promise<Tool[]>;
  callTool(name: string, args: unknown, justification: string | undefined, ctx: CallerContext): Promise<CallToolResult>;
}

export class AggregateCatalog implements Catalog {
  readonly #firewalls: ReadonlyMap<string, Firewall>;
  readonly #limit: number;
  readonly #logger: Logger;
  #all: Tool[] = [];
  #index: SearchIndex | undefined;

  /** `firewalls`: connection name → its firewall; `limit`: above it, only the meta-tools are listed. */
  constructor(firewalls: ReadonlyMap<string, Firewall>, limit: number, logger: Logger) {
    this.#firewalls = firewalls;
    this.#limit = limit;
    this.#logger = logger;
  }

  async listTools(signal?: AbortSignal): Promise<Tool[]> {
    const all: Tool[] = [];
    const seen = new Set<string>();
    const collided = new Set<string>();
    for (const [connection, firewall] of this.#firewalls) {
      let tools: Tool[];
      try {
        tools = await firewall.listTools(signal);
      } catch (err) {
        // A connection no longer the caller's (re-checked by its firewall on every use) is left out quietly.
        if (err instanceof GatewayError && (err.code === 'GW_ACCESS_REVOKED' || err.code === 'GW_TOKEN_EXPIRED')) continue;
        // One unreachable upstream must not hide every other connection's tools.
        this.#logger.warn('an mcp connection could not list its tools', { connection, err });
        continue;
      }
      for (const tool of tools) {
        const name = `${connection}${SEPARATOR}${tool.name}`;
        if (seen.has(name)) collided.add(name);
        seen.add(name);
        all.push({ ...tool, name });
      }
    }
    if (collided.size > 0) this.#logger.warn('mcp tool names collide in the aggregate; both are refused', { tools: [...collided] });
    this.#all = all.filter((t) => !collided.has(t.name));
    this.#index = undefined;
    return this.#all.length > this.#limit ? [...META_TOOLS] : this.#all;
  }

  async callTool(name: string, args: unknown, justification: string | undefined, ctx: CallerContext): Promise<CallToolResult> {
    if (this.#all.length === 0) await this.listTools(ctx.signal);
    const a = (args ?? {}) as Record<string, unknown>;
    if (this.#all.length > this.#limit || name === SEARCH_TOOLS || name === DESCRIBE_TOOL || name === CALL_TOOL) {
      if (name === SEARCH_TOOLS) {
        const query = typeof a.query === 'string' ? a.query : '';
        const limit = Number.isInteger(a.limit) ? Math.min(SEARCH_MAX_LIMIT, Math.max(1, a.limit as number)) : 10;
        this.#index ??= buildSearchIndex(this.#all);
        const hits = searchTools(this.#index, query, limit).map((h) => ({ name: h.tool.name, description: h.tool.description ?? '' }));
        return { content: [{ type: 'text', text: JSON.stringify({ tools: hits }) }], structuredContent: { tools: hits } };
      }
      if (name === DESCRIBE_TOOL) {
        const tool = this.#all.find((t) => t.name === a.name);
        if (!tool) return notFound(String(a.name));
        return { content: [{ type: 'text', text: JSON.stringify(tool) }] };
      }
      if (name === CALL_TOOL) return this.#route(String(a.name ?? ''), a.arguments ?? {}, justification, ctx);
    }
    return this.#route(name, args, justification, ctx);
  }

  #route(name: string, args: unknown, justification: string | undefined, ctx: CallerContext): Promise<CallToolResult> {
    const at = name.indexOf(SEPARATOR);
    const firewall = at > 0 ? this.#firewalls.get(name.slice(0, at)) : undefined;
    if (!firewall || !this.#all.some((t) => t.name === name)) return Promise.resolve(notFound(name));
    return firewall.callTool(name.slice(at + SEPARATOR.length), args, justification, ctx);
  }
}

function notFound(name: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `airlock: there is no tool ${JSON.stringify(name.slice(0, 200))}; use search_tools or tools/list for the names (<connection>${SEPARATOR}<tool>).` }] };
}
