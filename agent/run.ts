// Starting and stopping an agent:
//
//   config → logger → identity (data dir; enrolment with --enroll-token-file when it holds none)
//   → health endpoint (/healthz, and /.well-known/jwks.json for targets that verify minted
//     tokens) → one tunnel per gateway (gateway.urls, else the one it enrolled at)
//
// → vault (dataDir/vault.json, its KMS and data-key cache) → credentials (agent/credentials/)
// → the HTTP forwarder, registered as the `http` stream handler (agent/handlers.ts) that the
// tunnels dispatch to, the stdio MCP servers (`mcp-stdio`, agent/mcp-stdio.ts) and the postgres
// tools (`pg-tool`, agent/pg-tools.ts), the PostgreSQL listener's sessions (`pg-wire`, `pg-cancel`,
// agent/pg-wire.ts); other target dialers join as they are built.
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
import { createMcpStdioHandler } from './mcp-stdio.ts';
import { createPgToolHandler } from './pg-tools.ts';
import { createPgWireHandlers } from './pg-wire.ts';
import { AGENT_VERSION } from './version.ts';
import { createCredentials, type Credentials } from './credentials/index.ts';
import { openConfiguredVaultAs } from './vault/configured.ts';

/** Where the agent publishes the public keys of its minted tokens (on the health listener). */
export const JWKS_PATH = '/.well-known/jwks.json';

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
  let credentials: Credentials | undefined;
  const health = createServer((req, res) => {
    const send = (status: number, text: string, type: string, cache = 'no-store') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': cache });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    const readable = req.method === 'GET' || req.method === 'HEAD';
    if (readable && req.url === JWKS_PATH) {
      if (credentials === undefined) return send(503, '{"keys":[]}', 'application/json');
      credentials.jwks().then(
        (jwks) => send(200, JSON.stringify(jwks), 'application/json', 'public, max-age=60'),
        (err: unknown) => {
          logger.error('JWKS not served', { code: (err as { code?: unknown }).code, error: (err as Error).message });
          send(503, JSON.stringify({ error: { code: (err as { code?: unknown }).code ?? 'AGENT_INTERNAL', message: 'the agent cannot read its signing keys now; retry' } }), 'application/json');
        },
      );
      return;
    }
    const ok = readable && req.url === '/healthz';
    const text = ok
      ? JSON.stringify({ status: 'ok', name: identity?.state.name ?? null, version: AGENT_VERSION, tunnels: { connected, total: tunnels.length } })
      : `not found: the agent serves only GET /healthz and GET ${JWKS_PATH} here\n`;
    send(ok ? 200 : 404, text, ok ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8');
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
  const { vault, kms, keyId } = openConfiguredVaultAs(config, { dataDir, agent: name, warn: () => {} });
  try {
    const held = await vault.list(); // a corrupt vault stops the start here, not at the first request
    logger.info('vault opened', { path: vault.path, kms: config.vault.kms, keyId, entries: held.length, dataKeyCache: config.vault.cache });
    if (held.length > 0 && config.vault.kms === 'local') logger.warn('vault.kms is local: the master key lies in the dataDir next to the vault it protects; for development only');
  } catch (err) {
    await closeHealth();
    throw err;
  }
  credentials = createCredentials({ vault, agent: name, staticCredentials: config.credentials, connections: config.connections, logger });
  const creds = credentials;
  const unregisterHttp = registerStreamHandler('http', createHttpForwarder({ allow: config.targets.allow, credentialHeaders: (connection, request) => creds.headersFor(connection, request), logger }));
  const mcpStdio = createMcpStdioHandler({ commands: config.mcp.commands, dirs: config.mcp.dirs, maxProcesses: config.mcp.maxProcesses, dataDir, logger });
  const unregisterMcpStdio = registerStreamHandler('mcp-stdio', mcpStdio.handle);
  const unregisterPgTool = registerStreamHandler('pg-tool', createPgToolHandler({ allow: config.targets.allow, login: (connection) => creds.postgres(connection), logger }));
  const pgWire = createPgWireHandlers({ allow: config.targets.allow, login: (connection) => creds.postgres(connection), logger });
  const unregisterPgWire = registerStreamHandler('pg-wire', pgWire.wire);
  const unregisterPgCancel = registerStreamHandler('pg-cancel', pgWire.cancel);
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
      unregisterMcpStdio();
      unregisterPgTool();
      unregisterPgWire();
      unregisterPgCancel();
      await mcpStdio.close(); // servers whose streams the tunnels' close did not end yet
      creds.clear();
      kms.clear(); // no unwrapped data key outlives the agent's work
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
