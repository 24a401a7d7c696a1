// Identity endpoints: who am I (/api/v1/me) and how to get a token (RFC 9728 protected resource
// metadata at /.well-known/oauth-protected-resource and its per-path variants).
import type { Authenticator } from '../authn/authenticate.ts';
import { publicIdentity } from '../authn/identity.ts';
import { publicUrlOf } from '../authn/index.ts';
import type { Config } from '../config/schema.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';

/** Scopes the gateway's login asks for; advertised to OAuth clients. */
export const SCOPES_SUPPORTED = ['openid', 'profile', 'email', 'groups', 'offline_access'];

export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';

export function identityRoutes(router: Router, config: Config, authenticator: Authenticator): void {
  router.add('/api/v1/me', {
    GET: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      sendJson(res, 200, publicIdentity(identity));
    },
  });

  // One document for the gateway and every /mcp/<c> and /proxy/<c> below it: tokens are issued
  // for the gateway's audience, and `resource` names the gateway, which MCP clients accept for
  // any path under it (the SDK's checkResourceAllowed matches by prefix).
  const metadata = () => ({
    resource: publicUrlOf(config),
    authorization_servers: config.auth.issuer === undefined ? [] : [config.auth.issuer],
    scopes_supported: SCOPES_SUPPORTED,
    bearer_methods_supported: ['header'],
    resource_name: 'airlock gateway',
  });
  router.addPrefix(PROTECTED_RESOURCE_PATH, {
    GET: (_req, res) => sendJson(res, 200, metadata(), { 'access-control-allow-origin': '*', 'cache-control': 'max-age=300' }),
  });
}
