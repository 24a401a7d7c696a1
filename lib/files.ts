// Writing a file so that no reader, and no crash, ever sees half of it: the content goes to a
// temporary file beside it (created exclusively, with its final mode), is synced to disk, and
// only then takes the file's name. Shared by everything that keeps state on disk (the agent's
// key, state and vault; the CLI's credentials; the dev provider's keys).
import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';

export interface AtomicWriteOptions {
  /** File mode of the new file. Default 0o600: these files hold secrets. */
  readonly mode?: number;
  /**
   * Never replace an existing file: the name is taken with link(), which fails with EEXIST when
   * it exists, so two processes creating the same file at once agree on one content.
   */
  readonly exclusive?: boolean;
}

/** Writes `content` to `path` atomically; throws the file system's error (callers add their code). */
export async function writeFileAtomic(path: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', options.mode ?? 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive) await link(tmp, path);
    else await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true }); // after a rename there is nothing left to remove
  }
}
