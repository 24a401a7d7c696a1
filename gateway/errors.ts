// Every error code the gateway can return, in one place (fastify's lib/errors.js habit).
// A code is never reused for another meaning. docs/errors.md lists the same codes;
// test/gateway/errors.test.ts fails when the two lists disagree.

export interface ErrorSpec {
  /** HTTP status a client sees for this code. */
  readonly status: number;
  /** One sentence for docs/errors.md: what it means for the caller. */
  readonly summary: string;
}

export const GATEWAY_ERRORS = {
  GW_INTERNAL: { status: 500, summary: 'Something failed inside the gateway; the log line with the same request id has the detail.' },
  GW_NOT_FOUND: { status: 404, summary: 'No route matches the method and path.' },
  GW_METHOD_NOT_ALLOWED: { status: 405, summary: 'The route exists but not for this HTTP method.' },
  GW_BODY_TOO_LARGE: { status: 413, summary: 'The request body is larger than the configured limit.' },
  GW_BAD_REQUEST: { status: 400, summary: 'The request body or parameters are malformed.' },
  GW_NOT_READY: { status: 503, summary: 'The gateway is starting or a dependency (store, identity provider) is unreachable.' },
  GW_SHUTTING_DOWN: { status: 503, summary: 'The gateway is draining before shutdown; retry against another replica.' },
  GW_BODY_TIMEOUT: { status: 408, summary: 'The request body paused longer than server.limits.bodyIdleTimeout, or arrived slower than server.limits.minBodyBytesPerSecond after the grace period; the connection was closed. Send the body without pauses.' },
  GW_REQUEST_TIMEOUT: { status: 408, summary: 'The request headers did not arrive within server.headersTimeout (or the whole request within server.limits.requestTimeout); the connection was closed.' },
  GW_HEADERS_TOO_LARGE: { status: 431, summary: 'The request headers are larger than the 32 KiB the gateway reads.' },
  GW_TOO_MANY_REQUESTS: { status: 429, summary: 'The caller already has its maximum of requests in flight or of body bytes held (server.limits, per identity); retry after the Retry-After seconds, once some of its requests finished.' },
  GW_LIMIT_EXCEEDED: { status: 429, summary: 'A limit declared in policy (a request rate, requests in flight, a cost or an egress budget per window) is used up for this caller, and waiting (action delay) could not help; the message names the limit, and Retry-After (WebSocket: the close reason) says in how many seconds it has room again.' },
  GW_OVERLOADED: { status: 503, summary: 'The gateway as a whole has its maximum of requests in flight or of body bytes held (server.limits); retry after the Retry-After seconds, or against another replica.' },
  GW_CONFIG_INVALID: { status: 500, summary: 'The configuration file or an AIRLOCK_* variable is invalid (start-up only).' },
  GW_STORE_UNAVAILABLE: { status: 503, summary: 'The store cannot be reached or refused a write.' },
  GW_STORE_MIGRATION: { status: 500, summary: 'A store migration failed or the store is newer than this gateway.' },
  GW_STORE_CONFLICT: { status: 409, summary: 'The write conflicts with what the store holds (a duplicate name, a stale version, an out-of-order event); reload and retry.' },
  GW_PORT_IN_USE: { status: 500, summary: 'The listen port is already taken (start-up only).' },
  GW_AUTH_REQUIRED: { status: 401, summary: 'No credentials were presented; send `Authorization: Bearer <token>` (get one with `airlock login`, or use an API key).' },
  GW_AUTH_MALFORMED: { status: 401, summary: 'The credentials are not in an accepted form (one `Authorization: Bearer <token>` header; never a token in the URL).' },
  GW_TOKEN_INVALID: { status: 401, summary: 'The access token failed verification (signature, algorithm, issuer, audience, type or claims); log in again.' },
  GW_TOKEN_EXPIRED: { status: 401, summary: 'The access token has expired; refresh it or log in again.' },
  GW_TOKEN_TOO_LARGE: { status: 401, summary: 'The access token is larger than the 16 KB the gateway reads.' },
  GW_API_KEY_INVALID: { status: 401, summary: 'The API key is unknown, revoked or expired.' },
  GW_API_KEY_EXCEEDS_CREATOR: { status: 403, summary: 'An API key cannot hold more than its creator: a role the creator lacks, or a connection outside the creating key\'s list.' },
  GW_IDP_UNAVAILABLE: { status: 503, summary: 'The identity provider cannot be reached and the keys the gateway holds are too old to trust; retry later.' },
  GW_FORBIDDEN: { status: 403, summary: 'The caller is authenticated but lacks the role this needs.' },
  GW_INSUFFICIENT_SCOPE: { status: 403, summary: 'The access token lacks a scope this needs; the WWW-Authenticate header names it.' },
  GW_POLICY_DENIED: { status: 403, summary: 'A policy refused the request or its response; the message names the rule\'s reason.' },
  GW_REVIEW_REQUIRED: { status: 403, summary: 'A policy asks for a human review where none can be held (a response, a WebSocket message, a streamed body), so it was refused.' },
  GW_REVIEW_PENDING: { status: 409, summary: 'The request waits for a human review that was not decided in time; the message names the review id: retry the identical request after it is approved.' },
  GW_REVIEW_DENIED: { status: 403, summary: 'A reviewer denied the request, or its review expired undecided.' },
  GW_CONFIRM_NEEDS_MCP: { status: 403, summary: 'A policy asks the caller to confirm the request in their MCP client (action confirm), which only a tool call through /mcp can do (not HTTP, WebSocket, an answer or a notification), so it was refused; call the tool from an MCP client that supports elicitation.' },
  GW_CONFIRM_UNSUPPORTED: { status: 403, summary: 'A policy asks the caller to confirm the tool call (action confirm), but their MCP client did not declare form elicitation at initialize, so nobody could be asked and the call was refused; use a client that supports elicitation.' },
  GW_CONFIRM_DECLINED: { status: 403, summary: 'The human at the MCP client declined or dismissed the confirmation of the tool call (action confirm), so it did not run; the answer is recorded in the session.' },
  GW_CONFIRM_UNANSWERED: { status: 408, summary: 'The MCP client did not answer the confirmation of the tool call (action confirm) within its wait, or answered with an error, so the call did not run; call it again and answer the prompt.' },
  GW_REVIEW_NOT_FOUND: { status: 404, summary: 'No review has this id.' },
  GW_REVIEW_FORBIDDEN: { status: 403, summary: 'You may not decide this review: it is your own request, you are not in its reviewer groups, or it is already decided.' },
  GW_RECORDING_FAILED: { status: 503, summary: 'The request could not be recorded (the store did not take the events), so it was not forwarded; retry.' },
  GW_CONSOLE_CSRF: { status: 403, summary: 'A change in the web console came without the page\'s form token, or from another origin (Origin header); reload the page and try again.' },
  GW_CONSOLE_BUSY: { status: 503, summary: 'Too many web console sign-ins are in progress (started and not finished within 10 minutes); try again shortly.' },
  GW_CONSOLE_LOGIN_FAILED: { status: 400, summary: 'The web console sign-in did not complete: it expired, was started in another browser, or the identity provider refused it; sign in again from /console.' },
  GW_SESSION_NOT_FOUND: { status: 404, summary: 'No recorded session has this id, or you may not see it.' },
  GW_SESSION_ELSEWHERE: { status: 409, summary: 'A fresh checkpoint was asked of a replica that does not record the open session; only the replica recording it can sign its head: retry, or verify up to its last checkpoint.' },
  GW_TARGET_UNREACHABLE: { status: 502, summary: 'The agent could not reach the connection\'s target (refused, reset, or no route); check the target and the agent\'s log.' },
  GW_TARGET_TIMEOUT: { status: 504, summary: 'The target did not answer within the connection\'s timeouts (connect, first byte, idle).' },
  GW_TARGET_REFUSED: { status: 502, summary: 'The agent refuses to reach the connection\'s target (outside its targets.allow, or not a valid target).' },
  GW_CREDENTIAL_UNAVAILABLE: { status: 502, summary: 'The agent cannot produce the connection\'s credential (its vault or KMS failed, or minting or fetching a token failed), so nothing was sent to the target; the agent\'s log names the cause.' },
  GW_UPSTREAM_FAILED: { status: 502, summary: 'The tunnel to the agent failed during the request (the agent stopped or the connection dropped); retry.' },
  GW_UPGRADE_REFUSED: { status: 502, summary: 'The target did not accept the WebSocket upgrade (it answered with an HTTP status, or an invalid handshake); the message names what it answered.' },
  GW_RESPONSE_TOO_LARGE: { status: 502, summary: 'The target\'s answer is larger than the connection returns (limits.maxResponseBytes).' },
  GW_ENCODING_UNSUPPORTED: { status: 415, summary: 'The request body has a Content-Encoding airlock cannot decode to inspect (gzip, deflate, br and zstd can be), or does not decode; send it unencoded.' },
  GW_RESPONSE_UNREADABLE: { status: 502, summary: 'The target\'s answer has a Content-Encoding airlock cannot decode, or does not decode, so it cannot be inspected and is withheld.' },
  GW_METHOD_OVERRIDE: { status: 400, summary: 'The request carries a method-override header (X-HTTP-Method-Override and the like) that the connection does not allow; send the real method.' },
  GW_MCP_UPSTREAM_FAILED: { status: 502, summary: 'The upstream MCP server of an mcp connection could not be used: the agent could not start it, it failed or refused the MCP handshake, its session ended, or it answered outside the protocol; the message says which, the agent\'s log has the detail.' },
  GW_MCP_COMMAND_REFUSED: { status: 502, summary: 'The agent refuses to start the connection\'s stdio MCP server: its command is not on the agent\'s mcp.commands allowlist, or its arguments, cwd or env are refused; the message says which.' },
  GW_POLICY_INVALID: { status: 500, summary: 'A policy file failed validation; the previous policy stays in force.' },
  GW_INSPECTION_FAILED: { status: 403, summary: 'A payload could not be inspected, so it was refused (fail closed).' },
  GW_CONNECTION_INVALID: { status: 400, summary: 'A connection definition failed validation; the message names each field and what is wrong with it.' },
  GW_ACCESS_REVOKED: { status: 403, summary: 'An open session (MCP, WebSocket, streamed body) used a connection the caller may no longer use: a group, an API key\'s scope or the connection itself changed meanwhile; the session ends, ask an admin if access is still needed.' },
  GW_CONNECTION_NOT_FOUND: { status: 404, summary: 'There is no connection of that name that the caller may use (whether it does not exist or is not theirs is not revealed).' },
  GW_OPENAPI_INVALID: { status: 400, summary: 'The connection\'s OpenAPI document cannot be turned into tools (not OpenAPI 3.0/3.1, a malformed operation, an unresolvable or external $ref, or over a limit); the message names the place in the document.' },
  GW_TOOL_ARGUMENTS_INVALID: { status: 400, summary: 'The tool call\'s arguments do not fit the tool (a missing, unknown or wrongly typed argument, or a value that cannot be sent); the message names each argument and what is wrong.' },
  GW_SQL_NOT_READ_ONLY: { status: 403, summary: 'The `query` tool of a postgres connection runs only one statement that the SQL inspector classifies as a read (SELECT, VALUES, TABLE, SHOW, EXPLAIN); use `execute` for anything else, where the connection\'s policies decide.' },
  GW_DATABASE_ERROR: { status: 400, summary: 'The database refused the statement of a postgres tool (syntax, a missing table or privilege, a constraint, statement_timeout, a write in the read-only transaction of `query`); the message has the database\'s words and SQLSTATE, and nothing was committed.' },
  GW_TARGET_LOGIN_FAILED: { status: 502, summary: 'The target refused the credential the agent presented (the database login in the agent\'s vault is wrong, or the server does not allow it); an admin fixes it with `airlock-agent secrets set CONNECTION --type postgres`.' },
  GW_PG_PROTOCOL: { status: 400, summary: 'A PostgreSQL client sent a message the listener cannot read (a bad length, a message larger than postgres.maxMessageBytes, a field past its end, text that is not UTF-8, an unknown message type, or data sent before the TLS handshake); the connection was closed. Use a standard PostgreSQL client.' },
  GW_PG_TLS_REQUIRED: { status: 403, summary: 'The PostgreSQL listener takes a token as password only over TLS when the client is not on loopback; connect with sslmode=require (the gateway needs postgres.tls), or set postgres.allowPlaintext when TLS ends in front of it.' },
  GW_PG_UNSUPPORTED: { status: 400, summary: 'The PostgreSQL listener does not take this: another protocol version, GSSAPI encryption, replication, the function-call message, a connection of another kind, or a Bind to a statement not prepared through this session; use a plain SQL session on a postgres connection.' },
  GW_CLUSTER_AUTH: { status: 401, summary: 'A call to a replica\'s internal cluster listener did not prove it holds the cluster secret (missing, malformed, stale or replayed proof, or the wrong secret); only other replicas of the same deployment may use it.' },
  GW_MCP_SESSION_OWNER: { status: 403, summary: 'The Mcp-Session-Id names a session another identity started; a session is usable only by the identity that started it (on any replica). Start your own with initialize.' },
  GW_AGENT_OFFLINE: { status: 503, summary: 'No tunnel to the agent is up on this gateway (it is stopped, cannot reach the gateway, or was revoked); check `airlock agents list` and the agent\'s log, then retry.' },
  GW_AGENT_NOT_ENROLLED: { status: 403, summary: 'The agent that dialled in is unknown or has not completed its enrollment; enroll it with a token from `airlock agents add NAME`.' },
  GW_AGENT_REVOKED: { status: 403, summary: 'An admin revoked the agent; it may not connect until it is added and enrolled again.' },
  GW_AGENT_TOKEN_INVALID: { status: 401, summary: 'The agent\'s signed connect token failed verification (signature, algorithm, type, issuer, audience, lifetime, or a jti already used).' },
  GW_AGENT_CONNECT_LIMITED: { status: 429, summary: 'The agent already has its maximum of tunnels to this gateway, or the gateway is taking too many tunnel connects; the agent retries with backoff.' },
  GW_ENROLLMENT_INVALID: { status: 401, summary: 'The enrollment token is unknown, already used, or not for this agent; ask an admin for a new one (`airlock agents add NAME`).' },
  GW_ENROLLMENT_EXPIRED: { status: 401, summary: 'The enrollment token has expired; ask an admin for a new one (`airlock agents add NAME` again).' },
} as const satisfies Record<string, ErrorSpec>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/**
 * A failure with a stable code. `message` is safe to show a client: it says what happened and
 * what to do. Internals go in `cause`/`detail`, which reach the log only.
 */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Response headers that belong to this error (e.g. WWW-Authenticate on a 401). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: GatewayErrorCode, message: string, options: { cause?: unknown; detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = GATEWAY_ERRORS[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

/** The JSON body every client-facing error has. */
export interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

export function errorBody(err: GatewayError, requestId: string): ErrorBody {
  return { error: { code: err.code, message: err.message, requestId } };
}
