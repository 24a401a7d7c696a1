// A reference MCP server for the conformance suite (@modelcontextprotocol/conformance, server
// scenarios): the SDK's McpServer over Streamable HTTP on 127.0.0.1 (stateful: one McpServer and
// transport per session), with the tools, resources, prompts, completion, logging and
// subscriptions the scenarios call, under the names and with the content they check. The SDK's
// own DNS-rebinding protection is on (Host and Origin must name this server).
//
// Tools: test_simple_text, test_image_content, test_audio_content, test_embedded_resource,
// test_multiple_content_types, test_tool_with_logging, test_tool_with_progress,
// test_error_handling, test_sampling {prompt}, test_elicitation {message},
// test_elicitation_sep1034_defaults, test_elicitation_sep1330_enums.
// Resources: test://static-text, test://static-binary, test://watched-resource, template
// test://template/{id}/data. Prompts: test_simple_prompt, test_prompt_with_arguments {arg1, arg2}
// (arg1 completes), test_prompt_with_embedded_resource {resourceUri}, test_prompt_with_image.
// Not served: what only the suite's pending scenarios use (json_schema_2020_12_tool for
// json-schema-2020-12, test_reconnection and an event store for server-sse-polling).
// `extend` registers more on each session's server (tests that need a hostile upstream add
// tools, resources and prompts that leak, without changing what the conformance suite checks).
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CreateMessageResultSchema, ElicitResultSchema, SetLevelRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema,
  type ElicitRequest, type LoggingLevel, type ServerNotification, type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { z } from 'zod';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ReferenceServer {
  /** The MCP endpoint: http://127.0.0.1:PORT/mcp */
  readonly url: string;
  /** http://127.0.0.1:PORT (for an agent's targets.allow). */
  readonly base: string;
  /** Sessions initialised so far. */
  sessions(): number;
  close(): Promise<void>;
}

/** A 1×1 red PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
/** A WAV header with two bytes of silence. */
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
const LEVELS: readonly LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
/** Largest request body read, in bytes. */
const MAX_BODY = 1024 * 1024;

export interface ReferenceOptions {
  /** Called on each session's server after the reference tools, resources and prompts are registered. */
  readonly extend?: (server: McpServer) => void;
}

