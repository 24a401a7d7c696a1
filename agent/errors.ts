// Every error code the agent reports, in one place. The agent imports nothing from gateway/
// except gateway/tunnel/, so it keeps its own table (docs/errors.md lists these too).
// Codes without an exit status are reset codes: sent to the gateway on one tunnel stream (the
// gateway sees them as the stream's `resetCode`); the process and the tunnel go on.

export interface AgentErrorSpec {
  /** Exit status of `airlock-agent` for this failure; undefined for a reset code. */
  readonly exitCode?: number;
  readonly summary: string;
}

const TABLE = {
  AGENT_USAGE: { exitCode: 2, summary: 'The command line is malformed (unknown option, missing argument).' },
  AGENT_CONFIG_INVALID: { exitCode: 2, summary: 'The agent configuration file or an AIRLOCK_AGENT_* variable is invalid.' },
  AGENT_PORT_IN_USE: { exitCode: 1, summary: 'A port the agent needs (its health endpoint) is already in use.' },
  AGENT_INTERNAL: { exitCode: 1, summary: 'An unexpected failure; rerun with AIRLOCK_AGENT_LOG_LEVEL=debug for detail.' },
  AGENT_NOT_ENROLLED: { exitCode: 2, summary: 'The agent holds no enrollment (no key in its dataDir), or the gateway does not know it as enrolled; run `airlock-agent enroll` with a token from `airlock agents add NAME`.' },
  AGENT_ENROLLMENT_REFUSED: { exitCode: 1, summary: 'The gateway refused the enrollment (a wrong, used or expired token); its code and message are shown.' },
  AGENT_GATEWAY_UNREACHABLE: { exitCode: 1, summary: 'The gateway did not answer the enrollment request; check the gateway URL and the network.' },
  AGENT_INPUT_INVALID: { exitCode: 2, summary: 'An option or input is not what the command expects (an enrollment token, its file, a gateway URL, a secret\'s value or its source); the reason is shown.' },
  AGENT_STATE_INVALID: { exitCode: 2, summary: 'The agent\'s key or state file is unreadable, corrupt, readable by other users, or belongs to another agent; the path is shown.' },
  AGENT_REVOKED: { exitCode: 1, summary: 'An admin revoked this agent; it stopped and does not reconnect until it is added and enrolled again.' },
  AGENT_VAULT_INVALID: { exitCode: 2, summary: 'The agent\'s vault file (vault.json in its dataDir) is unreadable, not valid, readable by other users, or written with another KMS; the path and the reason are shown.' },
  AGENT_VAULT_DECRYPT_FAILED: { exitCode: 1, summary: 'A vault entry does not decrypt: it was altered, copied from another agent or connection, or sealed under another master key; the connection is named (never the value).' },
  AGENT_KMS_FAILED: { exitCode: 1, summary: 'The KMS protecting the vault cannot be used: AWS KMS unreachable, denying (key policy, IAM, encryption-context condition), the key disabled or unknown, no AWS credentials; or the local master key file missing, unreadable, readable by others, or malformed. The reason is shown.' },
  AGENT_KMS_THROTTLED: { exitCode: 1, summary: 'AWS KMS kept throttling the agent after its bounded retries (vault.aws.maxAttempts); retry later, or raise the account\'s KMS request quota.' },
  AGENT_VAULT_BUSY: { exitCode: 1, summary: 'Another process held the vault\'s write lock (vault.json.lock) for longer than the agent waits; if no `airlock-agent secrets` or `vault` command is running, remove that file.' },
  AGENT_CREDENTIAL_FAILED: { exitCode: 1, summary: 'The agent cannot produce a connection\'s credential: no caller identity to mint a token for, a token endpoint that refused or did not answer, missing `connections.<name>` settings, or a secret of a type this path cannot use; the connection and the reason are shown, never a value.' },
  AGENT_SECRET_NOT_FOUND: { exitCode: 2, summary: 'The vault holds no secret for the connection named; `airlock-agent secrets list` shows what it holds.' },
  AGENT_STREAM_KIND_UNKNOWN: { summary: 'Reset code: the gateway opened a stream of a kind this agent has no handler for; upgrade the agent.' },
  AGENT_HANDLER_FAILED: { summary: 'Reset code: the agent\'s handler for the stream failed; the agent\'s log has the detail.' },
} as const satisfies Record<string, AgentErrorSpec>;

export type AgentErrorCode = keyof typeof TABLE;
export const AGENT_ERRORS: Readonly<Record<AgentErrorCode, AgentErrorSpec>> = TABLE;

export class AgentError extends Error {
  readonly code: AgentErrorCode;
  readonly exitCode: number;

  constructor(code: AgentErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.exitCode = AGENT_ERRORS[code].exitCode ?? 1;
  }
}
