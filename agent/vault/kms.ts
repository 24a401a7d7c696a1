// The key-management service behind the vault, shaped like AWS KMS (agent/vault/aws-kms.ts is
// the real one; local-kms.ts the development stand-in): the vault asks for a fresh data key per
// secret, keeps only its wrapped form, and asks the KMS to unwrap it, under the same encryption
// context, when it needs the secret back; after a key rotation, `reEncrypt` re-wraps a stored
// key under the current master key without the agent ever seeing it in clear (AWS ReEncrypt).
// The context is authenticated, not secret: a data key wrapped for {agent: a, connection: x}
// does not unwrap for any other agent or connection.

/** Key/value pairs bound to a wrapped data key (AWS KMS's EncryptionContext). */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface DataKey {
  /** The 32-byte AES-256 key in clear: the caller zeroes it (`fill(0)`) as soon as it is used. */
  readonly plaintext: Buffer;
  /** The same key wrapped by the KMS: safe to store; only `decrypt` with the same context opens it. */
  readonly ciphertext: Buffer;
  /** The master key that wrapped it, as the KMS names it (AWS: the key ARN); stored beside it. */
  readonly keyId: string;
}

export interface Kms {
  /** The provider's name as configured (`vault.kms`), stored in the vault file. */
  readonly provider: string;
  /** A new AES-256 data key under the master key `keyId`, bound to `context` (GenerateDataKey). */
  generateDataKey(input: { readonly keyId: string; readonly context: EncryptionContext }): Promise<DataKey>;
  /**
   * The plaintext of a wrapped data key (Decrypt); the caller zeroes it after use. Throws
   * AGENT_VAULT_DECRYPT_FAILED when the blob or the context does not authenticate, and
   * AGENT_KMS_FAILED (AGENT_KMS_THROTTLED) when the KMS itself cannot be used. `keyId`, when
   * given, is the master key the blob must be under (AWS: IncorrectKeyException otherwise).
   */
  decrypt(input: { readonly ciphertext: Buffer; readonly context: EncryptionContext; readonly keyId?: string }): Promise<Buffer>;
  /**
   * The wrapped key `ciphertext` (under `context`, and `sourceKeyId` when given) wrapped anew
   * under master key `keyId`'s current version, same context. Errors as `decrypt`.
   */
  reEncrypt(input: { readonly ciphertext: Buffer; readonly context: EncryptionContext; readonly keyId: string; readonly sourceKeyId?: string }): Promise<{ ciphertext: Buffer; keyId: string }>;
}

/**
 * The context as canonical JSON (keys sorted, no spaces): the bytes both sides authenticate,
 * so the order a caller writes the keys in does not matter.
 */
export function canonicalContext(context: EncryptionContext): Buffer {
  const keys = Object.keys(context).sort();
  return Buffer.from(JSON.stringify(Object.fromEntries(keys.map((k) => [k, context[k]]))), 'utf8');
}
