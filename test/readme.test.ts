// The README's table of runtime dependencies names every package in package.json "dependencies",
// and nothing that is not one (standard 7: every runtime dependency says why).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('every runtime dependency has a line in the README saying why', () => {
  const section = readme.slice(readme.indexOf('## Runtime dependencies'));
  const table = section.split('\n').filter((line) => line.startsWith('| `'));
  const listed = new Set(table.flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1])));
  for (const name of Object.keys(pkg.dependencies)) assert.ok(listed.has(name), `README's runtime dependency table lacks ${name}`);
  for (const name of listed) {
    if (name?.startsWith('node:')) continue;
    assert.ok(name && name in pkg.dependencies, `README lists ${name}, which is not a runtime dependency`);
  }
});
