// The agent's vault: `<dataDir>/vault.json` (mode 0600), one entry per connection, each value
// sealed by envelope encryption. A fresh data key per write comes from the KMS bound to the
// context {agent, connection}; the value (the credential as JSON) is encrypted with it by
// AES-256-GCM here, the entry's {agent, connection, type} as additional data; only the wrapped
// key is stored beside the ciphertext. So an entry copied to another connection, another agent's
// vault, or given another type does not open. Plaintext data keys are zeroed after use.
//
// Every read parses the file strictly (anything unexpected is AGENT_VAULT_INVALID, never a
// crash) and every write lands by rename of a fsynced temporary file, holding the vault's write
// lock (lock.ts), so two writers at once never lose an update. Each get asks the KMS to unwrap
// the entry's data key; the agent puts a bounded cache in front of it (data-key-cache.ts).
// Each entry records the master key that wrapped its data key (`keyId`), so entries made before
// a change of vault.aws.keyId still open, and `rewrap` moves them all to the current key.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../../lib/json.ts';
import { CONNECTION_NAME } from '../config.ts';
import { secretSchema, SECRET_TYPES, type Secret, type SecretType } from '../credentials/schema.ts';
import { AgentError } from '../errors.ts';
import { ensureDataDir } from '../identity.ts';
import type { EncryptionContext, Kms } from './kms.ts';
import { withFileLock } from './lock.ts';
import { writeFileAtomic } from '../../lib/files.ts';

export const VAULT_FILE = 'vault.json';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Entries a vault holds at most. */
const MAX_ENTRIES = 1000;

const base64Of = (bytes: { min: number; max: number }) => z.base64().refine((s) => {
  const n = Buffer.from(s, 'base64').length;
  return n >= bytes.min && n <= bytes.max;
}, `must be base64 of ${bytes.min === bytes.max ? bytes.min : `${bytes.min} to ${bytes.max}`} bytes`);

const entrySchema = z.strictObject({
  type: z.enum(SECRET_TYPES as [SecretType, ...SecretType[]]),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  encryptedKey: base64Of({ min: 1, max: 4096 }),
  /** The master key that wrapped encryptedKey (AWS: its ARN); absent in entries written before it was recorded. */
  keyId: z.string().min(1).max(2048).optional(),
  iv: base64Of({ min: IV_BYTES, max: IV_BYTES }),
  tag: base64Of({ min: TAG_BYTES, max: TAG_BYTES }),
  ciphertext: base64Of({ min: 1, max: 64 * 1024 }),
});
const fileSchema = z.strictObject({
  version: z.literal(1),
  kms: z.string().min(1).max(100),
  entries: z.record(z.string().regex(CONNECTION_NAME), entrySchema).refine((e) => Object.keys(e).length <= MAX_ENTRIES, `at most ${MAX_ENTRIES} entries`),
});
type VaultFile = z.infer<typeof fileSchema>;
type Entry = z.infer<typeof entrySchema>;

/** What `list` shows: never a value. */
export interface VaultEntryInfo {
  readonly connection: string;
  readonly type: SecretType;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One entry's identity without decrypting it: changes whenever the entry is set again or re-wrapped. */
export interface VaultEntryVersion {
  readonly type: SecretType;
  /** A hash of the sealed value (hex, 16 chars): a cache key for what is derived from the secret. */
  readonly fingerprint: string;
}

/** What `rewrap` reports per entry, as it goes. */
export interface RewrapProgress {
  readonly connection: string;
  /** 1-based position and the total. */
  readonly index: number;
  readonly total: number;
  /** The master key before and after (undefined before: an entry that did not record it). */
  readonly from: string | undefined;
  readonly to: string;
}

export interface VaultOptions {
  /** The agent's data directory; the vault is `<dataDir>/vault.json`. */
  readonly dataDir: string;
  /** The agent's name, bound into every entry's encryption context. */
  readonly agent: string;
  readonly kms: Kms;
  /** The KMS master key id for new data keys. */
  readonly keyId: string;
  /** Clock, injectable for tests. Default the system clock. */
  readonly now?: () => Date;
  /** Milliseconds a write waits for another writer's lock. Default 10000. */
  readonly lockTimeoutMs?: number;
}

export interface Vault {
  /** The vault file's path. */
  readonly path: string;
  /** Stores (or replaces) the secret of `connection`. */
  set(connection: string, secret: Secret): Promise<void>;
  /** The secret of `connection`, undefined when the vault has none. AGENT_VAULT_DECRYPT_FAILED when the entry does not authenticate. */
  get(connection: string): Promise<Secret | undefined>;
  /** The entry's type and fingerprint without decrypting (no KMS call); undefined when there is none. */
  version(connection: string): Promise<VaultEntryVersion | undefined>;
  /** Names, types and dates, by connection name. */
  list(): Promise<VaultEntryInfo[]>;
  /** Removes the entry; false when there was none. */
  remove(connection: string): Promise<boolean>;
  /**
   * Re-wraps every entry's data key under the current master key (`keyId`'s current version),
   * with KMS ReEncrypt: the values are not decrypted. Reports each entry to `progress`; returns
   * how many were re-wrapped. On a failure, the entries done so far are saved, then it throws.
   */
  rewrap(progress?: (step: RewrapProgress) => void): Promise<number>;
}

export function openVault(options: VaultOptions): Vault {
  const path = join(options.dataDir, VAULT_FILE);
  const now = options.now ?? (() => new Date());
  const { kms, agent } = options;
  /** Runs a read–modify–write of the file holding the write lock (the data dir must exist for it). */
  const locked = async <T>(fn: () => Promise<T>): Promise<T> => {
    await ensureDataDir(options.dataDir);
    return withFileLock(`${path}.lock`, fn, options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs });
  };

