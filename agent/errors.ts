// Every error code the agent reports, in one place. The agent imports nothing from gateway/
// except gateway/tunnel/, so it keeps its own table (docs/errors.md lists these too).
// Codes without an exit status are reset codes: sent to the gateway on one tunnel stream (the
// gateway sees them as the stream's `resetCode`); the process and the tunnel go on. "Answer
// codes" travel the same way inside a stream's answer (`{error: {code, message}}`, agent/pg-tools.ts).

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
  AGENT_TARGET_INVALID: { summary: 'Answer code: the target the gateway named is not a valid target for the stream (an http(s) URL, or postgres://host:port/database, without credentials); nothing was reached.' },
  AGENT_TARGET_NOT_ALLOWED: { summary: 'Answer code: the target is outside the agent\'s targets.allow (http://host:port, https://host or postgres://host:port patterns); nothing was reached.' },
  AGENT_TARGET_UNREACHABLE: { summary: 'Answer code: the agent cannot reach the target (refused, no route, name not found, the database not accepting connections) or lost the connection; the message names the target and the cause.' },
  AGENT_TARGET_TIMEOUT: { summary: 'Answer code: the target did not accept the connection or finish within the time allowed (the connection\'s limits.timeouts).' },
  AGENT_CREDENTIAL_UNAVAILABLE: { summary: 'Answer code: the agent cannot produce the connection\'s credential (no vault entry, a vault or KMS failure, a token that cannot be minted or fetched), so nothing was sent to the target; the agent\'s log names the cause.' },
  AGENT_DB_LOGIN_FAILED: { summary: 'Answer code: the database refused the login the agent\'s vault holds for the connection (a wrong user or password, or pg_hba.conf); fix it with `airlock-agent secrets set CONNECTION --type postgres`.' },
  AGENT_REQUEST_INVALID: { summary: 'Answer code: the gateway\'s request on the stream is not what the agent accepts (not JSON, over its size limit, an unknown operation or a malformed field); nothing was run.' },
  AGENT_DB_ERROR: { summary: 'Answer code: the database refused the statement (syntax, a missing table or privilege, a constraint, statement_timeout, more than one statement); its message and SQLSTATE are passed on and nothing was committed.' },
  AGENT_DB_READ_ONLY: { summary: 'Answer code: a statement run by the `query` tool tried to write, and its read-only transaction stopped it; nothing was changed. Statements that write go through `execute`.' },
  AGENT_MCP_COMMAND_REFUSED: { summary: 'Reset code: the agent refused to start a stdio MCP server: its command (argv[0], exactly) is not on `mcp.commands`, or its arguments, cwd or env are malformed or refused (PATH, LD_*, DYLD_*, NODE_OPTIONS); nothing was started.' },
  AGENT_MCP_SPAWN_FAILED: { summary: 'Reset code: the allowed stdio MCP server command could not be started (not found, not executable, or its working directory missing); the agent\'s log has the detail.' },
  AGENT_MCP_EXITED: { summary: 'Reset code: the stdio MCP server exited or was killed; the message has its exit status, the agent\'s log its last stderr lines.' },
  AGENT_MCP_BUSY: { summary: 'Reset code: the agent already runs its maximum of stdio MCP servers (`mcp.maxProcesses`); end other sessions or raise the limit.' },
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
