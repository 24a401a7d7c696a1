// Every error code the agent reports, in one place. The agent imports nothing from gateway/
// except gateway/tunnel/, so it keeps its own table (docs/errors.md lists these too).

export const AGENT_ERRORS = {
  AGENT_USAGE: { exitCode: 2, summary: 'The command line is malformed (unknown option, missing argument).' },
  AGENT_CONFIG_INVALID: { exitCode: 2, summary: 'The agent configuration file or an AIRLOCK_AGENT_* variable is invalid.' },
  AGENT_PORT_IN_USE: { exitCode: 1, summary: 'A port the agent needs (its health endpoint) is already in use.' },
  AGENT_INTERNAL: { exitCode: 1, summary: 'An unexpected failure; rerun with AIRLOCK_AGENT_LOG_LEVEL=debug for detail.' },
} as const satisfies Record<string, { exitCode: number; summary: string }>;

export type AgentErrorCode = keyof typeof AGENT_ERRORS;

export class AgentError extends Error {
  readonly code: AgentErrorCode;
  readonly exitCode: number;

  constructor(code: AgentErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.exitCode = AGENT_ERRORS[code].exitCode;
  }
}
