// The real `airlock-agent` against a real gateway: `enroll` writes the key (0600, dir 0700) and
// registers only its public half; `start` keeps a tunnel that carries the gateway's streams to
// the handlers; it reconnects after a gateway restart, stops for good when revoked, keeps one
// tunnel per configured gateway, and a killed agent fails the streams it carried at once.
// The stream handlers come from test/agent/fixtures/stream-handlers.ts (NODE_OPTIONS --import).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createPublicKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TunnelError, type TunnelStream } from '../../gateway/tunnel/index.ts';
import { AIRLOCK_AGENT, run, start, type Running } from '../support/process.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

const HANDLERS = fileURLToPath(new URL('./fixtures/stream-handlers.ts', import.meta.url));
let t: TestGateway;
let counter = 0;

before(async () => { t = await startTestGateway(); });
after(() => t.close());

/** A fresh data dir and an enrollment token in a 0600 file, for agent `name`. */
async function prepare(name: string): Promise<{ dataDir: string; tokenFile: string }> {
  const dataDir = join(t.dir, `agent-${++counter}`, 'data');
  const tokenFile = join(t.dir, `token-${counter}`);
  writeFileSync(tokenFile, `${await t.addAgent(name)}\n`, { mode: 0o600 });
  return { dataDir, tokenFile };
}

function agentEnv(dataDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    AIRLOCK_AGENT_DATA_DIR: dataDir,
    AIRLOCK_AGENT_HEALTH_PORT: '0',
    AIRLOCK_AGENT_TUNNEL_PING_INTERVAL: '0',
    AIRLOCK_AGENT_TUNNEL_RECONNECT_MIN_DELAY: '0.05',
    AIRLOCK_AGENT_TUNNEL_RECONNECT_MAX_DELAY: '0.3',
    AIRLOCK_AGENT_TUNNEL_STABLE_AFTER: '0.2',
    NODE_OPTIONS: `--import=${HANDLERS}`,
    ...extra,
  };
}

function startAgent(dataDir: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}): Running {
  const agent = start(AIRLOCK_AGENT, ['start', ...args], { cwd: t.dir, env: agentEnv(dataDir, extra) });
  after(() => agent.stop('SIGKILL'));
  return agent;
}

