// The `airlock` command as a user runs it: a real process, its exit status and what it prints.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AIRLOCK, run, start } from '../support/process.ts';
import { freePort } from '../../lib/listen.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('--help lists the commands', async () => {
  const { code, stdout } = await run(AIRLOCK, ['--help']);
  assert.equal(code, 0);
  for (const cmd of ['gateway', 'dev', 'version']) assert.match(stdout, new RegExp(`^  ${cmd}\\b`, 'm'), `${cmd} is listed`);
  const sub = await run(AIRLOCK, ['gateway', 'start', '--help']);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /--config <file>/);
  assert.match(sub.stdout, /AIRLOCK_SERVER_PORT/);
});

test('version prints the package version', async () => {
  const { code, stdout } = await run(AIRLOCK, ['version']);
  assert.equal(code, 0);
  assert.match(stdout, /^airlock \d+\.\d+\.\d+\n$/);
});

test('an unknown command exits 2 with one coded line and a suggestion', async () => {
  const { code, stderr } = await run(AIRLOCK, ['gatway']);
  assert.equal(code, 2);
  assert.equal(stderr, "airlock: unknown command 'gatway' (did you mean gateway?); run `airlock --help` for usage (CLI_USAGE)\n");
  const none = await run(AIRLOCK, ['frobnicate']);
  assert.equal(none.code, 2);
  assert.equal(none.stderr, "airlock: unknown command 'frobnicate'; run `airlock --help` for usage (CLI_USAGE)\n");
});

test('an unknown option or missing argument exits 2 with one coded line naming the subcommand\'s help', async () => {
  const option = await run(AIRLOCK, ['whoami', '--gatewy', 'x']);
  assert.equal(option.code, 2);
  assert.equal(option.stderr, "airlock: unknown option '--gatewy' (did you mean --gateway?); run `airlock whoami --help` for usage (CLI_USAGE)\n");
  const missing = await run(AIRLOCK, ['connections', 'add']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "airlock: missing required argument 'name'; run `airlock connections add --help` for usage (CLI_USAGE)\n");
});

test('a bad option on a subcommand exits 2 with the reason', async () => {
  const { code, stderr } = await run(AIRLOCK, ['dev', '--port', 'abc']);
  assert.equal(code, 2);
  assert.equal(stderr, "airlock: option '-p, --port <port>' argument 'abc' is invalid. expected a port number from 0 to 65535 (0 picks a free port); run `airlock dev --help` for usage (CLI_USAGE)\n");
});

test('a malformed config exits 2 naming the file, the line, the key path and the reason', async () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'server:\n  port: 8080\n  prot: 1\n');
  const { code, stderr } = await run(AIRLOCK, ['gateway', 'start', '--config', file], { cwd: dir });
  assert.equal(code, 2);
  assert.equal(stderr, `airlock: invalid configuration: ${file}:3:3: server.prot: Unrecognized key: "prot"; did you mean "port"? (GW_CONFIG_INVALID)\n`);
  writeFileSync(file, 'server:\n  port: 8080\n   host: x\n');
  const yaml = await run(AIRLOCK, ['gateway', 'start', '--config', file], { cwd: dir });
  assert.equal(yaml.code, 2);
  assert.equal(yaml.stderr, `airlock: config file ${file}:3:8: a second "key: value" where a value should be: indent a nested key on its own line, line up keys of one mapping at the same column, or quote a value that contains ": " (GW_CONFIG_INVALID)\n`);
});

test('an unreachable store exits 1 naming the URL with its password redacted', async () => {
  const port = await freePort();
  const { code, stderr } = await run(AIRLOCK, ['gateway', 'start'], { cwd: dir, env: { AIRLOCK_STORE_URL: `postgres://airlock:hunter2@127.0.0.1:${port}/airlock`, AIRLOCK_SERVER_PORT: '0' } });
  assert.equal(code, 1);
  assert.ok(!stderr.includes('hunter2'), 'the password is not printed');
  assert.match(stderr, new RegExp(`^airlock: Cannot reach the store at postgres://airlock:\\*\\*\\*@127\\.0\\.0\\.1:${port}/airlock: .*\\(GW_STORE_UNAVAILABLE\\)\\n$`));
});

test('a port in use exits 1 naming the port and the option', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const { code, stderr } = await run(AIRLOCK, ['gateway', 'start'], { cwd: dir, env: { AIRLOCK_SERVER_PORT: String(port), AIRLOCK_STORE_URL: `sqlite:${join(dir, 'inuse.db')}` } });
  assert.equal(code, 1);
  assert.equal(stderr, `airlock: Port ${port} on 127.0.0.1 is already in use; stop what holds it, or choose another with server.port in airlock.yaml or AIRLOCK_SERVER_PORT. (GW_PORT_IN_USE)\n`);
});

test('gateway start serves on the embedded defaults and stops gracefully on SIGTERM', async () => {
  const cwd = mkdtempSync(join(dir, 'start-'));
  const gw = start(AIRLOCK, ['gateway', 'start'], { cwd, env: { AIRLOCK_SERVER_PORT: '0' } });
  after(() => gw.stop('SIGKILL'));
  const [, url] = await gw.waitFor(/"msg":"gateway listening","url":"(http:\/\/127\.0\.0\.1:\d+)"/);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  const ready = await fetch(`${url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', checks: { store: 'ok' } });
  assert.ok(existsSync(join(cwd, 'data', 'airlock.db')), 'the embedded SQLite store is created under ./data');

  const lines = gw.output().stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.every((l) => typeof l.time === 'string' && typeof l.level === 'string' && typeof l.msg === 'string'), 'every stdout line is a JSON log record');
  assert.ok(lines.some((l) => l.level === 'warn' && String(l.msg).includes('auth.issuer')), 'a missing identity provider is warned about');

  const finished = await gw.stop('SIGTERM');
  assert.equal(finished.code, 0);
  assert.match(finished.stdout, /"msg":"gateway stopped"/);
});

