// Atomic writes: the whole content or nothing, the mode asked for, no temporary file left, and
// an exclusive write that never replaces what another writer created first.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/files.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('replaces a file whole, mode 0600 by default, no temporary file left', async () => {
  const path = join(dir, 'state.json');
  writeFileSync(path, 'old');
  await writeFileAtomic(path, '{"new":true}');
  assert.equal(readFileSync(path, 'utf8'), '{"new":true}');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  await writeFileAtomic(join(dir, 'open.txt'), 'x', { mode: 0o644 });
  assert.equal(statSync(join(dir, 'open.txt')).mode & 0o777, 0o644);
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
});

test('exclusive: the first writer wins, the second gets EEXIST and changes nothing', async () => {
  const path = join(dir, 'master.key');
  const results = await Promise.allSettled([writeFileAtomic(path, 'first', { exclusive: true }), writeFileAtomic(path, 'second', { exclusive: true })]);
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal((failed.reason as NodeJS.ErrnoException).code, 'EEXIST');
  const content = readFileSync(path, 'utf8');
  assert.ok(content === 'first' || content === 'second');
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
});

test('a write into a missing directory fails with the file system error and leaves nothing', async () => {
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'x'), 'x'), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
});
