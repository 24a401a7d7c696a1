// `airlock-agent` as an operator runs it: a real process with its health endpoint, enrolled at a
// real gateway (start needs an enrollment).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { agentConfigVariables, loadAgentConfig } from '../../agent/config.ts';
import { AgentError } from '../../agent/errors.ts';
import { AIRLOCK_AGENT, run, start } from '../support/process.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-agent-'));
const dataDir = join(dir, 'data');
let gateway: TestGateway;
before(async () => {
  gateway = await startTestGateway();
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, await gateway.addAgent('edge-1'), { mode: 0o600 });
  const enrolled = await run(AIRLOCK_AGENT, ['enroll', '--gateway', gateway.gw.url, '--token-file', tokenFile], { cwd: dir, env: { AIRLOCK_AGENT_DATA_DIR: dataDir } });
  assert.equal(enrolled.code, 0, enrolled.stderr);
});
after(async () => {
  await gateway.close();
  rmSync(dir, { recursive: true, force: true });
});

test('--help lists the commands', async () => {
  const { code, stdout } = await run(AIRLOCK_AGENT, ['--help']);
  assert.equal(code, 0);
  for (const cmd of ['enroll', 'start', 'version']) assert.match(stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
});

test('an unknown option exits 2', async () => {
  const { code, stderr } = await run(AIRLOCK_AGENT, ['start', '--bogus']);
  assert.equal(code, 2);
  assert.match(stderr, /unknown option '--bogus'/);
});

test('start serves /healthz and stops on SIGTERM', async () => {
  const agent = start(AIRLOCK_AGENT, ['start'], { cwd: dir, env: { AIRLOCK_AGENT_HEALTH_PORT: '0', AIRLOCK_AGENT_DATA_DIR: dataDir } });
  after(() => agent.stop('SIGKILL'));
  const [, health] = await agent.waitFor(/"health":"(http:\/\/127\.0\.0\.1:\d+\/healthz)"/);
  const res = await fetch(health!);
  assert.equal(res.status, 200);
  const body = await res.json() as { status: string; name: string; version: string };
  assert.equal(body.status, 'ok');
  assert.equal(body.name, 'edge-1');
  assert.match(body.version, /^\d+\.\d+\.\d+$/);
  assert.equal((await fetch(health!.replace('/healthz', '/other'))).status, 404);
  const finished = await agent.stop('SIGTERM');
  assert.equal(finished.code, 0);
  assert.match(finished.stdout, /"msg":"agent stopped"/);
});

test('a malformed config exits 2 naming the file, line and key', async () => {
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, 'name: edge\nhealth:\n  port: -1\n');
  const { code, stderr } = await run(AIRLOCK_AGENT, ['start', '--config', file]);
  assert.equal(code, 2);
  assert.equal(stderr, `airlock-agent: invalid configuration: ${file}:3:3: health.port: Too small: expected number to be >=0 (AGENT_CONFIG_INVALID)\n`);
});

test('a port in use exits 1 naming the port and the option', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const { code, stderr } = await run(AIRLOCK_AGENT, ['start'], { cwd: dir, env: { AIRLOCK_AGENT_HEALTH_PORT: String(port), AIRLOCK_AGENT_DATA_DIR: dataDir } });
  assert.equal(code, 1);
  assert.equal(stderr, `airlock-agent: Port ${port} on 127.0.0.1 is already in use; stop what holds it, or choose another with health.port in airlock-agent.yaml or AIRLOCK_AGENT_HEALTH_PORT. (AGENT_PORT_IN_USE)\n`);
});

test('a bad AIRLOCK_AGENT_* value names the variable; a misspelt one is warned about', () => {
  assert.throws(() => loadAgentConfig({ env: { AIRLOCK_AGENT_NAME: 'Not A Label' } }), (err: AgentError) => {
    assert.equal(err.code, 'AGENT_CONFIG_INVALID');
    assert.match(err.message, /^invalid configuration: AIRLOCK_AGENT_NAME \(name\): must be a DNS label/);
    return true;
  });
  const { warnings } = loadAgentConfig({ env: { AIRLOCK_AGENT_HELTH_PORT: '1' }, cwd: dir });
  assert.deepEqual(warnings, ['environment variable AIRLOCK_AGENT_HELTH_PORT is not an agent configuration key and was ignored (typo?); see deploy/agent.example.yaml']);
});

test('deploy/agent.example.yaml is valid and documents every option', () => {
  const path = new URL('../../deploy/agent.example.yaml', import.meta.url).pathname;
  const { config } = loadAgentConfig({ file: path, env: {} });
  assert.equal(config.health.port, 8082);
  const text = readFileSync(path, 'utf8');
  const doc = parse(text) as Record<string, unknown>;
  for (const { path: key, variable } of agentConfigVariables()) {
    let node: unknown = doc;
    for (const p of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[p];
    assert.ok(node !== undefined || text.includes(`# ${key.split('.').pop()}:`), `${key} is documented (set, or shown commented out) in the example`);
    assert.ok(text.includes(variable), `${variable} is named in the example`);
  }
});
