// The gateway URL an agent is given (`--gateway`, gateway.urls): the gateway's own http(s) base
// URL, the same one the CLI uses. The tunnel dials its ws(s) twin, under the rule of
// gateway/tunnel/url.ts: wss:// (https) always, ws:// (http) only to a loopback gateway or with
// the explicit insecure flag, which logs a warning.
import type { Logger } from '../lib/log.ts';
import { checkTunnelUrl, TunnelError } from '../gateway/tunnel/index.ts';
import { AgentError } from './errors.ts';

/** Where the tunnel endpoint lives under a gateway's base URL. */
export const TUNNEL_PATH = '/api/v1/agents/tunnel';

export interface GatewayUrl {
  /** The base URL, normalised: no trailing slash, no query or fragment. */
  readonly base: string;
  /** The tunnel endpoint's ws:// or wss:// URL. */
  readonly tunnel: string;
}

/**
 * Checks a gateway URL; AGENT_INPUT_INVALID when it is not http(s) without credentials, query or
 * fragment, or is plain http to a non-loopback host without `insecure` (which logs a warning).
 */
export function parseGatewayUrl(text: string, options: { insecure?: boolean; logger?: Logger } = {}): GatewayUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AgentError('AGENT_INPUT_INVALID', `The gateway URL ${JSON.stringify(text.slice(0, 200))} is not a URL; use https://<gateway host>.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AgentError('AGENT_INPUT_INVALID', `The gateway URL must be https:// (or http:// to a loopback gateway), not ${url.protocol.slice(0, -1)}://.`);
  if (url.search !== '' || url.hash !== '') throw new AgentError('AGENT_INPUT_INVALID', 'The gateway URL must not carry a query or fragment; give the gateway\'s base URL.');
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  const tunnel = `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}${url.pathname.replace(/\/+$/, '')}${TUNNEL_PATH}`;
  try {
    checkTunnelUrl(`${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.username}${url.password ? `:${url.password}` : ''}${url.username ? '@' : ''}${url.host}/`, {
      allowInsecure: options.insecure === true,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  } catch (err) {
    if (!(err instanceof TunnelError)) throw err;
    const why = err.code === 'TUNNEL_INSECURE_URL'
      ? `The gateway URL ${base} uses plain http:// to ${url.hostname}, which is not loopback; use https://, or set gateway.insecure for development.`
      : 'The gateway URL must not carry a user name or password (the agent authenticates with its key).';
    throw new AgentError('AGENT_INPUT_INVALID', why, { cause: err });
  }
  return { base, tunnel };
}
