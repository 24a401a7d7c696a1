// The tunnel endpoint, `GET /api/v1/agents/tunnel` with a WebSocket upgrade. Every refusal is a
// coded HTTP error written before the upgrade, so the agent learns why (and whether to retry):
//
//   no query string (a token in the URL is refused) → WebSocket upgrade headers →
//   Authorization: Bearer <connect token> → token verified (assertion.ts) → gateway not closing →
//   agent under its tunnel limit → upgrade → TunnelSession({role: 'server'}) in the same tick →
//   hub.attach
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from '../../lib/log.ts';
import { GatewayError } from '../errors.ts';
import type { UpgradeRoute } from '../http/upgrade.ts';
import { TunnelSession, TUNNEL_WS_SERVER_OPTIONS, type TunnelSessionOptions } from '../tunnel/index.ts';
import type { AgentTokenVerifier } from './assertion.ts';
import type { AgentHub } from './hub.ts';

export const TUNNEL_PATH = '/api/v1/agents/tunnel';

const BEARER = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i;
const TOKEN_PARAMS = ['access_token', 'token', 'id_token', 'api_key', 'apikey', 'jwt', 'assertion'];

export interface TunnelEndpointDeps {
  readonly hub: AgentHub;
  readonly verifier: AgentTokenVerifier;
  readonly logger: Logger;
  /** Session settings for the gateway's end (pings, windows). */
  readonly session?: Omit<TunnelSessionOptions, 'role' | 'logger'>;
}

/** The upgrade route for the tunnel; its close hook closes the hub (every tunnel, with 4101). */
export function tunnelRoute(deps: TunnelEndpointDeps): UpgradeRoute {
  const wss = new WebSocketServer({ noServer: true, ...TUNNEL_WS_SERVER_OPTIONS });
  return {
    handle: async (req: IncomingMessage, socket: Duplex, head: Buffer, ctx) => {
      if (ctx.url.search !== '') {
        const param = TOKEN_PARAMS.find((p) => ctx.url.searchParams.has(p));
        if (param !== undefined) throw new GatewayError('GW_AUTH_MALFORMED', `A credential in the URL ("${param}" parameter) is refused: URLs end up in logs. Send the agent's token in the Authorization header.`);
        throw new GatewayError('GW_BAD_REQUEST', `${TUNNEL_PATH} takes no query string.`);
      }
      if (req.method !== 'GET' || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw new GatewayError('GW_BAD_REQUEST', `${TUNNEL_PATH} takes a WebSocket upgrade (GET with Upgrade: websocket); airlock-agent dials it.`);
      }
      const header = req.headers.authorization;
      if (header === undefined || header === '') throw new GatewayError('GW_AUTH_REQUIRED', 'The tunnel needs the agent\'s signed connect token: send `Authorization: Bearer <token>` (airlock-agent does).');
      const m = BEARER.exec(header);
      if (m === null) throw new GatewayError('GW_AUTH_MALFORMED', 'The Authorization header must be `Bearer <token>` with one token.');
      const { agent, version } = await deps.verifier.verify(m[1]!);
      if (deps.hub.closing) throw new GatewayError('GW_SHUTTING_DOWN', 'The gateway is shutting down; reconnect in a moment (another replica will answer).');
      const held = deps.hub.tunnelCount(agent.name);
      if (held >= deps.hub.maxTunnelsPerAgent) {
        throw new GatewayError('GW_AGENT_CONNECT_LIMITED', `Agent ${agent.name} already has ${held} tunnels to this gateway, the most it may hold; close one or raise agents.maxTunnelsPerAgent.`);
      }
      const remote = req.socket.remoteAddress;
      // handleUpgrade answers 101 and calls back synchronously (no verifyClient), so the count
      // checked above still holds when the hub takes the tunnel.
      wss.handleUpgrade(req, socket, head, (ws) => {
        const session = new TunnelSession(ws, { ...deps.session, role: 'server', logger: deps.logger.child({ agent: agent.name }) });
        deps.hub.attach(agent.name, session, { version, publicKey: agent.publicKey, ...(remote === undefined ? {} : { remote }) });
      });
    },
    close: () => deps.hub.close(),
  };
}
