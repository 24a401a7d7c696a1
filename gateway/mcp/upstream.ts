// The tool source of an `mcp` connection: the gateway as an MCP client (the SDK's Client) of the
// upstream MCP server, which only the connection's agent can reach, so every byte goes through
// the tunnel:
//
//   {url}      Streamable HTTP (falling back to the older HTTP+SSE transport when the server
//              answers the first POST with a 4xx, as the spec's backwards-compatibility section
//              says), each HTTP exchange on its own `http` stream (tunnel-fetch.ts): the agent's
//              HTTP forwarder adds the connection's credential; the caller's token never leaves.
//   {command}  a stdio server the agent starts (agent/mcp-stdio.ts, only commands on its
//              allowlist), over one `mcp-stdio` stream (stream-transport.ts).
//
// One source is one upstream session for one downstream session. Calls pass the caller's
// cancellation (the SDK sends notifications/cancelled) and relay progress; the upstream's
// list_changed and log notifications reach onNotification's listeners. Requests time out after
// limits.timeouts.idleMs without an answer or progress; messages are bounded by
// limits.maxResponseBytes. Failures reaching or starting the upstream are GatewayErrors; a
// JSON-RPC error the upstream answers stays an McpError with its code.
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ErrorCode, LoggingMessageNotificationSchema, McpError, PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema,
  type CallToolResult, type CompleteRequest, type CompleteResult, type GetPromptResult, type Prompt, type ReadResourceResult, type Resource, type ResourceTemplate, type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { agentPool, type McpTarget } from '../connections/schema.ts';
import { GatewayError } from '../errors.ts';
import { TunnelError, tunnelHttpPools } from '../tunnel/index.ts';
import { VERSION } from '../version.ts';
import type { CallContext, ListChanged, SourceContext, SourceFactory, ToolSource } from './source.ts';
import { StreamTransport } from './stream-transport.ts';
import { tunnelFetch } from './tunnel-fetch.ts';

/** Pages of a list (tools, prompts, resources) read before the upstream is deemed to loop. */
const MAX_PAGES = 100;
/** A call that keeps reporting progress still ends after this long (or idleMs, if longer), in ms. */
const MAX_CALL_MS = 30 * 60_000;
/** How long close() waits for the upstream to end its HTTP session (DELETE), in ms. */
const TERMINATE_MS = 2000;

type Listener = Parameters<NonNullable<ToolSource['onNotification']>>[0];
type Notification = Parameters<Listener>[0];

interface Session {
  readonly client: Client;
  /** Why the stdio stream ended, when it did (the agent's reset). */
  readonly failure: () => Error | undefined;
  /** Ends the upstream's HTTP session (DELETE); stdio needs none. */
  readonly terminate?: () => Promise<void>;
}

/** The tool source of an `mcp` connection; throws a GatewayError when the upstream cannot be reached or initialised. */
export const upstreamSource: SourceFactory = async (ctx) => {
  if (ctx.connection.kind !== 'mcp') throw new TypeError(`upstreamSource serves mcp connections, not ${ctx.connection.kind}`);
  const source = new UpstreamSource(ctx);
  await source.connect(ctx.connection.target as McpTarget);
  return source;
};

class UpstreamSource implements ToolSource {
  readonly #ctx: SourceContext;
  readonly #listeners = new Set<Listener>();
  #session: Session | undefined;
  #closing: Promise<void> | undefined;

  constructor(ctx: SourceContext) {
    this.#ctx = ctx;
  }

