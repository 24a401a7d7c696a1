// MCP sessions any replica can serve: what server.ts stores of a session at initialize (the row
// in `mcp_sessions`, gateway/store/mcp-session-repos.ts), and what a replica that did not start
// it needs to rebuild it. The design and its limits: gateway/cluster/DESIGN.md, "MCP sessions".
import { GatewayError } from '../errors.ts';

/** Largest initialize params stored for a session, in bytes of JSON: a client's capabilities and info are small. */
export const MAX_INIT_BYTES = 64 * 1024;
/** How often (ms) a replica moves a session's stored last-use time forward while it is in use (at most; less with a short mcp.sessionIdle). */
export const TOUCH_MS = 60_000;

/** A session started elsewhere, as read from the store: its id, the client's initialize params, its first recording session. */
export interface StoredSession {
  readonly id: string;
  readonly init: unknown;
  readonly recording: string;
}

/**
 * The part of an initialize request a replica replays to rebuild the session: the protocol
 * version asked for, the client's capabilities and info. JSON text, at most MAX_INIT_BYTES
 * (GW_BAD_REQUEST beyond: a session that could not be stored could not move).
 */
export function initParams(initialize: { params: { protocolVersion: string; capabilities: unknown; clientInfo: unknown } }): string {
  const { protocolVersion, capabilities, clientInfo } = initialize.params;
  const text = JSON.stringify({ protocolVersion, capabilities, clientInfo });
  if (Buffer.byteLength(text) > MAX_INIT_BYTES) {
    throw new GatewayError('GW_BAD_REQUEST', `The initialize request's capabilities and client info are larger than ${MAX_INIT_BYTES / 1024} KiB; send less.`);
  }
  return text;
}

/** The answer to a session id presented by another identity than the one that started the session. */
export function sessionOwnedElsewhere(): GatewayError {
  return new GatewayError('GW_MCP_SESSION_OWNER', 'This MCP session was started by another identity; a session id is usable only with the credentials of the identity that started it. Start your own session with initialize.');
}
