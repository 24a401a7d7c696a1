#!/usr/bin/env node
// The `airlock` command. Each group of commands lives in cli/commands/<group>.ts. The program is
// exported and runs only as the entry point, so a test can read its command tree (test/docs.test.ts).
import { Command } from 'commander';
import { VERSION } from '../gateway/version.ts';
import { registerAgentCommands } from './commands/agents.ts';
import { registerApiKeyCommands } from './commands/api-keys.ts';
import { registerAuthCommands } from './commands/auth.ts';
import { registerConnectionCommands } from './commands/connections.ts';
import { registerConnectCommand } from './commands/connect.ts';
import { registerDevCommand } from './commands/dev.ts';
import { registerGatewayCommands } from './commands/gateway.ts';
import { registerPolicyCommands } from './commands/policy.ts';
import { registerReviewCommands } from './commands/reviews.ts';
import { registerSessionCommands } from './commands/sessions.ts';
import { registerUsageCommands } from './commands/usage.ts';
import { registerToolCommands } from './commands/tools.ts';
import { runCli } from './run.ts';

export const program = new Command('airlock')
  .description('airlock: identity-aware access proxy for AI agents (gateway, policy, reviews, recordings)')
  .version(VERSION, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .showSuggestionAfterError();

program.command('version').description('print the version').action(() => { process.stdout.write(`airlock ${VERSION}\n`); });
registerAuthCommands(program);
registerApiKeyCommands(program);
registerAgentCommands(program);
registerConnectionCommands(program);
registerConnectCommand(program);
registerGatewayCommands(program);
registerDevCommand(program);
registerPolicyCommands(program);
registerSessionCommands(program);
registerReviewCommands(program);
registerToolCommands(program);
registerUsageCommands(program);

if (import.meta.main) await runCli(program);
