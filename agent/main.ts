#!/usr/bin/env node
// The `airlock-agent` command: runs near the internal services and dials out to the gateway. The
// program is exported and runs only as the entry point, so a test can read its command tree.
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { onShutdownSignal, runProgram } from '../lib/cli.ts';
import { AgentError } from './errors.ts';
import { AGENT_VERSION } from './version.ts';

export const program = new Command('airlock-agent')
  .description('airlock agent: runs inside your network, next to the internal services the gateway reaches through it')
  .version(AGENT_VERSION, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .showSuggestionAfterError();

program.command('version').description('print the version').action(() => { process.stdout.write(`airlock-agent ${AGENT_VERSION}\n`); });

program
  .command('enroll')
  .description('register this agent at a gateway with a one-time token from `airlock agents add NAME`: a new Ed25519 key pair is made here and only its public key is sent')
  .requiredOption('--gateway <url>', 'the gateway\'s URL (https://; http:// only to a loopback gateway or with gateway.insecure)')
  .option('--token-file <file>', 'file holding the enrollment token (- for standard input)')
  .option('--token <token>', 'the enrollment token itself, or - for standard input (a token in argv shows in ps and shell history: prefer --token-file)')
  .option('-c, --config <file>', 'configuration file (default: $AIRLOCK_AGENT_CONFIG, else ./airlock-agent.yaml if present, else embedded defaults)')
  .addHelpText('after', '\nThe private key is written to dataDir (default ./data/agent), mode 0600; it never leaves this host.\nThen run: airlock-agent start')
  .action(async (opts: { gateway: string; tokenFile?: string; token?: string; config?: string }) => {
    const [{ loadAgentConfig }, { enrollAgent, readEnrollmentToken }, { createLogger }] = await Promise.all([import('./config.ts'), import('./enroll.ts'), import('../lib/log.ts')]);
    const { config } = loadAgentConfig(opts.config === undefined ? {} : { file: opts.config });
    if (opts.token !== undefined && opts.token !== '-') {
      process.stderr.write('airlock-agent: warning: a token on the command line shows in ps and shell history; prefer --token-file FILE or --token - (standard input)\n');
    }
    const token = await readEnrollmentToken({ token: opts.token, tokenFile: opts.tokenFile });
    const dataDir = resolve(config.dataDir);
    const logger = createLogger({ level: 'warn', write: (line) => { process.stderr.write(line); } }, { service: 'agent' });
    const state = await enrollAgent({ dataDir, gateway: opts.gateway, token, expectName: config.name, insecure: config.gateway.insecure, logger });
    process.stdout.write(`Enrolled agent ${state.name} at ${state.gateways[0]}; its private key is in ${dataDir} (mode 0600).\nStart it with: airlock-agent start${opts.config === undefined ? '' : ` --config ${opts.config}`}\n`);
  });

program
  .command('start')
  .description('start the agent in the foreground: keeps a tunnel to each gateway; stops gracefully on Ctrl-C or SIGTERM')
  .option('-c, --config <file>', 'configuration file (default: $AIRLOCK_AGENT_CONFIG, else ./airlock-agent.yaml if present, else embedded defaults)')
  .option('--enroll-token-file <file>', 'enroll first with the token in this file when not enrolled yet (- for standard input); ignored once enrolled')
  .option('--gateway <url>', 'the gateway to enroll at with --enroll-token-file (default: the first of gateway.urls)')
  .addHelpText('after', '\nEvery option can also be set with an AIRLOCK_AGENT_* variable, e.g. AIRLOCK_AGENT_HEALTH_PORT=9082.\nSee deploy/agent.example.yaml for all options.')
  .action(async (opts: { config?: string; enrollTokenFile?: string; gateway?: string }) => {
    const { startAgent } = await import('./run.ts');
    const agent = await startAgent({
      ...(opts.config === undefined ? {} : { file: opts.config }),
      ...(opts.enrollTokenFile === undefined ? {} : { enrollTokenFile: opts.enrollTokenFile }),
      ...(opts.gateway === undefined ? {} : { enrollGateway: opts.gateway }),
    });
    onShutdownSignal(agent.stop);
    // Runs until a signal (which exits) or a refusal retrying cannot fix (revoked): then exit non-zero.
    const err = await agent.failed;
    await agent.stop();
    throw err;
  });

const CONFIG_HELP = 'configuration file (default: $AIRLOCK_AGENT_CONFIG, else ./airlock-agent.yaml if present, else embedded defaults)';
const secrets = program
  .command('secrets')
  .description('the credentials this agent adds for its connections, kept encrypted in its vault (dataDir/vault.json)');

secrets
  .command('set')
  .description('store (or replace) the credential of a connection; the value is read from a file, a variable or standard input, never from the command line')
  .argument('<connection>', 'the connection\'s name')
  .addOption(new Option('--type <type>', 'what the value is: bearer (a token), basic (user:password), header (a header\'s value, with --name), jwt-signing-key (a private key, PEM or JWK, to mint tokens per caller), oauth-client (client_id:client_secret for the target\'s token endpoint), postgres (user:password)')
    .choices(['bearer', 'basic', 'header', 'jwt-signing-key', 'oauth-client', 'postgres']).makeOptionMandatory())
  .option('--name <header>', 'the header to send, for --type header (e.g. X-Api-Key)')
  .option('--from-file <file>', 'read the value from this file (one trailing newline is dropped)')
  .option('--from-env <var>', 'read the value from this environment variable')
  .option('--stdin', 'read the value from standard input')
  .option('--generate', 'for --type jwt-signing-key: make a new P-256 key here (it never exists anywhere else)')
  .option('-c, --config <file>', CONFIG_HELP)
  .action(async (connection: string, opts: { type: 'bearer' | 'basic' | 'header' | 'jwt-signing-key' | 'oauth-client' | 'postgres'; name?: string; fromFile?: string; fromEnv?: string; stdin?: boolean; generate?: boolean; config?: string }) => {
    const { secretsSet } = await import('./vault/secrets-cli.ts');
    await secretsSet(connection, opts);
  });

secrets
  .command('list')
  .description('the connections the vault holds a secret for, with types and dates (never values)')
  .option('--json', 'print JSON')
  .option('-c, --config <file>', CONFIG_HELP)
  .action(async (opts: { json?: boolean; config?: string }) => {
    const { secretsList } = await import('./vault/secrets-cli.ts');
    await secretsList(opts);
  });

secrets
  .command('rm')
  .description('remove the secret of a connection from the vault')
  .argument('<connection>', 'the connection\'s name')
  .option('-c, --config <file>', CONFIG_HELP)
  .action(async (connection: string, opts: { config?: string }) => {
    const { secretsRemove } = await import('./vault/secrets-cli.ts');
    await secretsRemove(connection, opts);
  });

const vault = program
  .command('vault')
  .description('the vault itself: re-wrap its data keys after a KMS key rotation, print the public keys targets verify minted tokens with');

vault
  .command('rewrap')
  .description('re-wrap every data key under the current master key (vault.aws.keyId, after a rotation or to move to another key); the values are not decrypted')
  .option('-c, --config <file>', CONFIG_HELP)
  .action(async (opts: { config?: string }) => {
    const { vaultRewrap } = await import('./vault/secrets-cli.ts');
    await vaultRewrap(opts);
  });

vault
  .command('jwks')
  .description('print the public JWKS of the jwt-signing-key secrets (what GET /.well-known/jwks.json on the health port serves)')
  .option('-c, --config <file>', CONFIG_HELP)
  .action(async (opts: { config?: string }) => {
    const { vaultJwks } = await import('./vault/secrets-cli.ts');
    await vaultJwks(opts);
  });

if (import.meta.main) await runProgram(program, {
  describe: (err) => (err instanceof AgentError ? { code: err.code, message: err.message, exitCode: err.exitCode } : undefined),
  internalCode: 'AGENT_INTERNAL',
  usageCode: 'AGENT_USAGE',
  debugVariable: 'AIRLOCK_AGENT_LOG_LEVEL',
});
