// The vault's write lock: every change to vault.json is read–modify–write, so two writers at once
// (two `airlock-agent secrets set` in parallel, or `vault rewrap` during a `set`) would each
// rename their own version into place and one update would be lost. Writers take
// `vault.json.lock` first: created exclusively (lib/files.ts links it into place, so exactly one
// process gets it), holding the holder's pid and a random nonce; released by removing it.
//
// A writer that finds the lock taken polls (every 25 ms) for at most `timeoutMs`. A lock whose
// holder process is gone (a crash between take and release) is broken: it is removed only if it
// still holds the nonce that was judged stale, so a live writer's fresh lock is not removed.
// Readers take no lock: writes land by atomic rename, so a reader sees the old or the new file.
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../../lib/files.ts';
import { AgentError } from '../errors.ts';

const POLL_MS = 25;

export interface LockOptions {
  /** Milliseconds to wait for a lock another process holds. Default 10000. */
  readonly timeoutMs?: number;
}

/** Runs `fn` holding the lock file `path`; AGENT_VAULT_BUSY when it cannot be taken within the timeout. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const nonce = randomBytes(12).toString('hex');
  const content = JSON.stringify({ pid: process.pid, nonce, at: new Date().toISOString() });
  const deadline = Date.now() + timeoutMs;
  // Bounded by the deadline: each pass sleeps POLL_MS, or breaks a dead holder's lock.
  for (;;) {
    try {
      await writeFileAtomic(path, content, { exclusive: true });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new AgentError('AGENT_VAULT_INVALID', `Cannot create the vault's lock file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the permissions of the agent's dataDir.`, { cause: err });
      }
    }
    if (await breakIfDead(path)) continue;
    if (Date.now() >= deadline) {
      throw new AgentError('AGENT_VAULT_BUSY', `Another process has held the vault's lock ${path} for more than ${timeoutMs / 1000} s; wait for it, or, if no airlock-agent secrets or vault command is running, remove that file.`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    // Only our own lock is removed (it could have been broken by a mistaken peer meanwhile).
    if ((await readHolder(path))?.nonce === nonce) await rm(path, { force: true });
  }
}

interface Holder { readonly pid: number; readonly nonce: string }

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Holder>;
    return typeof parsed.pid === 'number' && typeof parsed.nonce === 'string' ? { pid: parsed.pid, nonce: parsed.nonce } : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the lock when its holder process no longer exists on this host; true when it did (or the lock is gone). */
async function breakIfDead(path: string): Promise<boolean> {
  const holder = await readHolder(path);
  if (holder === undefined) return false; // being written (link makes that instant) or unreadable: wait
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return false; // EPERM: alive, someone else's
  }
  if ((await readHolder(path))?.nonce !== holder.nonce) return true; // already replaced: try again
  await rm(path, { force: true });
  return true;
}
