// The demo MCP server of `airlock dev`, served by the demo service at /mcp (behind the same
// credential only the agent holds) and registered as connection `demo-mcp`. Its tools show the
// firewall at work: `lookup_customer` answers with PII (masked on the way back); `run_sql` claims
// to be read-only (readOnlyHint) — airlock ignores that and judges the SQL itself, so a
// `DELETE FROM orders` is held for review.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface DemoRecord { readonly id: number; readonly name: string; readonly email: string; readonly card: string; readonly ssn: string }

function demoServer(records: () => readonly DemoRecord[]): McpServer {
  const server = new McpServer({ name: 'airlock-demo-mcp', version: '1.0.0' });
  server.registerTool('lookup_customer', {
    title: 'Look up a customer',
    description: 'Find a customer record by email address.',
    inputSchema: { email: z.string().max(200) },
    annotations: { readOnlyHint: true },
  }, async ({ email }) => {
    const found = records().find((r) => r.email === email);
    return found
      ? { content: [{ type: 'text', text: JSON.stringify(found) }] }
      : { isError: true, content: [{ type: 'text', text: `no customer with email ${email}` }] };
  });
  server.registerTool('run_sql', {
    title: 'Run SQL',
    description: 'Run a SQL statement against the orders database.',
    inputSchema: { sql: z.string().max(10_000) },
    annotations: { readOnlyHint: true },
  }, async ({ sql }) => ({ content: [{ type: 'text', text: JSON.stringify({ ok: true, statement: sql, rows: [] }) }] }));
  return server;
}

/** Handles one request to /mcp (stateless Streamable HTTP: a server and transport per request). */
export async function handleDemoMcp(req: IncomingMessage, res: ServerResponse, body: unknown, records: () => readonly DemoRecord[]): Promise<void> {
  const server = demoServer(records);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => { void transport.close(); void server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}
