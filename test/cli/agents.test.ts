// `airlock agents` as an admin runs it, with the real `airlock-agent` on the "agent host": add
// prints the token and the enroll command; the command works as printed; list shows the agent
// online, then offline after it stops; revoke ends it. The admin's token comes from $AIRLOCK_TOKEN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AIRLOCK, AIRLOCK_AGENT, run, start } from '../support/process.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

let t: TestGateway;
let env: NodeJS.ProcessEnv;

before(async () => {
  t = await startTestGateway();
  env = { AIRLOCK_GATEWAY: t.gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'config'), AIRLOCK_TOKEN: await t.token('alice', ['admins']) };
});
after(() => t.close());

test('add prints the token alone on stdout and the enroll command on stderr; the command works as printed; list follows the agent; revoke ends it', async () => {
  const added = await run(AIRLOCK, ['agents', 'add', 'edge-cli'], { env });
  assert.equal(added.code, 0, added.stderr);
  const token = added.stdout.trim();
  assert.match(added.stdout, /^aet_edge-cli_[A-Za-z0-9_-]{43}\n$/);
  assert.match(added.stderr, /^Agent edge-cli is registered and waits for its enrollment\. The token below works once, until \d{4}-.*; it is not shown again\./);
  const command = added.stderr.match(/^ {2}(airlock-agent enroll --gateway \S+ --token-file <file>)$/m)?.[1];
  assert.equal(command, `airlock-agent enroll --gateway ${t.gw.url} --token-file <file>`);

  // On the "agent host": the printed command, with the file filled in.
  const tokenFile = join(t.dir, 'edge-cli.token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const agentEnv = { AIRLOCK_AGENT_DATA_DIR: join(t.dir, 'edge-cli'), AIRLOCK_AGENT_HEALTH_PORT: '0', AIRLOCK_AGENT_TUNNEL_PING_INTERVAL: '0' };
  const args = command!.replace('<file>', tokenFile).split(' ').slice(1);
  const enrolled = await run(AIRLOCK_AGENT, args, { cwd: t.dir, env: agentEnv });
  assert.equal(enrolled.code, 0, enrolled.stderr);

  const pending = await run(AIRLOCK, ['agents', 'list'], { env });
  assert.match(pending.stdout, /^NAME\s+STATUS\s+STATE\s+TUNNELS\s+VERSION\s+LAST SEEN\n/);
  assert.match(pending.stdout, /^edge-cli\s+active\s+offline\s+0\s+\d+\.\d+\.\d+\s+never$/m);

  const agent = start(AIRLOCK_AGENT, ['start'], { cwd: t.dir, env: agentEnv });
  after(() => agent.stop('SIGKILL'));
  await t.gw.agents.waitOnline('edge-cli', 10_000);
  const online = await run(AIRLOCK, ['agents', 'list'], { env });
  assert.match(online.stdout, /^edge-cli\s+active\s+online\s+1\s+\d+\.\d+\.\d+\s+now$/m);

  assert.equal((await agent.stop('SIGTERM')).code, 0);
  await eventually(() => (t.gw.agents.presence('edge-cli').online ? undefined : true), 5000, 'offline');
  const offline = await run(AIRLOCK, ['agents', 'list', '--json'], { env });
  const row = (JSON.parse(offline.stdout) as Array<Record<string, unknown>>).find((a) => a.name === 'edge-cli')!;
  assert.deepEqual([row.status, row.online, row.tunnels], ['active', false, 0]);
  assert.ok(Date.now() - Date.parse(String(row.lastSeen)) < 30_000, 'last seen is when it disconnected');

  const again = await run(AIRLOCK, ['agents', 'add', 'edge-cli'], { env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Agent edge-cli is enrolled and active; .*revoke it first \(airlock agents revoke edge-cli\).* \(GW_STORE_CONFLICT\) \(CLI_REMOTE_ERROR\)\n$/);

  const revoked = await run(AIRLOCK, ['agents', 'revoke', 'edge-cli'], { env });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, 'Revoked agent edge-cli; 0 tunnels closed on this gateway. To use it again: airlock agents add edge-cli, then enroll it anew.\n');
  assert.match((await run(AIRLOCK, ['agents', 'list'], { env })).stdout, /^edge-cli\s+revoked\s+offline\s/m);
});

test('a non-admin is refused with the gateway\'s reason; an unknown agent and a bad name say so', async () => {
  const bob = await run(AIRLOCK, ['agents', 'list'], { env: { ...env, AIRLOCK_TOKEN: await t.token('bob', ['developers']) } });
  assert.equal(bob.code, 1);
  assert.match(bob.stderr, /needs the admin role.*\(GW_FORBIDDEN\)/);
  const ghost = await run(AIRLOCK, ['agents', 'revoke', 'ghost'], { env });
  assert.equal(ghost.code, 1);
  assert.match(ghost.stderr, /^airlock: No agent "ghost"; .*\(GW_NOT_FOUND\) \(CLI_REMOTE_ERROR\)\n$/);
  const bad = await run(AIRLOCK, ['agents', 'add', 'Bad_Name'], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /is not a DNS label.*\(GW_BAD_REQUEST\)/);
});
