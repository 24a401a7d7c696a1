// `airlock dev`: the whole product on one machine with embedded defaults.
//
//   1. demo service        an internal HTTP API with fake PII (cli/dev/demo-service.ts)
//   2. identity provider   the embedded development OpenID provider, users alice and bob
//   3. gateway             SQLite store, trusting only that provider (logged as DEV ONLY)
//   4. agent               a real `airlock-agent start` child process
//
// Everything listens on loopback. stop() takes it all down in reverse order.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../gateway/config/load.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { redactUrl } from '../../gateway/store/index.ts';
import { ListenError } from '../../lib/listen.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { CliError } from '../errors.ts';
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
    const demo = await portOption(startDemoService({ host: LOOPBACK, port: options.demoPort }));
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

    const gateway = await startGateway({
      ...(options.config === undefined ? {} : { file: options.config }),
      logger,
      overrides: { server: { host: LOOPBACK, port, publicUrl }, auth: { issuer: idp.issuer, audience }, dev: { embeddedIdp: true } },
    });
    cleanup.push(() => gateway.stop());

    const agent = await startAgentProcess(options.agentPort, logger, options.signal);
    cleanup.push(() => agent.stop());

    return {
      gateway, idp, demo,
      agentHealthUrl: agent.healthUrl,
      banner: banner(gateway, idp, demo, agent.healthUrl),
      failed: agent.exited,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, LOOPBACK, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

interface AgentProcess {
  readonly healthUrl: string;
  /** Resolves with an error when the agent exits while dev still runs. */
  readonly exited: Promise<Error>;
  stop(): Promise<void>;
}

/** Milliseconds the agent gets to start, and to stop before it is killed. */
const AGENT_START_MS = 15_000;
const AGENT_STOP_MS = 5_000;

/** Starts `airlock-agent start` as a child process; its JSON log lines join ours on stdout. */
function startAgentProcess(port: number, logger: Logger, signal: AbortSignal | undefined): Promise<AgentProcess> {
  const child: ChildProcess = spawn(process.execPath, [AGENT_MAIN, 'start'], {
    env: { ...process.env, AIRLOCK_AGENT_NAME: 'local', AIRLOCK_AGENT_HEALTH_HOST: LOOPBACK, AIRLOCK_AGENT_HEALTH_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stopping = false;
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

  return new Promise<AgentProcess>((resolve, reject) => {
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
      const health = agentStartedLine(line);
      if (health === undefined) return;
      clearTimeout(timer);
      resolve({
        healthUrl: health,
        exited: exited.then((err) => (stopping || signal?.aborted ? new Promise<Error>(() => {}) : err)),
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          stopping = true;
          const killer = setTimeout(() => {
            logger.warn('the agent did not stop in time; killing it', { ms: AGENT_STOP_MS });
            child.kill('SIGKILL');
          }, AGENT_STOP_MS);
          child.kill('SIGTERM');
          await exited;
          clearTimeout(killer);
        },
      });
    });
  });
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

function banner(gateway: RunningGateway, idp: DevIdp, demo: DemoService, agentHealth: string): string {
  const users = DEV_USERS.map((u) => `${u.sub} (${u.groups.join(', ')})`).join(', ');
  const gw = gateway.url;
  return [
    '',
    'airlock dev: DEV ONLY, everything on this machine, on loopback',
    '',
    `  gateway            ${gw}    store ${redactUrl(gateway.config.store.url)}`,
    `  identity provider  ${idp.issuer}    users: ${users}`,
    `  agent              local    health ${agentHealth}`,
    `  demo service       ${demo.url}/customers    fake cards, emails and SSNs`,
    '',
    'Try:',
    `  curl ${gw}/readyz`,
    `  curl ${gw}/api/v1/info`,
    `  curl ${demo.url}/customers`,
    `  curl ${idp.issuer}/.well-known/openid-configuration`,
    '  npx airlock --help',
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
