// Where a connection's MCP tools come from, behind one interface the MCP server (server.ts) uses
// for every connection kind:
//
//   mcp        an upstream MCP server reached through the agent (Streamable HTTP, SSE or stdio)
//   http       the connection's OpenAPI document: one tool per operation, called over /proxy's path
//   postgres   built-in query / execute / list_tables / describe_table, run by the agent
//
// A source is opened per downstream MCP session (one caller), so an upstream session never mixes
// callers, and closed with it. The server does everything around the calls — argument validation,
// inspection and policy, reviews, recording, masking of results, pinning — so sources only list
// and call.
import type { CallToolResult, CompleteRequest, CompleteResult, CreateMessageRequest, CreateMessageResult, ElicitRequest, ElicitResult, GetPromptResult, Prompt, ReadResourceResult, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import type { TunnelStream } from '../tunnel/index.ts';
import type { Logger } from '../../lib/log.ts';

/** What every source needs from the gateway. */
export interface SourceContext {
  readonly connection: Connection;
  /** The caller: its `sub` goes to the agent (minted credentials), never its token. */
  readonly identity: Identity;
  /** Opens a stream to `agent` with an open header (`kind` picks the agent's handler). */
  readonly openStream: (agent: string | readonly string[], header: Record<string, unknown>) => TunnelStream;
  /** The same, as the object the HTTP data path pools its kept-alive tunnel streams by. */
  readonly agents?: { open(agent: string | readonly string[], header: Record<string, unknown>): TunnelStream };
  readonly logger: Logger;
  /**
   * Requests the upstream sends its client (sampling, elicitation), relayed to the caller's MCP
   * client through the firewall. Present only for what the caller's client declared it supports;
   * the source declares the same capabilities upstream.
   */
  readonly relay?: UpstreamRelay;
}

export interface UpstreamRelay {
  readonly createMessage?: (params: CreateMessageRequest['params'], signal: AbortSignal) => Promise<CreateMessageResult>;
  readonly elicit?: (params: ElicitRequest['params'], signal: AbortSignal) => Promise<ElicitResult>;
}

/** Per call: cancellation and progress pass through to the upstream. */
export interface CallContext {
  readonly signal: AbortSignal;
  readonly requestId: string;
  /** Progress to relay to the caller (MCP notifications/progress). */
  readonly onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

export type ListChanged = 'tools' | 'prompts' | 'resources';

export interface ToolSource {
  /** The tools exactly as the source defines them (the server pins, filters and decorates them). */
  listTools(signal?: AbortSignal): Promise<Tool[]>;
  /** Calls one tool with validated, inspected arguments; the result is inspected by the server. */
  callTool(name: string, args: Record<string, unknown>, ctx: CallContext): Promise<CallToolResult>;
  listPrompts?(signal?: AbortSignal): Promise<Prompt[]>;
  getPrompt?(name: string, args: Record<string, string>, ctx: CallContext): Promise<GetPromptResult>;
  listResources?(signal?: AbortSignal): Promise<Resource[]>;
  listResourceTemplates?(signal?: AbortSignal): Promise<ResourceTemplate[]>;
  readResource?(uri: string, ctx: CallContext): Promise<ReadResourceResult>;
  /** Argument completion (completion/complete), when the upstream offers it. */
  complete?(params: CompleteRequest['params'], ctx: CallContext): Promise<CompleteResult>;
  /** Resource subscriptions, when the upstream offers them; updates arrive as `resource_updated`. */
  subscribe?(uri: string, ctx: CallContext): Promise<void>;
  unsubscribe?(uri: string, ctx: CallContext): Promise<void>;
  /** Upstream `notifications/<kind>/list_changed`, resource updates and log messages, to relay. Returns an unsubscribe. */
  onNotification?(listener: (n: { kind: 'list_changed'; what: ListChanged } | { kind: 'resource_updated'; uri: string } | { kind: 'log'; level: string; data: unknown; logger?: string }) => void): () => void;
  /** Ends the upstream session (idempotent). */
  close(): Promise<void>;
}

/** Opens the source for one downstream session. Throws a GatewayError with a clear code when it cannot. */
export type SourceFactory = (ctx: SourceContext) => Promise<ToolSource>;
