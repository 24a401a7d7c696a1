// Tool integrity for admins: what each MCP connection's upstream tools are pinned to, and the
// approval of a new or changed definition.
//
//   GET  /api/v1/tools/<connection>                     { tools: [pin records, with state] }
//   POST /api/v1/tools/<connection>/<tool>/approve       { "fingerprint"?: "<the pending one>" }
//
// Approving names the fingerprint the admin saw (the CLI sends the one it listed): if the
// definition changed again since, the approval is refused rather than approving something
// nobody looked at.
import { z } from 'zod';
import type { Authenticator } from '../authn/authenticate.ts';
import { requireRole } from '../authn/authenticate.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { readJson } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import { approvePin } from '../mcp/integrity.ts';
import type { PinRecord, Store } from '../store/index.ts';
import { isoDate } from './wire.ts';

export const TOOLS_PATH = '/api/v1/tools';
const approveBody = z.strictObject({ fingerprint: z.string().regex(/^[0-9a-f]{64}$/).optional() });

function pinView(p: PinRecord) {
  const state = p.approved === null ? 'awaiting approval' : p.pending !== null ? 'changed: hidden until approved' : 'approved';
  return { ...p, state, approvedAt: isoDate(p.approvedAt), pendingSince: isoDate(p.pendingSince), firstSeen: isoDate(p.firstSeen) };
}

export function toolRoutes(router: Router, store: Store, connections: ConnectionRegistry, authenticator: Authenticator): void {
  const connectionOf = (name: string | undefined) => {
    if (!name || !connections.get(name)) throw new GatewayError('GW_CONNECTION_NOT_FOUND', `There is no connection ${JSON.stringify((name ?? '').slice(0, 80))}; see \`airlock connections list\`.`);
    return name;
  };
  router.addPrefix(TOOLS_PATH, {
    GET: async (req, res, ctx) => {
      requireRole(await authenticator.authenticate(req, ctx.url), 'admin', 'auditor');
      const [name, ...rest] = ctx.path.slice(TOOLS_PATH.length).split('/').filter(Boolean);
      if (rest.length > 0) throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path.slice(0, 200)}.`);
      sendJson(res, 200, { connection: connectionOf(name), tools: (await store.pins.list(connectionOf(name))).map(pinView) });
    },
    POST: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      requireRole(identity, 'admin');
      const [name, tool, verb, ...rest] = ctx.path.slice(TOOLS_PATH.length).split('/').filter(Boolean);
      if (verb !== 'approve' || rest.length > 0 || !tool) throw new GatewayError('GW_NOT_FOUND', `Use POST ${TOOLS_PATH}/<connection>/<tool>/approve.`);
      const connection = connectionOf(name);
      const body = await readJson(req, approveBody);
      const pin = await store.pins.get(connection, decodeURIComponent(tool));
      if (!pin) throw new GatewayError('GW_NOT_FOUND', `Connection ${connection} has no tool ${JSON.stringify(tool.slice(0, 80))} seen yet; list its tools through /mcp first.`);
      if (pin.pending === null) throw new GatewayError('GW_STORE_CONFLICT', `${connection}/${pin.tool} has nothing awaiting approval.`);
      const approved = approvePin(pin, { fingerprint: body.fingerprint ?? pin.pending, by: identity.sub });
      await store.pins.put(approved);
      sendJson(res, 200, pinView(approved));
    },
  });
}
