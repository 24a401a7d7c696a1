// A lock file next to the credentials, held while one `airlock` process reads, changes and writes
// them. It matters most for refresh: refresh tokens rotate, and an identity provider that sees a
// used refresh token again (two `$(airlock token)` at once) revokes the whole session, so the
// second process must wait, re-read, and find the fresh token the first one stored.
import { open, rm, stat } from 'node:fs/promises';
import { CliError } from '../errors.ts';

export interface LockOptions {
  /** How long to wait for another process's lock, in milliseconds. Default 15000. */
  readonly waitMs?: number;
  /**
   * A lock older than this (milliseconds) is left over from a process that died, and is broken.
   * Default 60000: longer than any refresh (its requests time out after 10 s each).
   */
  readonly staleMs?: number;
}

const RETRY_MS = 50;

/** Runs `fn` holding `<path>.lock` (created exclusively, mode 0600), then removes the lock. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lockPath = `${path}.lock`;
  const waitMs = options.waitMs ?? 15_000;
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + waitMs;
  for (;;) { // bounded by the deadline
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CliError('CLI_CREDENTIALS_UNAVAILABLE', `Cannot create the lock file ${lockPath}: ${(err as Error).message}.`, { cause: err });
      }
    }
    const held = await stat(lockPath).catch(() => undefined);
    if (held !== undefined && Date.now() - held.mtimeMs > staleMs) {
      await rm(lockPath, { force: true }); // its owner died; whoever creates it next wins
      continue;
    }
    if (Date.now() >= deadline) {
      throw new CliError('CLI_CREDENTIALS_UNAVAILABLE', `Another airlock command has held ${lockPath} for over ${Math.round(waitMs / 1000)} s; if none is running, delete that file.`);
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}
