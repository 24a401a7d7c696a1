// The agent's configuration: airlock-agent.yaml or --config or AIRLOCK_AGENT_CONFIG, then
// AIRLOCK_AGENT_* overrides, validated (unknown keys are errors) and frozen. Options arrive with
// the capabilities that use them: the tunnel adds the gateway to dial, the vault its KMS.
import { z } from 'zod';
import { ConfigError, isLoopbackHost, loadConfigFrom, variablesOf, type ConfigSource, type LoadOptions } from '../lib/config.ts';
import { staticCredentialSchema } from './credentials/schema.ts';
import { AgentError } from './errors.ts';

/** DNS label rules: what `airlock agents add NAME` accepts. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A static credential the agent adds for a connection: the config's `credentials:` form (see credentials/schema.ts for the vault's types). */
export const credentialSchema = staticCredentialSchema;

/** A connection name, as the config's `credentials` keys and the vault's entries spell it: a DNS label. */
export const CONNECTION_NAME = DNS_LABEL;

const seconds = (min: number, max: number) => z.number().min(min).max(max);

/** https://, or http:// to a loopback host (a token endpoint on the agent's own machine). */
const endpointUrl = z.url({ protocol: /^https?$/, error: 'must be an https:// URL' })
  .refine((u) => u.startsWith('https:') || isLoopbackHost(new URL(u).hostname), 'must be https:// (http:// only to a loopback address)');

