#!/usr/bin/env node
// The `airlock-agent` command: runs near the internal services and dials out to the gateway.
import { Command } from 'commander';
import { onShutdownSignal, runProgram } from '../lib/cli.ts';
import { AgentError } from './errors.ts';
import { AGENT_VERSION } from './version.ts';

const program = new Command('airlock-agent')
  .description('airlock agent: runs inside your network, next to the internal services the gateway reaches through it')
  .version(AGENT_VERSION, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .showSuggestionAfterError();

program.command('version').description('print the version').action(() => { process.stdout.write(`airlock-agent ${AGENT_VERSION}\n`); });

program
  .command('start')
  .description('start the agent in the foreground; stops gracefully on Ctrl-C or SIGTERM')
  .option('-c, --config <file>', 'configuration file (default: $AIRLOCK_AGENT_CONFIG, else ./airlock-agent.yaml if present, else embedded defaults)')
  .addHelpText('after', '\nEvery option can also be set with an AIRLOCK_AGENT_* variable, e.g. AIRLOCK_AGENT_HEALTH_PORT=9082.\nSee deploy/agent.example.yaml for all options.')
  .action(async (opts: { config?: string }) => {
    const { startAgent } = await import('./run.ts');
    const agent = await startAgent(opts.config === undefined ? {} : { file: opts.config });
    onShutdownSignal(agent.stop);
  });

await runProgram(program, {
  describe: (err) => (err instanceof AgentError ? { code: err.code, message: err.message, exitCode: err.exitCode } : undefined),
  internalCode: 'AGENT_INTERNAL',
  debugVariable: 'AIRLOCK_AGENT_LOG_LEVEL',
});
