// Admin API for API keys: create (the key is shown once), list (never the key or its hash),
// revoke. Every route needs the admin role.
import { z } from 'zod';
import type { Authenticator } from '../authn/authenticate.ts';
import { requireRole } from '../authn/authenticate.ts';
import { forgetApiKey, generateApiKey } from '../authn/apikeys.ts';
import { ROLES, type Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { readJson } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { ApiKeyRecord, Store } from '../store/types.ts';

const PATH = '/api/v1/api-keys';
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Longest lifetime a key may be given, in seconds: 2 years. Keys without expiry must say so. */
const MAX_TTL_SECONDS = 2 * 365 * 24 * 3600;

const createBody = z.strictObject({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._ -]+$/, 'letters, digits, space, dot, dash, underscore'),
  roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
  connections: z.array(z.string().regex(DNS_LABEL, 'a connection name (DNS label)')).max(1000).default([]),
  /** Seconds until the key expires; null = never (must be explicit). */
  ttlSeconds: z.number().int().min(60).max(MAX_TTL_SECONDS).nullable(),
});

function view(record: ApiKeyRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: record.id, name: record.name, roles: record.roles, connections: record.connections, createdBy: record.createdBy,
    createdAt: iso(record.createdAt), expiresAt: iso(record.expiresAt), revokedAt: iso(record.revokedAt), lastUsedAt: iso(record.lastUsedAt),
  };
}

export function apiKeyRoutes(router: Router, _config: Config, store: Store, authenticator: Authenticator): void {
  router.addPrefix(PATH, {
    GET: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      if (ctx.path !== PATH) throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path}; list keys with GET ${PATH}.`);
      sendJson(res, 200, { apiKeys: (await store.apiKeys.list()).map(view) });
    },
    POST: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      requireRole(identity, 'admin');
      if (ctx.path !== PATH) throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path}; create keys with POST ${PATH}.`);
      const body = await readJson(req, createBody);
      const fresh = generateApiKey();
      const record = await store.apiKeys.create({
        id: fresh.id, name: body.name, hash: fresh.hash, roles: body.roles, connections: body.connections,
        createdBy: identity.email ?? identity.sub,
        expiresAt: body.ttlSeconds === null ? null : Date.now() + body.ttlSeconds * 1000,
      });
      sendJson(res, 201, { ...view(record), key: fresh.key });
    },
    DELETE: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      const id = ctx.path.slice(PATH.length + 1);
      if (!/^[a-z2-7]{16}$/.test(id)) throw new GatewayError('GW_NOT_FOUND', `No API key ${JSON.stringify(id)}; list them with GET ${PATH}.`);
      const existing = await store.apiKeys.get(id);
      if (!existing) throw new GatewayError('GW_NOT_FOUND', `No API key ${id}; list them with GET ${PATH}.`);
      try {
        await store.apiKeys.revoke(id);
      } finally {
        forgetApiKey(store, id); // the key's next use reads the store: refused from now on
      }
      sendJson(res, 200, view((await store.apiKeys.get(id))!));
    },
  });
}