/** How the agent makes the credential of one connection, beyond what its vault entry holds. */
const connectionSettingsSchema = z.strictObject({
  /** Tokens minted per caller with the connection's `jwt-signing-key` secret. */
  jwt: z.strictObject({
    /** `aud` of the minted tokens. Default the target's origin (e.g. https://crm.internal). */
    audience: z.string().min(1).max(1000).optional(),
    /** `iss` of the minted tokens, e.g. the URL where targets fetch the JWKS. Default the agent's name. */
    issuer: z.string().min(1).max(1000).optional(),
    /** Lifetime of a minted token, in seconds (at most 300). Default 300. */
    ttl: z.number().int().min(10).max(300).default(300),
  }).prefault({}),
  /** Tokens from the target's OAuth 2.0 token endpoint, with the connection's `oauth-client` secret. */
  oauth: z.strictObject({
    /** The token endpoint (https://). Required. */
    tokenEndpoint: endpointUrl,
    /** client_credentials (one token for the connection) or token_exchange (RFC 8693: one per caller, the caller as subject). Default client_credentials. */
    mode: z.enum(['client_credentials', 'token_exchange']).default('client_credentials'),
    /** `scope` to ask for. Default none. */
    scope: z.string().min(1).max(1000).optional(),
    /** `audience` to ask for (RFC 8693, and IdPs that take it for client credentials). Default none. */
    audience: z.string().min(1).max(1000).optional(),
    /** `resource` to ask for (RFC 8707), an absolute URL. Default none. */
    resource: z.url().optional(),
    /** How the client authenticates: client_secret_basic or client_secret_post. Default client_secret_basic. */
    auth: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    /** Seconds the token endpoint may take. Default 10. */
    timeout: seconds(0.1, 60).default(10),
    /**
     * token_exchange only (required there): the vault entry (a name, like a connection's) of the
     * `jwt-signing-key` that signs the subject token, a JWT whose `sub` is the caller, which the
     * token endpoint verifies against the agent's JWKS.
     */
    subjectTokenKey: z.string().regex(DNS_LABEL, 'the name of a vault entry of type jwt-signing-key').optional(),
    /** `aud` of the subject token. Default the token endpoint's origin. */
    subjectTokenAudience: z.string().min(1).max(1000).optional(),
  }).refine((o) => o.mode !== 'token_exchange' || o.subjectTokenKey !== undefined, { message: 'token_exchange needs subjectTokenKey: the vault entry of the jwt-signing-key that signs subject tokens', path: ['subjectTokenKey'] }).optional(),
});
export type ConnectionSettings = z.infer<typeof connectionSettingsSchema>;

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
     * Origins the agent forwards to (`http://host:port`, `https://host`, `postgres://host:port`
     * for postgres connections; port 5432 may be left out), `*` as a wildcard: whatever a gateway
     * asks, the agent reaches nothing else. Default none: list your services.
     */
    allow: z.array(z.string().min(1).max(300).regex(/^(https?|postgres):\/\/[A-Za-z0-9.*\-\[\]:]+$/, 'an origin pattern such as http://10.0.0.*:8080, https://*.internal or postgres://db.internal:5432')).max(1000).default([]),
  }).prefault({}),
  mcp: z.strictObject({
    /**
     * Commands the agent may start as stdio MCP servers, matched exactly against a connection's
     * argv[0] (`/usr/local/bin/mcp-server-git`, or a name looked up on the agent's PATH such as
     * `uvx`). The arguments are the connection's: listing an interpreter (node, python, npx, uvx)
     * lets the connection run any program it names. Default none: no stdio MCP server is started.
     */
    commands: z.array(z.string().min(1).max(4096).refine((s) => !s.includes('\0') && s.trim() === s, 'a command without NUL or surrounding spaces')).max(256).default([]),
    /**
     * Absolute directories a stdio server's working directory (the connection's `cwd`) may be
     * in; any other cwd is replaced by dataDir/mcp/<connection>. Default none.
     */
    dirs: z.array(z.string().min(2).max(4096).refine((s) => s.startsWith('/') && !s.includes('\0'), 'an absolute path')).max(256).default([]),
    /** Stdio MCP servers running at once (one per downstream MCP session). Default 32. */
    maxProcesses: z.number().int().min(1).max(1024).default(32),
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
  /** Per connection (by name): how its credential is minted or fetched (jwt, oauth). Default {}. */
  connections: z.record(z.string().regex(DNS_LABEL, 'a connection name'), connectionSettingsSchema).default({}),
  vault: z.strictObject({
    /**
     * The KMS that wraps the vault's data keys: `aws` (AWS KMS, see `aws`), or `local` (a master
     * key file in dataDir: development only). Default local.
     */
    kms: z.enum(['local', 'aws'], { error: 'must be local (a master key file in dataDir, for development) or aws (AWS KMS)' }).default('local'),
    /** The AWS KMS key, for kms: aws. Credentials come from the AWS SDK's standard chain. */
    aws: z.strictObject({
      /** Region of the key, e.g. eu-west-1. Required. */
      region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1'),
      /** The symmetric KMS key new data keys are made under: key id, key ARN, alias/NAME or alias ARN. Required. */
      keyId: z.string().min(1).max(2048),
      /** Another endpoint than the region's (a VPC endpoint, FIPS). Default the SDK's. */
      endpoint: z.url({ protocol: /^https?$/ }).optional(),
      /** Tries per KMS request, the first included; throttling and network failures are retried. Default 3. */
      maxAttempts: z.number().int().min(1).max(10).default(3),
      /** Seconds per try to connect and answer. Default 5. */
      timeout: seconds(0.1, 60).default(5),
    }).optional(),
    /** Unwrapped data keys kept in memory, to spare a KMS call per request; either bound 0 disables it. */
    cache: z.strictObject({
      /** Seconds a data key stays cached after the KMS unwrapped it. Default 60. */
      maxAge: seconds(0, 3600).default(60),
      /** Decrypts one cached data key serves at most. Default 1000. */
      maxUses: z.number().int().min(0).max(1_000_000).default(1000),
    }).prefault({}),
  }).refine((v) => v.kms !== 'aws' || v.aws !== undefined, { message: 'kms: aws needs the aws block (region, keyId)', path: ['aws'] }).prefault({}),
  health: z.strictObject({
    /** Address of the agent's own /healthz endpoint, and of /.well-known/jwks.json (the public keys of minted tokens). Default 127.0.0.1. */
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
