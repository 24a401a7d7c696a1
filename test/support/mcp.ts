// What the MCP end-to-end tests share: a target service on loopback, the MCP SDK's own client on a
// gateway path with a bearer token, and the text of a tool result.
import type { Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** Starts `server` on 127.0.0.1, port 0; resolves with its base URL (no trailing slash). */
export function listenLoopback(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
}

/** An MCP session at `url` (a gateway's /mcp or /mcp/<connection>) as the bearer of `token`; the caller closes the client. */
export async function mcpConnect(url: string, token: string, options: { name?: string; headers?: Record<string, string> } = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}`, ...options.headers } } });
  const client = new Client({ name: options.name ?? 'test-client', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** The text parts of a tool result (or any answer with `content`), joined by newlines. */
export function textOf(result: object): string {
  return (((result as { content?: unknown }).content ?? []) as Array<{ type: string; text?: string }>).map((c) => c.text ?? '').join('\n');
}
