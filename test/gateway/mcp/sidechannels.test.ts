// The MCP side channels end to end: a hostile upstream (the reference server, extended) puts a
// card number, an email and an AWS key in everything it sends besides tool results — progress
// messages, log messages, resource updates, resource and template lists, prompt lists and their
// argument descriptions, completion values, sampling and elicitation requests — and the SDK's own
// client, through a real gateway and a real agent process, must receive them masked; what policy
// refuses (a value hidden between NULs, as UTF-16 text read as UTF-8 carries it) is dropped,
// never relayed. The recording holds the masked form and never a planted value.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CreateMessageRequestSchema, CreateMessageResultSchema, ElicitRequestSchema, ElicitResultSchema, ErrorCode, LoggingMessageNotificationSchema, McpError, ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { startReferenceServer, type ReferenceServer } from '../../support/mcp-reference-server.ts';
import type { Running } from '../../support/process.ts';

const CARD = '4111 1111 1111 1111';
const EMAIL = 'ada.lovelace@example.com';
const AWS = 'AKIAQW3E5R6T7Y2U4I5O';
/** A card number as UTF-16LE text read as UTF-8: a NUL after every character. */
const HIDDEN_CARD = [...'4111111111111111'].join('\u0000');
const PLANTED = [CARD, EMAIL, AWS, '4111111111111111'];
const MASKED = { card: '[CREDIT_CARD …1111]', email: '[EMAIL_ADDRESS]' };

let reference: ReferenceServer;
let t: TestGateway;
let agent: Running;
let bob: string;
let admin: string;

/** What the hostile upstream adds to each session's server. */
function leaky(server: McpServer): void {
  server.registerTool('leak_progress', { description: 'Reports progress with personal data in its messages.', inputSchema: {} }, async (_args, extra) => {
    const token = extra._meta?.progressToken;
    const messages = [`charging card ${CARD}`, `mailing ${EMAIL}`, `hidden ${HIDDEN_CARD}`, 'done'];
    for (const [i, message] of messages.entries()) {
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i + 1, total: messages.length, message } });
    }
    return { content: [{ type: 'text', text: 'progress sent' }] };
  });
  server.registerTool('leak_described', { description: `Deploys with ${AWS}; mails ${EMAIL}`, inputSchema: { to: z.string().describe(`for example ${EMAIL}`) } }, async () => ({ content: [{ type: 'text', text: 'ok' }] }));
  server.registerTool('leak_log', { description: 'Logs personal data and a secret.', inputSchema: {} }, async (_args, extra) => {
    await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'leaky', data: { user: EMAIL, key: AWS } } });
    await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'leaky', data: `hidden ${HIDDEN_CARD}` } });
    await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'leaky', data: 'last log' } });
    await extra.sendNotification({ method: 'notifications/resources/updated', params: { uri: `test://customers/${EMAIL}` } });
    return { content: [{ type: 'text', text: 'logs sent' }] };
  });
  server.registerTool('leak_sampling', { description: 'Asks the client to sample with personal data in the prompt.', inputSchema: {} }, async (_args, extra) => {
    const r = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: `summarise the account of ${EMAIL}` } }], maxTokens: 10 } }, CreateMessageResultSchema);
    return { content: [{ type: 'text', text: `sampled: ${r.content.type === 'text' ? r.content.text : r.content.type}` }] };
  });
  server.registerTool('leak_elicitation', { description: 'Asks the user with a card number in the message.', inputSchema: {} }, async (_args, extra) => {
    const r = await extra.sendRequest({ method: 'elicitation/create', params: { message: `Confirm the charge on ${CARD}`, requestedSchema: { type: 'object', properties: {} } } }, ElicitResultSchema);
    return { content: [{ type: 'text', text: `elicited: ${r.action}` }] };
  });
  server.registerResource('customer-ada', 'test://customers/ada', { title: `Customer ${EMAIL}`, description: `Pays with ${CARD}; deploys with ${AWS}`, mimeType: 'text/plain' }, async () => ({
    contents: [{ uri: 'test://customers/ada', text: 'Ada' }],
  }));
  server.registerResource('by-mail', new ResourceTemplate('test://mail/{address}', { list: undefined }), { description: `Mail such as ${EMAIL}` }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'mail' }],
  }));
  server.registerResource('failing', new ResourceTemplate('test://fail/{id}', { list: undefined }), { description: 'Always fails.' }, async () => {
    throw new McpError(ErrorCode.InvalidParams, `account ${EMAIL} is closed; card ${CARD}`);
  });
  server.registerPrompt('failing_prompt', { description: 'Always fails, hiding a card in its error.' }, () => {
    throw new McpError(ErrorCode.InvalidParams, `hidden ${HIDDEN_CARD}`);
  });
  server.registerPrompt('leaky_prompt', {
    description: `Bills the card ${CARD}`,
    argsSchema: {
      account: completable(z.string().describe(`An account such as ${EMAIL}`), () => [CARD, EMAIL, 'plain']),
    },
  }, ({ account }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `account ${account}` } }] }));
}

