// The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in package.json;
// its CLI run as a child process, server scenarios of its default "active" suite) against
// (a) the reference MCP server directly, and (b) the same server behind airlock: a real gateway,
// a real agent process, an `mcp` connection, the gateway's /mcp/ref endpoint.
//
// The CLI cannot send an Authorization header, so in (b) it talks to a loopback hop that adds
// the bearer token (test/support/bearer-forwarder.ts); the gateway allows that hop's origin
// (mcp.allowedOrigins), as an admin would allow the address clients use.
//
// Every scenario must pass directly (the reference server is ours: a direct failure is its
// bug). Through airlock, every scenario passes or is listed, with a reason, in
// conformance-expected-failures.yaml; the CLI itself fails the run on an unexpected failure and
// on a stale entry (a listed scenario that passes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, type LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import { isScalar, isSeq, parseDocument } from 'yaml';
import { startBearerForwarder, type BearerForwarder } from '../../support/bearer-forwarder.ts';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { startReferenceServer, type ReferenceServer } from '../../support/mcp-reference-server.ts';
import { run, type Finished, type Running } from '../../support/process.ts';

const CLI = fileURLToPath(new URL('../../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url));
const EXPECTED = fileURLToPath(new URL('./conformance-expected-failures.yaml', import.meta.url));
/** A CLI run of the active suite (30 scenarios) takes about 3.5 s directly, 5 s through airlock; this bounds a hang, in ms. */
const RUN_MS = 90_000;

let reference: ReferenceServer;
let forwarder: BearerForwarder;
let t: TestGateway;
let agent: Running;
let token = '';
let direct: Map<string, boolean> | undefined;
const dirs: string[] = [];

before(async () => {
  reference = await startReferenceServer();
  let gatewayUrl = '';
  forwarder = await startBearerForwarder({ target: () => gatewayUrl, token: () => token });
  t = await startTestGateway({ config: { mcp: { allowedOrigins: [forwarder.origin] } } });
  gatewayUrl = t.gw.url;
  token = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [reference.base] });
  const created = await t.call('POST', '/api/v1/connections', await t.token('alice', ['admins']), {
    name: 'ref', kind: 'mcp', agent: 'edge', target: { url: reference.url }, groups: ['*'],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await forwarder?.close();
  await reference?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Outcome { readonly finished: Finished; readonly passed: Map<string, boolean>; readonly ms: number }

/** Runs the CLI's server suite against `url`; `passed`: scenario → no FAILURE and no WARNING check (the CLI's own rule for its baseline). */
async function conformance(url: string, more: readonly string[] = []): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-conformance-'));
  dirs.push(dir);
  const started = performance.now();
  const finished = await run(CLI, ['server', '--url', url, '-o', dir, ...more], { timeout: RUN_MS });
  const ms = Math.round(performance.now() - started);
  const passed = new Map<string, boolean>();
  for (const entry of readdirSync(dir)) {
    const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(entry)?.[1];
    assert.ok(scenario, `an unexpected result folder ${entry}`);
    const checks = JSON.parse(readFileSync(join(dir, entry, 'checks.json'), 'utf8')) as Array<{ status: string }>;
    assert.ok(checks.length > 0, `${scenario} recorded no checks`);
    passed.set(scenario, checks.every((c) => c.status !== 'FAILURE' && c.status !== 'WARNING'));
  }
  return { finished, passed, ms };
}

/** The expected-failures file's server entries, each with the comment above it (its reason). */
function expectedFailures(): Map<string, string> {
  const doc = parseDocument(readFileSync(EXPECTED, 'utf8'));
  assert.deepEqual(doc.errors, []);
  const server = doc.get('server', true);
  const entries = new Map<string, string>();
  if (server === undefined || (isScalar(server) && server.value === null)) return entries;
  assert.ok(isSeq(server), '`server` is a list of scenario names');
  server.items.forEach((item, i) => {
    assert.ok(isScalar(item) && typeof item.value === 'string', `an entry that is not a scenario name: ${String(item)}`);
    // The parser gives the first item's comment to the list itself.
    entries.set(item.value as string, (item.commentBefore ?? (i === 0 ? server.commentBefore : undefined) ?? '').trim());
  });
  return entries;
}

const failing = (passed: Map<string, boolean>) => [...passed].filter(([, ok]) => !ok).map(([s]) => s).sort();

test('the reference server passes every scenario of the suite directly', async () => {
  const { finished, passed, ms } = await conformance(reference.url);
  console.log(`conformance, direct: ${passed.size} scenarios in ${ms} ms`);
  assert.ok(passed.size >= 30, `the active suite ran (${[...passed.keys()].join(', ')})`);
  assert.deepEqual(failing(passed), [], `scenarios failing directly are the reference server's bugs:\n${finished.stdout.slice(-4000)}`);
  assert.equal(finished.code, 0, finished.stdout.slice(-4000) + finished.stderr);
  direct = passed;
});

test('through airlock, every scenario passes or is an expected failure with a reason; no entry is stale', async () => {
  assert.ok(direct, 'the direct run must pass first');
  const expected = expectedFailures();
  for (const [scenario, reason] of expected) {
    assert.ok(direct.has(scenario), `${scenario} is listed in ${EXPECTED} but is not a scenario of the suite`);
    assert.ok(reason.length >= 20, `${scenario}: every entry says why in a comment above it`);
  }

  const { finished, passed, ms } = await conformance(`${forwarder.origin}/mcp/ref`, ['--expected-failures', EXPECTED]);
  console.log(`conformance, through airlock: ${passed.size} scenarios in ${ms} ms; expected failures: ${[...expected.keys()].join(', ') || 'none'}`);
  assert.deepEqual([...passed.keys()].sort(), [...direct.keys()].sort(), 'the same scenarios ran both ways');
  const unexpected = failing(passed).filter((s) => !expected.has(s));
  assert.deepEqual(unexpected, [], `scenarios that pass directly but fail through airlock, not listed in ${EXPECTED}:\n${finished.stdout.slice(-6000)}`);
  const stale = [...expected.keys()].filter((s) => passed.get(s) === true);
  assert.deepEqual(stale, [], `listed in ${EXPECTED} but passing through airlock now: remove them`);
  assert.equal(finished.code, 0, `the CLI's own baseline check:\n${finished.stdout.slice(-4000)}${finished.stderr}`);
  assert.match(finished.stdout, /Baseline check passed: all failures are expected\./);
});

// The suite states "filter subsequent log notifications based on level" for logging/setLevel but
// does not check it. The gateway does not pass the level upstream; it filters what it relays.
test('logging/setLevel on an airlock session filters the upstream\'s log messages, as it does directly', async () => {
  const messages = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
  for (const [label, url] of [['directly', reference.url], ['through airlock', `${t.gw.url}/mcp/ref`]] as const) {
    const client = new Client({ name: 'conformance-test', version: '1.0.0' });
    const logs: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(String(n.params.data)); });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const call = async (level: LoggingLevel) => {
      await client.setLoggingLevel(level);
      const result = await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
      assert.equal(result.isError, undefined, JSON.stringify(result));
    };
    try {
      await call('info');
      await eventually(() => logs.length >= 3 || undefined, 5000, `the first three log messages (${label})`);
      await call('warning'); // info messages: dropped
      await call('info');
      // Relayed messages travel in order on the session's one event stream (directly, each call's
      // come before its answer): dropped ones would have arrived before these.
      await eventually(() => logs.length >= 6 || undefined, 5000, `the last three log messages (${label})`);
      assert.deepEqual(logs, [...messages, ...messages], label);
    } finally {
      await client.close();
    }
  }
});
