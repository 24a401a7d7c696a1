// The connections API. Any identity lists and reads the connections it may use (admins: all);
// only admins write. A connection a caller may not use answers 404, exactly as a missing one.
//
//   GET    /api/v1/connections          { connections: [...] }  (without OpenAPI documents)
//   GET    /api/v1/connections/<name>   the connection, ETag: "<version>"
//   POST   /api/v1/connections          create (admin)                       → 201
//   PUT    /api/v1/connections/<name>   replace the whole definition (admin)
//   PATCH  /api/v1/connections/<name>   JSON merge patch, RFC 7396 (admin)
//   DELETE /api/v1/connections/<name>   remove (admin)                       → the removed connection
//
// PUT, PATCH and DELETE take the version they expect in `If-Match: "<version>"` or, in a body,
// as `"version": <n>`; another version is 409 GW_STORE_CONFLICT. Without one, the write applies to
// whatever is current.
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { Authenticator } from '../authn/authenticate.ts';
import { requireRole } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import type { Connection, ConnectionRegistry } from '../connections/registry.ts';
import { OPENAPI_MAX_BYTES } from '../connections/schema.ts';
import { GatewayError } from '../errors.ts';
import { MAX_API_BODY_BYTES, readJson } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { RequestContext, Router } from '../http/router.ts';

export const CONNECTIONS_PATH = '/api/v1/connections';
/** Largest body of a connection write, in bytes: the OpenAPI document's cap plus the admin API's 64 KiB. */
export const CONNECTION_BODY_MAX_BYTES = OPENAPI_MAX_BYTES + MAX_API_BODY_BYTES;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A JSON object; the registry validates its fields (and names the one that is wrong). */
const objectBody = z.record(z.string(), z.unknown());

/** The connection as the API shows it; timestamps as ISO 8601. `full: false` leaves the OpenAPI document out. */
export function connectionView(c: Connection, full = true) {
  const { version, createdAt, updatedAt, openapi, ...spec } = c;
  return {
    ...spec,
    ...(full && openapi !== undefined ? { openapi } : {}),
    version,
    createdAt: new Date(createdAt).toISOString(),
    updatedAt: new Date(updatedAt).toISOString(),
  };
}

export function connectionRoutes(router: Router, registry: ConnectionRegistry, authenticator: Authenticator): void {
  const etag = (c: Connection) => ({ etag: `"${c.version}"` });

  router.addPrefix(CONNECTIONS_PATH, {
    GET: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      const name = nameOf(ctx);
      if (name === undefined) {
        sendJson(res, 200, { connections: registry.visibleTo(identity).map((c) => connectionView(c, false)) });
        return;
      }
      const connection = visible(registry, identity, name);
      sendJson(res, 200, connectionView(connection), etag(connection));
    },
    POST: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      const name = nameOf(ctx);
      if (name !== undefined) throw notAllowed('POST', `create connections with POST ${CONNECTIONS_PATH}`);
      const created = await registry.create(await readJson(req, objectBody, CONNECTION_BODY_MAX_BYTES));
      sendJson(res, 201, connectionView(created), { ...etag(created), location: `${CONNECTIONS_PATH}/${created.name}` });
    },
    PUT: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      const name = requireName(ctx, 'PUT');
      const { body, expected } = versioned(req, await readJson(req, objectBody, CONNECTION_BODY_MAX_BYTES));
      const updated = await registry.replace(name, body, expected);
      sendJson(res, 200, connectionView(updated), etag(updated));
    },
    PATCH: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      const name = requireName(ctx, 'PATCH');
      const { body, expected } = versioned(req, await readJson(req, objectBody, CONNECTION_BODY_MAX_BYTES));
      const updated = await registry.update(name, body, expected);
      sendJson(res, 200, connectionView(updated), etag(updated));
    },
    DELETE: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin');
      const name = requireName(ctx, 'DELETE');
      const { expected } = versioned(req, {});
      const removed = await registry.remove(name, expected);
      sendJson(res, 200, removed ? connectionView(removed, false) : { name });
    },
  });
}

/** The connection name in the path, or undefined for the collection. Anything else is a 404. */
function nameOf(ctx: RequestContext): string | undefined {
  if (ctx.path === CONNECTIONS_PATH) return undefined;
  const name = ctx.path.slice(CONNECTIONS_PATH.length + 1);
  // Names are DNS labels, so a path that is not one names no connection (and needs no decoding).
  if (!DNS_LABEL.test(name)) throw new GatewayError('GW_CONNECTION_NOT_FOUND', `There is no connection at ${ctx.path.slice(0, 200)}; connection names are DNS labels, see \`airlock connections list\`.`);
  return name;
}

function requireName(ctx: RequestContext, method: string): string {
  const name = nameOf(ctx);
  if (name === undefined) throw notAllowed(method, `${method} a connection at ${CONNECTIONS_PATH}/<name>`);
  return name;
}

function notAllowed(method: string, hint: string): GatewayError {
  return new GatewayError('GW_METHOD_NOT_ALLOWED', `${method} is not allowed here; ${hint}.`);
}

/** Admins see every connection; others only those they may use, and the rest are "not found". */
export function visible(registry: ConnectionRegistry, identity: Identity, name: string): Connection {
  if (!identity.roles.includes('admin')) return registry.resolve(identity, name);
  const connection = registry.get(name);
  if (!connection) throw new GatewayError('GW_CONNECTION_NOT_FOUND', `There is no connection "${name}"; see \`airlock connections list\`.`);
  return connection;
}

/** The expected version from If-Match and/or the body's `version` (they must agree), and the body without it. */
function versioned(req: IncomingMessage, raw: Record<string, unknown>): { body: Record<string, unknown>; expected: number | undefined } {
  const { version, ...body } = raw;
  let fromBody: number | undefined;
  if (version !== undefined) {
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      throw new GatewayError('GW_BAD_REQUEST', 'The body is not accepted: version: the version you expect the connection to be at, a positive integer (as GET shows it).');
    }
    fromBody = version;
  }
  const fromHeader = ifMatch(req.headers['if-match']);
  if (fromBody !== undefined && fromHeader !== undefined && fromBody !== fromHeader) {
    throw new GatewayError('GW_BAD_REQUEST', `If-Match names version ${fromHeader} and the body version ${fromBody}; send one of them.`);
  }
  return { body, expected: fromHeader ?? fromBody };
}

/** `If-Match: "3"` (or `3`, or `W/"3"`) → 3; `*` or no header → undefined. */
function ifMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"?([1-9][0-9]{0,14})"?\s*$/.exec(header);
  if (!m) throw new GatewayError('GW_BAD_REQUEST', 'If-Match must name one version, as the ETag of GET shows it: If-Match: "3".');
  return Number(m[1]);
}
