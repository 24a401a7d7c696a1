// Every error code of the tunnel, in one place. gateway/tunnel/ imports nothing else from
// gateway/ (the agent imports this module), so it keeps its own table instead of extending
// gateway/errors.ts. A code is never reused for another meaning.
//
// `closeCode` is the WebSocket close code a session sends when it closes the tunnel for this
// reason (4000–4099 are the tunnel's own; 1000 is a normal close). Codes without one are
// stream-level: they reach one stream (as the error it is destroyed with, or as the reset code
// the peer sent) and the session goes on. Close codes 4100–4999 are left to the layers above
// the transport (agent enrollment, registry); a close with one of those surfaces here as
// TUNNEL_CLOSED carrying the number in `closeCode`.

export interface TunnelErrorSpec {
  /** WebSocket close code sent when the session closes for this reason; undefined for stream-level codes. */
  readonly closeCode?: number;
  /** One sentence: what it means and what to do. */
  readonly summary: string;
}

export const TUNNEL_ERRORS = {
  TUNNEL_CLOSED: { closeCode: 1000, summary: 'The tunnel was closed (by this side or the peer) while the stream was open; retry on another tunnel.' },
  TUNNEL_CONNECTION_LOST: { summary: 'The WebSocket under the tunnel dropped without a close frame (network failure or a crashed peer); the agent reconnects.' },
  TUNNEL_PROTOCOL_ERROR: { closeCode: 4001, summary: 'The peer broke the tunnel protocol (a frame in the wrong state or on the wrong stream); the tunnel was closed.' },
  TUNNEL_VERSION_MISMATCH: { closeCode: 4002, summary: 'The gateway and the agent share no tunnel protocol version; upgrade the older of the two.' },
  TUNNEL_UNKNOWN_FRAME: { closeCode: 4003, summary: 'The peer sent a frame type this version does not know; the tunnel was closed.' },
  TUNNEL_FRAME_TOO_LARGE: { closeCode: 4004, summary: 'The peer sent a frame larger than the frame size cap; the tunnel was closed.' },
  TUNNEL_FRAME_MALFORMED: { closeCode: 4005, summary: 'The peer sent a truncated or malformed frame (bad length, text message, invalid payload); the tunnel was closed.' },
  TUNNEL_FLOW_CONTROL: { closeCode: 4006, summary: 'The peer sent more data than its flow-control credit allowed; the tunnel was closed.' },
  TUNNEL_HANDSHAKE_TIMEOUT: { closeCode: 4007, summary: 'The peer did not send its hello frame in time; the tunnel was closed.' },
  TUNNEL_PEER_DEAD: { closeCode: 4008, summary: 'The peer stopped answering pings within the timeout; the tunnel was dropped and the agent reconnects.' },
  TUNNEL_INTERNAL: { closeCode: 1011, summary: 'This side failed while handling a frame (a bug, e.g. in a stream listener); the tunnel was closed and the log has the detail.' },
  TUNNEL_STREAM_RESET: { summary: 'The peer reset the stream; `resetCode` says why (e.g. TUNNEL_STREAM_REFUSED).' },
  TUNNEL_STREAM_REFUSED: { summary: 'Reset code: the receiving side already has its maximum of concurrent streams; retry later or on another tunnel.' },
  TUNNEL_STREAM_CANCELLED: { summary: 'Reset code: the other side destroyed the stream before finishing it.' },
  TUNNEL_HEADER_INVALID: { summary: 'A stream open header is not a JSON object or is larger than the 8 KiB cap.' },
  TUNNEL_STREAM_IDS_EXHAUSTED: { summary: 'This side has used every stream id of the session; open a new tunnel.' },
  TUNNEL_URL_INVALID: { summary: 'The tunnel URL is not a ws:// or wss:// URL without credentials.' },
  TUNNEL_INSECURE_URL: { summary: 'A plain ws:// tunnel URL names a non-loopback host; use wss://, or set the explicit insecure flag (development only).' },
} as const satisfies Record<string, TunnelErrorSpec>;

export type TunnelErrorCode = keyof typeof TUNNEL_ERRORS;

/** Close codes sent for a reason, and the reason a received close code means. */
export function closeCodeOf(code: TunnelErrorCode): number | undefined {
  const spec: TunnelErrorSpec = TUNNEL_ERRORS[code];
  return spec.closeCode;
}

export function codeOfClose(closeCode: number): TunnelErrorCode | undefined {
  if (closeCode === 1009) return 'TUNNEL_FRAME_TOO_LARGE'; // ws enforces maxPayload with 1009
  if (closeCode === 1006) return 'TUNNEL_CONNECTION_LOST';
  if (closeCode === 1011) return 'TUNNEL_INTERNAL'; // the WebSocket code for an unexpected condition
  for (const [code, spec] of Object.entries(TUNNEL_ERRORS) as Array<[TunnelErrorCode, TunnelErrorSpec]>) {
    if (spec.closeCode === closeCode && closeCode >= 4000) return code;
  }
  return undefined;
}

/**
 * A tunnel failure with a stable code. `message` says what happened and what to do and is safe
 * to show; it never carries payload bytes. `resetCode` is set on TUNNEL_STREAM_RESET (the code
 * the peer reset with); `closeCode` on session-level errors (the WebSocket close code).
 */
export class TunnelError extends Error {
  readonly code: TunnelErrorCode;
  readonly resetCode: string | undefined;
  readonly closeCode: number | undefined;

  constructor(code: TunnelErrorCode, message: string, options: { cause?: unknown; resetCode?: string; closeCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TunnelError';
    this.code = code;
    this.resetCode = options.resetCode;
    this.closeCode = options.closeCode ?? closeCodeOf(code);
  }
}
