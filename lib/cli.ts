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
  /** Code shown for a malformed command line (unknown command or option, bad argument), e.g. CLI_USAGE. */
  readonly usageCode: string;
  /** Variable that, set to `debug`, adds stack traces. */
  readonly debugVariable: string;
  readonly argv?: readonly string[];
}

export async function runProgram(program: Command, options: RunOptions): Promise<void> {
  // Commander copies settings to subcommands only when they are created, so apply them to the
  // whole tree: a usage error anywhere then exits 2 here instead of commander's process.exit(1),
  // and is printed by reportFailure as our one coded line rather than commander's own lines.
  let failing: Command = program; // the command whose parsing failed, for its --help hint
  const configure = (cmd: Command) => {
    cmd.exitOverride();
    cmd.showHelpAfterError(false);
    cmd.configureOutput({ outputError: () => { failing = cmd; } });
    cmd.commands.forEach(configure);
  };
  configure(program);
  try {
    await program.parseAsync((options.argv ?? process.argv) as string[]);
  } catch (err) {
    process.exitCode = reportFailure(program.name(), err, options, commandPath(failing));
  }
}

/** `airlock gateway start`: the words that name `cmd` on the command line. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Prints the failure and returns the exit status. `usageOf` names the command whose command line
 * was malformed (default: the program), for the `--help` hint.
 */
export function reportFailure(name: string, err: unknown, options: RunOptions, usageOf: string = name): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; a group run without its subcommand has printed its help already
    if (err.exitCode === 0 || err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`${name}: ${usageSentence(err.message)}; run \`${usageOf} --help\` for usage (${options.usageCode})\n`);
    return 2;
  }
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

/**
 * Commander's message as one sentence: `error: unknown command 'gatway'\n(Did you mean gateway?)`
 * becomes `unknown command 'gatway' (did you mean gateway?)`.
 */
function usageSentence(message: string): string {
  return message
    .replace(/^error: /, '')
    .split('\n')
    .map((line) => line.trim().replace(/^\(Did you mean /, '(did you mean '))
    .filter((line) => line !== '')
    .join(' ')
    .replace(/\.$/, '');
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
