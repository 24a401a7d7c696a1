// @modelcontextprotocol/server-everything (the MCP project's own test server, pinned in
// package.json) as the upstream of an `mcp` connection, used end to end with the SDK's Client:
// client ─► gateway /mcp/everything (bearer token) ─► firewall ─► tunnel ─► a real agent
// process, which starts the server over stdio (its mcp.commands allow Node) ─► back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import type { Running } from '../../support/process.ts';

const NODE = process.execPath;
const EVERYTHING = fileURLToPath(new URL('../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));

let t: TestGateway;
let agent: Running;
let client: Client;

before(async () => {
  t = await startTestGateway();
  agent = await startTestAgent(t, 'edge', { allow: [], config: [`mcp: { commands: ['${NODE}'] }`] });
  const created = await t.call('POST', '/api/v1/connections', await t.token('alice', ['admins']), {
    name: 'everything', kind: 'mcp', agent: 'edge', target: { command: [NODE, EVERYTHING, 'stdio'] }, groups: ['*'],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  client = new Client({ name: 'airlock-everything-test', version: '1.0.0' });
  const token = await t.token('bob', ['developers']);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/everything`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
});

after(async () => {
  await client?.close();
  await agent?.stop('SIGTERM');
  await t?.close();
});

function text(result: CallToolResult): string {
  const first = result.content[0];
  assert.equal(first?.type, 'text', JSON.stringify(result));
  return first.text;
}

test('the session is airlock\'s, in front of server-everything', () => {
  assert.equal(client.getServerVersion()?.name, 'airlock');
  assert.ok(client.getServerCapabilities()?.tools, 'tools');
});

test('tools/list shows server-everything\'s tools, with the optional _justification argument added', async () => {
  const { tools } = await client.listTools();
  const names = tools.map((tool) => tool.name);
  for (const name of ['echo', 'get-sum', 'get-env', 'trigger-long-running-operation']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  const echo = tools.find((tool) => tool.name === 'echo')!;
  assert.equal(echo.description, 'Echoes back the input string');
  assert.deepEqual(Object.keys(echo.inputSchema.properties ?? {}).sort(), ['_justification', 'message']);
  assert.deepEqual(echo.inputSchema.required, ['message']);
});

test('tools/call reaches server-everything and answers', async () => {
  const echoed = await client.callTool({ name: 'echo', arguments: { message: 'through airlock and stdio' } }) as CallToolResult;
  assert.equal(echoed.isError, undefined);
  assert.equal(text(echoed), 'Echo: through airlock and stdio');
  const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40, _justification: 'checking the arithmetic' } }) as CallToolResult;
  assert.equal(text(sum), 'The sum of 2 and 40 is 42.');
});

test('arguments outside echo\'s schema are refused by the firewall, not sent', async () => {
  const refused = await client.callTool({ name: 'echo', arguments: { message: 'hi', shell: 'rm -rf /' } }) as CallToolResult;
  assert.equal(refused.isError, true);
  assert.match(text(refused), /^airlock: The arguments do not match the schema of echo: .*shell/);
});

test('prompts and resources of server-everything come through', async () => {
  const { prompts } = await client.listPrompts();
  assert.ok(prompts.some((p) => p.name === 'simple-prompt'), prompts.map((p) => p.name).join(', '));
  const prompt = await client.getPrompt({ name: 'simple-prompt' });
  assert.deepEqual(prompt.messages[0]?.content, { type: 'text', text: 'This is a simple prompt without arguments.' });
  const { resources } = await client.listResources();
  assert.ok(resources.length > 0, 'server-everything lists resources');
  const first = resources[0]!;
  const read = await client.readResource({ uri: first.uri });
  assert.equal(read.contents[0]?.uri, first.uri);
});
