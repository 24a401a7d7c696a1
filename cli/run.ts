// Runs a commander program and turns failures into one line on stderr and an exit status:
// `airlock: <message> (<CODE>)`. Usage errors exit 2, runtime failures 1 (see cli/errors.ts).
import { CommanderError, type Command } from 'commander';
import { GatewayError, type GatewayErrorCode } from '../gateway/errors.ts';
import { CliError } from './errors.ts';

/** Gateway codes that mean "your input is wrong" (exit 2) rather than "something failed" (exit 1). */
const USAGE_CODES: ReadonlySet<GatewayErrorCode> = new Set(['GW_CONFIG_INVALID', 'GW_BAD_REQUEST', 'GW_POLICY_INVALID']);

export async function runCli(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  const name = program.name();
  program.exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text) });
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    process.exitCode = report(name, err);
  }
}

/** Prints the failure and returns the exit status. */
export function report(name: string, err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; commander already printed its own message for usage errors
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof CliError) {
    process.stderr.write(`${name}: ${err.message} (${err.code})\n`);
    return err.exitCode;
  }
  if (err instanceof GatewayError) {
    process.stderr.write(`${name}: ${err.message} (${err.code})\n`);
    return USAGE_CODES.has(err.code) ? 2 : 1;
  }
  const e = err as Error;
  process.stderr.write(`${name}: unexpected failure: ${e?.message ?? String(err)} (CLI_INTERNAL)\n`);
  if (process.env.AIRLOCK_LOG_LEVEL === 'debug' && e?.stack) process.stderr.write(e.stack + '\n');
  return 1;
}

/** Waits for SIGINT/SIGTERM, runs `stop` once; a second signal exits at once. */
export function onShutdownSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`received ${signal} again; exiting now\n`);
      process.exit(130);
    }
    stopping = true;
    stop().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`shutdown failed: ${(err as Error)?.message ?? String(err)}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
