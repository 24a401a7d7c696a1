// The labelled corpus the inspector tests use is the one kept in test/fixtures/corpus: every file
// is there and reads as its README says, in a clone with nothing beside it. A missing file fails
// loudly, naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CORPUS_COPY, CORPUS_FILES, corpusFile } from './corpus.ts';

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

const lines = (name: 'sql.jsonl' | 'shell.jsonl' | 'pii.jsonl') => readFileSync(corpusFile(name), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('the kept copy holds the corpus, each file as its README describes it', () => {
  assert.deepEqual(filesUnder(CORPUS_COPY), [...CORPUS_FILES].sort(), 'test/fixtures/corpus holds exactly the corpus files');
  const sql = lines('sql.jsonl');
  assert.ok(sql.length >= 30 && sql.every((c) => typeof c.sql === 'string' && typeof c.dialect === 'string' && ['allow', 'review', 'deny'].includes(c.expect)), 'sql.jsonl: {dialect, sql, expect}');
  const shell = lines('shell.jsonl');
  assert.ok(shell.length >= 20 && shell.every((c) => typeof c.command === 'string' && ['allow', 'review', 'deny'].includes(c.expect)), 'shell.jsonl: {command, expect}');
  const pii = lines('pii.jsonl');
  assert.ok(pii.length >= 20 && pii.every((c) => typeof c.text === 'string' && Array.isArray(c.entities)), 'pii.jsonl: {text, entities}');

  // The external benchmark set, with its licence and where it comes from.
  const set = JSON.parse(readFileSync(corpusFile('external/presidio-synth-v2.json'), 'utf8')) as Array<{ full_text: string; spans: Array<{ entity_type: string; start_position: number; end_position: number }> }>;
  assert.equal(set.length, 1500);
  const count = (type: string) => set.reduce((n, d) => n + d.spans.filter((s) => s.entity_type === type).length, 0);
  assert.deepEqual(Object.fromEntries(['CREDIT_CARD', 'PHONE_NUMBER', 'EMAIL_ADDRESS', 'IBAN_CODE', 'US_SSN', 'IP_ADDRESS'].map((t) => [t, count(t)])),
    { CREDIT_CARD: 136, PHONE_NUMBER: 92, EMAIL_ADDRESS: 49, IBAN_CODE: 21, US_SSN: 16, IP_ADDRESS: 14 });
  const licence = readFileSync(corpusFile('external/presidio-synth-v2.LICENSE'), 'utf8');
  assert.match(licence, /MIT License/);
  assert.match(licence, /Copyright \(c\) Microsoft Corporation/);
  const about = readFileSync(join(CORPUS_COPY, 'external/README.md'), 'utf8');
  assert.match(about, /presidio-research/);
  assert.match(about, /data\/synth_dataset_v2\.json/);
  assert.match(about, /MIT/);
});

test('a corpus file that is missing fails loudly, naming it', () => {
  const empty = mkdtempSync(join(tmpdir(), 'airlock-corpus-'));
  const saved = process.env.AIRLOCK_CORPUS_DIR;
  try {
    process.env.AIRLOCK_CORPUS_DIR = empty;
    assert.throws(() => corpusFile('pii.jsonl'), { message: `The corpus file ${empty}/pii.jsonl is missing: test/fixtures/corpus is part of the repository; restore it with git checkout.` });
    process.env.AIRLOCK_CORPUS_DIR = join(empty, 'nowhere');
    assert.throws(() => corpusFile('sql.jsonl'), { message: `The corpus directory ${empty}/nowhere/ does not exist (AIRLOCK_CORPUS_DIR).` });
  } finally {
    if (saved === undefined) delete process.env.AIRLOCK_CORPUS_DIR;
    else process.env.AIRLOCK_CORPUS_DIR = saved;
    rmSync(empty, { recursive: true });
  }
});
