// Runs the `airlock` program: CliError and GatewayError print `airlock: <message> (<CODE>)` and
// exit with their status (cli/errors.ts); anything else is CLI_INTERNAL, exit 1.
import type { Command } from 'commander';
import { GatewayError, type GatewayErrorCode } from '../gateway/errors.ts';
import { runProgram, type ExitReport } from '../lib/cli.ts';
import { CliError } from './errors.ts';

/** Gateway codes that mean "your input is wrong" (exit 2) rather than "something failed" (exit 1). */
const USAGE_CODES: ReadonlySet<GatewayErrorCode> = new Set(['GW_CONFIG_INVALID', 'GW_BAD_REQUEST', 'GW_POLICY_INVALID']);

export function describeCliFailure(err: unknown): ExitReport | undefined {
  if (err instanceof CliError) return { code: err.code, message: err.message, exitCode: err.exitCode };
  if (err instanceof GatewayError) return { code: err.code, message: err.message, exitCode: USAGE_CODES.has(err.code) ? 2 : 1 };
  return undefined;
}

export function runCli(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  return runProgram(program, { describe: describeCliFailure, internalCode: 'CLI_INTERNAL', usageCode: 'CLI_USAGE', debugVariable: 'AIRLOCK_LOG_LEVEL', argv });
}
