// Every error code the `airlock` and `airlock-agent` commands report, in one place.
// A CliError prints `airlock: <message> (<code>)` on stderr and exits with `exitCode`.
// Exit codes: 1 = runtime failure (network, store, remote refused), 2 = bad usage or bad input
// (config, arguments, files), 3 = a policy/verification verdict the caller asked about failed.

export const CLI_ERRORS = {
  CLI_USAGE: { exitCode: 2, summary: 'The command line is malformed (unknown option, missing argument).' },
  CLI_CONFIG_INVALID: { exitCode: 2, summary: 'The configuration file or an AIRLOCK_* variable is invalid.' },
  CLI_INPUT_INVALID: { exitCode: 2, summary: 'An input file or standard input is not what the command expects.' },
  CLI_FILE_NOT_FOUND: { exitCode: 2, summary: 'A file named on the command line does not exist or cannot be read.' },
  CLI_STORE_UNAVAILABLE: { exitCode: 1, summary: 'The store named by store.url cannot be reached.' },
  CLI_PORT_IN_USE: { exitCode: 1, summary: 'A port the command needs is already in use.' },
  CLI_GATEWAY_UNREACHABLE: { exitCode: 1, summary: 'The gateway did not answer.' },
  CLI_REMOTE_ERROR: { exitCode: 1, summary: 'The gateway answered with an error; its code and message are shown.' },
  CLI_POLICY_INVALID: { exitCode: 2, summary: 'A policy file failed validation.' },
  CLI_TEST_FAILED: { exitCode: 3, summary: 'One or more policy test cases did not get their expected decision.' },
  CLI_NOT_LOGGED_IN: { exitCode: 1, summary: 'There are no credentials for the gateway, or they expired or were revoked; run `airlock login`.' },
  CLI_LOGIN_FAILED: { exitCode: 1, summary: 'A login did not complete: the identity provider refused it, it was cancelled, or it timed out; the reason is shown.' },
  CLI_IDP_ERROR: { exitCode: 1, summary: 'The identity provider did not answer or refused a token request (refresh, revocation); its message is shown.' },
  CLI_CREDENTIALS_UNAVAILABLE: { exitCode: 1, summary: 'The credentials file or its lock cannot be read or written (permissions, a full disk, another airlock command holding the lock); the path is shown.' },
  CLI_DEV_ONLY: { exitCode: 2, summary: 'The command works only against a gateway whose issuer is the embedded development identity provider of `airlock dev`.' },
  CLI_CONFIRMATION_REQUIRED: { exitCode: 2, summary: 'A destructive command needs confirmation and standard input is not a terminal to ask on; pass --yes.' },
  CLI_CANCELLED: { exitCode: 1, summary: 'A destructive command was not confirmed at its prompt, so nothing was changed.' },
  CLI_DEV_FAILED: { exitCode: 1, summary: 'A component of `airlock dev` (agent, identity provider, demo service) failed to start or stopped; its message is shown.' },
  CLI_VERIFY_FAILED: { exitCode: 3, summary: 'A recorded session, or the ledger of sessions, does not verify: an event, a checkpoint or a whole session was altered, removed or restored from an older copy; the first problem is named.' },
  CLI_INTERNAL: { exitCode: 1, summary: 'An unexpected failure; rerun with AIRLOCK_LOG_LEVEL=debug for detail.' },
} as const satisfies Record<string, { exitCode: number; summary: string }>;

export type CliErrorCode = keyof typeof CLI_ERRORS;

export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
    this.exitCode = CLI_ERRORS[code].exitCode;
  }
}
