// The vault as the agent's configuration describes it: which KMS (`vault.kms`), which master key
// new data keys go under, and the data-key cache in front of it. Shared by `airlock-agent start`
// and the `secrets` / `vault` commands, so both open the same vault the same way.
import type { AgentConfig } from '../config.ts';
import { createAwsKms } from './aws-kms.ts';
import { withDataKeyCache, type CachingKms } from './data-key-cache.ts';
import { createLocalKms, LOCAL_KEY_ID } from './local-kms.ts';
import { openVault, type Vault } from './vault.ts';

export interface ConfiguredVault {
  readonly vault: Vault;
  /** The KMS behind it, with its data-key cache (clear it on stop). */
  readonly kms: CachingKms;
  /** The master key new data keys are made under. */
  readonly keyId: string;
}

export interface ConfiguredVaultOptions {
  /** The agent's data directory (resolved). */
  readonly dataDir: string;
  /** The agent's name, bound into every entry. */
  readonly agent: string;
  /** Told about insecure settings (the local KMS). */
  readonly warn: (message: string) => void;
  /** Use vault.cache (the running agent); commands that touch each key once pass false. Default true. */
  readonly cache?: boolean;
}

export function openConfiguredVaultAs(config: AgentConfig, options: ConfiguredVaultOptions): ConfiguredVault {
  const { dataDir, agent, warn } = options;
  let base;
  let keyId: string;
  if (config.vault.kms === 'aws') {
    const aws = config.vault.aws!; // the schema requires it with kms: aws
    base = createAwsKms({
      region: aws.region,
      maxAttempts: aws.maxAttempts,
      timeoutMs: aws.timeout * 1000,
      ...(aws.endpoint === undefined ? {} : { endpoint: aws.endpoint }),
    });
    keyId = aws.keyId;
  } else {
    base = createLocalKms({ dataDir, warn });
    keyId = LOCAL_KEY_ID;
  }
  const cache = options.cache ?? true;
  const kms = withDataKeyCache(base, cache ? { maxAgeMs: config.vault.cache.maxAge * 1000, maxUses: config.vault.cache.maxUses } : { maxAgeMs: 0, maxUses: 0 });
  return { vault: openVault({ dataDir, agent, kms, keyId }), kms, keyId };
}
