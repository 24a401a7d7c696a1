// Bench servers for the mcp scenario, each in its own worker:
//   'upstream'  an MCP server (the SDK's McpServer, Streamable HTTP, stateful) with an `echo`
//               tool answering a small JSON record
//   'gateway'   a real gateway with a real agent in the same worker (as in servers/proxy.ts);
//               connection `bench` is the upstream as kind mcp; an API key authenticates
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { startBenchGateway } from '../lib/gateway.ts';

async function upstream(): Promise<{ port: number; close(): Promise<void> }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const record = { order: 7, sku: 'SKU-000007', qty: 3, note: 'lorem ipsum dolor sit amet' };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (!transport && isInitializeRequest(body)) {
      const server = new McpServer({ name: 'bench-upstream', version: '1.0.0' });
      server.registerTool('echo', { description: 'Echo the text back with an order record.', inputSchema: { text: z.string() } },
        async ({ text }) => ({ content: [{ type: 'text', text: JSON.stringify({ text, record }) }] }));
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), enableJsonResponse: true, onsessioninitialized: (id) => { transports.set(id, created); } });
      transport = created;
      await server.connect(transport);
    }
    if (!transport) return void res.writeHead(404).end();
    await transport.handleRequest(req, res, body);
  };
  const server = createServer((req, res) => { handle(req, res).catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); }); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

export default async function start(arg: { kind: 'upstream' } | { kind: 'gateway'; upstream: string }): Promise<{ port: number; info?: unknown; close(): Promise<void> }> {
  if (arg.kind === 'upstream') return upstream();
  const bench = await startBenchGateway({ kind: 'mcp', target: { url: `${arg.upstream}/mcp` } }, [arg.upstream]);
  return { port: bench.port, info: bench.key, close: () => bench.close() };
}
