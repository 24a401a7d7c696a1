// The agent's vault: `<dataDir>/vault.json` (mode 0600), one entry per connection, each value
// sealed by envelope encryption. A fresh data key per write comes from the KMS bound to the
// context {agent, connection}; the value (the credential as JSON) is encrypted with it by
// AES-256-GCM here, the entry's {agent, connection, type} as additional data; only the wrapped
// key is stored beside the ciphertext. So an entry copied to another connection, another agent's
// vault, or given another type does not open. Plaintext data keys are zeroed after use.
//
// Every read parses the file strictly (anything unexpected is AGENT_VAULT_INVALID, never a
// crash) and every write lands by rename of a fsynced temporary file. There is no data-key
// cache yet: each get asks the KMS (cheap for `local`; the cloud providers will want one).
// Concurrent writers (two `secrets set` at once) are not serialised: the last rename wins.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../../lib/json.ts';
import { CONNECTION_NAME, credentialSchema } from '../config.ts';
import { AgentError } from '../errors.ts';
import { ensureDataDir } from '../identity.ts';
import type { StaticCredential } from '../http-forward.ts';
import type { EncryptionContext, Kms } from './kms.ts';
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
  type: z.enum(['bearer', 'basic', 'header']),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  encryptedKey: base64Of({ min: 1, max: 4096 }),
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
  readonly type: StaticCredential['type'];
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
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
}

export interface Vault {
  /** The vault file's path. */
  readonly path: string;
  /** Stores (or replaces) the credential of `connection`. */
  set(connection: string, credential: StaticCredential): Promise<void>;
  /** The credential of `connection`, undefined when the vault has none. AGENT_VAULT_DECRYPT_FAILED when the entry does not authenticate. */
  get(connection: string): Promise<StaticCredential | undefined>;
  /** Names, types and dates, by connection name. */
  list(): Promise<VaultEntryInfo[]>;
  /** Removes the entry; false when there was none. */
  remove(connection: string): Promise<boolean>;
}

export function openVault(options: VaultOptions): Vault {
  const path = join(options.dataDir, VAULT_FILE);
  const now = options.now ?? (() => new Date());
  const { kms, agent } = options;

  async function load(): Promise<VaultFile> {
    const file = await readVault(path);
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
    async set(connection, credential) {
      checkName(connection);
      const checked = credentialSchema.safeParse(credential);
      if (!checked.success) throw new AgentError('AGENT_INPUT_INVALID', `The ${credential.type} credential for connection ${connection} is not valid (${checked.error.issues[0]!.path.join('.')}: ${checked.error.issues[0]!.message}).`);
      const file = await load();
      const context: EncryptionContext = { agent, connection };
      const dataKey = await kms.generateDataKey({ keyId: options.keyId, context });
      const plaintext = Buffer.from(JSON.stringify(checked.data), 'utf8');
      try {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', dataKey.plaintext, iv, { authTagLength: TAG_BYTES });
        cipher.setAAD(valueAad(agent, connection, credential.type));
        const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
        const at = now().toISOString();
        file.entries[connection] = {
          type: credential.type,
          createdAt: file.entries[connection]?.createdAt ?? at,
          updatedAt: at,
          encryptedKey: dataKey.ciphertext.toString('base64'),
          iv: iv.toString('base64'),
          tag: cipher.getAuthTag().toString('base64'),
          ciphertext: ciphertext.toString('base64'),
        };
      } finally {
        dataKey.plaintext.fill(0);
        plaintext.fill(0);
      }
      await save(file);
    },
    async get(connection) {
      const { entries } = await load();
      const entry = Object.hasOwn(entries, connection) ? entries[connection] : undefined;
      return entry === undefined ? undefined : unseal(agent, connection, entry, kms);
    },
    async list() {
      const file = await load();
      return Object.entries(file.entries)
        .map(([connection, e]) => ({ connection, type: e.type, createdAt: e.createdAt, updatedAt: e.updatedAt }))
        .sort((a, b) => (a.connection < b.connection ? -1 : 1));
    },
    async remove(connection) {
      const file = await load();
      if (!Object.hasOwn(file.entries, connection)) return false;
      delete file.entries[connection];
      await save(file);
      return true;
    },
  };
}

/** Binds the ciphertext to its entry: another agent, connection or type does not authenticate. */
function valueAad(agent: string, connection: string, type: string): Buffer {
  return Buffer.from(JSON.stringify({ agent, connection, type }), 'utf8');
}

async function unseal(agent: string, connection: string, entry: Entry, kms: Kms): Promise<StaticCredential> {
  const refused = (why: string, cause?: unknown) => new AgentError('AGENT_VAULT_DECRYPT_FAILED', `The vault entry for connection ${connection} cannot be decrypted: ${why}; set it again (airlock-agent secrets set ${connection}).`, { cause });
  let key: Buffer;
  try {
    key = await kms.decrypt({ ciphertext: Buffer.from(entry.encryptedKey, 'base64'), context: { agent, connection } });
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
    const credential = credentialSchema.safeParse(parsed);
    // No detail from the parse: it could quote the value.
    if (!credential.success || credential.data.type !== entry.type) throw refused('the decrypted value is not a credential of its type');
    return credential.data;
  } finally {
    plaintext.fill(0);
  }
}

async function readVault(path: string): Promise<VaultFile | undefined> {
  let text: string;
  try {
    const mode = (await stat(path)).mode;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new AgentError('AGENT_VAULT_INVALID', `The vault ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it.`);
    }
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
  return file.data;
}

async function writeAtomic(path: string, content: string): Promise<void> {
  try {
    await writeFileAtomic(path, content);
  } catch (err) {
    throw new AgentError('AGENT_VAULT_INVALID', `Cannot write the vault ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the permissions and free space of the agent's dataDir.`, { cause: err });
  }
}
