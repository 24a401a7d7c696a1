// Loads the gateway's configuration (lib/config.ts does the reading): airlock.yaml or --config
// or AIRLOCK_CONFIG → AIRLOCK_* overrides → zod → frozen. A failure is a
// GatewayError('GW_CONFIG_INVALID') naming the file or variable, the key path and the reason.
import { ConfigError, isLoopbackHost, loadConfigFrom, variablesOf, type ConfigSource, type LoadOptions } from '../../lib/config.ts';
import { GatewayError } from '../errors.ts';
import { configSchema, type Config } from './schema.ts';

export type { LoadOptions };

export interface LoadedConfig {
  readonly config: Config;
  /** The file that was read, or undefined when only defaults and the environment applied. */
  readonly file: string | undefined;
  /** Insecure settings and likely typos, to be logged loudly at start. */
  readonly warnings: readonly string[];
}

/** Variables that start with AIRLOCK_ but are not gateway config keys. */
const NON_CONFIG_VARS = new Set(['AIRLOCK_CONFIG', 'AIRLOCK_CONFIG_DIR', 'AIRLOCK_GATEWAY', 'AIRLOCK_TOKEN']);

const SECTIONS = new Set(Object.keys(configSchema.shape).map((s) => s.toUpperCase()));

export const GATEWAY_CONFIG: ConfigSource<typeof configSchema> = {
  schema: configSchema,
  envPrefix: 'AIRLOCK_',
  fileVariable: 'AIRLOCK_CONFIG',
  defaultFile: 'airlock.yaml',
  // Only names in a gateway section can be typos of ours; AIRLOCK_AGENT_* belongs to the agent.
  isLikelyTypo: (v) => !NON_CONFIG_VARS.has(v) && SECTIONS.has(v.split('_')[1] ?? ''),
};

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  let loaded;
  try {
    loaded = loadConfigFrom(GATEWAY_CONFIG, options);
  } catch (err) {
    if (err instanceof ConfigError) throw new GatewayError('GW_CONFIG_INVALID', err.message, { cause: err.cause });
    throw err;
  }
  const warnings = [
    ...loaded.unknownVariables.map((v) => `environment variable ${v} is not a configuration key and was ignored (typo?); see deploy/airlock.example.yaml`),
    ...insecureSettings(loaded.value),
  ];
  return Object.freeze({ config: loaded.value, file: loaded.file, warnings: Object.freeze(warnings) });
}

/** The AIRLOCK_* variable that sets each key path, for docs and tests. */
export function configVariables(): ReadonlyArray<{ variable: string; path: string }> {
  return variablesOf(GATEWAY_CONFIG).map((l) => ({ variable: l.variable, path: l.path.join('.') }));
}

function insecureSettings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.dev.embeddedIdp) {
    warnings.push('DEV ONLY: the identity provider is the embedded development provider; anyone can log in as any dev user. Never expose this gateway.');
  }
  if (!isLoopbackHost(config.server.host) && !config.server.behindTls) {
    warnings.push(`INSECURE: the gateway serves plain HTTP on ${config.server.host}, which is not a loopback address; tokens cross the network in clear. Put TLS in front and set server.behindTls: true.`);
  }
  if (config.metrics.enabled && config.metrics.port !== undefined && !isLoopbackHost(config.metrics.host)) {
    warnings.push(`the metrics listener serves /metrics without authentication on ${config.metrics.host}, which is not a loopback address; let only your Prometheus reach metrics.port.`);
  }
  if (config.tracing.enabled && config.tracing.trustIncoming) {
    warnings.push('tracing.trustIncoming is on: a caller\'s traceparent becomes the parent of its spans (and decides their sampling); turn it on only behind a proxy that sets or strips traceparent.');
  }
  if (config.auth.issuer === undefined) {
    warnings.push('No identity provider configured (auth.issuer): every authenticated route will refuse requests.');
  }
  return warnings;
}