before(async () => {
  reference = await startReferenceServer({ extend: leaky });
  t = await startTestGateway();
  admin = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [reference.base] });
  const created = await t.call('POST', '/api/v1/connections', admin, { name: 'leaky', kind: 'mcp', agent: 'edge', target: { url: reference.url }, groups: ['*'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await reference?.close();
});

async function connect(path = '/mcp/leaky', client = new Client({ name: 'sidechannels', version: '1.0.0' })): Promise<Client> {
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.gw.url}${path}`), { requestInit: { headers: { authorization: `Bearer ${bob}` } } }));
  return client;
}

/**
 * Calls `tool` (which logs) until its last log message arrives: log messages travel on the
 * session's standalone event stream, which the client opens after initialize, without waiting.
 */
async function logged(client: Client, tool: string, logs: unknown[]): Promise<void> {
  for (let i = 0; i < 20 && !logs.includes('last log'); i++) {
    const result = await client.callTool({ name: tool, arguments: {} });
    assert.equal(result.isError, undefined, JSON.stringify(result));
    await eventually(() => logs.includes('last log') || undefined, 250, 'the last log message').catch(() => {});
  }
  assert.ok(logs.includes('last log'), 'the log messages arrived');
}

function assertClean(what: unknown, label: string): void {
  const text = JSON.stringify(what);
  for (const planted of PLANTED) assert.ok(!text.includes(planted), `${label} carries ${planted}: ${text}`);
  assert.ok(!text.includes('\\u0000'), `${label} carries a NUL: ${text}`);
}

/** Every recorded event of the sessions on `connection`, as JSON text. */
async function recorded(connection: string): Promise<Array<{ type: string; payload: Record<string, any> }>> {
  const out: Array<{ type: string; payload: Record<string, any> }> = [];
  for (const s of await t.gw.store.sessions.list({ connection, limit: 1000 })) {
    for (let afterSeq = 0; ;) {
      const page = await t.gw.store.events.list(s.id, { afterSeq, limit: 1000 });
      if (page.length === 0) break;
      for (const e of page) out.push({ type: e.type, payload: e.payload as Record<string, any> });
      afterSeq = page.at(-1)!.seq;
    }
  }
  return out;
}

test('progress messages arrive masked; one with a value hidden between NULs is dropped and recorded as withheld', async () => {
  const client = await connect();
  const progress: Array<{ progress: number; message?: string }> = [];
  const result = await client.callTool({ name: 'leak_progress', arguments: {} }, undefined, { onprogress: (p) => { progress.push({ progress: p.progress, ...(p.message === undefined ? {} : { message: p.message }) }); } });
  assert.equal(result.isError, undefined, JSON.stringify(result));
  assert.deepEqual(progress, [
    { progress: 1, message: `charging card ${MASKED.card}` },
    { progress: 2, message: `mailing ${MASKED.email}` },
    { progress: 4, message: 'done' },
  ], 'masked, in order, the hidden one dropped, all before the result');
  await client.close();

  const events = await recorded('leaky');
  assertClean(events, 'the recording');
  const notes = events.filter((e) => e.type === 'notification' && e.payload.notification === 'progress');
  assert.ok(notes.some((e) => JSON.stringify(e.payload.body).includes(MASKED.card)), 'the masked progress message is recorded');
  const withheld = notes.find((e) => e.payload.withheld === true);
  assert.ok(withheld, 'the dropped progress message is recorded as withheld');
  assert.equal(withheld.payload.body.message, 'hidden [CREDIT_CARD]', 'without its hiding characters, and redacted');
  assert.ok(events.some((e) => e.type === 'finding' && e.payload.kind === 'inspect.hidden_text'), 'with its hidden-text finding');
});

test('log messages and resource updates arrive masked; a log message policy refuses is dropped', async () => {
  const client = await connect();
  const logs: unknown[] = [];
  const updates: string[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params.data); });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); });
  await logged(client, 'leak_log', logs);
  assert.deepEqual(logs.slice(-2), [{ user: MASKED.email, key: '[AWS_ACCESS_KEY]' }, 'last log'], 'masked, in order; the hidden card dropped');
  assertClean(logs, 'the log messages');
  await eventually(() => updates.length >= 1 || undefined, 5000, 'the resource update');
  assert.deepEqual(new Set(updates), new Set([`test://customers/${MASKED.email}`]));
  await client.close();
  assertClean(await recorded('leaky'), 'the recording');
});

