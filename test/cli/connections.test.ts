// `airlock connections` as people run it: real commands against a real gateway trusting the real
// development provider, with the token in $AIRLOCK_TOKEN as in CI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { parse } from 'yaml';
import type { RunningGateway } from '../../gateway/main.ts';
import { AIRLOCK, run } from '../support/process.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let t: TestGateway;
let dir: string;
let gw: RunningGateway;
let env: NodeJS.ProcessEnv;
let bobEnv: NodeJS.ProcessEnv;

before(async () => {
  t = await startTestGateway();
  dir = t.dir;
  gw = t.gw;
  const base = { AIRLOCK_GATEWAY: gw.url, AIRLOCK_CONFIG_DIR: join(dir, 'config') };
  env = { ...base, AIRLOCK_TOKEN: await t.token('alice', ['admins']) };
  bobEnv = { ...base, AIRLOCK_TOKEN: await t.token('bob', ['developers']) };
});
after(() => t.close());

test('add (flags, a stdio command, a file), list, show: what an admin and a user see', async () => {
  const openapi = join(dir, 'openapi.yaml');
  writeFileSync(openapi, 'openapi: 3.0.3\ninfo: { title: Demo, version: "1" }\npaths:\n  /customers:\n    get: { operationId: listCustomers }\n');
  const [demo, files, pg] = await Promise.all([
    run(AIRLOCK, ['connections', 'add', 'demo', '--kind', 'http', '--agent', 'local', '--target', 'http://127.0.0.1:8090',
      '--groups', 'developers,admins', '--tag', 'env=dev', '--tag', 'pii', '--openapi', openapi, '--description', 'Demo customers'], { env }),
    run(AIRLOCK, ['connections', 'add', 'files', '--kind', 'mcp', '--agent', 'local', '--groups', '*', '--env', 'LOG=debug', '--cwd', '/srv', '--',
      'npx', '-y', '@modelcontextprotocol/server-filesystem', '/srv/data'], { env }),
    (async () => {
      const file = join(dir, 'pg.yaml');
      writeFileSync(file, 'kind: postgres\nagent: db-agent\ntarget: postgres://db.internal/app\ngroups: [dba]\npolicy:\n  packs: [sql-safety]\n  defaultAction: review\n');
      return run(AIRLOCK, ['connections', 'add', 'orders-db', '--from-file', file], { env });
    })(),
  ]);
  assert.equal(demo.code, 0, demo.stderr);
  assert.equal(demo.stdout, 'Created connection demo (version 1): http via agent local to http://127.0.0.1:8090/; used by groups developers, admins; policy packs default.\n');
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stdout, /mcp via agent local to stdio: npx -y @modelcontextprotocol\/server-filesystem \/srv\/data; used by every user/);
  assert.equal(pg.code, 0, pg.stderr);
  assert.match(pg.stdout, /^Created connection orders-db \(version 1\): postgres via agent db-agent to postgres:\/\/db\.internal:5432\/app; used by groups dba; policy packs sql-safety\.\n$/);
  assert.deepEqual(gw.connections.get('files')?.target, { command: ['npx', '-y', '@modelcontextprotocol/server-filesystem', '/srv/data'], cwd: '/srv', env: { LOG: 'debug' } });
  assert.equal(gw.connections.get('orders-db')?.policy.defaultAction, 'review');

  const [listed, bobs, hidden, shown] = await Promise.all([
    run(AIRLOCK, ['connections', 'list'], { env }),
    run(AIRLOCK, ['connections', 'list', '--json'], { env: bobEnv }),
    run(AIRLOCK, ['connections', 'show', 'orders-db'], { env: bobEnv }),
    run(AIRLOCK, ['connections', 'show', 'demo'], { env }),
  ]);
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+KIND\s+AGENT\s+TARGET\s+GROUPS\s+PACKS$/);
  assert.match(lines[1]!, /^demo\s+http\s+local\s+http:\/\/127\.0\.0\.1:8090\/\s+developers,admins\s+default$/);
  assert.match(lines[2]!, /^files\s+mcp\s+local\s+stdio: npx -y @modelcontextprotocol\/server-filesystem \/srv\/data\s+\*\s+default$/);
  assert.match(lines[3]!, /^orders-db\s+postgres\s+db-agent\s+postgres:\/\/db\.internal:5432\/app\s+dba\s+sql-safety$/);

  assert.equal(bobs.code, 0, bobs.stderr);
  assert.deepEqual((JSON.parse(bobs.stdout) as Array<{ name: string }>).map((c) => c.name), ['demo', 'files']);
  assert.equal(hidden.code, 1);
  assert.equal(hidden.stderr, 'airlock: There is no connection "orders-db" that you may use; see `airlock connections list`. (GW_CONNECTION_NOT_FOUND) (CLI_REMOTE_ERROR)\n');

  assert.equal(shown.code, 0, shown.stderr);
  const doc = parse(shown.stdout) as Record<string, any>;
  assert.equal(doc.target, 'http://127.0.0.1:8090/');
  assert.deepEqual(doc.tags, ['env=dev', 'pii']);
  assert.equal(doc.openapi.paths['/customers'].get.operationId, 'listCustomers');
  assert.equal(doc.version, 1);
});