  async connect(target: McpTarget): Promise<void> {
    this.#session = 'url' in target ? await this.#connectHttp(new URL(target.url)) : await this.#connectStdio(target);
    const { client } = this.#session;
    const log = this.#ctx.logger;
    client.onclose = () => {
      if (this.#closing === undefined) log.warn('the upstream MCP session ended', { connection: this.#ctx.connection.name, reason: this.#session?.failure()?.message });
    };
    log.info('upstream MCP session opened', { connection: this.#ctx.connection.name, server: client.getServerVersion()?.name, version: client.getServerVersion()?.version });
  }

  async #connectHttp(url: URL): Promise<Session> {
    const { connection, identity } = this.#ctx;
    let failure: GatewayError | undefined;
    let client: Client | undefined;
    const header = { kind: 'http', connection: connection.name, target: url.origin, caller: identity.sub };
    const fetch = tunnelFetch({
      target: url,
      open: (h) => this.#ctx.openStream(agentPool(connection), h),
      header,
      // Kept-alive tunnel streams, as the HTTP data path uses: one per exchange costs a stream
      // open and an HTTP connection setup at the agent on every JSON-RPC message.
      ...(this.#ctx.agents ? { pool: tunnelHttpPools(this.#ctx.agents).agentFor(agentPool(connection), header) } : {}),
      connection: connection.name,
      firstByteMs: connection.limits.timeouts.firstByteMs,
      idleMs: connection.limits.timeouts.idleMs,
      maxResponseBytes: connection.limits.maxResponseBytes,
      onOversize: (err) => {
        failure ??= err;
        void client?.close(); // its requests fail now with this error, rather than at their timeout
      },
    });
    // No authProvider: the SDK sends no Authorization header; the agent adds the upstream's own.
    const streamable = new StreamableHTTPClientTransport(url, { fetch });
    try {
      client = await this.#initialize(streamable, (c) => { client = c; });
      return { client, failure: () => failure, terminate: () => streamable.terminateSession() };
    } catch (err) {
      const status = err instanceof StreamableHTTPError ? err.code ?? 0 : 0;
      if (status < 400 || status > 499 || status === 401 || status === 403) throw this.#error(err, 'initialise', failure);
      this.#ctx.logger.info('upstream MCP server refused Streamable HTTP; trying HTTP+SSE', { connection: connection.name, status });
    }
    try {
      client = await this.#initialize(new SSEClientTransport(url, { fetch }), (c) => { client = c; });
      return { client, failure: () => failure };
    } catch (err) {
      throw this.#error(err, 'initialise', failure);
    }
  }

  async #connectStdio(target: Extract<McpTarget, { command: readonly string[] }>): Promise<Session> {
    const { connection, identity } = this.#ctx;
    const header = {
      kind: 'mcp-stdio', connection: connection.name, caller: identity.sub, requestId: randomUUID(),
      command: target.command, ...(target.cwd === undefined ? {} : { cwd: target.cwd }), ...(target.env === undefined ? {} : { env: target.env }),
    };
    const transport = new StreamTransport({ open: () => this.#ctx.openStream(agentPool(connection), header), maxMessageBytes: connection.limits.maxResponseBytes, connection: connection.name });
    const failure = () => transport.failure;
    try {
      return { client: await this.#initialize(transport), failure };
    } catch (err) {
      throw this.#error(err, 'initialise', failure());
    }
  }

  /** A connected, initialised client over `transport`; `created` learns the client before the handshake. */
  async #initialize(transport: StreamableHTTPClientTransport | SSEClientTransport | StreamTransport, created?: (client: Client) => void): Promise<Client> {
    // Capabilities: what the caller's client can answer and the gateway relays (sampling,
    // elicitation — through the firewall); the rest (roots) is refused as an unknown method.
    const relay = this.#ctx.relay;
    const client = new Client({ name: 'airlock-gateway', version: VERSION }, {
      capabilities: { ...(relay?.createMessage ? { sampling: {} } : {}), ...(relay?.elicit ? { elicitation: { form: {} } } : {}) },
    });
    if (relay?.createMessage) client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => relay.createMessage!(req.params, extra.signal));
    if (relay?.elicit) client.setRequestHandler(ElicitRequestSchema, (req, extra) => relay.elicit!(req.params, extra.signal));
    const emit = (n: Notification) => this.#emit(n);
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => emit({ kind: 'list_changed', what: 'tools' }));
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => emit({ kind: 'list_changed', what: 'prompts' }));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => emit({ kind: 'list_changed', what: 'resources' }));
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => emit({ kind: 'resource_updated', uri: n.params.uri }));
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => emit({ kind: 'log', level: n.params.level, data: n.params.data, ...(n.params.logger === undefined ? {} : { logger: n.params.logger }) }));
    created?.(client);
    await client.connect(transport, { timeout: this.#ctx.connection.limits.timeouts.firstByteMs });
    return client;
  }

  #emit(n: Notification): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(n);
      } catch (err) {
        this.#ctx.logger.error('an upstream notification listener failed', { connection: this.#ctx.connection.name, err });
      }
    }
  }

  /** A failure of the upstream (not one of its JSON-RPC answers) as a GatewayError the caller can act on. */
  #error(err: unknown, doing: 'initialise' | 'use', failure: Error | undefined = this.#session?.failure()): Error {
    const name = this.#ctx.connection.name;
    const agent = this.#ctx.connection.agent;
    if (failure instanceof GatewayError) return failure;
    if (failure instanceof TunnelError) return fromReset(failure, name, agent);
    if (err instanceof GatewayError) return err;
    if (err instanceof TunnelError) return fromReset(err, name, agent);
    this.#ctx.logger.warn('upstream MCP server failed', { connection: name, doing, err });
    if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
      return new GatewayError('GW_TARGET_TIMEOUT', `The upstream MCP server of connection ${name} did not answer in time (limits.timeouts); retry, or raise the connection's timeouts.`);
    }
    const what = err instanceof StreamableHTTPError || err instanceof SseError ? `it answered HTTP ${err.code ?? 'with an error'}`
      : err instanceof McpError && err.code === ErrorCode.ConnectionClosed ? 'it closed the session'
        : err instanceof McpError ? `it answered MCP error ${err.code}`
          : 'it did not follow the MCP protocol, or the session is closed';
    return new GatewayError('GW_MCP_UPSTREAM_FAILED', doing === 'initialise'
      ? `The upstream MCP server of connection ${name} could not be initialised: ${what}. Check the server and the agent's log.`
      : `The upstream MCP server of connection ${name} failed: ${what}. Retry in a new session; the gateway's log has the detail.`, { cause: err });
  }

  /** Runs one request; the caller's cancellation and the upstream's own JSON-RPC errors pass as they are. */
  async #request<T>(run: (client: Client, options: RequestOptions) => Promise<T>, signal: AbortSignal | undefined, onProgress?: CallContext['onProgress']): Promise<T> {
    const session = this.#session;
    if (session === undefined || this.#closing !== undefined) throw new GatewayError('GW_MCP_UPSTREAM_FAILED', `The upstream MCP session of connection ${this.#ctx.connection.name} is closed.`);
    const idleMs = this.#ctx.connection.limits.timeouts.idleMs;
    const options: RequestOptions = {
      timeout: idleMs,
      // Progress keeps a long call alive (asked for even when the caller did not, for that reason), up to a total.
      resetTimeoutOnProgress: true,
      maxTotalTimeout: Math.max(idleMs, MAX_CALL_MS),
      onprogress: (p) => onProgress?.({ progress: p.progress, total: p.total, message: p.message }),
      ...(signal === undefined ? {} : { signal }),
    };
    try {
      return await run(session.client, options);
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (err instanceof McpError && err.code !== ErrorCode.RequestTimeout && err.code !== ErrorCode.ConnectionClosed) throw err;
      throw this.#error(err, 'use');
    }
  }

  /** Every page of a paginated list, at most MAX_PAGES. */
  async #all<T>(page: (cursor: string | undefined, client: Client, options: RequestOptions) => Promise<{ items: T[]; nextCursor?: string | undefined }>, signal: AbortSignal | undefined): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < MAX_PAGES; n++) {
      const result = await this.#request((client, options) => page(cursor, client, options), signal);
      items.push(...result.items);
      if (result.nextCursor === undefined) return items;
      cursor = result.nextCursor;
    }
    throw new GatewayError('GW_MCP_UPSTREAM_FAILED', `The upstream MCP server of connection ${this.#ctx.connection.name} returned more than ${MAX_PAGES} pages for one list; it seems to loop.`);
  }

  #has(capability: 'prompts' | 'resources' | 'completions'): boolean {
    return this.#session?.client.getServerCapabilities()?.[capability] !== undefined;
  }

  complete(params: CompleteRequest['params'], ctx: CallContext): Promise<CompleteResult> {
    if (!this.#has('completions')) return Promise.resolve({ completion: { values: [] } });
    return this.#request((client, options) => client.complete(params, options), ctx.signal);
  }

  async subscribe(uri: string, ctx: CallContext): Promise<void> {
    if (!this.#session?.client.getServerCapabilities()?.resources?.subscribe) throw new McpError(ErrorCode.MethodNotFound, 'The upstream MCP server does not offer resource subscriptions.');
    await this.#request((client, options) => client.subscribeResource({ uri }, options), ctx.signal);
  }

  async unsubscribe(uri: string, ctx: CallContext): Promise<void> {
    if (!this.#session?.client.getServerCapabilities()?.resources?.subscribe) throw new McpError(ErrorCode.MethodNotFound, 'The upstream MCP server does not offer resource subscriptions.');
    await this.#request((client, options) => client.unsubscribeResource({ uri }, options), ctx.signal);
  }

  listTools(signal?: AbortSignal): Promise<Tool[]> {
    return this.#all(async (cursor, client, options) => {
      const r = await client.listTools(cursor === undefined ? {} : { cursor }, options);
      return { items: r.tools, nextCursor: r.nextCursor };
    }, signal);
  }

  callTool(name: string, args: Record<string, unknown>, ctx: CallContext): Promise<CallToolResult> {
    return this.#request((client, options) => client.callTool({ name, arguments: args }, undefined, options) as Promise<CallToolResult>, ctx.signal, ctx.onProgress);
  }

  async listPrompts(signal?: AbortSignal): Promise<Prompt[]> {
    if (!this.#has('prompts')) return [];
    return this.#all(async (cursor, client, options) => {
      const r = await client.listPrompts(cursor === undefined ? {} : { cursor }, options);
      return { items: r.prompts, nextCursor: r.nextCursor };
    }, signal);
  }

  getPrompt(name: string, args: Record<string, string>, ctx: CallContext): Promise<GetPromptResult> {
    return this.#request((client, options) => client.getPrompt({ name, arguments: args }, options), ctx.signal, ctx.onProgress);
  }

  async listResources(signal?: AbortSignal): Promise<Resource[]> {
    if (!this.#has('resources')) return [];
    return this.#all(async (cursor, client, options) => {
      const r = await client.listResources(cursor === undefined ? {} : { cursor }, options);
      return { items: r.resources, nextCursor: r.nextCursor };
    }, signal);
  }

  async listResourceTemplates(signal?: AbortSignal): Promise<ResourceTemplate[]> {
    if (!this.#has('resources')) return [];
    return this.#all(async (cursor, client, options) => {
      const r = await client.listResourceTemplates(cursor === undefined ? {} : { cursor }, options);
      return { items: r.resourceTemplates, nextCursor: r.nextCursor };
    }, signal);
  }

  readResource(uri: string, ctx: CallContext): Promise<ReadResourceResult> {
    return this.#request((client, options) => client.readResource({ uri }, options), ctx.signal, ctx.onProgress);
  }

  onNotification(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listeners.clear();
      const session = this.#session;
      if (session === undefined) return;
      if (session.terminate !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          session.terminate().catch(() => {}), // a server that cannot end it forgets the session on its own
          new Promise<void>((done) => { timer = setTimeout(done, TERMINATE_MS); }),
        ]);
        clearTimeout(timer);
      }
      await session.client.close().catch(() => {});
    })();
    return this.#closing;
  }
}