/** One session's server. `level` is the session's logging level (logging/setLevel); messages below it are not sent. */
function build(extend?: ReferenceOptions['extend']): McpServer {
  const server = new McpServer({ name: 'airlock-reference-server', version: '1.0.0' }, {
    capabilities: { logging: {}, resources: { subscribe: true, listChanged: true }, tools: { listChanged: true }, prompts: { listChanged: true } },
  });
  let level: LoggingLevel = 'info';
  const subscriptions = new Set<string>();
  const log = async (extra: Extra, at: LoggingLevel, data: string) => {
    if (LEVELS.indexOf(at) < LEVELS.indexOf(level)) return;
    await extra.sendNotification({ method: 'notifications/message', params: { level: at, logger: 'reference', data } });
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });

  server.server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    level = req.params.level;
    return {};
  });
  server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });

  server.registerTool('test_simple_text', { description: 'Returns one text item.' }, async () => text('This is a simple text response for testing.'));
  server.registerTool('test_image_content', { description: 'Returns one PNG image.' }, async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }));
  server.registerTool('test_audio_content', { description: 'Returns one WAV clip.' }, async () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }));
  server.registerTool('test_embedded_resource', { description: 'Returns an embedded text resource.' }, async () => ({
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
  }));
  server.registerTool('test_multiple_content_types', { description: 'Returns text, an image and a resource.' }, async () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
    ],
  }));
  server.registerTool('test_tool_with_logging', { description: 'Sends three log messages while it runs.', inputSchema: {} }, async (_args, extra) => {
    await log(extra, 'info', 'Tool execution started');
    await sleep(50);
    await log(extra, 'info', 'Tool processing data');
    await sleep(50);
    await log(extra, 'info', 'Tool execution completed');
    return text('Tool with logging executed successfully');
  });
  server.registerTool('test_tool_with_progress', { description: 'Reports progress 0, 50 and 100 of 100.', inputSchema: {} }, async (_args, extra) => {
    const token = extra._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100, message: `Completed step ${progress} of 100` } });
      if (progress < 100) await sleep(50);
    }
    return text(String(token ?? 'no progress token'));
  });
  server.registerTool('test_error_handling', { description: 'Always fails.' }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  server.registerTool('test_sampling', { description: 'Asks the client for an LLM completion.', inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
    const result = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 } }, CreateMessageResultSchema);
    const content = Array.isArray(result.content) ? result.content[0] : result.content;
    return text(`LLM response: ${content?.type === 'text' ? content.text : `(${content?.type})`}`);
  });
  const elicit = async (extra: Extra, params: ElicitRequest['params']) => {
    const result = await extra.sendRequest({ method: 'elicitation/create', params }, ElicitResultSchema);
    return text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
  };
  server.registerTool('test_elicitation', { description: 'Asks the user for input.', inputSchema: { message: z.string() } }, async ({ message }, extra) => elicit(extra, {
    message, requestedSchema: { type: 'object', properties: { response: { type: 'string', description: 'The answer' } }, required: ['response'] },
  }));
  server.registerTool('test_elicitation_sep1034_defaults', { description: 'Asks for input with a default for every primitive type (SEP-1034).', inputSchema: {} }, async (_args, extra) => elicit(extra, {
    message: 'Please review and update the form fields with defaults',
    requestedSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'User name', default: 'John Doe' },
        age: { type: 'integer', description: 'User age', default: 30 },
        score: { type: 'number', description: 'User score', default: 95.5 },
        status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', description: 'Verification status', default: true },
      },
    },
  }));
  server.registerTool('test_elicitation_sep1330_enums', { description: 'Asks for input with every enum form (SEP-1330).', inputSchema: {} }, async (_args, extra) => elicit(extra, {
    message: 'Please select options from the enum fields',
    requestedSchema: {
      type: 'object',
      properties: {
        untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
        titledSingle: { type: 'string', description: 'Select one option with titles', oneOf: [{ const: 'value1', title: 'First Option' }, { const: 'value2', title: 'Second Option' }, { const: 'value3', title: 'Third Option' }] },
        legacyEnum: { type: 'string', description: 'Select one option (legacy)', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
        untitledMulti: { type: 'array', description: 'Select multiple options', minItems: 1, maxItems: 3, items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
        titledMulti: { type: 'array', description: 'Select multiple options with titles', minItems: 1, maxItems: 3, items: { anyOf: [{ const: 'value1', title: 'First Choice' }, { const: 'value2', title: 'Second Choice' }, { const: 'value3', title: 'Third Choice' }] } },
      },
    },
  } as ElicitRequest['params']));
  server.registerResource('static-text', 'test://static-text', { description: 'A static text resource.', mimeType: 'text/plain' }, async () => ({
    contents: [{ uri: 'test://static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
  }));
  server.registerResource('static-binary', 'test://static-binary', { description: 'A static PNG.', mimeType: 'image/png' }, async () => ({
    contents: [{ uri: 'test://static-binary', mimeType: 'image/png', blob: PNG }],
  }));
  server.registerResource('watched-resource', 'test://watched-resource', { description: 'A resource to subscribe to.', mimeType: 'text/plain' }, async () => ({
    contents: [{ uri: 'test://watched-resource', mimeType: 'text/plain', text: `Watched resource content (subscribed: ${subscriptions.has('test://watched-resource')})` }],
  }));
  server.registerResource('template', new ResourceTemplate('test://template/{id}/data', { list: undefined }), { description: 'Data by id.', mimeType: 'application/json' }, async (uri, { id }) => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${String(id)}` }) }],
  }));

  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments.' }, () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
  }));
  server.registerPrompt('test_prompt_with_arguments', {
    description: 'A prompt with two arguments.',
    argsSchema: {
      arg1: completable(z.string().describe('First test argument'), (value) => ['paris', 'park', 'party', 'test-value'].filter((v) => v.startsWith(value))),
      arg2: z.string().describe('Second test argument'),
    },
  }, ({ arg1, arg2 }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
  }));
  server.registerPrompt('test_prompt_with_embedded_resource', { description: 'A prompt that embeds a resource.', argsSchema: { resourceUri: z.string() } }, ({ resourceUri }) => ({
    messages: [
      { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
      { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
    ],
  }));
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image.' }, () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));
  extend?.(server);
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks).toString('utf8');
  return raw === '' ? undefined : JSON.parse(raw);
}

function jsonRpcError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

/** Starts the reference server on 127.0.0.1, port 0. */
export async function startReferenceServer(options: ReferenceOptions = {}): Promise<ReferenceServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  let initialised = 0;
  let port = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') return jsonRpcError(res, 404, 'The MCP endpoint is /mcp.');
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const id = req.headers['mcp-session-id'];
    if (typeof id === 'string') {
      const transport = transports.get(id);
      if (!transport) return jsonRpcError(res, 404, 'Session not found.');
      return transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || (body as { method?: unknown } | undefined)?.method !== 'initialize') return jsonRpcError(res, 400, 'No session: send initialize first.');
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableDnsRebindingProtection: true,
      allowedHosts: hosts,
      allowedOrigins: hosts.map((h) => `http://${h}`),
      onsessioninitialized: (sid) => {
        initialised++;
        transports.set(sid, transport);
      },
    });
    const server = build(options.extend);
    transport.onclose = () => {
      if (transport.sessionId !== undefined) transports.delete(transport.sessionId);
      void server.close();
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    if (transport.sessionId === undefined) await server.close(); // refused (e.g. a foreign Host): no session was made
  };
  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) jsonRpcError(res, 400, `Bad request: ${(err as Error).message}`);
      else res.destroy();
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  port = (http.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/mcp`,
    base,
    sessions: () => initialised,
    async close() {
      await Promise.all([...transports.values()].map((t) => t.close().catch(() => {})));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