test('update changes only what is given, and refuses a file read before someone else\'s change', async () => {
  await gw.connections.create({ name: 'svc', kind: 'http', agent: 'local', target: 'http://127.0.0.1:9000', groups: ['developers'], tags: ['env=dev'] });
  const shown = await run(AIRLOCK, ['connections', 'show', 'svc'], { env });
  const edited = join(dir, 'svc.yaml');
  writeFileSync(edited, shown.stdout.replace('maxRequestBytes: 10485760', 'maxRequestBytes: 2048'));

  const [updated, nothing] = await Promise.all([
    run(AIRLOCK, ['connections', 'update', 'svc', '--packs', 'pii-masking,secrets-masking', '--default-action', 'mask', '--sql-dialect', 'mysql', '--json'], { env }),
    run(AIRLOCK, ['connections', 'update', 'svc'], { env }),
  ]);
  assert.equal(updated.code, 0, updated.stderr);
  const body = JSON.parse(updated.stdout) as Record<string, any>;
  assert.equal(body.version, 2);
  assert.deepEqual(body.policy, { packs: ['pii-masking', 'secrets-masking'], files: [], defaultAction: 'mask' });
  assert.deepEqual(body.sql, { dialect: 'mysql' });
  assert.equal(gw.connections.get('svc')?.sql.dialect, 'mysql');
  assert.deepEqual(body.groups, ['developers'], 'what is not given stays');
  assert.deepEqual(body.tags, ['env=dev']);

  const stale = await run(AIRLOCK, ['connections', 'update', 'svc', '--from-file', edited], { env });
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /Connection "svc" is at version 2, not 1: it changed since you read it.*\(GW_STORE_CONFLICT\)/);
  assert.equal(gw.connections.get('svc')?.limits.maxRequestBytes, 10 * 1024 * 1024);
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /Nothing to change: .*\(CLI_USAGE\)/);
});

test('bad definitions are usage errors naming the field, before anything is sent', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['add', 'x1', '--kind', 'http', '--agent', 'local', '--target', 'http://user:pw@127.0.0.1'], /The connection is not valid: target: must not carry credentials/],
    [['add', 'x2', '--kind', 'postgres', '--agent', 'local', '--target', 'http://x', '--tag', 'a', '--tag', 'a'], /target: must be a postgres:\/\/host:port\/database URL; tags\.1: the key "a" is tagged twice/],
    [['add', 'X3', '--kind', 'http'], /"X3" is not a connection name/],
    [['add', 'x4', '--kind', 'postgres', '--agent', 'local', '--target', 'postgres://db.internal/app', '--sql-dialect', 'mysql'], /The connection is not valid: sql\.dialect: a postgres connection speaks postgresql/],
  ];
  const [badKind, ...results] = await Promise.all([
    run(AIRLOCK, ['connections', 'add', 'x6', '--kind', 'ftp'], { env }),
    ...cases.map(([args]) => run(AIRLOCK, ['connections', ...args], { env })),
  ]);
  cases.forEach(([args, message], i) => {
    const r = results[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /\(CLI_INPUT_INVALID\)\n$/);
  });
  assert.equal(badKind.code, 2);
  assert.match(badKind.stderr, /argument 'ftp' is invalid\. Allowed choices are http, mcp, postgres/);
  const badDialect = await run(AIRLOCK, ['connections', 'add', 'x5', '--kind', 'http', '--sql-dialect', 'oracle'], { env });
  assert.equal(badDialect.code, 2);
  assert.match(badDialect.stderr, /argument 'oracle' is invalid\. Allowed choices are postgresql, mysql, mariadb, sqlite, transactsql/);
  assert.equal(gw.connections.list().some((c) => c.name.startsWith('x')), false);
});

