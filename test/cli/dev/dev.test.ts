// `airlock dev` (what `npm start` runs) end to end: one real process that brings up the gateway,
// the development identity provider, the agent child process and the demo service; every
// component answers; Ctrl-C stops them all.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AIRLOCK, AIRLOCK_AGENT, run, start } from '../../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-dev-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FREE = ['--port', '0', '--idp-port', '0', '--agent-port', '0', '--demo-port', '0', '--postgres-port', '0'];

test('airlock dev brings up every component, prints where, and stops them all on Ctrl-C', async () => {
  const dev = start(AIRLOCK, ['dev', ...FREE, '--data-dir', join(dir, 'state')], { cwd: dir, timeout: 60000 }); // a hang guard: airlock dev starts slowly on a loaded machine
  after(() => dev.stop('SIGKILL'));
  await dev.waitFor(/Ctrl-C stops everything\./, 30000);
  const { stdout } = dev.output();
  const gateway = stdout.match(/^  gateway\s+(http:\/\/127\.0\.0\.1:\d+)\s/m)?.[1];
  const issuer = stdout.match(/^  identity provider\s+(http:\/\/127\.0\.0\.1:\d+)\s+users: alice \(admins\), bob \(developers\)$/m)?.[1];
  const agentHealth = stdout.match(/^  agent\s+local\s+connected through its tunnel\s+health (http:\/\/127\.0\.0\.1:\d+\/healthz)$/m)?.[1];
  const demo = stdout.match(/^  demo service\s+(http:\/\/127\.0\.0\.1:\d+)\s+connection "demo"/m)?.[1];
  assert.ok(gateway && issuer && agentHealth && demo, `the banner names every component:\n${stdout}`);
  // The web console, on the gateway's public URL; opening it starts the sign-in (and comes back to it).
  const consoleUrl = stdout.match(/^  web console\s+(http:\/\/127\.0\.0\.1:\d+\/console)\s+reviews, sessions/m)?.[1];
  assert.equal(consoleUrl, `${gateway}/console`, stdout);
  const opened = await fetch(consoleUrl!, { redirect: 'manual' });
  assert.equal(opened.status, 303);
  assert.equal(opened.headers.get('location'), '/console/login?return=%2Fconsole');

  assert.equal((await fetch(`${gateway}/healthz`)).status, 200);
  const ready = await fetch(`${gateway}/readyz`);
  assert.equal(ready.status, 200, await ready.clone().text());
  const info = await (await fetch(`${gateway}/api/v1/info`)).json() as Record<string, unknown>;
  assert.equal(info.issuer, issuer, 'the gateway trusts the embedded provider');
  assert.equal(info.devIdp, true);
  assert.equal(info.audience, gateway);

  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json() as { issuer: string };
  assert.equal(discovery.issuer, issuer);

  const agent = await (await fetch(agentHealth!)).json() as { status: string; name: string; tunnels: unknown };
  assert.deepEqual([agent.status, agent.name, agent.tunnels], ['ok', 'local', { connected: 1, total: 1 }]);
  // The dev agent enrolled itself and is online at the gateway (as an admin sees it).
  const token = await run(AIRLOCK, ['dev', 'token', '--user', 'alice', '--gateway', gateway!], { cwd: dir });
  assert.equal(token.code, 0, token.stderr);
  const agents = await (await fetch(`${gateway}/api/v1/agents`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } })).json() as { agents: Array<Record<string, unknown>> };
  const local = agents.agents.find((a) => a.name === 'local');
  assert.deepEqual([local?.status, local?.online, local?.tunnels], ['active', true, 1]);
  assert.ok(!existsSync(join(dir, 'state', 'agent-enrollment.token')), 'the one-time token file is gone once used');
  assert.equal(statSync(join(dir, 'state', 'agent', 'agent-key.pem')).mode & 0o777, 0o600);

  assert.doesNotMatch(readFileSync(join(dir, 'state', 'agent.yaml'), 'utf8'), /credentials|token/, 'the demo credential is not in the agent config');
  assert.ok(existsSync(join(dir, 'state', 'agent', 'vault.json')), 'it is in the agent vault');

  // The banner names the agent's configuration; with it, airlock-agent reaches the dev agent's vault.
  assert.match(stdout, /^\s+its configuration state\/agent\.yaml: airlock-agent secrets list --config state\/agent\.yaml$/m);
  const set = await run(AIRLOCK_AGENT, ['secrets', 'set', 'extra', '--type', 'bearer', '--from-env', 'EXTRA_TOKEN', '--config', 'state/agent.yaml'], { cwd: dir, env: { EXTRA_TOKEN: 'extra-s3cret' } });
  assert.equal(set.code, 0, set.stderr);
  const listed = await run(AIRLOCK_AGENT, ['secrets', 'list', '--config', 'state/agent.yaml'], { cwd: dir });
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(listed.stdout.split('\n').slice(1).filter(Boolean).map((l) => l.split(/\s+/).slice(0, 2).join(' ')), ['demo bearer', 'demo-db postgres', 'demo-mcp bearer', 'extra bearer']);
  assert.ok(!listed.stdout.includes('extra-s3cret'));
  const direct = await fetch(`${demo}/customers`);
  assert.equal(direct.status, 401, 'the demo service refuses a caller without the credential only the agent holds');

  // The quick start: a token for bob, then the demo records through gateway → tunnel → agent, masked.
  const bobToken = await run(AIRLOCK, ['dev', 'token', '--user', 'bob', '--gateway', gateway!], { cwd: dir });
  assert.equal(bobToken.code, 0, bobToken.stderr);
  const proxied = await fetch(`${gateway}/proxy/demo/customers`, { headers: { authorization: `Bearer ${bobToken.stdout.trim()}` } });
  assert.equal(proxied.status, 200, await proxied.clone().text());
  const { customers } = await proxied.json() as { customers: Array<{ card: string; email: string; ssn: string }> };
  assert.ok(customers.length >= 4);
  assert.ok(customers.every((c) => /^\[CREDIT_CARD …\d{4}\]$/.test(c.card) && c.email === '[EMAIL_ADDRESS]' && c.ssn === '[US_SSN]'), `masked: ${JSON.stringify(customers[0])}`);

  // An MCP client on /mcp/demo: the demo service's OpenAPI operations as tools, answers masked.
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const mcp = new Client({ name: 'dev-test', version: '1' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gateway}/mcp/demo`), { requestInit: { headers: { authorization: `Bearer ${bobToken.stdout.trim()}` } } }));
  assert.deepEqual((await mcp.listTools()).tools.map((x) => x.name).sort(), ['createCustomer', 'deleteCustomer', 'getCustomer', 'listCustomers']);
  const one = await mcp.callTool({ name: 'getCustomer', arguments: { id: 1 } });
  const oneText = (one.content as Array<{ text: string }>)[0]!.text;
  assert.match(oneText, /"name":"Ada Lovelace"/);
  assert.match(oneText, /\[CREDIT_CARD …1111\]/);
  await mcp.close();

  // The review flow of docs/concepts/reviews.md: bob's DELETE is held; alice (another user) approves it with the
  // CLI; the request goes through; the session replays and verifies.
  const aliceEnv = { AIRLOCK_GATEWAY: gateway!, AIRLOCK_TOKEN: token.stdout.trim(), AIRLOCK_CONFIG_DIR: join(dir, 'cli') };
  const held = fetch(`${gateway}/proxy/demo/customers/4`, { method: 'DELETE', headers: { authorization: `Bearer ${bobToken.stdout.trim()}`, 'x-airlock-session': 'tour' } });
  let reviewId: string | undefined;
  for (let i = 0; i < 100 && !reviewId; i++) {
    reviewId = /^(rev_[0-9a-f]{20})\s+pending\s+demo\s+bob/m.exec((await run(AIRLOCK, ['reviews', 'list'], { env: aliceEnv, cwd: dir })).stdout)?.[1];
    if (!reviewId) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(reviewId, 'the DELETE waits for a review');
  const approved = await run(AIRLOCK, ['reviews', 'approve', reviewId], { env: aliceEnv, cwd: dir });
  assert.equal(approved.code, 0, approved.stderr);
  const released = await held;
  assert.notEqual(released.status, 409, await released.clone().text());
  assert.equal(released.status, 204, 'the approved DELETE reached the demo service');
  const sessions = await run(AIRLOCK, ['sessions', 'list', '--connection', 'demo', '--decision', 'review'], { env: aliceEnv, cwd: dir });
  const sessionId = /^(ses_[0-9a-f]{32})\s+demo\s+bob/m.exec(sessions.stdout)?.[1];
  assert.ok(sessionId, sessions.stdout + sessions.stderr);
  const replay = await run(AIRLOCK, ['sessions', 'replay', sessionId, '--speed', '0'], { env: aliceEnv, cwd: dir });
  assert.match(replay.stdout, new RegExp(`review\\.approved ${reviewId} by alice`));
  const verified = await run(AIRLOCK, ['sessions', 'verify', sessionId], { env: aliceEnv, cwd: dir });
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, /^OK: session ses_[0-9a-f]{32} \(open\): /);

  assert.match(stdout, /"level":"warn","msg":"DEV ONLY: /, 'the dev provider is logged as DEV ONLY');
  assert.ok(existsSync(join(dir, 'data', 'airlock.db')), 'the gateway uses the embedded SQLite store');

  const finished = await dev.stop('SIGINT');
  assert.equal(finished.code, 0, finished.stderr);
  assert.match(finished.stdout, /"msg":"agent stopped"/);
  assert.match(finished.stdout, /"msg":"gateway stopped"/);
  for (const url of [gateway, issuer, agentHealth, demo]) {
    await assert.rejects(fetch(url!), `${url} is closed after Ctrl-C`);
  }
});

test('Ctrl-C in a terminal (SIGINT to the whole process group, agent included) is a clean stop', async () => {
  const dev = start(AIRLOCK, ['dev', ...FREE, '--data-dir', join(dir, 'state')], { cwd: dir, group: true });
  after(() => dev.stop('SIGKILL'));
  await dev.waitFor(/Ctrl-C stops everything\./, 30000);
  // a restart makes the agent anew but keeps its vault: the secret set in the first test is there
  const listed = await run(AIRLOCK_AGENT, ['secrets', 'list', '--config', join(dir, 'state', 'agent.yaml')], { cwd: tmpdir() });
  assert.match(listed.stdout, /^extra\s+bearer\s/m, listed.stderr);
  dev.signalGroup('SIGINT');
  const finished = await dev.exited;
  assert.equal(finished.code, 0, finished.stderr);
  assert.equal(finished.stderr, '', 'nothing is reported as failed');
  assert.match(finished.stdout, /"msg":"gateway stopped"/);
});

test('a dev port in use exits 1 naming the flag, leaving nothing running', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const { code, stderr } = await run(AIRLOCK, ['dev', ...FREE.slice(0, 6), '--demo-port', String(port), '--postgres-port', '0', '--data-dir', join(dir, 'state')], { cwd: dir, timeout: 60000 }); // a hang guard: airlock dev starts slowly on a loaded machine
  assert.equal(code, 1);
  assert.equal(stderr, `airlock: Port ${port} on 127.0.0.1 is already in use; stop what holds it, or choose another with --demo-port. (CLI_PORT_IN_USE)\n`);
});

test('the gateway port in use under airlock dev names --port, then server.port', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const { code, stderr } = await run(AIRLOCK, ['dev', '--port', String(port), ...FREE.slice(2), '--data-dir', join(dir, 'state')], { cwd: dir, timeout: 60000 }); // a hang guard: airlock dev starts slowly on a loaded machine
  assert.equal(code, 1);
  assert.equal(stderr, `airlock: Port ${port} on 127.0.0.1 is already in use; stop what holds it, or choose another with --port (0 picks a free one), or server.port in the --config file. (CLI_PORT_IN_USE)\n`);
});

test('an agent that cannot start fails airlock dev with its reason, and the rest is stopped', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const args = ['dev', '--port', '0', '--idp-port', '0', '--demo-port', '0', '--postgres-port', '0', '--agent-port', String(port), '--data-dir', join(dir, 'state')];
  const { code, stderr } = await run(AIRLOCK, args, { cwd: dir, timeout: 60000 });
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`^airlock: the local agent exited \\(status 1\\): Port ${port} on 127\\.0\\.0\\.1 is already in use; .* \\(AGENT_PORT_IN_USE\\) \\(CLI_DEV_FAILED\\)$`, 'm'));
});
