// Starting and stopping an agent: config → logger → health endpoint. The tunnel to the gateway,
// the vault and the target dialers join here as they are built.
import { createServer } from 'node:http';
import { listen, ListenError, urlOf } from '../lib/listen.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import type { LoadOptions } from '../lib/config.ts';
import { loadAgentConfig, type AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';
import { AGENT_VERSION } from './version.ts';

export interface AgentStartOptions extends LoadOptions {
  readonly logger?: Logger;
}

export interface RunningAgent {
  readonly config: AgentConfig;
  /** URL of the agent's /healthz endpoint. */
  readonly healthUrl: string;
  /** Stops the agent; idempotent. */
  stop(): Promise<void>;
}

export async function startAgent(options: AgentStartOptions = {}): Promise<RunningAgent> {
  const { config, file, warnings } = loadAgentConfig(options);
  const logger = options.logger ?? createLogger({ level: config.log.level }, { service: 'agent', agent: config.name });
  for (const w of warnings) logger.warn(w);
  logger.info('configuration loaded', { file: file ?? '(embedded defaults)' });

  const body = JSON.stringify({ status: 'ok', name: config.name, version: AGENT_VERSION });
  const health = createServer((req, res) => {
    const ok = req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD');
    const text = ok ? body : 'not found: the agent serves only GET /healthz here\n';
    res.writeHead(ok ? 200 : 404, { 'content-type': ok ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  });
  health.headersTimeout = 5000;
  health.requestTimeout = 10_000;
  let address;
  try {
    address = await listen(health, config.health.host, config.health.port, 'health.port in airlock-agent.yaml or AIRLOCK_AGENT_HEALTH_PORT');
  } catch (err) {
    if (err instanceof ListenError) throw new AgentError('AGENT_PORT_IN_USE', err.message, { cause: err.cause });
    throw err;
  }
  const healthUrl = `${urlOf(address)}/healthz`;
  logger.info('agent started', { name: config.name, version: AGENT_VERSION, health: healthUrl });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('agent stopping');
      const closed = new Promise<void>((resolve) => health.close(() => resolve()));
      health.closeAllConnections();
      await closed;
      logger.info('agent stopped');
    })();
    return stopping;
  };
  return { config, healthUrl, stop };
}
