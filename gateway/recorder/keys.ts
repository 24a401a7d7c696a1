// The recording key: Ed25519, signs checkpoints and ledger heads. Its public half is published at
// /api/v1/recording-key, with every retired key (recording.retiredKeys) and each key's validity,
// so auditors verify sessions — old ones too, after a rotation — without trusting the gateway
// that serves them.
//
// Where it comes from: `recording.keyFile` (a PKCS#8 PEM; created with mode 0600 on first start
// when missing), else an in-memory key made at start — fine for tests, loudly warned, because
// checkpoints signed by it cannot be verified after a restart.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { GatewayError } from '../errors.ts';
import { writeFileAtomic } from '../../lib/files.ts';
import type { Logger } from '../../lib/log.ts';

export interface RecordingKey {
  /** The JWK thumbprint (RFC 7638) of the public key. */
  readonly keyId: string;
  readonly publicJwk: JWK;
  /** Ed25519 signature, base64url. */
  sign(data: Buffer): string;
}

export async function loadRecordingKey(keyFile: string | undefined, logger: Logger): Promise<RecordingKey> {
  let privateKey: KeyObject;
  if (keyFile === undefined) {
    logger.warn('recording.keyFile is not set: checkpoints are signed with a key made for this process only, so they cannot be verified after a restart; set recording.keyFile', { insecure: true });
    privateKey = generateKeyPairSync('ed25519').privateKey;
  } else {
    let pem: string | undefined;
    try {
      pem = readFileSync(keyFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new GatewayError('GW_CONFIG_INVALID', `recording.keyFile ${keyFile} cannot be read (${(err as NodeJS.ErrnoException).code}); fix its permissions.`, { cause: err });
      }
    }
    if (pem === undefined) {
      privateKey = generateKeyPairSync('ed25519').privateKey;
      await writeFileAtomic(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
      logger.info('recording key created', { file: keyFile });
    } else {
      try {
        privateKey = createPrivateKey(pem);
      } catch (err) {
        throw new GatewayError('GW_CONFIG_INVALID', `recording.keyFile ${keyFile} is not a PEM private key.`, { cause: err });
      }
      if (privateKey.asymmetricKeyType !== 'ed25519') {
        throw new GatewayError('GW_CONFIG_INVALID', `recording.keyFile ${keyFile} holds a ${privateKey.asymmetricKeyType} key; the recording key must be Ed25519.`);
      }
    }
  }
  const publicJwk = await exportJWK(createPublicKey(privateKey));
  const keyId = await calculateJwkThumbprint(publicJwk);
  return {
    keyId,
    publicJwk: { ...publicJwk, kid: keyId, alg: 'EdDSA', use: 'sig' },
    sign: (data) => sign(null, data, privateKey).toString('base64url'),
  };
}

/** Whether `signature` (base64url) is `publicJwk`'s Ed25519 signature of `data`. */
export function verifySignature(publicJwk: JWK, data: Buffer, signature: string): boolean {
  try {
    const key = createPublicKey({ key: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x } as import('node:crypto').JsonWebKey, format: 'jwk' });
    return key.asymmetricKeyType === 'ed25519' && verify(null, data, key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/** A public recording key as /api/v1/recording-key serves it: a JWK with its id, status and validity. */
export interface PublishedKey extends JWK {
  readonly kid: string;
  readonly status: 'current' | 'retired';
  /** ISO 8601; signatures dated before it are not accepted. Null: no lower bound. */
  readonly notBefore: string | null;
  /** ISO 8601; signatures dated after it are not accepted (a retired key). Null: no upper bound. */
  readonly notAfter: string | null;
}

export interface RecordingKeys {
  /** The key that signs now. */
  readonly current: RecordingKey;
  /** The current key and every retired one, for verifiers. */
  readonly published: readonly PublishedKey[];
}

/** A retired key in config: a file or directory, or a file with its validity (ISO 8601). */
export type RetiredKeyConfig = string | { readonly file: string; readonly notBefore?: string | undefined; readonly notAfter?: string | undefined };

const KEY_FILE = /\.(pem|jwk|json)$/i;

/**
 * The signing key (recording.keyFile, see loadRecordingKey) and the retired keys
 * (recording.retiredKeys): each a PEM file (private or public Ed25519 key), a JWK or JWKS JSON
 * file, or a directory whose *.pem, *.jwk and *.json files are read. Throws GW_CONFIG_INVALID for
 * a file that cannot be read or is not an Ed25519 key.
 */
export async function loadRecordingKeys(options: { keyFile?: string | undefined; keyNotBefore?: string | undefined; retiredKeys?: readonly RetiredKeyConfig[] | undefined }, logger: Logger): Promise<RecordingKeys> {
  const current = await loadRecordingKey(options.keyFile, logger);
  const published: PublishedKey[] = [{ ...current.publicJwk, kid: current.keyId, status: 'current', notBefore: options.keyNotBefore ?? null, notAfter: null }];
  for (const entry of options.retiredKeys ?? []) {
    const { file, notBefore = null, notAfter = null } = typeof entry === 'string' ? { file: entry } : entry;
    let files: string[];
    try {
      files = statSync(file).isDirectory() ? readdirSync(file).filter((f) => KEY_FILE.test(f)).sort().map((f) => join(file, f)) : [file];
    } catch (err) {
      throw new GatewayError('GW_CONFIG_INVALID', `recording.retiredKeys: ${file} cannot be read (${(err as NodeJS.ErrnoException).code}).`, { cause: err });
    }
    for (const f of files) {
      for (const jwk of await publicKeysIn(f)) {
        const kid = await calculateJwkThumbprint(jwk);
        if (published.some((k) => k.kid === kid)) continue; // the current key kept in the list, or a key named twice
        published.push({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: 'EdDSA', use: 'sig', status: 'retired', notBefore, notAfter } as PublishedKey);
      }
    }
  }
  if (published.length > 1) logger.info('retired recording keys loaded', { keys: published.length - 1 });
  return { current, published };
}

/** The Ed25519 public keys a PEM, JWK or JWKS file holds. */
async function publicKeysIn(file: string): Promise<JWK[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatewayError('GW_CONFIG_INVALID', `recording.retiredKeys: ${file} cannot be read (${(err as NodeJS.ErrnoException).code}).`, { cause: err });
  }
  const bad = (why: string, cause?: unknown) => new GatewayError('GW_CONFIG_INVALID', `recording.retiredKeys: ${file} ${why}; a recording key is an Ed25519 PEM (private or public), JWK or JWKS file.`, cause === undefined ? {} : { cause });
  let keys: KeyObject[];
  try {
    if (text.trimStart().startsWith('{')) {
      const parsed = JSON.parse(text) as { keys?: unknown } & Record<string, unknown>;
      const list = Array.isArray(parsed.keys) ? parsed.keys as Record<string, unknown>[] : [parsed];
      keys = list.map((k) => createPublicKey({ key: { kty: k.kty, crv: k.crv, x: k.x } as import('node:crypto').JsonWebKey, format: 'jwk' }));
    } else {
      keys = [createPublicKey(text.includes('PRIVATE KEY') ? createPrivateKey(text) : text)];
    }
  } catch (err) {
    throw bad('is not a key', err);
  }
  if (keys.some((k) => k.asymmetricKeyType !== 'ed25519')) throw bad('holds a key that is not Ed25519');
  return Promise.all(keys.map((k) => exportJWK(k)));
}

/** Whether `key` accepts a signature dated `at` (epoch ms): within its validity. */
export function validAt(key: { readonly notBefore?: unknown; readonly notAfter?: unknown }, at: number): boolean {
  const from = typeof key.notBefore === 'string' ? Date.parse(key.notBefore) : Number.NaN;
  const until = typeof key.notAfter === 'string' ? Date.parse(key.notAfter) : Number.NaN;
  return !(at < from) && !(at > until);
}
