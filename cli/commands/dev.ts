// `airlock dev` (what `npm start` runs): gateway, development identity provider, local agent and
// demo service on this machine, until Ctrl-C.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { onShutdownSignal } from '../../lib/cli.ts';
import { gatewayOption, resolveGateway } from '../gateway-url.ts';

function portArg(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535 (0 picks a free port)');
  return n;
}

export function registerDevCommand(program: Command): void {
  const devCommand = program
    .command('dev')
    .description('run airlock on this machine with embedded defaults: gateway (SQLite), dev identity provider, agent, a demo service and (when PostgreSQL is installed) a demo database. DEV ONLY')
    .option('-c, --config <file>', 'gateway configuration file (default: $AIRLOCK_CONFIG, else ./airlock.yaml if present, else embedded defaults)')
    .option('-p, --port <port>', 'gateway port, over server.port (default 8080)', portArg)
    .option('--idp-port <port>', 'port of the development identity provider', portArg, 8081)
    .option('--agent-port <port>', 'port of the local agent\'s health endpoint', portArg, 8082)
    .option('--demo-port <port>', 'port of the demo internal service', portArg, 8090)
    .option('--postgres-port <port>', 'port of the gateway\'s PostgreSQL listener, over postgres.port (default 15432)', portArg)
    .option('--data-dir <dir>', 'where dev-only state (the provider\'s signing keys) is kept', '.airlock-dev')
    .addHelpText('after', '\nEverything listens on 127.0.0.1. Dev users: alice (group admins), bob (group developers).\nThe store is store.url (default sqlite:./data/airlock.db). Ctrl-C stops everything.')
    .action(async (opts: { config?: string; port?: number; idpPort: number; agentPort: number; demoPort: number; postgresPort?: number; dataDir: string }) => {
      const { startDev } = await import('../dev/run.ts'); // lazy: --help stays fast
      // Listen for Ctrl-C before anything starts, so the agent child (which gets the terminal's
      // SIGINT too) stopping is known to be expected.
      const stopRequested = new AbortController();
      let stop = async () => {};
      onShutdownSignal(async () => {
        stopRequested.abort();
        await stop();
      });
      const dev = await startDev({ ...opts, signal: stopRequested.signal });
      stop = dev.stop;
      process.stdout.write(dev.banner);
      const err = await dev.failed;
      await dev.stop();
      throw err;
    });

  devCommand
    .command('token')
    .description('print an access token for a dev user, for scripts and tests; only against `airlock dev`. DEV ONLY')
    .requiredOption('--user <name>', 'the dev user: alice (group admins) or bob (group developers)')
    .addOption(gatewayOption())
    .addHelpText('after', '\nRefuses unless the gateway\'s issuer is the embedded development identity provider.\nExample: curl -H "Authorization: Bearer $(airlock dev token --user alice)" http://127.0.0.1:8080/api/v1/me')
    .action(async (opts: { user: string; gateway?: string }) => {
      const [{ CredentialStore }, { requestDevToken }] = await Promise.all([import('../auth/credentials.ts'), import('../dev/token.ts')]);
      const gateway = await resolveGateway(opts.gateway, new CredentialStore());
      process.stdout.write(`${await requestDevToken(gateway, opts.user)}\n`);
    });
}
