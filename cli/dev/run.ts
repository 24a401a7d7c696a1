// `airlock dev`: the whole product on one machine with embedded defaults.
//
//   1. demo service        an internal HTTP API with fake PII (cli/dev/demo-service.ts)
//   2. identity provider   the embedded development OpenID provider, users alice and bob
//   3. gateway             SQLite store, trusting only that provider (logged as DEV ONLY)
//   4. demo database       when PostgreSQL is installed: a throwaway cluster with the same records
//                          (cli/dev/demo-postgres.ts), connection `demo-db` on the gateway's
//                          PostgreSQL listener, its login only in the agent's vault
//   5. agent               a real `airlock-agent start` child process, enrolled afresh as `local`
//                          on every run and connected through its tunnel before the banner
//
// Everything listens on loopback. stop() takes it all down in reverse order.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { issueEnrollment } from '../../gateway/agents/index.ts';
import { loadConfig } from '../../gateway/config/load.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { redactUrl } from '../../gateway/store/index.ts';
import { freePort, ListenError } from '../../lib/listen.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { CliError } from '../errors.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { KEY_FILE, STATE_FILE } from '../../agent/identity.ts';
import { openConfiguredVaultAs } from '../../agent/vault/configured.ts';
import type { Secret } from '../../agent/credentials/schema.ts';
import { DEMO_OPENAPI } from './demo-openapi.ts';
import { startDemoPostgres, type DemoPostgres } from './demo-postgres.ts';
import { startDemoService, type DemoService } from './demo-service.ts';
import { DEV_USERS, startDevIdp, type DevIdp } from './idp.ts';

export interface DevOptions {
  /** Gateway configuration file; embedded defaults when absent. */
  readonly config?: string;
  /** Gateway port over the configuration's server.port; 0 picks a free one. */
  readonly port?: number;
  readonly idpPort: number;
  readonly demoPort: number;
  readonly agentPort: number;
  /** Port of the gateway's PostgreSQL listener, over postgres.port (default 15432); 0 picks a free one. */
  readonly postgresPort?: number;
  /** Where dev-only state lives (the provider's signing keys). Default .airlock-dev. */
  readonly dataDir?: string;
  /**
   * Aborted when the user asked to stop (Ctrl-C). The terminal sends SIGINT to the agent child
   * too, so its exit is then expected, not a failure.
   */
  readonly signal?: AbortSignal;
}

export interface RunningDev {
  readonly gateway: RunningGateway;
  readonly idp: DevIdp;
  readonly demo: DemoService;
  readonly agentHealthUrl: string;
  /** The demo database, when PostgreSQL is installed. */
  readonly demoPostgres?: DemoPostgres;
  /** What runs where and what to try next, for the terminal. */
  readonly banner: string;
  /** Resolves when a component stops by itself (the agent exiting); dev then shuts down. */
  readonly failed: Promise<Error>;
  stop(): Promise<void>;
}

const AGENT_MAIN = fileURLToPath(new URL('../../agent/main.ts', import.meta.url));
const LOOPBACK = '127.0.0.1';

