// Connections and agents: the connections the signed-in person may see (the registry's
// visibleTo, as the API), each with its agent's presence (online, tunnels); agents for admins;
// and an admin's edit of a connection's definition as JSON, validated by the registry exactly as
// PUT /api/v1/connections/<name> (same schema, same optimistic version check).
import { requireRole } from '../../authn/authenticate.ts';
import { connectionView, visible } from '../../api/connections.ts';
import { agentView } from '../../agents/api.ts';
import { agentPool } from '../../connections/schema.ts';
import { GatewayError } from '../../errors.ts';
import { parseJson } from '../../../lib/json.ts';
import { csrfField, html, json, page, sendHtml } from '../html.ts';
import type { ConsoleRoute, Shared } from '../index.ts';

export function connectionPages(s: Shared): ConsoleRoute[] {
  // A connection is served by its agent pool: online while any agent of it has a tunnel here.
  const presence = (connection: Parameters<typeof agentPool>[0]) => {
    const tunnels = agentPool(connection).reduce((n, agent) => n + s.hub.presence(agent).tunnels, 0);
    return html`<span class="badge ${tunnels > 0 ? 'online' : 'offline'}">${tunnels > 0 ? `online, ${tunnels} tunnel(s)` : 'offline'}</span>`;
  };
  return [
    {
      method: 'GET', path: /^\/console\/connections$/, handler: async (c) => {
        const identity = c.me.identity;
        const list = s.connections.visibleTo(identity);
        const agents = identity.roles.includes('admin') ? (await s.store.agents.list()).map((r) => agentView(r, s.hub)) : null;
        sendHtml(c.res, 200, page({ title: 'Connections', identity, csrf: c.csrf, tab: 'connections' }, html`<h1>Connections</h1>
${list.length === 0 ? html`<p class="muted">You may use no connection.</p>` : html`<table id="connections"><thead><tr><th>Name</th><th>Kind</th><th>Agent</th><th>Status</th><th>Policies</th><th>Groups</th></tr></thead><tbody>
${list.map((x) => html`<tr><td><a href="/console/connections/${x.name}">${x.name}</a></td><td>${x.kind}</td><td>${agentPool(x).join(', ')}</td><td>${presence(x)}</td><td>${[...x.policy.packs, ...x.policy.files.map((f) => f.split('/').at(-1) ?? f)].join(', ')}</td><td>${(x.groups ?? []).join(', ')}</td></tr>`)}</tbody></table>`}
${agents ? html`<h2>Agents</h2><table id="agents"><thead><tr><th>Name</th><th>Status</th><th>Online</th><th>Version</th><th>Last seen</th></tr></thead><tbody>
${agents.map((a) => html`<tr><td>${a.name}</td><td>${a.status}</td><td><span class="badge ${a.online ? 'online' : 'offline'}">${a.online ? `online, ${a.tunnels} tunnel(s)` : 'offline'}</span></td><td>${a.version ?? ''}</td><td>${a.lastSeen ?? '—'}</td></tr>`)}</tbody></table>` : ''}`));
      },
    },
    {
      method: 'GET', path: /^\/console\/connections\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$/, handler: async (c) => {
        const identity = c.me.identity;
        const connection = visible(s.connections, identity, c.params[0]!);
        const { version, createdAt: _c, updatedAt, ...definition } = connectionView(connection);
        const admin = identity.roles.includes('admin');
        sendHtml(c.res, 200, page({ title: `Connection ${connection.name}`, identity, csrf: c.csrf, tab: 'connections' }, html`<h1>Connection <code>${connection.name}</code> ${presence(connection)}</h1>
<p class="muted">Version ${version}, updated ${updatedAt}.</p>
${admin ? html`<form method="post" action="/console/connections/${connection.name}" class="edit">${csrfField(c.csrf)}<input type="hidden" name="version" value="${version}">
<label>Definition (JSON, as <code>PUT /api/v1/connections/${connection.name}</code> takes it)<textarea name="definition" rows="24" spellcheck="false">${json(definition)}</textarea></label>
<button type="submit">Save</button></form>` : html`<pre>${json(definition)}</pre>`}`));
      },
    },
    {
      method: 'POST', path: /^\/console\/connections\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$/, handler: async (c) => {
        requireRole(c.me.identity, 'admin');
        let body: unknown;
        try {
          body = parseJson(c.form.get('definition') ?? '');
        } catch (err) {
          throw new GatewayError('GW_BAD_REQUEST', `The definition is not JSON: ${(err as Error).message}`);
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('GW_BAD_REQUEST', 'The definition must be a JSON object.');
        const version = Number(c.form.get('version'));
        await s.connections.replace(c.params[0]!, body, Number.isSafeInteger(version) && version > 0 ? version : undefined);
        c.res.writeHead(303, { location: `/console/connections/${c.params[0]}`, 'cache-control': 'no-store' }).end();
      },
    },
  ];
}
