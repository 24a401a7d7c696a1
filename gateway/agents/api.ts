// The agents API:
//   GET    /api/v1/agents                admin  every agent with its presence on this gateway
//   POST   /api/v1/agents                admin  {name} → pending agent + one-time enrollment token
//   GET    /api/v1/agents/<name>         admin  one agent
//   DELETE /api/v1/agents/<name>         admin  revoke: the record stays (status revoked), tunnels close
//   POST   /api/v1/agents/<name>/enroll  the enrollment token (Authorization header) → active
//   GET    /api/v1/agents/tunnel                the tunnel (a WebSocket upgrade, see endpoint.ts);
//                                               without an upgrade it is a 400 that says so
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Authenticator } from '../authn/authenticate.ts';
import { requireRole } from '../authn/authenticate.ts';
import { GatewayError } from '../errors.ts';
import { readJson } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { TUNNEL_PATH } from './endpoint.ts';
import { checkAgentName, completeEnrollment, enrollBody, issueEnrollment } from './enrollment.ts';
import type { AgentHub } from './hub.ts';

const PATH = '/api/v1/agents';
const BEARER = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i;

const addBody = z.strictObject({ name: z.string().min(1).max(63) });

export interface AgentRoutesDeps {
  readonly store: Store;
  readonly hub: AgentHub;
  readonly authenticator: Authenticator;
  /** Seconds an enrollment token is valid (agents.enrollmentTtl). */
  readonly enrollmentTtl: number;
  /** The `aud` agents put in their connect tokens: the gateway's public URL. */
  readonly audience: string;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** An agent as the API shows it: never the token hash; presence is this gateway's. */
export function agentView(record: AgentRecord, hub: AgentHub) {
  const presence = hub.presence(record.name);
  return {
    name: record.name,
    status: record.status,
    online: presence.online,
    tunnels: presence.tunnels,
    version: presence.version ?? record.version,
    lastSeen: presence.online ? new Date().toISOString() : iso(record.lastSeen),
    connectedAt: iso(presence.connectedAt),
    createdAt: iso(record.createdAt),
    revokedAt: iso(record.revokedAt),
    enrollmentExpiresAt: record.status === 'pending' ? iso(record.enrollmentExpiresAt) : null,
  };
}

export function agentRoutes(router: Router, deps: AgentRoutesDeps): void {
  const { store, hub, authenticator } = deps;
  const notFound = (name: string) => new GatewayError('GW_NOT_FOUND', `No agent ${JSON.stringify(name.slice(0, 80))}; list them with GET ${PATH} (airlock agents list).`);

  router.add(TUNNEL_PATH, {
    GET: () => { throw new GatewayError('GW_BAD_REQUEST', `${TUNNEL_PATH} takes a WebSocket upgrade; airlock-agent dials it.`); },
  });
  router.addPrefix(PATH, {
    GET: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      if (ctx.path === PATH) {
        sendJson(res, 200, { agents: (await store.agents.list()).map((r) => agentView(r, hub)) });
        return;
      }
      const name = ctx.path.slice(PATH.length + 1);
      const record = /^[a-z0-9-]{1,63}$/.test(name) ? await store.agents.get(name) : null;
      if (record === null) throw notFound(name);
      sendJson(res, 200, agentView(record, hub));
    },
    POST: async (req, res, ctx) => {
      const enroll = /^\/api\/v1\/agents\/([^/]+)\/enroll$/.exec(ctx.path);
      if (enroll !== null) {
        await enrollRoute(req, res, enroll[1]!);
        return;
      }
      const identity = await authenticator.authenticate(req, ctx.url);
      requireRole(identity, 'admin');
      if (ctx.path !== PATH) throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path}; add agents with POST ${PATH}.`);
      const body = await readJson(req, addBody);
      const issued = await issueEnrollment(store, body.name, { ttlSeconds: deps.enrollmentTtl });
      sendJson(res, issued.created ? 201 : 200, {
        ...agentView(issued.agent, hub),
        enrollmentToken: issued.token,
        enrollmentExpiresAt: new Date(issued.expiresAt).toISOString(),
      });
    },
    DELETE: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      const name = ctx.path.slice(PATH.length + 1);
      if (!/^[a-z0-9-]{1,63}$/.test(name)) throw notFound(name);
      const revoked = await hub.revoke(name);
      if (revoked === null) throw notFound(name);
      sendJson(res, 200, { ...agentView(revoked.agent, hub), tunnelsClosed: revoked.tunnelsClosed });
    },
  });

  async function enrollRoute(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    checkAgentName(name);
    if (req.url?.includes('?')) throw new GatewayError('GW_BAD_REQUEST', 'The enroll endpoint takes no query string; the token goes in the Authorization header.');
    const header = req.headers.authorization;
    if (header === undefined || header === '') throw new GatewayError('GW_AUTH_REQUIRED', 'Enrollment needs the enrollment token: send `Authorization: Bearer <token>` (airlock-agent enroll does).');
    const m = BEARER.exec(header);
    if (m === null) throw new GatewayError('GW_AUTH_MALFORMED', 'The Authorization header must be `Bearer <token>` with one token.');
    const body = await readJson(req, enrollBody);
    const agent = await completeEnrollment(store, name, m[1]!, body);
    sendJson(res, 200, { name: agent.name, status: agent.status, audience: deps.audience, tunnelPath: TUNNEL_PATH });
  }
}
