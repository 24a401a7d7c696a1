// Where the shared labelled corpus (SQL, shell, PII cases) is read from: AIRLOCK_CORPUS_DIR when
// set; else ../shared/corpus beside the checkout, the engineers' layout; else the copy kept in
// test/fixtures/corpus, so a clone anywhere (CI, a temp dir) runs the same cases. When the shared
// corpus is there, test/support/corpus.test.ts fails if the copy has drifted from it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_CORPUS = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url));
export const CORPUS_COPY = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));

/** The directory (with a trailing slash) holding sql.jsonl, shell.jsonl and pii.jsonl. */
export function corpusDir(): string {
  const fromEnv = process.env.AIRLOCK_CORPUS_DIR;
  if (fromEnv) return fromEnv.endsWith('/') ? fromEnv : `${fromEnv}/`;
  return existsSync(`${SHARED_CORPUS}sql.jsonl`) ? SHARED_CORPUS : CORPUS_COPY;
}

/** The path of one corpus file, e.g. `corpusFile('pii.jsonl')`. */
export function corpusFile(name: 'sql.jsonl' | 'shell.jsonl' | 'pii.jsonl'): string {
  return `${corpusDir()}${name}`;
}
