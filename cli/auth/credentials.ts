// Where `airlock login` keeps its tokens: one JSON file in the user's config directory, mode 0600
// in a 0700 directory, one entry per gateway URL (several gateways can be logged in at once).
// Every change is read-modify-write under a lock and lands by rename, so a crash or a concurrent
// command never leaves half a file. The file is parsed strictly; a corrupt one is an error naming
// the file, and no message ever quotes its content (it holds tokens).
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CliError } from '../errors.ts';
import { withFileLock } from './file-lock.ts';
import { gatewayKey } from '../gateway-url.ts';
import { writeFileAtomic } from '../../lib/files.ts';

const sessionSchema = z.strictObject({
  /** The identity provider that issued the tokens, and the client they were issued to. */
  issuer: z.string().min(1),
  clientId: z.string().min(1),
  /** RFC 8707 resource the tokens are for (the gateway's, from /api/v1/info). */
  resource: z.string().min(1),
  accessToken: z.string().min(1),
  /** When the access token expires, in seconds since the epoch. */
  expiresAt: z.number().int().nonnegative(),
  refreshToken: z.string().min(1).optional(),
  scope: z.string().optional(),
  /** Who signed in, from the ID token: for messages only, never for decisions. */
  user: z.strictObject({ sub: z.string(), name: z.string().optional(), email: z.string().optional() }).optional(),
});

const fileSchema = z.strictObject({
  version: z.literal(1),
  gateways: z.record(z.string(), sessionSchema),
});

export type StoredSession = z.infer<typeof sessionSchema>;
type CredentialsFile = z.infer<typeof fileSchema>;

/**
 * The credentials file: `$AIRLOCK_CONFIG_DIR/credentials.json`, else
 * `$XDG_CONFIG_HOME/airlock/credentials.json`, else `~/.config/airlock/credentials.json`.
 */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AIRLOCK_CONFIG_DIR) return join(env.AIRLOCK_CONFIG_DIR, 'credentials.json');
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'airlock', 'credentials.json');
}

export class CredentialStore {
  readonly path: string;
  readonly #warn: (message: string) => void;

  /** `warn` receives one-line notices (a file that was readable by others). Default: stderr. */
  constructor(path: string = credentialsPath(), warn: (message: string) => void = (m) => { process.stderr.write(`airlock: warning: ${m}\n`); }) {
    this.path = path;
    this.#warn = warn;
  }

  /** The session stored for `gateway` (any URL spelling of it), or undefined. */
  async get(gateway: string): Promise<StoredSession | undefined> {
    return (await this.#read()).gateways[gatewayKey(gateway)];
  }

  /** Every gateway with stored credentials, by key. */
  async gateways(): Promise<string[]> {
    return Object.keys((await this.#read()).gateways);
  }

  async put(gateway: string, session: StoredSession): Promise<void> {
    await this.update(async (sessions) => { sessions[gatewayKey(gateway)] = sessionSchema.parse(session); });
  }

  /**
   * Read-modify-write under the file's lock (file-lock.ts): `change` edits the sessions by gateway
   * key, and may make network calls (a refresh) while other airlock commands wait. When it throws,
   * nothing is written.
   */
  async update<T>(change: (sessions: Record<string, StoredSession>) => Promise<T>): Promise<T> {
    await this.#ensureDir();
    return withFileLock(this.path, async () => {
      const file = await this.#read();
      const result = await change(file.gateways);
      for (const session of Object.values(file.gateways)) sessionSchema.parse(session); // never write what we could not read back
      await this.#write(file);
      return result;
    });
  }

  async #read(): Promise<CredentialsFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, gateways: {} };
      throw this.#unavailable('read', err);
    }
    const mode = (await stat(this.path)).mode;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) { // Windows has no such mode bits
      this.#warn(`${this.path} was readable by other users; restricted it to mode 0600 (its tokens may have been seen)`);
      await chmod(this.path, 0o600);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text, (key, value: unknown) => (key === '__proto__' ? undefined : value));
    } catch {
      // JSON.parse's message quotes the text around the error: it could be a token
      throw this.#corrupt('it is not JSON');
    }
    const result = fileSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw this.#corrupt(issue ? `${issue.path.join('.') || '(top level)'}: ${issue.message}` : 'unexpected content');
    }
    return result.data;
  }

  async #write(file: CredentialsFile): Promise<void> {
    await this.#ensureDir();
    try {
      await writeFileAtomic(this.path, JSON.stringify(file, null, 2) + '\n');
    } catch (err) {
      throw this.#unavailable('write', err);
    }
  }

  async #ensureDir(): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw this.#unavailable('create the directory of', err);
    }
  }

  #corrupt(reason: string): CliError {
    return new CliError('CLI_INPUT_INVALID', `The credentials file ${this.path} is not valid (${reason}); fix it, or delete it and run \`airlock login\` again.`);
  }

  #unavailable(what: string, err: unknown): CliError {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return new CliError('CLI_CREDENTIALS_UNAVAILABLE', `Cannot ${what} the credentials file ${this.path} (${code}); check its permissions and free space.`, { cause: err });
  }
}