  // The last file parsed for reading, by its stat stamp: a request's read costs a stat while
  // nothing changed (writes land by rename, a new inode). Writers parse afresh: they mutate it.
  let memo: ParsedVault | undefined;
  async function load(forWrite = false): Promise<VaultFile> {
    const read = await readVault(path, forWrite ? undefined : memo);
    if (!forWrite) memo = read;
    const file = read?.file;
    if (file === undefined) return { version: 1, kms: kms.provider, entries: {} };
    if (file.kms !== kms.provider) {
      throw new AgentError('AGENT_VAULT_INVALID', `The vault ${path} was written with the ${file.kms} KMS, but vault.kms is ${kms.provider}; configure ${file.kms}, or move the file away and set the secrets again.`);
    }
    return file;
  }

  async function save(file: VaultFile): Promise<void> {
    await ensureDataDir(options.dataDir);
    await writeAtomic(path, JSON.stringify(file, null, 2) + '\n');
  }

  const checkName = (connection: string) => {
    if (!CONNECTION_NAME.test(connection)) throw new AgentError('AGENT_INPUT_INVALID', `${JSON.stringify(connection.slice(0, 80))} is not a connection name (a DNS label: lower-case letters, digits and inner hyphens).`);
  };

  return {
    path,
    async set(connection, secret) {
      checkName(connection);
      const checked = secretSchema.safeParse(secret);
      // The issue's path and message only (zod's messages do not quote the value).
      if (!checked.success) throw new AgentError('AGENT_INPUT_INVALID', `The ${String(secret.type).slice(0, 40)} secret for connection ${connection} is not valid (${checked.error.issues[0]!.path.join('.') || 'type'}: ${checked.error.issues[0]!.message.slice(0, 200)}).`);
      await load(); // a vault of another provider is refused before the KMS is asked anything
      // The KMS call happens before the lock: a slow KMS does not hold other writers up.
      const context: EncryptionContext = { agent, connection };
      const dataKey = await kms.generateDataKey({ keyId: options.keyId, context });
      const plaintext = Buffer.from(JSON.stringify(checked.data), 'utf8');
      let sealed: Omit<Entry, 'createdAt' | 'updatedAt'>;
      try {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', dataKey.plaintext, iv, { authTagLength: TAG_BYTES });
        cipher.setAAD(valueAad(agent, connection, checked.data.type));
        const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
        sealed = {
          type: checked.data.type,
          encryptedKey: dataKey.ciphertext.toString('base64'),
          keyId: dataKey.keyId,
          iv: iv.toString('base64'),
          tag: cipher.getAuthTag().toString('base64'),
          ciphertext: ciphertext.toString('base64'),
        };
      } finally {
        dataKey.plaintext.fill(0);
        plaintext.fill(0);
      }
      await locked(async () => {
        const file = await load(true);
        const at = now().toISOString();
        file.entries[connection] = { ...sealed, createdAt: file.entries[connection]?.createdAt ?? at, updatedAt: at };
        await save(file);
      });
    },
    async get(connection) {
      const { entries } = await load();
      const entry = Object.hasOwn(entries, connection) ? entries[connection] : undefined;
      return entry === undefined ? undefined : unseal(agent, connection, entry, kms);
    },
    async version(connection) {
      const { entries } = await load();
      const entry = Object.hasOwn(entries, connection) ? entries[connection] : undefined;
      if (entry === undefined) return undefined;
      const fingerprint = createHash('sha256').update(`${entry.type}\u0000${entry.encryptedKey}\u0000${entry.ciphertext}`).digest('hex').slice(0, 16);
      return { type: entry.type, fingerprint };
    },
    async list() {
      const file = await load();
      return Object.entries(file.entries)
        .map(([connection, e]) => ({ connection, type: e.type, createdAt: e.createdAt, updatedAt: e.updatedAt }))
        .sort((a, b) => (a.connection < b.connection ? -1 : 1));
    },
    async remove(connection) {
      return locked(async () => {
        const file = await load(true);
        if (!Object.hasOwn(file.entries, connection)) return false;
        delete file.entries[connection];
        await save(file);
        return true;
      });
    },
    async rewrap(progress) {
      return locked(async () => {
        const file = await load(true);
        const names = Object.keys(file.entries).sort();
        let done = 0;
        try {
          for (const [i, connection] of names.entries()) { // bounded by MAX_ENTRIES
            const entry = file.entries[connection]!;
            let out;
            try {
              out = await kms.reEncrypt({ ciphertext: Buffer.from(entry.encryptedKey, 'base64'), context: { agent, connection }, keyId: options.keyId, ...(entry.keyId === undefined ? {} : { sourceKeyId: entry.keyId }) });
            } catch (err) {
              if (err instanceof AgentError && err.code === 'AGENT_VAULT_DECRYPT_FAILED') {
                throw new AgentError('AGENT_VAULT_DECRYPT_FAILED', `The vault entry for connection ${connection} cannot be re-wrapped: its data key does not unwrap for this agent and connection (altered, copied, or another master key); set it again (airlock-agent secrets set ${connection}).`, { cause: err });
              }
              throw err;
            }
            file.entries[connection] = { ...entry, encryptedKey: out.ciphertext.toString('base64'), keyId: out.keyId };
            done++;
            progress?.({ connection, index: i + 1, total: names.length, from: entry.keyId, to: out.keyId });
          }
        } finally {
          if (done > 0) await save(file);
        }
        return done;
      });
    },
  };
}

