// `airlock dev` with PostgreSQL installed (Debian's server package, as in CI): the demo database
// behind connection demo-db, reached with the real `psql` through the gateway's PostgreSQL listener
// exactly as the banner says; cards come back masked, DROP is refused with airlock's message, the
// session replays with its statements, and Ctrl-C stops the database too.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AIRLOCK, AIRLOCK_AGENT, run, runProgram, start } from '../../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-dev-pg-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FREE = ['--port', '0', '--idp-port', '0', '--agent-port', '0', '--demo-port', '0', '--postgres-port', '0'];

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

test('psql through airlock dev: the demo database, masked, DROP refused, replayed; Ctrl-C stops it', async () => {
  const dev = start(AIRLOCK, ['dev', ...FREE, '--data-dir', join(dir, 'state')], { cwd: dir });
  after(() => dev.stop('SIGKILL'));
  await dev.waitFor(/Ctrl-C stops everything\./, 30000);
  const { stdout } = dev.output();
  const gateway = stdout.match(/^  gateway\s+(http:\/\/127\.0\.0\.1:\d+)\s/m)?.[1];
  const listener = Number(stdout.match(/^  postgres listener  127\.0\.0\.1:(\d+)    psql and drivers/m)?.[1]);
  const database = stdout.match(/^  demo database      postgres:\/\/127\.0\.0\.1:(\d+)\/demo    connection "demo-db": table customers/m);
  assert.ok(gateway && listener && database, `the banner names the listener and the demo database:\n${stdout}`);
  const databasePort = Number(database[1]);
  // The one-liner the banner prints, with this run's port.
  const dsn = `host=127.0.0.1 port=${listener} dbname=demo-db user=bob`;
  assert.ok(stdout.includes(`  PGPASSWORD=$(airlock dev token --user bob) psql "${dsn}"`), stdout);

  // The database's login is in the agent's vault, never in its configuration file.
  const listed = await run(AIRLOCK_AGENT, ['secrets', 'list', '--config', join(dir, 'state', 'agent.yaml')], { cwd: dir });
  assert.match(listed.stdout, /^demo-db\s+postgres\s/m, listed.stderr);
  const agentYaml = readFileSync(join(dir, 'state', 'agent.yaml'), 'utf8');
  assert.ok(agentYaml.includes(`"postgres://127.0.0.1:${databasePort}"`), agentYaml);
  assert.doesNotMatch(agentYaml, /password/);

  // Only the demo login over TCP, with its password: the cluster's superuser is not reachable from 127.0.0.1.
  const superuser = await runProgram('psql', ['-X', '-w', '-c', 'SELECT 1', `host=127.0.0.1 port=${databasePort} dbname=demo user=airlock`]);
  assert.notEqual(superuser.code, 0);
  assert.match(superuser.stderr, /password|authentication/, superuser.stderr);

  const bob = await run(AIRLOCK, ['dev', 'token', '--user', 'bob', '--gateway', gateway], { cwd: dir });
  assert.equal(bob.code, 0, bob.stderr);
  const script = join(dir, 'tour.sql');
  writeFileSync(script, [
    'SELECT id, name, email, ssn, card FROM customers ORDER BY id;',
    "SELECT replace(card, ' ', '') AS digits FROM customers WHERE id = 1;",
    'DROP TABLE customers;',
    '',
  ].join('\n'));
  const psql = await runProgram('psql', ['-X', '-f', script, dsn], { env: { PGPASSWORD: bob.stdout.trim(), PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' } });
  assert.equal(psql.code, 0, psql.stderr);
  assert.match(psql.stdout, /^  1 \| Ada Lovelace      \| \[EMAIL_ADDRESS\] \| \[US_SSN\] \| \[CREDIT_CARD …1111\]$/m, psql.stdout);
  assert.match(psql.stdout, /^  3 \| Alan Turing       \| \[EMAIL_ADDRESS\] \| \[US_SSN\] \| \[CREDIT_CARD …0005\]$/m, psql.stdout);
  assert.match(psql.stdout, /^\(4 rows\)$/m);
  assert.match(psql.stdout, /^ \[CREDIT_CARD …1111\]$/m, 'a card rewritten by an expression is masked too');
  for (const secret of ['4111', '412-67-3390', 'ada@example.com', '3782 822463']) assert.ok(!psql.stdout.includes(secret), `${secret} leaked:\n${psql.stdout}`);
  assert.match(psql.stderr, /ERROR: {2}airlock: The request on connection demo-db was refused by policy \(sql\.drop\): DROP and TRUNCATE are refused through airlock; ask a database owner to run them\. \(GW_POLICY_DENIED\)/, psql.stderr);

  // The session, as an admin replays it: each statement, its decision, the masked rows.
  const alice = await run(AIRLOCK, ['dev', 'token', '--user', 'alice', '--gateway', gateway], { cwd: dir });
  const aliceEnv = { AIRLOCK_GATEWAY: gateway, AIRLOCK_TOKEN: alice.stdout.trim(), AIRLOCK_CONFIG_DIR: join(dir, 'cli') };
  const sessions = await run(AIRLOCK, ['sessions', 'list', '--connection', 'demo-db'], { env: aliceEnv, cwd: dir });
  const sessionId = /^(ses_[0-9a-f]{32})\s+demo-db\s+bob\s/m.exec(sessions.stdout)?.[1];
  assert.ok(sessionId, sessions.stdout + sessions.stderr);
  const replay = await run(AIRLOCK, ['sessions', 'replay', sessionId, '--speed', '0'], { env: aliceEnv, cwd: dir });
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /session start {2}bob on demo-db \(postgres, PostgreSQL protocol from psql\)/);
  assert.match(replay.stdout, /→ query\n\s+SELECT id, name, email, ssn, card FROM customers ORDER BY id;\n/);
  assert.match(replay.stdout, /← SELECT 4: 4 rows, 4 masked/);
  assert.match(replay.stdout, /\["1","Ada Lovelace","\[EMAIL_ADDRESS\]","\[US_SSN\]","\[CREDIT_CARD …1111\]"\]/);
  assert.match(replay.stdout, /→ query \[withheld\]\n\s+DROP TABLE customers;\n[^]*decision deny \(request\): sql\.drop/);
  assert.ok(!replay.stdout.includes('4111 1111'), 'the recording holds the masked rows only');

  const finished = await dev.stop('SIGINT');
  assert.equal(finished.code, 0, finished.stderr);
  assert.equal(await accepting(databasePort), false, 'the demo database is stopped with the rest');
  assert.equal(await accepting(listener), false, 'and so is the listener');
});

test('the PostgreSQL listener port in use under airlock dev names --postgres-port, leaving nothing running', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const { code, stderr } = await run(AIRLOCK, ['dev', ...FREE.slice(0, 8), '--postgres-port', String(port), '--data-dir', join(dir, 'state2')], { cwd: dir });
  assert.equal(code, 1);
  assert.equal(stderr, `airlock: Port ${port} on 127.0.0.1 is already in use; stop what holds it, or choose another with --postgres-port (0 picks a free one), or postgres.port in the --config file. (CLI_PORT_IN_USE)\n`);
});