const RESET = /\(([A-Z0-9_]+): (.*)\)\.$/s;

/** The agent's reset of the stdio stream (or another tunnel failure) as the caller's error. */
function fromReset(err: TunnelError, connection: string, agent: string): GatewayError {
  const [, code = err.resetCode ?? err.code, said = ''] = RESET.exec(err.message) ?? [];
  const because = said === '' ? code : `${code}: ${said}`;
  if (err.code === 'TUNNEL_HEADER_INVALID') {
    return new GatewayError('GW_MCP_COMMAND_REFUSED', `The stdio command of connection ${connection} (its argv, cwd and env) is larger than the 8 KiB a tunnel stream header carries; shorten it.`, { cause: err });
  }
  switch (err.resetCode) {
    case 'AGENT_MCP_COMMAND_REFUSED':
      return new GatewayError('GW_MCP_COMMAND_REFUSED', `Agent ${agent} refused to start the stdio MCP server of connection ${connection} (${because}); add the command to the agent's mcp.commands, or fix the connection's target.`, { cause: err });
    case 'AGENT_MCP_SPAWN_FAILED':
    case 'AGENT_MCP_EXITED':
    case 'AGENT_MCP_BUSY':
      return new GatewayError('GW_MCP_UPSTREAM_FAILED', `The stdio MCP server of connection ${connection} on agent ${agent} is not available (${because}); the agent's log has the detail.`, { cause: err });
    case 'AGENT_STREAM_KIND_UNKNOWN':
      return new GatewayError('GW_MCP_UPSTREAM_FAILED', `Agent ${agent} cannot run stdio MCP servers (${because}); upgrade the agent.`, { cause: err });
    default:
      return new GatewayError('GW_UPSTREAM_FAILED', `The tunnel to agent ${agent} failed during the MCP session of connection ${connection} (${err.resetCode ?? err.code}); retry.`, { cause: err });
  }
}