/** Binds the ciphertext to its entry: another agent, connection or type does not authenticate. */
function valueAad(agent: string, connection: string, type: string): Buffer {
  return Buffer.from(JSON.stringify({ agent, connection, type }), 'utf8');
}

async function unseal(agent: string, connection: string, entry: Entry, kms: Kms): Promise<Secret> {
  const refused = (why: string, cause?: unknown) => new AgentError('AGENT_VAULT_DECRYPT_FAILED', `The vault entry for connection ${connection} cannot be decrypted: ${why}; set it again (airlock-agent secrets set ${connection}).`, { cause });
  let key: Buffer;
  try {
    key = await kms.decrypt({ ciphertext: Buffer.from(entry.encryptedKey, 'base64'), context: { agent, connection }, ...(entry.keyId === undefined ? {} : { keyId: entry.keyId }) });
  } catch (err) {
    if (err instanceof AgentError && err.code === 'AGENT_VAULT_DECRYPT_FAILED') throw refused('its data key does not unwrap for this agent and connection (altered, copied, or another master key)', err);
    throw err;
  }
  let plaintext: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(entry.iv, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAuthTag(Buffer.from(entry.tag, 'base64'));
    decipher.setAAD(valueAad(agent, connection, entry.type));
    plaintext = Buffer.concat([decipher.update(Buffer.from(entry.ciphertext, 'base64')), decipher.final()]);
  } catch (err) {
    throw refused('its ciphertext does not authenticate (altered)', err);
  } finally {
    key.fill(0);
  }
  try {
    let parsed: unknown;
    try {
      parsed = parseJson(plaintext.toString('utf8'));
    } catch {
      throw refused('the decrypted value is not JSON');
    }
    const secret = secretSchema.safeParse(parsed);
    // No detail from the parse: it could quote the value.
    if (!secret.success || secret.data.type !== entry.type) throw refused('the decrypted value is not a secret of its type');
    return secret.data;
  } finally {
    plaintext.fill(0);
  }
}

interface ParsedVault { readonly stamp: string; readonly file: VaultFile }

/** The vault file parsed, or `memo` when the file's inode, size and times are still its stamp; undefined when there is no file. */
async function readVault(path: string, memo: ParsedVault | undefined): Promise<ParsedVault | undefined> {
  let text: string;
  let stamp: string;
  try {
    // Synchronous on purpose: on every forwarded request this is one cheap syscall, where the
    // async stat costs a thread-pool round trip (and a thrown ENOENT when there is no vault).
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    if (st === undefined) return undefined;
    const mode = Number(st.mode);
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new AgentError('AGENT_VAULT_INVALID', `The vault ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it.`);
    }
    stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (memo?.stamp === stamp) return memo;
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof AgentError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AgentError('AGENT_VAULT_INVALID', `Cannot read the vault ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check its permissions.`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseJson(text);
  } catch {
    throw new AgentError('AGENT_VAULT_INVALID', `The vault ${path} is not JSON; restore it from a backup, or move it away and set the secrets again.`);
  }
  const file = fileSchema.safeParse(parsed);
  if (!file.success) {
    const issue = file.error.issues[0]!;
    throw new AgentError('AGENT_VAULT_INVALID', `The vault ${path} is not valid (${issue.path.join('.') || '(top level)'}: ${issue.message}); restore it from a backup, or move it away and set the secrets again.`);
  }
  return { stamp, file: file.data };
}

async function writeAtomic(path: string, content: string): Promise<void> {
  try {
    await writeFileAtomic(path, content);
  } catch (err) {
    throw new AgentError('AGENT_VAULT_INVALID', `Cannot write the vault ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the permissions and free space of the agent's dataDir.`, { cause: err });
  }
}