export async function startDev(options: DevOptions): Promise<RunningDev> {
  const { config } = loadConfig(options.config === undefined ? {} : { file: options.config });
  const logger = createLogger({ level: config.log.level });
  const cleanup: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const close of cleanup.reverse().splice(0)) await close().catch((err: unknown) => logger.error('stop failed', { err }));
  };
  try {
    // The demo service accepts only a credential the agent holds (written to the agent's own
    // config file): the caller's token never reaches it, and its credential never the caller.
    const demoToken = randomBytes(24).toString('base64url');
    const demo = await portOption(startDemoService({ host: LOOPBACK, port: options.demoPort, token: demoToken }));
    cleanup.push(() => demo.close());

    // The provider must know the gateway's address (the token audience) before the gateway
    // knows the provider's (its issuer), so a gateway port of 0 is resolved up front.
    const requested = options.port ?? config.server.port;
    const port = requested === 0 ? await freePort() : requested;
    const publicUrl = config.server.publicUrl ?? `http://${LOOPBACK}:${port}`;
    const audience = config.auth.audience ?? publicUrl;

    const idp = await portOption(startDevIdp({
      host: LOOPBACK,
      port: options.idpPort,
      audience,
      cliClientId: config.auth.cliClientId,
      keyFile: `${options.dataDir ?? '.airlock-dev'}/idp-keys.json`,
      logger: logger.child({ component: 'idp' }),
    }));
    cleanup.push(() => idp.close());

    // The demo database before the gateway: its connection is registered with the others.
    const devDir = resolve(options.dataDir ?? '.airlock-dev');
    mkdirSync(devDir, { recursive: true, mode: 0o700 });
    const database = await demoDatabase(devDir, logger);
    if (database.running) cleanup.push(() => database.running!.stop());

    const gateway = await gatewayPortOption(port, startGateway({
      ...(options.config === undefined ? {} : { file: options.config }),
      logger,
      overrides: {
        server: { host: LOOPBACK, port, publicUrl }, auth: { issuer: idp.issuer, audience }, dev: { embeddedIdp: true },
        // psql through airlock; on loopback, where a token as plaintext password is accepted.
        postgres: { enabled: true, host: LOOPBACK, port: options.postgresPort ?? config.postgres.port },
        // Kept across restarts, so sessions recorded yesterday still verify today.
        recording: { keyFile: join(options.dataDir ?? '.airlock-dev', 'recording-key.pem') },
      },
    }));
    cleanup.push(() => gateway.stop());

    await registerDemo(gateway, demo.url, database.running?.target);
    const agentConfig = join(devDir, 'agent.yaml');
    const agentDir = join(devDir, 'agent');
    writeFileSync(agentConfig, agentYaml(agentDir, gateway.url, demo.url, database.running?.target), { mode: 0o600 });
    const secrets: Record<string, Secret> = { demo: { type: 'bearer', token: demoToken }, 'demo-mcp': { type: 'bearer', token: demoToken } };
    if (database.running) secrets[DEMO_DB] = { type: 'postgres', ...database.running.login };
    const agent = await startAgentProcess(gateway, agentDir, agentConfig, options.agentPort, logger, options.signal, secrets);
    cleanup.push(() => agent.stop());
    await connected(gateway, agent);

    return {
      gateway, idp, demo,
      agentHealthUrl: agent.healthUrl,
      ...(database.running ? { demoPostgres: database.running } : {}),
      banner: banner(gateway, idp, demo, agent.healthUrl, agentConfig, database),
      failed: agent.exited,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The dev agent's whole configuration, so `airlock-agent secrets …|vault … --config <this file>`
 * finds the agent `airlock dev` runs (its name, its data directory, its gateway). Absolute
 * paths: the agent resolves dataDir against the working directory, not the file.
 */
export function agentYaml(dataDir: string, gatewayUrl: string, demoUrl: string, databaseUrl?: string): string {
  return [
    '# Written by `airlock dev` on every start: the configuration of its agent. Use it for the',
    '# agent\'s vault, e.g. airlock-agent secrets set NAME --type bearer --from-file F --config <this file>.',
    '# The demo service\'s secret is in that vault, never in this file.',
    `name: ${LOCAL_AGENT}`,
    `dataDir: ${JSON.stringify(dataDir)}`,
    `gateway: { urls: [${JSON.stringify(gatewayUrl)}] }`,
    `targets: { allow: [${[demoUrl, ...(databaseUrl ? [targetOrigin(databaseUrl)] : [])].map((u) => JSON.stringify(u)).join(', ')}] }`,
    '',
  ].join('\n');
}

/** postgres://host:port of a postgres:// URL (URL.origin is "null" for a scheme it does not know). */
function targetOrigin(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

/**
 * The gateway's port clash names `airlock dev --port` first: the gateway alone would say
 * server.port, which under dev is only the default that --port overrides.
 */
async function gatewayPortOption<T>(port: number, starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'GW_PORT_IN_USE' && err.message.includes('postgres.port')) {
      throw new CliError('CLI_PORT_IN_USE', `${err.message.replace(/ with postgres\.port.*$/, '')} with --postgres-port (0 picks a free one), or postgres.port in the --config file.`, { cause: err });
    }
    if (err instanceof GatewayError && err.code === 'GW_PORT_IN_USE' && err.message.includes('already in use')) {
      throw new CliError('CLI_PORT_IN_USE', `Port ${port} on ${LOOPBACK} is already in use; stop what holds it, or choose another with --port (0 picks a free one), or server.port in the --config file.`, { cause: err });
    }
    throw err;
  }
}

/** A port clash on a dev component names the flag that moves it. */
async function portOption<T>(starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (err) {
    if (err instanceof ListenError) throw new CliError('CLI_PORT_IN_USE', err.message, { cause: err });
    throw err;
  }
}


interface AgentProcess {
  readonly healthUrl: string;
  /** The one-time enrollment token handed to the child. */
  readonly tokenFile: string;
  /** Resolves with an error when the agent exits while dev still runs. */
  readonly exited: Promise<Error>;
  stop(): Promise<void>;
}

/** Milliseconds the agent gets to start, to connect its tunnel, and to stop before it is killed. */
const AGENT_START_MS = 15_000;
const AGENT_CONNECT_MS = 15_000;
const AGENT_STOP_MS = 5_000;
/** Milliseconds a user-requested stop waits to see whether the child got the terminal's signal too. */
const AGENT_SIGNAL_MS = 300;
/** The dev agent's name. */
const LOCAL_AGENT = 'local';

/** Waits (bounded) until the dev agent's tunnel is up; then its one-time token file is of no use. */
async function connected(gateway: RunningGateway, agent: AgentProcess): Promise<void> {
  try {
    await Promise.race([gateway.agents.waitOnline(LOCAL_AGENT, AGENT_CONNECT_MS), agent.exited.then((err) => { throw err; })]);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError('CLI_DEV_FAILED', `the local agent did not connect its tunnel to the gateway within ${AGENT_CONNECT_MS / 1000} s; its log lines above say why`, { cause: err });
  } finally {
    rmSync(agent.tokenFile, { force: true });
  }
}

/**
 * The demo service's two connections, reached through `agent`: `demo` (its HTTP API, with its
 * OpenAPI document as MCP tools) and `demo-mcp` (its MCP server as an upstream). Every signed-in
 * user may use them. Also registered by the compose file's setup (deploy/compose/setup.ts).
 */
export function demoConnections(agent: string, url: string): Array<Record<string, unknown> & { name: string }> {
  return [
    { name: 'demo', kind: 'http', agent, target: url, groups: ['*'], description: 'The airlock dev demo service: customer records with fake cards, emails and SSNs.', tags: ['env=dev'], policy: { packs: ['default', 'http-writes', 'demo-limits'] }, openapi: structuredClone(DEMO_OPENAPI) as unknown as Record<string, unknown> },
    { name: 'demo-mcp', kind: 'mcp', agent, target: { url: `${url}/mcp` }, groups: ['*'], description: 'The airlock dev demo MCP server: lookup_customer (PII, masked) and run_sql (claims read-only; judged anyway).', tags: ['env=dev'] },
  ];
}

/** The demo database's connection name: the `dbname` psql gives the gateway's listener. */
export const DEMO_DB = 'demo-db';

/**
 * `demo-db`: the demo database through `agent`, under the default pack (PII masked in results,
 * DROP and TRUNCATE refused, unbounded writes held for review). Every signed-in user may use it.
 */
export function demoDbConnection(agent: string, target: string): Record<string, unknown> & { name: string } {
  return { name: DEMO_DB, kind: 'postgres', agent, target, groups: ['*'], description: 'The airlock dev demo database: table customers with fake cards, emails and SSNs.', tags: ['env=dev'], policy: { packs: ['default'] } };
}

/**
 * The demo connections, through agent `local`, created or replaced; `demo-db` only when the demo
 * database runs (removed otherwise, so no connection points at a database that is gone).
 */
async function registerDemo(gateway: RunningGateway, url: string, databaseUrl: string | undefined): Promise<void> {
  for (const definition of [...demoConnections(LOCAL_AGENT, url), ...(databaseUrl ? [demoDbConnection(LOCAL_AGENT, databaseUrl)] : [])]) {
    if (gateway.connections.get(definition.name)) await gateway.connections.replace(definition.name, definition);
    else await gateway.connections.create(definition);
  }
  if (!databaseUrl && gateway.connections.get(DEMO_DB)) await gateway.connections.remove(DEMO_DB);
}

/** The demo database, or why there is none: PostgreSQL not installed, or failing to start (dev goes on without it). */
interface DemoDatabase {
  readonly running?: DemoPostgres;
  readonly absent?: string;
}

async function demoDatabase(devDir: string, logger: Logger): Promise<DemoDatabase> {
  try {
    const running = await startDemoPostgres(devDir);
    return running ? { running } : { absent: 'PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): no demo database; apt-get install postgresql (or brew install postgresql) adds one' };
  } catch (err) {
    logger.warn('the demo database did not start; going on without it', { err });
    return { absent: `the demo database did not start (${(err as Error).message.split('\n')[0]}); going on without it` };
  }
}

/**
 * Starts `airlock-agent start` as a child process; its JSON log lines join ours on stdout. Dev
 * enrols its agent afresh on every run, the way an operator would: an empty data dir, the
 * record made pending (revoked first when a previous run left it active) with a one-time token,
 * which the child reads from a 0600 file (never argv) through --enroll-token-file.
 */
async function startAgentProcess(gateway: RunningGateway, dataDir: string, configFile: string, port: number, logger: Logger, signal: AbortSignal | undefined, secrets: Readonly<Record<string, Secret>>): Promise<AgentProcess> {
  // A fresh identity on every run; the vault (and the local KMS key that opens it) stays, so
  // what you put there with `airlock-agent secrets set --config .airlock-dev/agent.yaml` is kept.
  for (const file of [KEY_FILE, STATE_FILE, 'agent-key.new.pem']) rmSync(join(dataDir, file), { force: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // The demo credentials go into the agent's vault (its local development KMS), as an operator's
  // `airlock-agent secrets set` would put them: never in the agent's configuration file.
  const { config } = loadAgentConfig({ file: configFile, env: { AIRLOCK_AGENT_NAME: LOCAL_AGENT, AIRLOCK_AGENT_DATA_DIR: dataDir } });
  const { vault } = openConfiguredVaultAs(config, { dataDir, agent: LOCAL_AGENT, warn: (m) => logger.debug(m), cache: false });
  for (const [connection, secret] of Object.entries(secrets)) await vault.set(connection, secret);
  if ((await gateway.store.agents.get(LOCAL_AGENT))?.status === 'active') await gateway.agents.revoke(LOCAL_AGENT);
  const { token } = await issueEnrollment(gateway.store, LOCAL_AGENT, { ttlSeconds: Math.ceil((AGENT_START_MS + AGENT_CONNECT_MS) / 1000) });
  const tokenFile = join(dataDir, '..', 'agent-enrollment.token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const child: ChildProcess = spawn(process.execPath, [AGENT_MAIN, 'start', '--config', configFile, '--enroll-token-file', tokenFile], {
    env: {
      ...process.env,
      AIRLOCK_AGENT_NAME: LOCAL_AGENT,
      AIRLOCK_AGENT_DATA_DIR: dataDir,
      AIRLOCK_AGENT_GATEWAY_URLS: gateway.url,
      AIRLOCK_AGENT_HEALTH_HOST: LOOPBACK,
      AIRLOCK_AGENT_HEALTH_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stopping = false;
  let stoppingItself = false; // the child logged "agent stopping": it got the terminal's Ctrl-C too
  const stoppingLogged = new EventEmitter();
  let lastError = '';
  const exited = new Promise<Error>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(new CliError('CLI_DEV_FAILED', `the local agent exited (${signal ?? `status ${code}`})${lastError ? `: ${lastError}` : ''}`));
    });
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (line.trim()) lastError = line.replace(/^airlock-agent: /, '');
    process.stderr.write(line + '\n');
  });

  const started = new Promise<AgentProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CliError('CLI_DEV_FAILED', `the local agent did not start within ${AGENT_START_MS / 1000} s`));
    }, AGENT_START_MS);
    void exited.then((err) => {
      clearTimeout(timer);
      if (!stopping) reject(err);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      process.stdout.write(line + '\n');
      if (line.includes('"msg":"agent stopping"')) {
        stoppingItself = true;
        stoppingLogged.emit('stopping');
      }
      const health = agentStartedLine(line);
      if (health === undefined) return;
      clearTimeout(timer);
      resolve({
        healthUrl: health,
        tokenFile,
        exited: exited.then((err) => (stopping || signal?.aborted ? new Promise<Error>(() => {}) : err)),
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          stopping = true;
          // After Ctrl-C in a terminal the child got SIGINT too and is stopping by itself (closing
          // its tunnel takes a round trip): a SIGTERM now would be its "second signal", which
          // exits at once. Give the signal a moment to show in its log, then let it finish.
          if (signal?.aborted && !stoppingItself) {
            await new Promise<void>((done) => {
              const timer = setTimeout(done, AGENT_SIGNAL_MS);
              stoppingLogged.once('stopping', () => { clearTimeout(timer); done(); });
            });
          }
          const killer = setTimeout(() => {
            logger.warn('the agent did not stop in time; killing it', { ms: AGENT_STOP_MS });
            child.kill('SIGKILL');
          }, AGENT_STOP_MS);
          if (!stoppingItself) child.kill('SIGTERM');
          await exited;
          clearTimeout(killer);
        },
      });
    });
  });
  return started.catch((err: unknown) => {
    rmSync(tokenFile, { force: true });
    throw err;
  });
}

