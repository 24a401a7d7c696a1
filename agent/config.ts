// The agent's configuration: airlock-agent.yaml or --config or AIRLOCK_AGENT_CONFIG, then
// AIRLOCK_AGENT_* overrides, validated (unknown keys are errors) and frozen. Options arrive with
// the capabilities that use them: the tunnel adds the gateway to dial, the vault its KMS.
import { z } from 'zod';
import { ConfigError, loadConfigFrom, variablesOf, type ConfigSource, type LoadOptions } from '../lib/config.ts';
import { AgentError } from './errors.ts';

/** DNS label rules: what `airlock agents add NAME` accepts. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const agentConfigSchema = z.strictObject({
  /** The agent's name, as registered at the gateway (DNS label). Default `local`. */
  name: z.string().regex(DNS_LABEL, 'must be a DNS label: lower-case letters, digits and inner hyphens, at most 63').default('local'),
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
  try {
    const loaded = loadConfigFrom(AGENT_CONFIG, options);
    const warnings = loaded.unknownVariables.map((v) => `environment variable ${v} is not an agent configuration key and was ignored (typo?); see deploy/agent.example.yaml`);
    return { config: loaded.value, file: loaded.file, warnings };
  } catch (err) {
    if (err instanceof ConfigError) throw new AgentError('AGENT_CONFIG_INVALID', err.message, { cause: err.cause });
    throw err;
  }
}

/** The AIRLOCK_AGENT_* variable that sets each key path, for docs and tests. */
export function agentConfigVariables(): ReadonlyArray<{ variable: string; path: string }> {
  return variablesOf(AGENT_CONFIG).map((l) => ({ variable: l.variable, path: l.path.join('.') }));
}
