// The `local` KMS provider: a 256-bit master key in a file of the agent's dataDir (mode 0600,
// created on first use) wraps each data key with AES-256-GCM, the canonical encryption context
// as additional authenticated data. It is for development: whoever reads the dataDir holds the
// master key next to the vault it protects. The `aws` provider (aws-kms.ts) keeps it off the host.
//
// A wrapped data key is 61 bytes: version (1) | IV (12) | GCM tag (16) | encrypted key (32).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { ensureDataDir } from '../identity.ts';
import { canonicalContext, type DataKey, type EncryptionContext, type Kms } from './kms.ts';
import { writeFileAtomic } from '../../lib/files.ts';

export const MASTER_KEY_FILE = 'vault-master.key';
/** The only key id the local provider has. */
export const LOCAL_KEY_ID = 'local';
const VERSION = 1;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const WRAPPED_BYTES = 1 + IV_BYTES + TAG_BYTES + KEY_BYTES;

export interface LocalKmsOptions {
  /** The agent's data directory (created 0700 when the master key is). */
  readonly dataDir: string;
  /** Told once, when this process creates or first loads the master key, that it is development-only. */
  readonly warn?: (message: string) => void;
  /** Randomness, injectable for tests. Default crypto.randomBytes. */
  readonly random?: (bytes: number) => Buffer;
}

export function createLocalKms(options: LocalKmsOptions): Kms {
  const path = join(options.dataDir, MASTER_KEY_FILE);
  const random = options.random ?? randomBytes;
  let master: Buffer | undefined;
  let warned = false;
  const warn = (created: boolean) => {
    if (warned) return;
    warned = true;
    options.warn?.(`vault.kms is local: the vault's master key ${created ? 'was created in' : 'is'} ${path}, next to the vault it protects; this is for development only (a KMS provider keeps it off this host)`);
  };

  /** The master key; `create` makes it when absent (generateDataKey), never for decrypt (a new key would open nothing). */
  async function masterKey(create: boolean): Promise<Buffer> {
    if (master !== undefined) return master;
    let bytes = await readMaster(path);
    if (bytes === undefined) {
      if (!create) throw new AgentError('AGENT_KMS_FAILED', `The local master key ${path} is missing, so no secret in the vault can be decrypted; restore the file, or set the secrets again (airlock-agent secrets set).`);
      await ensureDataDir(options.dataDir);
      bytes = await createMaster(path, random(KEY_BYTES));
      warn(true);
    }
    warn(false);
    master = bytes;
    return bytes;
  }

  return {
    provider: 'local',
    async generateDataKey({ keyId, context }): Promise<DataKey> {
      if (keyId !== LOCAL_KEY_ID) throw new TypeError(`the local KMS has only the key id "${LOCAL_KEY_ID}", not "${keyId}"`);
      const key = await masterKey(true);
      const plaintext = random(KEY_BYTES);
      return { plaintext, ciphertext: wrap(key, plaintext, context), keyId: LOCAL_KEY_ID };
    },
    async decrypt({ ciphertext, context, keyId }): Promise<Buffer> {
      checkKeyId(keyId);
      return unwrap(await masterKey(false), ciphertext, context);
    },
    // One master key, so re-wrapping only renews the IV; it keeps `vault rewrap` provider-neutral.
    async reEncrypt({ ciphertext, context, keyId, sourceKeyId }) {
      checkKeyId(keyId);
      checkKeyId(sourceKeyId);
      const key = await masterKey(false);
      const plaintext = unwrap(key, ciphertext, context);
      try {
        return { ciphertext: wrap(key, plaintext, context), keyId: LOCAL_KEY_ID };
      } finally {
        plaintext.fill(0);
      }
    },
  };

  function wrap(key: Buffer, plaintext: Buffer, context: EncryptionContext): Buffer {
    const iv = random(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(canonicalContext(context));
    const wrapped = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), wrapped]);
  }
}

function checkKeyId(keyId: string | undefined): void {
  if (keyId !== undefined && keyId !== LOCAL_KEY_ID) {
    throw new AgentError('AGENT_VAULT_DECRYPT_FAILED', `The data key names the master key ${JSON.stringify(keyId.slice(0, 200))}, but the local KMS has only "${LOCAL_KEY_ID}" (was the vault written with another provider?).`);
  }
}

function unwrap(key: Buffer, ciphertext: Buffer, context: EncryptionContext): Buffer {
  if (ciphertext.length !== WRAPPED_BYTES || ciphertext[0] !== VERSION) {
    throw new AgentError('AGENT_VAULT_DECRYPT_FAILED', 'The wrapped data key is not one the local KMS made (wrong length or version).');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.subarray(1, 1 + IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(ciphertext.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
  decipher.setAAD(canonicalContext(context));
  try {
    return Buffer.concat([decipher.update(ciphertext.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new AgentError('AGENT_VAULT_DECRYPT_FAILED', 'The local KMS cannot unwrap the data key: it was wrapped for another agent or connection, under another master key, or altered.');
  }
}

/** The master key, undefined when the file does not exist; refused when others may read it (like ssh) or it is not 32 bytes. */
async function readMaster(path: string): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    const mode = (await stat(path)).mode;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new AgentError('AGENT_KMS_FAILED', `The local master key ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it, and set the secrets again if others may have read it.`);
    }
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof AgentError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AgentError('AGENT_KMS_FAILED', `Cannot read the local master key ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check its permissions.`, { cause: err });
  }
  if (bytes.length !== KEY_BYTES) {
    bytes.fill(0);
    throw new AgentError('AGENT_KMS_FAILED', `The local master key ${path} is not ${KEY_BYTES} bytes; restore the original file (a new key opens none of the stored secrets).`);
  }
  return bytes;
}

/**
 * Writes the key to a temporary file and links it into place: link fails when the file exists,
 * so two processes creating it at once agree on one key, and none ever reads half a key.
 */
async function createMaster(path: string, key: Buffer): Promise<Buffer> {
  try {
    await writeFileAtomic(path, key, { exclusive: true });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      key.fill(0);
      const theirs = await readMaster(path);
      if (theirs !== undefined) return theirs;
    }
    throw new AgentError('AGENT_KMS_FAILED', `Cannot create the local master key ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the permissions of the agent's dataDir.`, { cause: err });
  }
}
