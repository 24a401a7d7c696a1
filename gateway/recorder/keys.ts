// The recording key: Ed25519, signs checkpoints. Its public half is published at
// /api/v1/recording-key so auditors verify sessions without trusting the gateway that serves them.
//
// Where it comes from: `recording.keyFile` (a PKCS#8 PEM; created with mode 0600 on first start
// when missing), else an in-memory key made at start — fine for tests, loudly warned, because
// checkpoints signed by it cannot be verified after a restart.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
