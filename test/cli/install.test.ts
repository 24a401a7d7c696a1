// Installing the commands as the README says: `npm install -g .` from the clone (into a temporary
// prefix, the same link `npm link` makes), then `airlock` and `airlock-agent` run from anywhere,
// on the Node 24 the clone pins even when the `node` on PATH is too old for type stripping.
// And the package is one that may be installed: our own name, a licence file that matches.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'airlock-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const prefix = join(dir, 'prefix');
const oldNode = join(dir, 'old-node'); // a `node` on PATH that is too old, as on a system with Node 20
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

interface Ran { code: number; stdout: string; stderr: string }
async function sh(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRLOCK_') && !k.startsWith('NODE_')));
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { cwd: dir, env: { ...base, PATH: `${oldNode}:${process.env.PATH}`, HOME: dir, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

before(async () => {
  mkdirSync(oldNode);
  writeFileSync(join(oldNode, 'node'), '#!/bin/sh\necho "v20.0.0 cannot strip types" >&2\nexit 9\n');
  chmodSync(join(oldNode, 'node'), 0o755);
  const npm = await promisify(execFile)('npm', ['install', '-g', ROOT, '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, timeout: 120_000 });
  assert.equal(npm.stderr.replace(/^npm warn EBADENGINE.*\n/gm, ''), '');
});

test('npm install -g . puts airlock and airlock-agent on PATH; they run from anywhere on the pinned Node 24', async () => {
  const version = await sh(join(prefix, 'bin', 'airlock'), ['version']);
  assert.deepEqual(version, { code: 0, stdout: `airlock ${String(pkg.version)}\n`, stderr: '' });
  const agent = await sh(join(prefix, 'bin', 'airlock-agent'), ['version']);
  assert.deepEqual(agent, { code: 0, stdout: `airlock-agent ${String(pkg.version)}\n`, stderr: '' });
  const help = await sh(join(prefix, 'bin', 'airlock'), ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: airlock \[options\] \[command\]/);
  // a usage error through the launcher is still one coded line, exit 2
  const wrong = await sh(join(prefix, 'bin', 'airlock'), ['gatway']);
  assert.deepEqual(wrong, { code: 2, stdout: '', stderr: "airlock: unknown command 'gatway' (did you mean gateway?); run `airlock --help` for usage (CLI_USAGE)\n" });
});

test('the launcher keeps its compile cache under $XDG_CACHE_HOME/airlock, and $AIRLOCK_NODE that is not a program is refused', async () => {
  const cache = join(dir, 'cache');
  const warm = await sh(join(prefix, 'bin', 'airlock'), ['version'], { XDG_CACHE_HOME: cache });
  assert.equal(warm.code, 0, warm.stderr);
  assert.ok(readdir(join(cache, 'airlock', 'node-compile-cache')).length > 0, 'Node wrote its compile cache there');
  const missing = await sh(join(prefix, 'bin', 'airlock'), ['version'], { AIRLOCK_NODE: join(dir, 'no-such-node') });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `airlock: $AIRLOCK_NODE (${join(dir, 'no-such-node')}) is not an executable file; point it at a Node >= 22.18 binary, or unset it to use the Node 24 in ${ROOT.replace(/\/$/, '')}/node_modules (CLI_INTERNAL)\n`);
});

test('the package may be installed: our own npm name, not private, Apache-2.0 with its LICENSE, the launchers as bins', () => {
  assert.equal(pkg.name, 'airlock-gateway', 'the npm name `airlock` belongs to an unrelated package');
  assert.equal(pkg.private, undefined);
  assert.equal(pkg.license, 'Apache-2.0');
  const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^\s*Apache License\s+Version 2\.0, January 2004\s/);
  assert.match(license, /END OF TERMS AND CONDITIONS/);
  assert.deepEqual(pkg.bin, { airlock: './bin/airlock', 'airlock-agent': './bin/airlock-agent' });
  for (const file of ['CHANGELOG.md', 'SECURITY.md']) assert.ok(readFileSync(join(ROOT, file), 'utf8').length > 500, `${file} is there`);
});

function readdir(path: string): string[] {
  return readdirSync(path, { recursive: true }) as string[];
}
