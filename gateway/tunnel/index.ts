// The tunnel's public API, the one module of gateway/ the agent imports.
export { TunnelSession, TUNNEL_VERSIONS, TUNNEL_WS_CLIENT_OPTIONS, TUNNEL_WS_SERVER_OPTIONS, type TunnelSessionOptions, type TunnelSessionEvents } from './session.ts';
export { TunnelStream } from './stream.ts';
export { TunnelError, TUNNEL_ERRORS, type TunnelErrorCode } from './errors.ts';
export { checkTunnelUrl, isLoopbackHost, type TunnelUrlOptions } from './url.ts';
export { MAX_FRAME_BYTES, MAX_OPEN_HEADER_BYTES, MAX_PAYLOAD_BYTES } from './frames.ts';
export { isStaleStreamFailure, TunnelHttpPools, tunnelHttpPools, type StreamOpener, type TunnelHttpPoolOptions } from './http-pool.ts';
