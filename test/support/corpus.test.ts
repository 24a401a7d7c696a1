// The corpus copy in test/fixtures/corpus is the shared corpus, byte for byte, wherever both exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { CORPUS_COPY, SHARED_CORPUS } from './corpus.ts';

test('the kept copy of the corpus matches the shared one', () => {
  for (const name of ['sql.jsonl', 'shell.jsonl', 'pii.jsonl', 'README.md']) {
    assert.ok(existsSync(`${CORPUS_COPY}${name}`), `test/fixtures/corpus/${name} is kept`);
    if (!existsSync(`${SHARED_CORPUS}${name}`)) continue; // a clone away from ../shared: the copy is all there is
    assert.ok(readFileSync(`${CORPUS_COPY}${name}`).equals(readFileSync(`${SHARED_CORPUS}${name}`)), `test/fixtures/corpus/${name} differs from ../shared/corpus/${name}: copy it again`);
  }
});