/** `promise`, or a failure naming `what` after `ms` (the timer does not outlive the test). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(what)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

async function roundTrip(stream: TunnelStream, text: string): Promise<string> {
  stream.end(text);
  let back = '';
  for await (const chunk of stream) back += (chunk as Buffer).toString();
  return back;
}

test('enroll writes a 0600 key in a 0700 dir, registers only the public key, and a used token is refused', async () => {
  const { dataDir, tokenFile } = await prepare('edge-1');
  const enrolled = await run(AIRLOCK_AGENT, ['enroll', '--gateway', t.gw.url, '--token-file', tokenFile], { cwd: t.dir, env: agentEnv(dataDir) });
  assert.equal(enrolled.code, 0, enrolled.stderr);
  assert.match(enrolled.stdout, new RegExp(`^Enrolled agent edge-1 at ${t.gw.url}; its private key is in ${dataDir} \\(mode 0600\\)\\.\\nStart it with: airlock-agent start\\n$`));
  assert.equal(statSync(dataDir).mode & 0o777, 0o700);
  const keyFile = join(dataDir, 'agent-key.pem');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dataDir).sort(), ['agent-key.pem', 'state.json'], 'no staged or temporary file is left');
  const state = JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual({ ...state, enrolledAt: undefined }, { version: 1, name: 'edge-1', gateways: [t.gw.url], audience: 'http://airlock.test', enrolledAt: undefined });

  const pem = readFileSync(keyFile, 'utf8');
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
  const stored = await t.gw.store.agents.get('edge-1');
  assert.equal(stored?.status, 'active');
  const x = createPublicKey(pem).export({ format: 'jwk' }).x;
  assert.deepEqual(JSON.parse(stored!.publicKey!), { kty: 'OKP', crv: 'Ed25519', x }, 'the gateway holds the public half of the key on disk');
  assert.ok(!stored!.publicKey!.includes('"d"'), 'no private part was sent');

  const again = await run(AIRLOCK_AGENT, ['enroll', '--gateway', t.gw.url, '--token-file', tokenFile], { cwd: t.dir, env: agentEnv(dataDir) });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^airlock-agent: The gateway refused the enrollment: The enrollment token is not valid for agent edge-1 .* \(GW_ENROLLMENT_INVALID\) \(AGENT_ENROLLMENT_REFUSED\)\n$/);
  assert.equal(readFileSync(keyFile, 'utf8'), pem, 'a failed enrollment leaves the key as it was');
  assert.deepEqual(readdirSync(dataDir).sort(), ['agent-key.pem', 'state.json']);
});

test('enroll refuses bad input with codes: no token, a token on argv warns, http:// to a remote host, a token for another name', async () => {
  const dataDir = join(t.dir, 'refusals');
  const none = await run(AIRLOCK_AGENT, ['enroll', '--gateway', t.gw.url], { cwd: t.dir, env: agentEnv(dataDir) });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /exactly one of --token-file FILE, --token - \(standard input\) or --token TOKEN\. \(AGENT_USAGE\)/);
  const argv = await run(AIRLOCK_AGENT, ['enroll', '--gateway', 'http://gateway.example.com', '--token', `aet_edge-9_${'A'.repeat(43)}`], { cwd: t.dir, env: agentEnv(dataDir) });
  assert.equal(argv.code, 2);
  assert.match(argv.stderr, /^airlock-agent: warning: a token on the command line shows in ps and shell history/);
  assert.match(argv.stderr, /plain http:\/\/ to gateway\.example\.com, which is not loopback; use https:\/\/.*\(AGENT_INPUT_INVALID\)/);
  const named = await run(AIRLOCK_AGENT, ['enroll', '--gateway', t.gw.url, '--token', `aet_edge-9_${'A'.repeat(43)}`], { cwd: t.dir, env: agentEnv(dataDir, { AIRLOCK_AGENT_NAME: 'edge-8' }) });
  assert.equal(named.code, 2);
  assert.match(named.stderr, /The enrollment token is for agent edge-9, but this agent's configuration says name: edge-8.*\(AGENT_CONFIG_INVALID\)/);
  assert.ok(!existsSync(dataDir), 'nothing was written');
});

test('start without an enrollment exits 2 saying how to enroll', async () => {
  const { code, stderr } = await run(AIRLOCK_AGENT, ['start'], { cwd: t.dir, env: agentEnv(join(t.dir, 'empty')) });
  assert.equal(code, 2);
  assert.match(stderr, /^airlock-agent: This agent is not enrolled \(no .*state\.json\); run airlock-agent enroll --gateway URL --token-file FILE .*\(AGENT_NOT_ENROLLED\)\n$/);
});

test('start connects; streams reach the handlers and back; an unknown kind is reset; the gateway restarts and traffic resumes', async () => {
  const { dataDir, tokenFile } = await prepare('edge-2');
  assert.equal((await run(AIRLOCK_AGENT, ['enroll', '--gateway', t.gw.url, '--token-file', tokenFile], { cwd: t.dir, env: agentEnv(dataDir) })).code, 0);
  const agent = startAgent(dataDir);
  const [, health] = await agent.waitFor(/"msg":"agent started".*"health":"(http:[^"]+)"/);
  await t.gw.agents.waitOnline('edge-2', 10_000);
  assert.equal(await roundTrip(t.gw.agents.open('edge-2', { kind: 'echo' }), 'through the tunnel'), 'through the tunnel');
  assert.deepEqual((await (await fetch(health!)).json() as { tunnels: unknown }).tunnels, { connected: 1, total: 1 });

  for (const [kind, code] of [['nope', 'AGENT_STREAM_KIND_UNKNOWN'], ['fail', 'AGENT_HANDLER_FAILED']]) {
    const stream = t.gw.agents.open('edge-2', { kind });
    const [err] = await once(stream, 'error') as [TunnelError];
    assert.equal(err.code, 'TUNNEL_STREAM_RESET', kind);
    assert.equal(err.resetCode, code, kind);
  }
  await agent.waitFor(/"msg":"stream handler failed".*the test handler fails on purpose/, 5000); // its log line may arrive after the reset frame

  await t.restart();
  await t.gw.agents.waitOnline('edge-2', 10_000);
  assert.equal(await roundTrip(t.gw.agents.open('edge-2', { kind: 'echo' }), 'after the restart'), 'after the restart');
  assert.match(agent.output().stdout, /"msg":"tunnel disconnected".*"closeCode":4101/);
  assert.match(agent.output().stdout, /"msg":"tunnel reconnecting"/);

  const stopped = await agent.stop('SIGTERM');
  assert.equal(stopped.code, 0, stopped.stderr);
  await eventually(() => (t.gw.agents.presence('edge-2').online ? undefined : true), 5000, 'offline after stop');
});

test('an agent killed mid-stream: the stream on the gateway fails at once (no pings involved)', async () => {
  const { dataDir, tokenFile } = await prepare('edge-3');
  const agent = startAgent(dataDir, ['--enroll-token-file', tokenFile, '--gateway', t.gw.url]);
  await t.gw.agents.waitOnline('edge-3', 10_000);
  const stream = t.gw.agents.open('edge-3', { kind: 'echo' });
  stream.write('ping');
  const [first] = await once(stream, 'data') as [Buffer];
  assert.equal(first.toString(), 'ping', 'the stream is live');
  const failed = once(stream, 'error') as Promise<[TunnelError]>;
  agent.child.kill('SIGKILL');
  const [err] = await within(failed, 3000, 'the stream hung after the agent died');
  assert.equal(err.code, 'TUNNEL_CONNECTION_LOST', 'the socket closing told the gateway, not a ping timeout');
  assert.throws(() => t.gw.agents.open('edge-3', { kind: 'echo' }), { code: 'GW_AGENT_OFFLINE' });
});

test('revoked: the tunnel drops at once, the agent exits 1 with AGENT_REVOKED and does not reconnect', async () => {
  const { dataDir, tokenFile } = await prepare('edge-4');
  const agent = startAgent(dataDir, ['--enroll-token-file', tokenFile, '--gateway', t.gw.url]);
  await t.gw.agents.waitOnline('edge-4', 10_000);
  const stream = t.gw.agents.open('edge-4', { kind: 'echo' });
  stream.write('x');
  const failed = once(stream, 'error') as Promise<[TunnelError]>;
  const revoked = await t.call('DELETE', '/api/v1/agents/edge-4', await t.token('alice', ['admins']));
  assert.equal(revoked.body.tunnelsClosed, 1);
  assert.equal((await failed)[0].closeCode, 4100);
  const finished = await within(agent.exited, 10_000, 'the revoked agent kept running');
  assert.equal(finished.code, 1);
  assert.match(finished.stderr, /^airlock-agent: The gateway at http:\/\/127\.0\.0\.1:\d+ closed the tunnel: agent edge-4 was revoked\. .* \(AGENT_REVOKED\)\n$/);
  assert.doesNotMatch(finished.stdout, /"msg":"tunnel reconnecting"/);
});

test('an agent the gateway no longer knows as enrolled (revoked, then added again) stops with AGENT_NOT_ENROLLED', async () => {
  const { dataDir, tokenFile } = await prepare('edge-6');
  assert.equal((await run(AIRLOCK_AGENT, ['enroll', '--gateway', t.gw.url, '--token-file', tokenFile], { cwd: t.dir, env: agentEnv(dataDir) })).code, 0);
  const alice = await t.token('alice', ['admins']);
  assert.equal((await t.call('DELETE', '/api/v1/agents/edge-6', alice)).status, 200);
  await t.addAgent('edge-6'); // pending again, its old key forgotten
  const { code, stdout, stderr } = await run(AIRLOCK_AGENT, ['start'], { cwd: t.dir, env: agentEnv(dataDir) });
  assert.equal(code, 2);
  assert.match(stderr, /^airlock-agent: The gateway at \S+ does not know agent edge-6 as enrolled: Agent edge-6 is not enrolled at this gateway .*\(GW_AGENT_NOT_ENROLLED\); enroll again with a new token \(airlock-agent enroll\)\. \(AGENT_NOT_ENROLLED\)\n$/);
  assert.match(stdout, /"msg":"tunnel refused for good; not reconnecting"/);
});

test('two gateways configured: one tunnel to each', async () => {
  const replica = await t.replica();
  const { dataDir, tokenFile } = await prepare('edge-5');
  startAgent(dataDir, ['--enroll-token-file', tokenFile], { AIRLOCK_AGENT_GATEWAY_URLS: `${t.gw.url},${replica.url}` });
  await Promise.all([t.gw.agents.waitOnline('edge-5', 10_000), replica.agents.waitOnline('edge-5', 10_000)]);
  assert.equal(await roundTrip(t.gw.agents.open('edge-5', { kind: 'echo' }), 'via a'), 'via a');
  assert.equal(await roundTrip(replica.agents.open('edge-5', { kind: 'echo' }), 'via b'), 'via b');
  assert.deepEqual([t.gw.agents.presence('edge-5').tunnels, replica.agents.presence('edge-5').tunnels], [1, 1]);
});
