// `airlock sessions` and `airlock reviews` as an auditor and a reviewer run them, against a real
// gateway, agent and target: a held request released by `reviews approve` from another user;
// list/show/replay/export show the whole story; verify proves it, and names the first bad event
// once the store is edited behind the gateway's back. MCP tool calls and their results read as
// such in show, replay and export (each with its line, never "undefined"); show lists the signed
// checkpoints after the events they cover.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AIRLOCK, run, type Running } from '../support/process.ts';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../support/gateway.ts';

let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
let admin: NodeJS.ProcessEnv;
let carol: NodeJS.ProcessEnv;
let sessionId: string;

before(async () => {
  target = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: req.method, card: '4111 1111 1111 1111' }));
  });
  const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway({ config: { reviews: { pollInterval: 0.05 } } });
  const base = { AIRLOCK_GATEWAY: t.gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'config') };
  admin = { ...base, AIRLOCK_TOKEN: await t.token('alice', ['admins']) };
  carol = { ...base, AIRLOCK_TOKEN: await t.token('carol', ['reviewers']) };
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'review.yaml');
  writeFileSync(policy, 'name: r\nrules:\n  - { id: r, match: { methods: [DELETE], directions: [request] }, action: review, reason: demo.delete, review: { wait: 30 } }\n');
  const openapi = { openapi: '3.0.3', info: { title: 'CRM', version: '1' }, paths: { '/customers/{id}': { get: { operationId: 'getCustomer', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'ok' } } } } } };
  assert.equal((await t.call('POST', '/api/v1/connections', admin.AIRLOCK_TOKEN, { name: 'crm', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi })).status, 201);
  assert.equal((await t.call('POST', '/api/v1/connections', admin.AIRLOCK_TOKEN, { name: 'demo', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } })).status, 201);
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await new Promise<void>((r) => target.close(() => r()));
});

