// The `mcp` connection's tool source end to end: upstreamSource → real tunnel → a real
// `airlock-agent start` process → (a) a real MCP server over Streamable HTTP and HTTP+SSE on
// loopback, (b) @modelcontextprotocol/server-everything and a fixture server, both over stdio,
// started by the agent from its mcp.commands allowlist, (c) commands the agent refuses.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../../../gateway/errors.ts';
import type { Identity } from '../../../gateway/authn/identity.ts';
import type { ToolSource } from '../../../gateway/mcp/source.ts';
import { upstreamSource } from '../../../gateway/mcp/upstream.ts';
import { createLogger } from '../../../lib/log.ts';
import type { Running } from '../../support/process.ts';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { startHttpUpstream, type HttpUpstream } from './fixtures/http-upstream.ts';

const UPSTREAM_SECRET = 'upstream-secret-5d0e7a';
const NODE = process.execPath;
const EVERYTHING = fileURLToPath(new URL('../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/stdio-server.ts', import.meta.url));

let t: TestGateway;
let agent: Running;
let upstream: HttpUpstream;
let bobToken: string;
let bob: Identity;
let allowedDir: string;
const gatewayLog: string[] = [];
const sources: ToolSource[] = [];

before(async () => {
  upstream = await startHttpUpstream();
  t = await startTestGateway({ logger: createLogger({ level: 'debug', write: (l) => { gatewayLog.push(l); } }) });
  allowedDir = join(t.dir, 'servers');
  mkdirSync(allowedDir);
  agent = await startTestAgent(t, 'edge', {
    allow: [upstream.base],
    bearer: { 'mcp-http': UPSTREAM_SECRET, 'mcp-sse': UPSTREAM_SECRET, 'mcp-small': UPSTREAM_SECRET },
    config: [`mcp: { commands: ['${NODE}'], dirs: ['${allowedDir}'], maxProcesses: 8 }`],
    env: { AGENT_ONLY_VARIABLE: 'must-not-reach-servers' },
  });
  const alice = await t.token('alice', ['admins']);
  bobToken = await t.token('bob', ['developers']);
  bob = await t.gw.authn.authenticator.authenticate({ headers: { authorization: `Bearer ${bobToken}` } } as IncomingMessage, new URL(`${t.gw.url}/mcp/mcp-http`));
  const connections = [
    { name: 'mcp-http', target: { url: `${upstream.base}/mcp` } },
    { name: 'mcp-sse', target: { url: `${upstream.base}/sse` } },
    { name: 'mcp-small', target: { url: `${upstream.base}/mcp` }, limits: { maxResponseBytes: 1024 } },
    { name: 'mcp-refused-url', target: { url: 'http://127.0.0.2:9/mcp' } },
    { name: 'mcp-ghost', agent: 'ghost', target: { url: `${upstream.base}/mcp` } },
    { name: 'everything', target: { command: [NODE, EVERYTHING, 'stdio'], env: { EVERYTHING_VAR: 'visible' } } },
    { name: 'fixture', target: { command: [NODE, FIXTURE], cwd: allowedDir, env: { FIXTURE_VAR: '1' } } },
    { name: 'fixture-elsewhere', target: { command: [NODE, FIXTURE], cwd: '/usr' } },
    { name: 'fixture-small', target: { command: [NODE, FIXTURE] }, limits: { maxResponseBytes: 1024 } },
    { name: 'shell', target: { command: ['/bin/sh', '-c', 'echo hi'] } },
    { name: 'preload', target: { command: [NODE, FIXTURE], env: { NODE_OPTIONS: '--require /tmp/evil.js' } } },
    { name: 'exits', target: { command: [NODE, '-e', 'process.exit(3)'] } },
  ];
  for (const c of connections) {
    const r = await t.call('POST', '/api/v1/connections', alice, { kind: 'mcp', agent: 'edge', groups: ['*'], ...c });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
});
after(async () => {
  for (const s of sources) await s.close();
  await agent?.stop('SIGTERM');
  await t?.close();
  await upstream?.close();
});

async function open(name: string): Promise<ToolSource> {
  const connection = t.gw.connections.get(name);
  assert.ok(connection, name);
  const source = await upstreamSource({ connection, identity: bob, openStream: (a, header) => t.gw.agents.open(a, header), logger: createLogger({ level: 'debug', write: (l) => { gatewayLog.push(l); } }) });
  sources.push(source);
  return source;
}

function call(requestId: string, more: { signal?: AbortSignal; onProgress?: (p: { progress: number; total?: number; message?: string }) => void } = {}) {
  return { signal: more.signal ?? new AbortController().signal, requestId, ...(more.onProgress ? { onProgress: more.onProgress } : {}) };
}

function text(result: { content?: unknown }): string {
  const first = (result.content as Array<{ type: string; text?: string }>)[0];
  assert.equal(first?.type, 'text');
  return first.text!;
}

async function refused(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GatewayError, `a GatewayError, not ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('Streamable HTTP: tools, prompts and resources come through the agent; calls answer', async () => {
  const source = await open('mcp-http');
  const tools = await source.listTools();
  assert.deepEqual(tools.map((tool) => tool.name).sort(), ['add-tool', 'big', 'echo', 'log', 'progress', 'wait']);
  assert.deepEqual(tools.find((tool) => tool.name === 'echo')?.inputSchema.required, ['text']);
  assert.equal(text(await source.callTool('echo', { text: 'hi there' }, call('r-echo'))), 'echo: hi there');

  assert.deepEqual((await source.listPrompts!()).map((p) => p.name), ['greet']);
  const prompt = await source.getPrompt!('greet', { name: 'Ada' }, call('r-prompt'));
  assert.deepEqual(prompt.messages[0]?.content, { type: 'text', text: 'Say hello to Ada.' });
  assert.deepEqual((await source.listResources!()).map((r) => r.uri), ['note://hello']);
  assert.deepEqual((await source.listResourceTemplates!()).map((r) => r.uriTemplate), ['note://{id}']);
  assert.deepEqual((await source.readResource!('note://42', call('r-read'))).contents, [{ uri: 'note://42', text: 'note 42' }]);
});

test('the upstream sees the agent\'s credential, never the caller\'s token', async () => {
  const source = await open('mcp-http');
  await source.callTool('echo', { text: 'who am i' }, call('r-who'));
  const mine = upstream.requests.filter((r) => r.url.startsWith('/mcp'));
  assert.ok(mine.length >= 3, 'initialize, initialized, the call');
  for (const r of mine) {
    assert.equal(r.headers.authorization, `Bearer ${UPSTREAM_SECRET}`, `${r.method} ${r.url}`);
    assert.ok(!JSON.stringify(r.headers).includes(bobToken), 'the caller\'s token never reaches the upstream');
  }
  assert.ok(!gatewayLog.join('\n').includes(UPSTREAM_SECRET), 'the gateway never holds the upstream credential');
});

test('progress is relayed, and the caller\'s cancellation reaches the upstream', async () => {
  const source = await open('mcp-http');
  const progress: Array<{ progress: number; total?: number; message?: string }> = [];
  const result = await source.callTool('progress', { steps: 3 }, call('r-progress', { onProgress: (p) => progress.push(p) }));
  assert.equal(text(result), 'done after 3 steps');
  assert.deepEqual(progress, [1, 2, 3].map((i) => ({ progress: i, total: 3, message: `step ${i}` })));

  const controller = new AbortController();
  const waiting = once(upstream.events, 'waiting');
  const cancelled = once(upstream.events, 'cancelled');
  const pending = source.callTool('wait', {}, call('r-wait', { signal: controller.signal }));
  await waiting;
  controller.abort(new Error('the caller went away'));
  await assert.rejects(pending, /the caller went away/);
  const [reason] = await cancelled as [string];
  assert.match(reason, /the caller went away/, 'notifications/cancelled reached the upstream tool');
});

test('tools/list_changed and log messages are relayed', async () => {
  const source = await open('mcp-http');
  const seen: unknown[] = [];
  const unsubscribe = source.onNotification!((n) => seen.push(n));
  const before = upstream.standaloneStreams();
  await eventually(() => upstream.standaloneStreams() > before || undefined, 5000, 'the standalone GET stream');
  await source.callTool('log', {}, call('r-log'));
  assert.deepEqual(seen, [{ kind: 'log', level: 'warning', logger: 'fixture', data: { note: 'careful' } }]);
  await source.callTool('add-tool', {}, call('r-add'));
  await eventually(() => seen.find((n) => (n as { kind: string }).kind === 'list_changed'), 5000, 'list_changed');
  assert.deepEqual(seen[1], { kind: 'list_changed', what: 'tools' });
  assert.ok((await source.listTools()).some((tool) => tool.name === 'added'));
  unsubscribe();
});

test('an upstream that answers the Streamable HTTP POST with 405 is spoken to over HTTP+SSE', async () => {
  const source = await open('mcp-sse');
  assert.ok((await source.listTools()).some((tool) => tool.name === 'echo'));
  assert.equal(text(await source.callTool('echo', { text: 'over sse' }, call('r-sse'))), 'echo: over sse');
  const sse = upstream.requests.filter((r) => r.url.startsWith('/sse') || r.url.startsWith('/messages'));
  assert.ok(sse.some((r) => r.method === 'POST' && r.url === '/sse'), 'Streamable HTTP was tried first');
  assert.ok(sse.some((r) => r.method === 'GET' && r.url === '/sse'));
  for (const r of sse) assert.equal(r.headers.authorization, `Bearer ${UPSTREAM_SECRET}`);
});

test('an answer over limits.maxResponseBytes ends the session with GW_RESPONSE_TOO_LARGE', async () => {
  const source = await open('mcp-small');
  assert.equal(text(await source.callTool('echo', { text: 'small' }, call('r-small'))), 'echo: small');
  await refused(source.callTool('big', { bytes: 4000 }, call('r-big')), 'GW_RESPONSE_TOO_LARGE', /connection mcp-small sent an event larger than 1024 bytes \(limits\.maxResponseBytes\)/);
});

test('HTTP upstreams the agent cannot or will not reach are coded errors', async () => {
  await refused(open('mcp-ghost'), 'GW_AGENT_OFFLINE', /Agent ghost is not connected/);
  await refused(open('mcp-refused-url'), 'GW_TARGET_REFUSED', /refuses to reach this target .* connection mcp-refused-url \(TARGET_NOT_ALLOWED\)/);
});

test('stdio: server-everything started by the agent lists and calls tools, with progress', async () => {
  const source = await open('everything');
  const names = (await source.listTools()).map((tool) => tool.name);
  for (const n of ['echo', 'get-env', 'get-sum', 'trigger-long-running-operation']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  assert.equal(text(await source.callTool('echo', { message: 'through stdio' }, call('r-e1'))), 'Echo: through stdio');
  const progress: number[] = [];
  await source.callTool('trigger-long-running-operation', { duration: 0.2, steps: 2 }, call('r-e2', { onProgress: (p) => progress.push(p.progress) }));
  assert.deepEqual(progress, [1, 2]);
  assert.ok((await source.listPrompts!()).length > 0);
  assert.ok((await source.listResources!()).length > 0);
});

test('stdio: the server gets PATH and the connection\'s env only, in its fixed directory', async () => {
  const everything = await open('everything');
  const env = JSON.parse(text(await everything.callTool('get-env', {}, call('r-env')))) as Record<string, string>;
  assert.deepEqual(Object.keys(env).sort(), ['EVERYTHING_VAR', 'PATH']);
  assert.equal(env.EVERYTHING_VAR, 'visible');
  assert.equal(env.PATH, process.env.PATH);

  const fixture = await open('fixture');
  assert.deepEqual(JSON.parse(text(await fixture.callTool('whereami', {}, call('r-where')))), { cwd: realpathSync(allowedDir), env: ['FIXTURE_VAR', 'PATH'] });
  const elsewhere = await open('fixture-elsewhere');
  const where = JSON.parse(text(await elsewhere.callTool('whereami', {}, call('r-where2')))) as { cwd: string };
  assert.equal(where.cwd, join(t.dir, 'agent-edge', 'mcp', 'fixture-elsewhere'), 'a cwd outside mcp.dirs is replaced by dataDir/mcp/<connection>');
  await eventually(() => /"msg":"stdio MCP server stderr".*"line":"stdio fixture ready"/.test(agent.output().stdout) || undefined, 5000, 'stderr logged by the agent');
});

test('stdio: commands off the allowlist and reserved variables are refused; nothing starts', async () => {
  await refused(open('shell'), 'GW_MCP_COMMAND_REFUSED', /Agent edge refused to start the stdio MCP server of connection shell \(AGENT_MCP_COMMAND_REFUSED: this agent does not start "\/bin\/sh": it is not on its mcp\.commands allowlist\); add the command/);
  await refused(open('preload'), 'GW_MCP_COMMAND_REFUSED', /AGENT_MCP_COMMAND_REFUSED: env NODE_OPTIONS is set by the agent, never by a connection/);
  assert.doesNotMatch(agent.output().stdout, /"msg":"stdio MCP server started"[^\n]*"connection":"(shell|preload)"/);
});

test('stdio: a server that exits is a clear error, at start and during a call; oversize messages end the session', async () => {
  await refused(open('exits'), 'GW_MCP_UPSTREAM_FAILED', /stdio MCP server of connection exits on agent edge is not available \(AGENT_MCP_EXITED: the MCP server exited \(status 3\)\)/);
  const fixture = await open('fixture');
  await refused(fixture.callTool('crash', {}, call('r-crash')), 'GW_MCP_UPSTREAM_FAILED', /AGENT_MCP_EXITED: the MCP server exited \(status 3\)/);
  const small = await open('fixture-small');
  await refused(small.callTool('big', { bytes: 4000 }, call('r-big2')), 'GW_MCP_UPSTREAM_FAILED', /sent a message larger than 1024 bytes/);
});

test('closing a stdio source stops the server', async () => {
  const source = await open('fixture');
  const { cwd } = JSON.parse(text(await source.callTool('whereami', {}, call('r-close')))) as { cwd: string };
  assert.ok(cwd);
  const started = (agent.output().stdout.match(/"msg":"stdio MCP server exited"/g) ?? []).length;
  await source.close();
  await eventually(() => ((agent.output().stdout.match(/"msg":"stdio MCP server exited"/g) ?? []).length > started) || undefined, 8000, 'the server exited');
  await refused(source.callTool('whereami', {}, call('r-after')), 'GW_MCP_UPSTREAM_FAILED', /session of connection fixture is closed/);
});
