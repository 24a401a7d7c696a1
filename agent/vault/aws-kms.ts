// The `aws` KMS provider: AWS KMS through the official SDK client. The master key (a symmetric
// KMS key, by id, ARN, alias or alias ARN) never leaves AWS; the agent asks for data keys
// (GenerateDataKey, AES_256), unwraps them (Decrypt) and re-wraps them after a rotation
// (ReEncrypt, so not even the agent sees the key in clear then), always with the encryption
// context {agent, connection}, which a key policy can require (kms:EncryptionContext:agent).
//
// Credentials come from the SDK's standard chain (environment, shared config and SSO profiles,
// web identity, ECS/EC2 roles): none are configured here. Throttling and transient network
// failures are retried by the SDK's standard strategy, at most `maxAttempts` tries in all, with
// jittered exponential backoff; what still fails becomes a coded AgentError. Nothing here logs
// or returns a plaintext key except to the caller that asked for it.
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import { causeOf } from '../../lib/cause.ts';
import { AgentError } from '../errors.ts';
import type { DataKey, EncryptionContext, Kms } from './kms.ts';

export interface AwsKmsOptions {
  /** AWS region of the key, e.g. eu-west-1. Required. */
  readonly region: string;
  /** Another endpoint than the region's (a VPC endpoint, FIPS); an http(s) URL. Default the SDK's for the region. */
  readonly endpoint?: string;
  /** Tries per request, the first included (throttling and network failures are retried). Default 3. */
  readonly maxAttempts?: number;
  /** Milliseconds per try to connect and to get the answer. Default 5000. */
  readonly timeoutMs?: number;
  /** Credentials, for tests only; default the SDK's standard chain. */
  readonly credentials?: KMSClientConfig['credentials'];
}

/** AWS exception names that mean "this blob does not open under this key and context", not "the KMS failed". */
const NOT_AUTHENTIC = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);
const THROTTLED = new Set(['ThrottlingException', 'LimitExceededException', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** What an operator should do about a KMS refusal, by exception name. */
const ADVICE: Record<string, string> = {
  AccessDeniedException: 'the key policy or the agent\'s IAM role does not allow it (check kms:GenerateDataKey/Decrypt/ReEncrypt* and any kms:EncryptionContext conditions)',
  NotFoundException: 'the key does not exist in this region (check vault.aws.keyId and vault.aws.region)',
  DisabledException: 'the key is disabled; enable it',
  KMSInvalidStateException: 'the key is not usable in its current state (pending deletion or import)',
  KeyUnavailableException: 'the key is temporarily unavailable; retry later',
  UnrecognizedClientException: 'the AWS credentials are not valid',
  InvalidSignatureException: 'the request signature was refused (clock skew, or credentials for another region)',
  ExpiredTokenException: 'the AWS session credentials have expired',
  CredentialsProviderError: 'no AWS credentials were found (environment, profile, web identity or instance role)',
  TimeoutError: 'it did not answer in time',
};

export function createAwsKms(options: AwsKmsOptions): Kms {
  if (options.region === '') throw new TypeError('the aws KMS needs a region');
  const maxAttempts = options.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) throw new TypeError('maxAttempts must be an integer 1-10');
  const timeoutMs = options.timeoutMs ?? 5000;
  const client = new KMSClient({
    region: options.region,
    maxAttempts,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });

  /** Runs one KMS call, turning its failure into the agent's codes. */
  async function call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      throw kmsError(operation, err, maxAttempts);
    }
  }

  return {
    provider: 'aws',
    async generateDataKey({ keyId, context }): Promise<DataKey> {
      const out = await call('GenerateDataKey', () => client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } })));
      if (out.Plaintext?.length !== 32 || out.CiphertextBlob === undefined || out.KeyId === undefined) {
        out.Plaintext?.fill(0);
        throw new AgentError('AGENT_KMS_FAILED', 'AWS KMS GenerateDataKey answered without a 32-byte key, its wrapped form, or the key id.');
      }
      return { plaintext: bufferOf(out.Plaintext), ciphertext: Buffer.from(out.CiphertextBlob), keyId: out.KeyId };
    },
    async decrypt({ ciphertext, context, keyId }): Promise<Buffer> {
      const out = await call('Decrypt', () => client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { ...context }, ...(keyId === undefined ? {} : { KeyId: keyId }) })));
      if (out.Plaintext === undefined) throw new AgentError('AGENT_KMS_FAILED', 'AWS KMS Decrypt answered without the plaintext key.');
      return bufferOf(out.Plaintext);
    },
    async reEncrypt({ ciphertext, context, keyId, sourceKeyId }) {
      const ctx: EncryptionContext = { ...context };
      const out = await call('ReEncrypt', () => client.send(new ReEncryptCommand({
        CiphertextBlob: ciphertext,
        SourceEncryptionContext: { ...ctx },
        DestinationEncryptionContext: { ...ctx },
        DestinationKeyId: keyId,
        ...(sourceKeyId === undefined ? {} : { SourceKeyId: sourceKeyId }),
      })));
      if (out.CiphertextBlob === undefined || out.KeyId === undefined) throw new AgentError('AGENT_KMS_FAILED', 'AWS KMS ReEncrypt answered without the new wrapped key or its key id.');
      return { ciphertext: Buffer.from(out.CiphertextBlob), keyId: out.KeyId };
    },
  };
}

/** The SDK's bytes as a Buffer over the same memory, so zeroing it zeroes what the SDK handed over. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The agent's error for a failed KMS call: AGENT_VAULT_DECRYPT_FAILED when the blob or its
 * context does not authenticate, AGENT_KMS_THROTTLED after the retries, AGENT_KMS_FAILED for the
 * rest. The message names the operation, the AWS exception and what to do; never key material.
 */
export function kmsError(operation: string, err: unknown, maxAttempts: number): AgentError {
  const name = typeof (err as { name?: unknown })?.name === 'string' ? (err as { name: string }).name : 'Error';
  const attempts = (err as { $metadata?: { attempts?: number } })?.$metadata?.attempts;
  if (NOT_AUTHENTIC.has(name)) {
    return new AgentError('AGENT_VAULT_DECRYPT_FAILED', `AWS KMS ${operation} refused the wrapped data key (${name}): it was wrapped under another key or encryption context, or altered.`, { cause: err });
  }
  if (THROTTLED.has(name)) {
    return new AgentError('AGENT_KMS_THROTTLED', `AWS KMS throttled ${operation} (${name}) ${attempts ?? maxAttempts} time(s) in a row; retry later, or raise the KMS request quota.`, { cause: err });
  }
  const advice = ADVICE[name];
  const why = advice ?? `${causeOf(err)}${attempts === undefined ? '' : ` after ${attempts} attempt(s)`}`;
  return new AgentError('AGENT_KMS_FAILED', `AWS KMS ${operation} failed (${name}): ${why}; the vault cannot be used until it succeeds.`, { cause: err });
}
