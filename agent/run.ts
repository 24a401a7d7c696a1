// Starting and stopping an agent:
//
//   config → logger → identity (data dir; enrolment with --enroll-token-file when it holds none)
//   → health endpoint → one tunnel per gateway (gateway.urls, else the one it enrolled at)
//
// → vault (dataDir/vault.json) → the HTTP forwarder, registered as the `http` stream handler
// (agent/handlers.ts) that the tunnels dispatch to; other target dialers join as they are built.
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { listen, ListenError, urlOf } from '../lib/listen.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import type { LoadOptions } from '../lib/config.ts';
import { loadAgentConfig, type AgentConfig } from './config.ts';
import { enrollAgent, readEnrollmentToken } from './enroll.ts';
import { AgentError } from './errors.ts';
import { parseGatewayUrl } from './gateway-url.ts';
import { loadIdentity, type AgentIdentity } from './identity.ts';
import { TunnelClient } from './tunnel.ts';
import { registerStreamHandler } from './handlers.ts';
import { createHttpForwarder } from './http-forward.ts';
import { AGENT_VERSION } from './version.ts';
import { createLocalKms, LOCAL_KEY_ID } from './vault/local-kms.ts';
import { openVault } from './vault/vault.ts';

export interface AgentStartOptions extends LoadOptions {
  readonly logger?: Logger;
  /**
   * A file holding a one-time enrollment token, used only when the data dir holds no enrollment
   * yet (first start in a container, `airlock dev`); `-` reads standard input.
   */
  readonly enrollTokenFile?: string;
  /** Where that enrollment goes; default the first of gateway.urls. */
  readonly enrollGateway?: string;
}

export interface RunningAgent {
  readonly config: AgentConfig;
  /** The name the agent is enrolled as. */
  readonly name: string;
  /** URL of the agent's /healthz endpoint. */
  readonly healthUrl: string;
  /** One per gateway. */
  readonly tunnels: readonly TunnelClient[];
  /** Resolves when the agent stopped working by itself: revoked, or not enrolled at a gateway. */
  readonly failed: Promise<AgentError>;
  /** Stops the agent (tunnels, then the health endpoint); idempotent. */
  stop(): Promise<void>;
}

export async function startAgent(options: AgentStartOptions = {}): Promise<RunningAgent> {
  const { config, file, warnings } = loadAgentConfig(options);
  const logger = options.logger ?? createLogger({ level: config.log.level }, { service: 'agent' });
  for (const w of warnings) logger.warn(w);
  logger.info('configuration loaded', { file: file ?? '(embedded defaults)' });

  const dataDir = resolve(options.cwd ?? process.cwd(), config.dataDir);
  let identity = await loadIdentity(dataDir);
  let token: string | undefined;
  if (identity === undefined) {
    if (options.enrollTokenFile === undefined) {
      throw new AgentError('AGENT_NOT_ENROLLED', `This agent is not enrolled (no ${dataDir}/state.json); run airlock-agent enroll --gateway URL --token-file FILE with a token from \`airlock agents add NAME\`.`);
    }
    token = await readEnrollmentToken({ tokenFile: options.enrollTokenFile });
  } else if (options.enrollTokenFile !== undefined) {
    logger.info('already enrolled; the enrollment token file is not used', { agent: identity.state.name });
  }
  if (identity !== undefined && config.name !== undefined && identity.state.name !== config.name) {
    throw new AgentError('AGENT_CONFIG_INVALID', `This agent is enrolled as ${identity.state.name} (${dataDir}), but its configuration says name: ${config.name}; fix the name, or use another dataDir.`);
  }

  let connected = 0;
  let tunnels: TunnelClient[] = [];
  const health = createServer((req, res) => {
    const ok = req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD');
    const text = ok
      ? JSON.stringify({ status: 'ok', name: identity?.state.name ?? null, version: AGENT_VERSION, tunnels: { connected, total: tunnels.length } })
      : 'not found: the agent serves only GET /healthz here\n';
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
  const closeHealth = async () => {
    const closed = new Promise<void>((done) => health.close(() => done()));
    health.closeAllConnections();
    await closed;
  };
  const healthUrl = `${urlOf(address)}/healthz`;

  try {
    if (identity === undefined) identity = await enrollFirst(config, dataDir, token!, options.enrollGateway, logger);
    const id = identity;
    const urls = config.gateway.urls.length > 0 ? config.gateway.urls : id.state.gateways;
    const gateways = urls.map((u) => parseGatewayUrl(u, { insecure: config.gateway.insecure, logger }));
    const agentLogger = logger.child({ agent: id.state.name });
    tunnels = gateways.map((gateway) => new TunnelClient({ gateway, identity: id, settings: config.tunnel, logger: agentLogger }));
  } catch (err) {
    await closeHealth();
    throw err;
  }
  const name = identity.state.name;
  if (config.targets.allow.length === 0) logger.warn('targets.allow is empty: this agent forwards to no target; list the origins of your services');
  // Credentials: the vault's (encrypted), else the config's static ones (development).
  const vault = openVault({ dataDir, agent: name, kms: createLocalKms({ dataDir }), keyId: LOCAL_KEY_ID });
  try {
    const held = await vault.list(); // a corrupt vault stops the start here, not at the first request
    logger.info('vault opened', { path: vault.path, kms: config.vault.kms, entries: held.length });
    if (held.length > 0) logger.warn('vault.kms is local: the master key lies in the dataDir next to the vault it protects; for development only');
  } catch (err) {
    await closeHealth();
    throw err;
  }
  const credentialFor = async (connection: string) => (await vault.get(connection)) ?? (Object.hasOwn(config.credentials, connection) ? config.credentials[connection] : undefined);
  const unregisterHttp = registerStreamHandler('http', createHttpForwarder({ allow: config.targets.allow, credentialFor, logger }));
  for (const t of tunnels) {
    t.on('connected', () => { connected++; });
    t.on('disconnected', () => { connected--; });
    t.start();
  }
  logger.info('agent started', { name, version: AGENT_VERSION, health: healthUrl, gateways: tunnels.map((t) => t.gateway) });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('agent stopping');
      await Promise.all(tunnels.map((t) => t.stop()));
      unregisterHttp();
      await closeHealth();
      logger.info('agent stopped');
    })();
    return stopping;
  };
  return { config, name, healthUrl, tunnels, failed: Promise.race(tunnels.map((t) => t.refused)), stop };
}

async function enrollFirst(config: AgentConfig, dataDir: string, token: string, gatewayOption: string | undefined, logger: Logger): Promise<AgentIdentity> {
  const gateway = gatewayOption ?? config.gateway.urls[0];
  if (gateway === undefined) throw new AgentError('AGENT_USAGE', 'Enrolling needs the gateway: pass --gateway URL, or set gateway.urls.');
  await enrollAgent({ dataDir, gateway, token, expectName: config.name, insecure: config.gateway.insecure, logger });
  const identity = await loadIdentity(dataDir);
  if (identity === undefined) throw new AgentError('AGENT_STATE_INVALID', `The enrollment was written to ${dataDir} but cannot be read back.`);
  return identity;
}
