// Layering rules from docs/architecture.md, enforced (the MCP SDK's layeringInvariants.test.ts habit):
// gateway/ never imports from agent/ or cli/; agent/ imports from gateway/ only gateway/tunnel/,
// gateway/tunnel/ imports nothing else from gateway/ (so the agent's closure stays clean), and
// lib/ (what the gateway and the agent share) imports from none of them; every data path decides
// through gateway/guard/, which imports none of them; gateway/telemetry/ only observes what the
// others report to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = join(root, dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(relative(root, p)));
    else if (name.endsWith('.ts')) out.push(relative(root, p));
  }
  return out;
}

/** Repo-relative targets of every relative import/export/dynamic import in a file. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g)]
    .map((m) => m[1] ?? m[2] ?? m[3]!)
    .filter((s) => s.startsWith('.'));
  return specs.map((s) => relative(root, resolve(join(root, dirname(file)), s)));
}

test('gateway/ never imports from agent/ or cli/', () => {
  for (const file of sources('gateway')) {
    for (const target of importsOf(file)) {
      assert.ok(!target.startsWith('agent/') && !target.startsWith('cli/'), `${file} imports ${target}`);
    }
  }
});

test('agent/ imports from gateway/ only gateway/tunnel/', () => {
  for (const file of sources('agent')) {
    for (const target of importsOf(file)) {
      if (target.startsWith('gateway/')) assert.ok(target.startsWith('gateway/tunnel/'), `${file} imports ${target}`);
      assert.ok(!target.startsWith('cli/'), `${file} imports ${target}`);
    }
  }
});

test('gateway/tunnel/ imports nothing else from gateway/', () => {
  for (const file of sources('gateway').filter((f) => f.startsWith('gateway/tunnel/'))) {
    for (const target of importsOf(file)) {
      assert.ok(!target.startsWith('gateway/') || target.startsWith('gateway/tunnel/'), `${file} imports ${target}`);
    }
  }
});

test('lib/ imports nothing from gateway/, agent/ or cli/', () => {
  for (const file of sources('lib')) {
    for (const target of importsOf(file)) {
      assert.ok(!/^(gateway|agent|cli)\//.test(target), `${file} imports ${target}`);
    }
  }
});

test('gateway/guard/ decides for every data path and imports from none of them; the MCP gateway never imports the HTTP proxy', () => {
  for (const file of sources('gateway')) {
    for (const target of importsOf(file)) {
      if (file.startsWith('gateway/guard/')) assert.ok(!/^gateway\/(proxy|mcp|postgres)\//.test(target), `${file} imports ${target}`);
      if (file.startsWith('gateway/mcp/')) assert.ok(!target.startsWith('gateway/proxy/'), `${file} imports ${target}`);
    }
  }
  assert.ok(importsOf('gateway/mcp/firewall.ts').includes('gateway/guard/index.ts'), 'the MCP firewall decides through the guard');
  assert.ok(importsOf('gateway/proxy/http.ts').includes('gateway/guard/index.ts'), 'the HTTP path decides through the guard');
  assert.ok(importsOf('gateway/postgres/statement.ts').includes('gateway/guard/index.ts') && importsOf('gateway/postgres/session.ts').includes('gateway/guard/index.ts'), 'the PostgreSQL listener decides through the guard');
  for (const file of sources('gateway').filter((f) => f.startsWith('gateway/postgres/'))) {
    for (const target of importsOf(file)) assert.ok(!/^gateway\/(proxy|mcp)\//.test(target), `${file} imports ${target}: the listener adapts a protocol, it takes no other path's stages`);
  }
});

test('gateway/telemetry/ only observes: it imports no data path, nor the guard, policy, recorder or store it times', () => {
  for (const file of sources('gateway/telemetry')) {
    for (const target of importsOf(file)) {
      assert.ok(!/^gateway\/(proxy|mcp|postgres|guard|policy|recorder|store|agents|tunnel|inspect|limits|reviews)\//.test(target), `${file} imports ${target}`);
    }
  }
  assert.ok(importsOf('gateway/guard/record.ts').includes('gateway/telemetry/context.ts'), 'the guard reports its stages');
});

test('the rules see real imports (the parser is not vacuous)', () => {
  assert.ok(importsOf('gateway/server.ts').includes('gateway/errors.ts'));
  assert.ok(importsOf('cli/commands/gateway.ts').includes('gateway/main.ts'), 'dynamic imports are seen too');
});
