#!/usr/bin/env node
// The `airlock-agent` command: runs near the internal services and dials out to the gateway.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { AgentError } from './errors.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('airlock-agent')
  .description('airlock agent: holds target credentials and forwards gateway traffic to internal services')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program.command('version').description('print the version').action(() => { process.stdout.write(`airlock-agent ${version}\n`); });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof AgentError) {
    process.stderr.write(`airlock-agent: ${err.message} (${err.code})\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`airlock-agent: unexpected failure: ${(err as Error)?.message ?? String(err)} (AGENT_INTERNAL)\n`);
    process.exitCode = 1;
  }
}