test('remove asks first: without --yes and no terminal it refuses (exit 2); with --yes it removes', async () => {
  await gw.connections.create({ name: 'doomed', kind: 'http', agent: 'local', target: 'http://127.0.0.1:9001' });
  const [refused, byBob] = await Promise.all([
    run(AIRLOCK, ['connections', 'remove', 'doomed'], { env }),
    run(AIRLOCK, ['connections', 'remove', 'doomed', '--yes'], { env: bobEnv }),
  ]);
  assert.equal(refused.code, 2);
  assert.equal(refused.stderr, 'airlock: Removing connection "doomed" needs confirmation, and standard input is not a terminal to ask on; pass --yes to remove it. (CLI_CONFIRMATION_REQUIRED)\n');
  assert.ok(gw.connections.get('doomed'), 'still there');

  assert.equal(byBob.code, 1);
  assert.match(byBob.stderr, /needs the admin role.*GW_FORBIDDEN/);

  const removed = await run(AIRLOCK, ['connections', 'remove', 'doomed', '--yes'], { env });
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout, 'Removed connection doomed.\n');
  assert.equal(gw.connections.get('doomed'), undefined);
});

/** Runs `airlock args…` on a real terminal (util-linux `script` allocates a pty), typing `answer`. */
function runOnTerminal(args: string[], answer: string, childEnv: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRLOCK_')));
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', [process.execPath, AIRLOCK, ...args].map(quote).join(' '), '/dev/null'], { env: { ...base, NODE_NO_WARNINGS: '1', ...childEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no exit within 20 s: ${output}`)); }, 20_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
    child.stdin.end(`${answer}\n`);
  });
}

test('on a terminal, remove asks; anything but yes keeps the connection', async () => {
  await gw.connections.create({ name: 'asked', kind: 'http', agent: 'local', target: 'http://127.0.0.1:9002' });
  const kept = await runOnTerminal(['connections', 'remove', 'asked'], 'n', env);
  assert.equal(kept.code, 1, kept.output);
  assert.match(kept.output, /Remove connection asked \(version 1\): http via agent local to http:\/\/127\.0\.0\.1:9002\/; used by admins only; policy packs default\? Its users lose access at once\. \[y\/N\]/);
  assert.match(kept.output, /airlock: Connection "asked" was not removed\. \(CLI_CANCELLED\)/);
  assert.ok(gw.connections.get('asked'), 'still there');
  const removed = await runOnTerminal(['connections', 'remove', 'asked'], 'yes', env);
  assert.equal(removed.code, 0, removed.output);
  assert.match(removed.output, /Removed connection asked\./);
  assert.equal(gw.connections.get('asked'), undefined);
});

test('a misspelt field in a definition file is refused naming the closest field', async () => {
  const file = join(dir, 'typo.yaml');
  writeFileSync(file, 'kind: http\nagent: local\ntarget: http://127.0.0.1:8090\ngroups: [dba]\npolicy:\n  pakcs: [default]\n');
  const r = await run(AIRLOCK, ['connections', 'add', 'typo', '--from-file', file], { env });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'airlock: The connection is not valid: policy.pakcs: unknown field (did you mean "packs"?). (CLI_INPUT_INVALID)\n');
  const far = join(dir, 'far.yaml');
  writeFileSync(far, 'kind: http\nagent: local\ntarget: http://127.0.0.1:8090\nzzzz: 1\n');
  const f = await run(AIRLOCK, ['connections', 'add', 'far', '--from-file', far], { env });
  assert.equal(f.code, 2, f.stderr);
  assert.match(f.stderr, /zzzz: unknown field \(known here: name, kind, /);
});
