// `airlock gateway start`: runs a gateway in the foreground until SIGTERM/SIGINT.
import type { Command } from 'commander';
import { onShutdownSignal } from '../../lib/cli.ts';

export function registerGatewayCommands(program: Command): void {
  const gateway = program.command('gateway').description('run and manage the gateway server');
  gateway
    .command('start')
    .description('start the gateway in the foreground; stops gracefully on Ctrl-C or SIGTERM')
    .option('-c, --config <file>', 'configuration file (default: $AIRLOCK_CONFIG, else ./airlock.yaml if present, else embedded defaults)')
    .addHelpText('after', '\nEvery option can also be set with an AIRLOCK_* variable, e.g. AIRLOCK_SERVER_PORT=9090.\nSee deploy/airlock.example.yaml for all options.')
    .action(async (opts: { config?: string }) => {
      const { startGateway } = await import('../../gateway/main.ts'); // lazy: --help stays fast
      const running = await startGateway(opts.config === undefined ? {} : { file: opts.config });
      onShutdownSignal(running.stop);
    });
}
