// The agent's configuration: airlock-agent.yaml or --config or AIRLOCK_AGENT_CONFIG, then
// AIRLOCK_AGENT_* overrides, validated (unknown keys are errors) and frozen. Options arrive with
// the capabilities that use them: the tunnel adds the gateway to dial, the vault its KMS.
import { z } from 'zod';
import { ConfigError, loadConfigFrom, variablesOf, type ConfigSource, type LoadOptions } from '../lib/config.ts';
import { AgentError } from './errors.ts';

/** DNS label rules: what `airlock agents add NAME` accepts. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A credential the agent adds for a connection: the config's static form and the vault's entries. */
export const credentialSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('bearer'), token: z.string().min(1).max(16_384) }),
  z.strictObject({ type: z.literal('basic'), username: z.string().min(1).max(1024), password: z.string().max(1024) }),
  z.strictObject({ type: z.literal('header'), name: z.string().regex(/^[A-Za-z0-9-]{1,100}$/), value: z.string().min(1).max(16_384) }),
]);

/** A connection name, as the config's `credentials` keys and the vault's entries spell it: a DNS label. */
export const CONNECTION_NAME = DNS_LABEL;

const seconds = (min: number, max: number) => z.number().min(min).max(max);

export const agentConfigSchema = z.strictObject({
  /**
   * The name the agent must be enrolled as (DNS label). Unset: whatever name it enrolled with
   * (the enrollment token names it). When set, start and enroll refuse another name.
   */
  name: z.string().regex(DNS_LABEL, 'must be a DNS label: lower-case letters, digits and inner hyphens, at most 63').optional(),
  /** Directory of the agent's private key and enrollment state (created 0700). Default ./data/agent. */
  dataDir: z.string().min(1).default('./data/agent'),
  gateway: z.strictObject({
    /**
     * Gateways to keep a tunnel to, one each (replicas of one deployment: same store, same
     * server.publicUrl). Default: the gateway the agent enrolled at.
     */
    urls: z.array(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })).max(16).default([]),
    /** Allow plain http:// (ws://) to a non-loopback gateway; logs a loud warning. Default false. */
    insecure: z.boolean().default(false),
  }).prefault({}),
  tunnel: z.strictObject({
    /** Seconds between pings to the gateway; 0 disables them. Default 15. */
    pingInterval: seconds(0, 3600).default(15),
    /** Seconds a ping may go unanswered before the tunnel is dropped and redialled. Default 10. */
    pingTimeout: seconds(0.01, 3600).default(10),
    /** Seconds the WebSocket connect (TCP, TLS, upgrade) may take. Default 10. */
    connectTimeout: seconds(0.1, 300).default(10),
    /** First reconnect delay cap, in seconds; it doubles per failed attempt (full jitter). Default 0.5. */
    reconnectMinDelay: seconds(0.01, 60).default(0.5),
    /** Largest reconnect delay, in seconds. Default 30. */
    reconnectMaxDelay: seconds(0.01, 3600).default(30),
    /** Seconds a tunnel must stay up before the reconnect delay starts over from the minimum. Default 10. */
    stableAfter: seconds(0, 3600).default(10),
  }).prefault({}),
  targets: z.strictObject({
    /**
     * Origins the agent forwards to (`http://host:port`, `https://host`), `*` as a wildcard:
     * whatever a gateway asks, the agent reaches nothing else. Default none: list your services.
     */
    allow: z.array(z.string().min(1).max(300).regex(/^https?:\/\/[A-Za-z0-9.*\-\[\]:]+$/, 'an origin pattern such as http://10.0.0.*:8080 or https://*.internal')).max(1000).default([]),
  }).prefault({}),
  /**
   * A static credential the agent adds for a connection, by connection name, for development:
   * the vault (`airlock-agent secrets set`) holds them encrypted and wins over these. Keep this
   * file readable by the agent only.
   */
  credentials: z.record(
    z.string().regex(DNS_LABEL, 'a connection name'),
    credentialSchema,
  ).default({}),
  vault: z.strictObject({
    /**
     * The KMS that wraps the vault's data keys. Default `local` (a master key file in dataDir:
     * development only); the cloud providers come with issue 5.
     */
    kms: z.enum(['local'], { error: 'only local is available in this version (a master key file in dataDir, for development)' }).default('local'),
  }).prefault({}),
  health: z.strictObject({
    /** Address of the agent's own /healthz endpoint. Default 127.0.0.1. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Its port; 0 picks a free one. Default 8082. */
    port: z.number().int().min(0).max(65535).default(8082),
  }).prefault({}),
  log: z.strictObject({
    /** debug | info | warn | error. Default info. */
    level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  }).prefault({}),
  /** Seconds the agent waits for work in flight on SIGTERM/SIGINT. Default 10. */
  shutdownGrace: z.number().min(0).max(600).default(10),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export const AGENT_CONFIG: ConfigSource<typeof agentConfigSchema> = {
  schema: agentConfigSchema,
  envPrefix: 'AIRLOCK_AGENT_',
  fileVariable: 'AIRLOCK_AGENT_CONFIG',
  defaultFile: 'airlock-agent.yaml',
  isLikelyTypo: (v) => v !== 'AIRLOCK_AGENT_CONFIG',
};

export function loadAgentConfig(options: LoadOptions = {}): { config: AgentConfig; file: string | undefined; warnings: readonly string[] } {
  let loaded;
  try {
    loaded = loadConfigFrom(AGENT_CONFIG, options);
  } catch (err) {
    if (err instanceof ConfigError) throw new AgentError('AGENT_CONFIG_INVALID', err.message, { cause: err.cause });
    throw err;
  }
  const { value: config } = loaded;
  if (config.tunnel.reconnectMaxDelay < config.tunnel.reconnectMinDelay) {
    throw new AgentError('AGENT_CONFIG_INVALID', `invalid configuration: tunnel.reconnectMaxDelay (${config.tunnel.reconnectMaxDelay}) is below tunnel.reconnectMinDelay (${config.tunnel.reconnectMinDelay})`);
  }
  const warnings = loaded.unknownVariables.map((v) => `environment variable ${v} is not an agent configuration key and was ignored (typo?); see deploy/agent.example.yaml`);
  return { config, file: loaded.file, warnings };
}

/** The AIRLOCK_AGENT_* variable that sets each key path, for docs and tests. */
export function agentConfigVariables(): ReadonlyArray<{ variable: string; path: string }> {
  return variablesOf(AGENT_CONFIG).map((l) => ({ variable: l.variable, path: l.path.join('.') }));
}
