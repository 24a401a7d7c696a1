// Where the labelled corpus (SQL, shell, PII cases, and the external PII benchmark set) is read
// from: the copy kept in test/fixtures/corpus, so a clone anywhere (CI, a temp dir, nothing beside
// it) runs the same cases; or AIRLOCK_CORPUS_DIR when set, to try another copy. A file that is
// not there fails loudly (an Error naming the path), never a skipped case.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The copy in the repository, which the tests use. */
export const CORPUS_COPY = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));

/** The files the corpus is made of, relative to its directory (external/README.md says where the external set comes from and under which licence). */
export const CORPUS_FILES = ['README.md', 'sql.jsonl', 'shell.jsonl', 'pii.jsonl', 'external/README.md', 'external/presidio-synth-v2.json', 'external/presidio-synth-v2.LICENSE'] as const;

/** The directory (with a trailing slash) holding sql.jsonl, shell.jsonl, pii.jsonl and external/. */
export function corpusDir(): string {
  const fromEnv = process.env.AIRLOCK_CORPUS_DIR;
  const dir = fromEnv ? (fromEnv.endsWith('/') ? fromEnv : `${fromEnv}/`) : CORPUS_COPY;
  if (!existsSync(dir)) throw new Error(`The corpus directory ${dir} does not exist${fromEnv ? ' (AIRLOCK_CORPUS_DIR)' : ': test/fixtures/corpus is part of the repository; restore it with git checkout'}.`);
  return dir;
}

/** The path of one corpus file, e.g. `corpusFile('pii.jsonl')`; throws naming it when it is missing. */
export function corpusFile(name: (typeof CORPUS_FILES)[number]): string {
  const path = `${corpusDir()}${name}`;
  if (!existsSync(path)) throw new Error(`The corpus file ${path} is missing: test/fixtures/corpus is part of the repository; restore it with git checkout.`);
  return path;
}
