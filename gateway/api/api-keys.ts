// Admin API for API keys: create (the key is shown once), list (never the key or its hash),
// revoke. Every route needs the admin role.
//
// A key never holds more than its creator: its roles must be among the creator's, and a creator
// limited to some connections (an API key) creates keys for those only (GW_API_KEY_EXCEEDS_CREATOR).
// A personal key (the default) acts for the creator's person; a service key (`kind: service`,
// automation) is its own owner: it may request but never approve a review unless the rule names it.
import { z } from 'zod';
import type { Authenticator } from '../authn/authenticate.ts';
import { requireRole } from '../authn/authenticate.ts';
import { forgetApiKey, generateApiKey, ownerOfKey } from '../authn/apikeys.ts';
import { ownerOf, type Identity } from '../authn/identity.ts';
import { ROLES, type Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { readJson } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { ApiKeyRecord, Store } from '../store/types.ts';
import { isoDate } from './wire.ts';

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
  /** personal (acts for the creator's person) or service (automation, its own owner). Default personal. */
  kind: z.enum(['personal', 'service']).default('personal'),
});

/** Throws GW_API_KEY_EXCEEDS_CREATOR unless `roles` and `connections` are within what `creator` holds. */
function withinCreator(creator: Identity, roles: readonly string[], connections: readonly string[]): void {
  const extraRoles = roles.filter((r) => !creator.roles.includes(r as never));
  if (extraRoles.length > 0) {
    throw new GatewayError('GW_API_KEY_EXCEEDS_CREATOR', `A key cannot hold more than its creator: ${creator.sub} does not hold the role ${extraRoles.join(', ')}.`, { detail: { roles: extraRoles } });
  }
  const limit = creator.connections;
  const extraConnections = limit === null ? [] : connections.filter((c) => !limit.includes(c));
  if (extraConnections.length > 0) {
    throw new GatewayError('GW_API_KEY_EXCEEDS_CREATOR', `A key cannot hold more than its creator: ${creator.sub} is limited to ${limit!.length ? limit!.join(', ') : 'no connection'}, not ${extraConnections.join(', ')}.`, { detail: { connections: extraConnections } });
  }
}

/**
 * Whether `identity` may see and revoke `record`: a person holds every key; a key (an identity
 * limited to some connections) holds only keys it could have created itself (roles and
 * connections within its own), so a scoped admin key cannot list or revoke the keys of others.
 */
function withinScope(identity: Identity, record: ApiKeyRecord): boolean {
  const limit = identity.connections;
  if (limit === null) return true;
  return record.roles.every((r) => identity.roles.includes(r as never)) && record.connections.every((c) => limit.includes(c));
}

function view(record: ApiKeyRecord) {
  return {
    id: record.id, name: record.name, kind: record.kind, owner: ownerOfKey(record), roles: record.roles, connections: record.connections, createdBy: record.createdBy, creator: record.creator,
    createdAt: isoDate(record.createdAt), expiresAt: isoDate(record.expiresAt), revokedAt: isoDate(record.revokedAt), lastUsedAt: isoDate(record.lastUsedAt),
  };
}

export function apiKeyRoutes(router: Router, _config: Config, store: Store, authenticator: Authenticator): void {
  router.addPrefix(PATH, {
    GET: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      requireRole(identity, 'admin');
      if (ctx.path !== PATH) throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path}; list keys with GET ${PATH}.`);
      sendJson(res, 200, { apiKeys: (await store.apiKeys.list()).filter((k) => withinScope(identity, k)).map(view) });
    },
    POST: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      requireRole(identity, 'admin');
      if (ctx.path !== PATH) throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path}; create keys with POST ${PATH}.`);
      const body = await readJson(req, createBody);
      withinCreator(identity, body.roles, body.connections);
      const fresh = generateApiKey();
      const record = await store.apiKeys.create({
        id: fresh.id, name: body.name, hash: fresh.hash, roles: body.roles, connections: body.connections,
        createdBy: identity.email ?? identity.sub, creator: identity.sub, kind: body.kind,
        owner: body.kind === 'service' ? `apikey:${fresh.id}` : ownerOf(identity),
        expiresAt: body.ttlSeconds === null ? null : Date.now() + body.ttlSeconds * 1000,
      });
      sendJson(res, 201, { ...view(record), key: fresh.key });
    },
    DELETE: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      requireRole(identity, 'admin');
      const id = ctx.path.slice(PATH.length + 1);
      if (!/^[a-z2-7]{16}$/.test(id)) throw new GatewayError('GW_NOT_FOUND', `No API key ${JSON.stringify(id)}; list them with GET ${PATH}.`);
      const existing = await store.apiKeys.get(id);
      if (!existing || !withinScope(identity, existing)) throw new GatewayError('GW_NOT_FOUND', `No API key ${id}; list them with GET ${PATH}.`);
      try {
        await store.apiKeys.revoke(id);
      } finally {
        forgetApiKey(store, id); // the key's next use reads the store: refused from now on
      }
      sendJson(res, 200, view((await store.apiKeys.get(id))!));
    },
  });
}
