// Bench servers for the mcp scenario, each in its own worker:
//   'upstream'  an MCP server (the SDK's McpServer, Streamable HTTP, stateful) with an `echo`
//               tool answering a small JSON record
//   'gateway'   a real gateway with a real agent in the same worker (as in servers/proxy.ts);
//               connection `bench` is the upstream as kind mcp; an API key authenticates
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { startAgent } from '../../../agent/run.ts';
import { issueEnrollment } from '../../../gateway/agents/index.ts';
import { generateApiKey } from '../../../gateway/authn/apikeys.ts';
import { startGateway } from '../../../gateway/main.ts';
import { silentLogger } from '../../../lib/log.ts';

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
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-mcp-'));
  const gw = await startGateway({
    env: {}, cwd: dir, logger: silentLogger,
    overrides: { server: { port: 0, publicUrl: 'http://127.0.0.1' }, store: { url: `sqlite:${join(dir, 'gw.db')}` }, log: { level: 'error' }, agents: { pingInterval: 0 }, policy: { maskKey: 'YmVuY2gtbWFzay1rZXktYmVuY2gtbWFzay1rZXk=' } },
  });
  const key = generateApiKey();
  await gw.store.apiKeys.create({ id: key.id, name: 'bench', hash: key.hash, roles: ['user'], connections: ['bench'], createdBy: 'bench' });
  await gw.connections.create({ name: 'bench', kind: 'mcp', agent: 'bench', target: { url: `${arg.upstream}/mcp` }, groups: ['*'] });
  const { token } = await issueEnrollment(gw.store, 'bench', { ttlSeconds: 60 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const agent = await startAgent({
    env: {}, cwd: dir, logger: silentLogger, enrollTokenFile: tokenFile, enrollGateway: gw.url,
    overrides: { dataDir: join(dir, 'agent'), health: { port: 0 }, tunnel: { pingInterval: 0 }, targets: { allow: [arg.upstream] }, gateway: { urls: [gw.url] } },
  });
  await gw.agents.waitOnline('bench', 10_000);
  return {
    port: Number(new URL(gw.url).port),
    info: key.key,
    close: async () => {
      await agent.stop();
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