test('a held request is released by `reviews approve`; the session replays and verifies', async () => {
  const headers = { authorization: `Bearer ${bob}`, 'x-airlock-session': 'cli' };
  assert.equal((await fetch(`${t.gw.url}/proxy/demo/customers`, { headers })).status, 200);
  const held = fetch(`${t.gw.url}/proxy/demo/orders/7`, { method: 'DELETE', headers });
  const id = await eventually(async () => {
    const listed = await run(AIRLOCK, ['reviews', 'list'], { env: carol });
    return /^(rev_[0-9a-f]{20})\s+pending\s+demo\s+bob\s+DELETE \/api\/orders\/7\s+0\/1/m.exec(listed.stdout)?.[1];
  }, 10_000, 'the pending review in `reviews list`');
  const quiet = await run(AIRLOCK, ['reviews', 'list', '-q'], { env: carol });
  assert.deepEqual([quiet.code, quiet.stdout, quiet.stderr], [0, `${id}\n`, ''], 'reviews list -q: the ids alone, for scripts');
  const shown = await run(AIRLOCK, ['reviews', 'show', id], { env: carol });
  assert.match(shown.stdout, /request: {4}DELETE \/api\/orders\/7 on demo, by bob/);
  const approved = await run(AIRLOCK, ['reviews', 'approve', id, '--reason', 'ticket 7'], { env: carol });
  assert.equal(approved.code, 0, approved.stderr);
  assert.equal(approved.stdout, `Review ${id} is approved. The held request is released (or passes when retried).\n`);
  assert.equal((await held).status, 200);
  const twice = await run(AIRLOCK, ['reviews', 'deny', id], { env: carol });
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /GW_REVIEW_FORBIDDEN/);

  await t.gw.recording.httpSessions.close();
  const listed = await run(AIRLOCK, ['sessions', 'list', '--user', 'bob', '--decision', 'review'], { env: admin });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^ID\s+CONNECTION\s+USER\s+STARTED\s+STATE\s+EVENTS\s+DECISIONS\n/);
  sessionId = /^(ses_[0-9a-f]{32})\s+demo\s+bob\s+\S+\s+ended\s+\d+\s+\S*review/m.exec(listed.stdout)![1]!;
  const quietSessions = await run(AIRLOCK, ['sessions', 'list', '--user', 'bob', '--decision', 'review', '--quiet'], { env: admin });
  assert.deepEqual([quietSessions.code, quietSessions.stdout], [0, `${sessionId}\n`], 'sessions list --quiet: the ids alone');

  const replay = await run(AIRLOCK, ['sessions', 'replay', sessionId, '--speed', '0'], { env: admin });
  assert.equal(replay.code, 0, replay.stderr);
  const lines = replay.stdout.trim().split('\n').map((l) => l.replace(/^\s*\+\d+\.\d{3}s\s+/, ''));
  assert.match(lines[0]!, /^session start {2}bob on demo \(http\)$/);
  assert.ok(lines.includes('→ GET /api/customers'));
  assert.ok(lines.some((l) => /^decision mask \(response\): /.test(l)), 'the masked answer is highlighted');
  assert.ok(lines.includes('→ DELETE /api/orders/7 [held for review]'));
  assert.ok(lines.some((l) => /^review\.requested rev_/.test(l)));
  assert.ok(lines.includes(`review.approved ${id} by carol: ticket 7`));
  assert.ok(!replay.stdout.includes('4111 1111 1111 1111'), 'masked values are shown masked');
  assert.match(lines.at(-1)!, /^session end {2}the gateway stopped$/);

  // The replay matches the events, one line each (chunks folded into their event).
  const exported = await run(AIRLOCK, ['sessions', 'export', sessionId, '--format', 'jsonl'], { env: admin });
  const events = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string });
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
  const timed = replay.stdout.split('\n').filter((l) => /^\s*\+\d+\.\d{3}s /.test(l));
  assert.equal(timed.length, events.filter((e) => e.type !== 'chunk').length, 'one timed line per event');
  const cast = await run(AIRLOCK, ['sessions', 'export', sessionId, '--format', 'asciicast'], { env: admin });
  const [header, ...frames] = cast.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(header.version, 2);
  assert.equal(frames.length, timed.length);
  assert.equal(frames[0][1], 'o');

  const ok = await run(AIRLOCK, ['sessions', 'verify', sessionId], { env: admin });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^OK: session ${sessionId} \\(ended\\): ${events.length} events chained, \\d+ signed checkpoint\\(s\\), signed through event ${events.length}; the ledger agrees\\.\\n$`));
});

test('`sessions verify` exits 3 naming the first bad event after the store is edited', async () => {
  const db = new DatabaseSync(join(t.dir, 'gw.db'));
  try {
    db.prepare("UPDATE events SET payload = replace(payload, 'GET', 'PUT') WHERE session_id = ? AND seq = 2").run(sessionId);
  } finally {
    db.close();
  }
  const bad = await run(AIRLOCK, ['sessions', 'verify', sessionId], { env: admin });
  assert.equal(bad.code, 3);
  assert.equal(bad.stderr, `airlock: Session ${sessionId} does NOT verify: event 2 was altered: its content does not match its hash (event 2). (CLI_VERIFY_FAILED)\n`);
  const usage = await run(AIRLOCK, ['sessions', 'replay', sessionId, '--speed', 'fast'], { env: admin });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--speed must be a number ≥ 0/);
  const missing = await run(AIRLOCK, ['sessions', 'show', 'ses_00000000000000000000000000000000'], { env: admin });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /GW_SESSION_NOT_FOUND/);
});

test('MCP tool calls and results read as such in show, replay and export; show lists the checkpoints', async () => {
  const transport = new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/crm`), { requestInit: { headers: { authorization: `Bearer ${bob}` } } });
  const client = new Client({ name: 'audit-test', version: '1.0.0' });
  await client.connect(transport);
  const ok = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-1', _justification: 'ticket 9' } });
  assert.ok(!JSON.stringify(ok).includes('4111 1111 1111 1111'), 'the card is masked in the answer');
  const bad = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-1', admin: true } });
  assert.equal(bad.isError, true);
  await transport.terminateSession();
  await client.close();

  const id = await eventually(async () => {
    const listed = await run(AIRLOCK, ['sessions', 'list', '--connection', 'crm', '--user', 'bob'], { env: admin });
    return /^(ses_[0-9a-f]{32})\s+crm\s+bob\s+\S+\s+ended\s/m.exec(listed.stdout)?.[1];
  }, 10_000, 'the ended MCP session in `sessions list`');
  const shown = await run(AIRLOCK, ['sessions', 'show', id], { env: admin });
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(!shown.stdout.includes('undefined'), shown.stdout);
  const lines = shown.stdout.split('\n').map((l) => l.replace(/^\s*\d+\s+\+\d+\.\d{3}s\s+/, '').trimEnd());
  assert.ok(lines.includes('session start  bob on crm (http, over MCP)'), shown.stdout);
  assert.ok(lines.includes('→ call getCustomer (justification: "ticket 9")'), shown.stdout);
  assert.ok(lines.some((l) => /^← result of getCustomer \(\d+ ms\)$/.test(l)), shown.stdout);
  assert.ok(lines.some((l) => /^decision mask \(response\): /.test(l.trim())), shown.stdout);
  assert.ok(lines.includes('error GW_TOOL_ARGUMENTS_INVALID (getCustomer): unknown argument "admin": this tool accepts only id'), shown.stdout);
  assert.ok(lines.includes('session end  the client closed the session'), shown.stdout);
  assert.ok(!shown.stdout.includes('4111 1111 1111 1111'), 'masked values are shown masked');
  // The final checkpoint (signed at session.end) is shown after the last event.
  const events = JSON.parse((await run(AIRLOCK, ['sessions', 'show', id, '--json'], { env: admin })).stdout).events as unknown[];
  assert.match(shown.stdout.trimEnd().split('\n').at(-1)!, new RegExp(`^\\s+checkpoint signed through event ${events.length} \\(session ended\\), key [A-Za-z0-9_-]{12}$`));

  const replay = await run(AIRLOCK, ['sessions', 'replay', id, '--speed', '0'], { env: admin });
  assert.equal(replay.code, 0, replay.stderr);
  assert.ok(replay.stdout.includes('→ call getCustomer (justification: "ticket 9")') && !replay.stdout.includes('undefined'), replay.stdout);
  const cast = await run(AIRLOCK, ['sessions', 'export', id, '--format', 'asciicast'], { env: admin });
  const frames = cast.stdout.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  assert.ok(frames.some((f) => f[2].includes('← result of getCustomer')), cast.stdout);
  assert.ok(frames.every((f) => !f[2].includes('undefined')), cast.stdout);
});
