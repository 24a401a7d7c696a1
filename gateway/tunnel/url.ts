// Which gateway URLs an agent may dial. The tunnel carries credentials-bearing traffic, so it runs
// over wss:// (TLS); plain ws:// is accepted only to a loopback host (a gateway on the same box),
// or with an explicit insecure flag, which logs a warning every time it is used.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Logger } from '../../lib/log.ts';
import { TunnelError } from './errors.ts';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** True for localhost, 127.0.0.0/8, ::1 and IPv4-mapped loopback (a URL hostname, brackets allowed). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (host.toLowerCase() === 'localhost') return true;
  if (isIPv4(host)) return loopback.check(host, 'ipv4');
  if (isIPv6(host)) return loopback.check(host, 'ipv6');
  return false;
}

export interface TunnelUrlOptions {
  /** Accept ws:// to a non-loopback host (development only; logs a warning). Default false. */
  readonly allowInsecure?: boolean;
  /** Receives the insecure warning. */
  readonly logger?: Logger;
}

/**
 * Checks the tunnel URL before dialling and returns it parsed. Throws TUNNEL_URL_INVALID for
 * anything but a ws:// or wss:// URL without user info, and TUNNEL_INSECURE_URL for ws:// to a
 * non-loopback host unless `allowInsecure` is set.
 */
export function checkTunnelUrl(url: string, options: TunnelUrlOptions = {}): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TunnelError('TUNNEL_URL_INVALID', 'The tunnel URL is not a valid URL; use wss://<gateway host>/<path>.');
  }
  if (parsed.protocol !== 'wss:' && parsed.protocol !== 'ws:') {
    throw new TunnelError('TUNNEL_URL_INVALID', `The tunnel URL scheme is ${parsed.protocol.slice(0, -1)}; use wss:// (or ws:// to a loopback gateway).`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TunnelError('TUNNEL_URL_INVALID', 'The tunnel URL carries a user name or password; remove them (the agent authenticates with its key).');
  }
  if (parsed.protocol === 'ws:' && !isLoopbackHost(parsed.hostname)) {
    if (options.allowInsecure !== true) {
      throw new TunnelError('TUNNEL_INSECURE_URL', `The tunnel URL uses plain ws:// to ${parsed.hostname}, which is not loopback; use wss://, or set the insecure flag for development.`);
    }
    options.logger?.warn('INSECURE: the tunnel runs over plain ws:// to a non-loopback host; everything it carries can be read and altered on the network. Use wss:// outside development.', { host: parsed.hostname });
  }
  return parsed;
}