test('resources/list, resources/templates/list and prompts/list arrive masked', async () => {
  const client = await connect();
  const { resources } = await client.listResources();
  const ada = resources.find((r) => r.uri === 'test://customers/ada');
  assert.ok(ada, JSON.stringify(resources));
  assert.equal(ada.title, `Customer ${MASKED.email}`);
  assert.equal(ada.description, `Pays with ${MASKED.card}; deploys with [AWS_ACCESS_KEY]`);
  assertClean(resources, 'resources/list');
  assert.ok(resources.some((r) => r.uri === 'test://static-text'), 'the clean resources are listed as they are');

  const { resourceTemplates } = await client.listResourceTemplates();
  assert.equal(resourceTemplates.find((r) => r.uriTemplate === 'test://mail/{address}')?.description, `Mail such as ${MASKED.email}`);
  assertClean(resourceTemplates, 'resources/templates/list');

  const { prompts } = await client.listPrompts();
  const prompt = prompts.find((p) => p.name === 'leaky_prompt');
  assert.equal(prompt?.description, `Bills the card ${MASKED.card}`);
  assert.equal(prompt?.arguments?.[0]?.description, `An account such as ${MASKED.email}`);
  assertClean(prompts, 'prompts/list');
  await client.close();
  assertClean(await recorded('leaky'), 'the recording');
});

test('tools/list arrives masked: descriptions and schemas; the tool is still called by its name', async () => {
  const client = await connect();
  const { tools } = await client.listTools();
  const tool = tools.find((x) => x.name === 'leak_described');
  assert.equal(tool?.description, `Deploys with [AWS_ACCESS_KEY]; mails ${MASKED.email}`);
  assert.equal((tool?.inputSchema.properties?.to as { description?: string } | undefined)?.description, `for example ${MASKED.email}`);
  assertClean(tools, 'tools/list');
  const called = await client.callTool({ name: 'leak_described', arguments: { to: 'x' } });
  assert.equal(called.isError, undefined, JSON.stringify(called));
  await client.close();
  assertClean(await recorded('leaky'), 'the recording');
});

test('the text of the upstream\'s JSON-RPC errors arrives masked, or withheld when policy refuses it', async () => {
  const client = await connect();
  await assert.rejects(client.readResource({ uri: 'test://fail/1' }), (err: unknown) => {
    assert.ok(err instanceof McpError, String(err));
    assert.equal(err.code, ErrorCode.InvalidParams);
    // The upstream's SDK writes "MCP error <code>: " into the message it sends; the client adds its own.
    assert.equal(err.message, `MCP error -32602: MCP error -32602: account ${MASKED.email} is closed; card ${MASKED.card}`);
    return true;
  });
  await assert.rejects(client.getPrompt({ name: 'failing_prompt' }), (err: unknown) => {
    assert.ok(err instanceof McpError, String(err));
    assert.equal(err.code, ErrorCode.InvalidParams);
    assert.match(err.message, /^MCP error -32602: The answer to error:prompt:failing_prompt was withheld by policy \(inspect\.failed\): The payload could not be fully inspected \(inspect\.hidden_text\), so it is refused\.$/);
    return true;
  });
  await client.close();
  assertClean(await recorded('leaky'), 'the recording');
});

test('completion values arrive masked', async () => {
  const client = await connect();
  const { completion } = await client.complete({ ref: { type: 'ref/prompt', name: 'leaky_prompt' }, argument: { name: 'account', value: '' } });
  assert.deepEqual(completion.values, [MASKED.card, MASKED.email, 'plain']);
  await client.close();
  assertClean(await recorded('leaky'), 'the recording');
});

test('the upstream\'s sampling and elicitation requests reach the client masked', async () => {
  const client = new Client({ name: 'sidechannels', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
  const asked: unknown[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    asked.push(req.params.messages);
    return { role: 'assistant', model: 'test', content: { type: 'text', text: 'fine' } };
  });
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked.push(req.params.message);
    return { action: 'decline' };
  });
  await connect('/mcp/leaky', client);
  assert.equal(((await client.callTool({ name: 'leak_sampling', arguments: {} })).content as Array<{ text: string }>)[0]?.text, 'sampled: fine');
  assert.equal(((await client.callTool({ name: 'leak_elicitation', arguments: {} })).content as Array<{ text: string }>)[0]?.text, 'elicited: decline');
  assert.deepEqual(asked, [[{ role: 'user', content: { type: 'text', text: `summarise the account of ${MASKED.email}` } }], `Confirm the charge on ${MASKED.card}`]);
  await client.close();
  assertClean(await recorded('leaky'), 'the recording');
});

test('/mcp (every connection) relays each connection\'s progress and log messages through that connection\'s firewall', async () => {
  const client = await connect('/mcp');
  const logs: unknown[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params.data); });
  const progress: string[] = [];
  await client.callTool({ name: 'leaky__leak_progress', arguments: {} }, undefined, { onprogress: (p) => { progress.push(p.message ?? ''); } });
  assert.deepEqual(progress, [`charging card ${MASKED.card}`, `mailing ${MASKED.email}`, 'done']);
  await logged(client, 'leaky__leak_log', logs);
  assert.deepEqual(logs.slice(-2), [{ user: MASKED.email, key: '[AWS_ACCESS_KEY]' }, 'last log']);
  assertClean(logs, 'the log messages');
  await client.close();
  assertClean(await recorded('*'), 'the recording of /mcp');
});
