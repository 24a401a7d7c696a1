// Agents for the whole gateway: the hub of live tunnels, the connect-token verifier with its
// replay cache, the API routes and the tunnel's upgrade route, built from the configuration.
// `main.ts` creates one and mounts it. See DESIGN.md in this folder.
import type { Logger } from '../../lib/log.ts';
import type { Authenticator } from '../authn/authenticate.ts';
import { publicUrlOf } from '../authn/index.ts';
import type { Config } from '../config/schema.ts';
import type { Router } from '../http/router.ts';
import type { UpgradeRouter } from '../http/upgrade.ts';
import type { Store } from '../store/types.ts';
import { agentRoutes } from './api.ts';
import { createAgentTokenVerifier } from './assertion.ts';
import { tunnelRoute, TUNNEL_PATH } from './endpoint.ts';
import { AgentHub } from './hub.ts';
import { ReplayCache } from './replay.ts';

export { AgentHub, AGENT_CLOSE_CODES, type AgentPresence } from './hub.ts';
export { issueEnrollment, type IssuedEnrollment } from './enrollment.ts';
export { TUNNEL_PATH } from './endpoint.ts';

export interface Agents {
  readonly hub: AgentHub;
  /** Adds the /api/v1/agents routes. */
  routes(router: Router, authenticator: Authenticator): void;
  /** Adds the tunnel's upgrade route (its close hook closes the hub). */
  upgrades(router: UpgradeRouter): void;
}

export function createAgents(config: Config, store: Store, logger: Logger): Agents {
  const hub = new AgentHub({
    store,
    logger,
    presenceIntervalMs: Math.round(config.agents.presenceInterval * 1000),
    maxTunnelsPerAgent: config.agents.maxTunnelsPerAgent,
  });
  const audience = publicUrlOf(config);
  const verifier = createAgentTokenVerifier({ store, audience, clockSkewSeconds: config.auth.clockSkew, replay: new ReplayCache() });
  return {
    hub,
    routes: (router, authenticator) => agentRoutes(router, { store, hub, authenticator, enrollmentTtl: config.agents.enrollmentTtl, audience }),
    upgrades: (router) => {
      router.add(TUNNEL_PATH, tunnelRoute({
        hub,
        verifier,
        logger,
        session: {
          pingIntervalMs: Math.round(config.agents.pingInterval * 1000),
          pingTimeoutMs: Math.max(1, Math.round(config.agents.pingTimeout * 1000)),
        },
      }));
    },
  };
}