/** `path` relative to the working directory when it is inside it (shorter to copy), else absolute. */
function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || rel === '' ? path : rel;
}

/** The health URL from the agent's `agent started` log line, else undefined. */
function agentStartedLine(line: string): string | undefined {
  if (!line.includes('"agent started"')) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: string; health?: string };
    return record.msg === 'agent started' && typeof record.health === 'string' ? record.health : undefined;
  } catch {
    return undefined;
  }
}

function banner(gateway: RunningGateway, idp: DevIdp, demo: DemoService, agentHealth: string, agentConfig: string, database: DemoDatabase): string {
  const users = DEV_USERS.map((u) => `${u.sub} (${u.groups.join(', ')})`).join(', ');
  const gw = gateway.url;
  // The console's sign-in returns to the public URL (its redirect URI and cookie origin), so that is the one to open.
  const consoleUrl = `${(gateway.config.server.publicUrl ?? gw).replace(/\/+$/, '')}/console`;
  return [
    '',
    'airlock dev: DEV ONLY, everything on this machine, on loopback',
    '',
    `  gateway            ${gw}    store ${redactUrl(gateway.config.store.url)}`,
    `  identity provider  ${idp.issuer}    users: ${users}`,
    `  agent              local    connected through its tunnel    health ${agentHealth}`,
    `                     its configuration ${shortPath(agentConfig)}: airlock-agent secrets list --config ${shortPath(agentConfig)}`,
    `  demo service       ${demo.url}    connection "demo": fake cards, emails and SSNs; only the agent holds its credential`,
    `  web console        ${consoleUrl}    reviews, sessions and replays, connections; sign in as alice or bob`,
    `  postgres listener  127.0.0.1:${gateway.postgresPort}    psql and drivers; dbname is the connection, password an airlock token`,
    database.running
      ? `  demo database      ${database.running.target}    connection "${DEMO_DB}": table customers, the same fake records; only the agent holds its login`
      : `  demo database      none: ${database.absent}`,
    '',
    'Try:',
    `  airlock login --gateway ${gw}                 # sign in as alice or bob in a browser on this machine`,
    `  export AIRLOCK_TOKEN=$(airlock dev token --user alice)  # or, without a browser: a token for alice`,
    '  airlock whoami',
    `  curl -H "Authorization: Bearer $(airlock token)" ${gw}/proxy/demo/customers   # masked on the way back`,
    `  curl ${demo.url}/customers                            # refused: the caller never holds the target's credential`,
    `  MCP clients: ${gw}/mcp/demo (its API as tools), ${gw}/mcp/demo-mcp (an MCP server), ${gw}/mcp (both)`,
    `  curl -X DELETE -H "Authorization: Bearer $(airlock token)" ${gw}/proxy/demo/customers/4   # held: approve it in the web console, or airlock reviews list`,
    ...(database.running ? [
      `  PGPASSWORD=$(airlock dev token --user bob) psql "host=127.0.0.1 port=${gateway.postgresPort} dbname=${DEMO_DB} user=bob"   # SELECT * FROM customers; comes back masked`,
      `  airlock connect ${DEMO_DB}                              # or: a local port where psql needs no password`,
    ] : []),
    `  echo '{"kind":"sql","sql":"DELETE FROM users"}' | airlock policy eval -i -`,
    `  curl ${gw}/readyz`,
    '  airlock --help                                      # not on PATH? npm link (README: Install)',
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
