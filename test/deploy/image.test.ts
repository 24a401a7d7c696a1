// The container image definition (deploy/Dockerfile, .dockerignore). No container engine here
// (no daemon for docker; podman would need the base image from a registry), so the image is not
// built in this test: it checks what a build and a start depend on instead — every file the
// Dockerfile copies exists and is not excluded from the build context, every file the entry
// points load (transitively) is copied, every package they import is a production dependency
// (the image installs with --omit=dev), the stages run as the unprivileged user — and it runs the
// HEALTHCHECK script against a real gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { freePort } from '../../lib/listen.ts';
import { run } from '../support/process.ts';
import { startTestGateway } from '../support/gateway.ts';
import { ROOT } from './support.ts';

interface Instruction { stage: string; op: string; args: string }

/** The Dockerfile's instructions, continuation lines joined, comments dropped, each with its stage. */
function instructions(): Instruction[] {
  const text = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() !== '');
  let stage = '';
  return joined.map((l) => {
    const [, op, args] = /^\s*(\w+)\s+(.*)$/.exec(l)!;
    if (op!.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args!)![1]!;
    return { stage, op: op!.toUpperCase(), args: args!.trim() };
  });
}

function dockerignore(): string[] {
  return readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** Whether `.dockerignore` keeps `path` out of the build context (its patterns here: names and dir/** prefixes). */
function ignored(path: string): boolean {
  return dockerignore().some((p) => {
    const bare = p.replace(/^\*\*\//, '');
    return p.startsWith('**/') ? path.split('/').includes(bare) : path === bare || path.startsWith(`${bare}/`);
  });
}

/** Repo-relative files `file` imports (relative specifiers), and the bare package names. */
function importsOf(file: string): { files: string[]; packages: string[] } {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g)]
    .map((m) => m[1] ?? m[2] ?? m[3]!);
  return {
    files: specs.filter((s) => s.startsWith('.')).map((s) => relative(ROOT, resolve(join(ROOT, dirname(file)), s))),
    packages: specs.filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s))
      .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!)),
  };
}

test('the Dockerfile: its stages, an unprivileged user, and every file it copies exists in the build context', () => {
  const all = instructions();
  const stages = [...new Set(all.map((i) => i.stage))].filter((s) => s !== ''); // '' : the ARG before the first FROM
  assert.deepEqual(stages, ['deps', 'runtime', 'agent', 'gateway'], 'the gateway is the last stage, the default target');
  for (const stage of ['runtime', 'agent', 'gateway']) {
    const users = all.filter((i) => i.op === 'USER' && (i.stage === stage || (i.stage === 'runtime' && stage !== 'runtime')));
    assert.deepEqual(users.map((u) => u.args), ['node'], `${stage} runs as node`);
  }
  assert.ok(all.some((i) => i.stage === 'deps' && i.op === 'RUN' && /npm ci --omit=dev --ignore-scripts/.test(i.args)));
  let copied = 0;
  for (const i of all.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
    const parts = i.args.split(/\s+/);
    for (const source of parts.slice(0, -1)) {
      assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: exists`);
      assert.ok(!ignored(source), `COPY ${source}: not excluded by .dockerignore`);
      copied++;
    }
  }
  assert.ok(copied >= 12);
  // The check can fail: these are what .dockerignore keeps out.
  assert.equal(ignored('node_modules'), true);
  assert.equal(ignored('test/deploy/image.test.ts'), true);
  assert.equal(ignored('gateway/main.ts'), false);
  for (const i of all.filter((i) => i.op === 'VOLUME')) assert.match(i.args, /^\["\/var\/lib\/airlock(-agent)?"\]$/);
});

test('the image holds every file its entry points load, and every package they import is a production dependency', () => {
  const all = instructions();
  const copiedDirs = all.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  const inImage = (file: string) => copiedDirs.some((c) => file === c || file.startsWith(`${c}/`));
  const deps = new Set(Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies));
  const execArrays = all.filter((i) => i.op === 'ENTRYPOINT' || i.op === 'HEALTHCHECK')
    .map((i) => JSON.parse(i.args.replace(/^.*?CMD\s+/, '')) as string[]);
  const entries = [...new Set(execArrays.flatMap((a) => a.filter((x) => x.endsWith('.ts'))))];
  assert.deepEqual(entries.sort(), ['agent/main.ts', 'cli/airlock.ts', 'deploy/healthcheck.ts']);
  // The compose file's entry scripts run in the same image.
  entries.push('deploy/compose/dev-idp.ts', 'deploy/compose/demo-service.ts', 'deploy/compose/setup.ts');
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    assert.ok(inImage(file), `${file} (loaded by an entry point) is copied into the image`);
    const { files, packages } = importsOf(file);
    for (const p of packages) assert.ok(deps.has(p), `${file} imports ${p}, which is not in dependencies (the image omits devDependencies)`);
    queue.push(...files.filter((f) => f.endsWith('.ts')));
  }
  assert.ok(seen.size > 100, `the walk reached the gateway's modules (${seen.size})`);
});

test('the HEALTHCHECK script: 0 for a live gateway, 1 with the reason when nothing answers, 2 for a wrong argument', async (t) => {
  const gw = await startTestGateway();
  t.after(() => gw.close());
  const script = join(ROOT, 'deploy/healthcheck.ts');
  const live = await run(script, ['gateway'], { env: { AIRLOCK_SERVER_PORT: new URL(gw.gw.url).port } });
  assert.equal(live.code, 0, live.stderr);
  const closed = await freePort();
  const dead = await run(script, ['agent'], { env: { AIRLOCK_AGENT_HEALTH_PORT: String(closed) } });
  assert.equal(dead.code, 1);
  assert.match(dead.stderr, new RegExp(`^healthcheck: agent on port ${closed}: fetch failed`));
  const usage = await run(script, ['gatway'], {});
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr, 'usage: node deploy/healthcheck.ts gateway|agent\n');
});
