// Running a commander program, shared by `airlock` and `airlock-agent`: a failure becomes one
// line on stderr, `<name>: <message> (<CODE>)`, and an exit status (1 runtime failure, 2 bad usage
// or input, 3 a verdict the caller asked about failed). Stack traces only with LOG_LEVEL=debug.
import { CommanderError, type Command } from 'commander';

/** How a command's failure is shown: a stable code, a sentence for the user, an exit status. */
export interface ExitReport {
  readonly code: string;
  readonly message: string;
  readonly exitCode: number;
}

export interface RunOptions {
  /** Turns a known error into its report; undefined for an unexpected one. */
  readonly describe: (err: unknown) => ExitReport | undefined;
  /** Code shown for unexpected failures, e.g. CLI_INTERNAL. */
  readonly internalCode: string;
  /** Variable that, set to `debug`, adds stack traces. */
  readonly debugVariable: string;
  readonly argv?: readonly string[];
}

export async function runProgram(program: Command, options: RunOptions): Promise<void> {
  // Commander copies settings to subcommands only when they are created, so apply them to the
  // whole tree: a usage error anywhere then exits 2 here instead of commander's process.exit(1).
  const configure = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ outputError: (text, write) => write(text) });
    cmd.commands.forEach(configure);
  };
  configure(program);
  try {
    await program.parseAsync((options.argv ?? process.argv) as string[]);
  } catch (err) {
    process.exitCode = reportFailure(program.name(), err, options);
  }
}

/** Prints the failure and returns the exit status. */
export function reportFailure(name: string, err: unknown, options: RunOptions): number {
  // help and version exit 0; commander already printed its own message for usage errors
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  const known = options.describe(err);
  if (known) {
    process.stderr.write(`${name}: ${known.message} (${known.code})\n`);
    return known.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`${name}: unexpected failure: ${e?.message ?? String(err)} (${options.internalCode})\n`);
  if (process.env[options.debugVariable] === 'debug' && e?.stack) process.stderr.write(e.stack + '\n');
  else process.stderr.write(`${name}: rerun with ${options.debugVariable}=debug for detail\n`);
  return 1;
}

/** Waits for SIGINT/SIGTERM and runs `stop` once; a second signal exits at once. */
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
