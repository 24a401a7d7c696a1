// Explain: `airlock policy eval` in the browser. Paste a request in the eval input's JSON shape
// (gateway/policy/eval-input.ts), pick a connection you may see, and get the decision, every rule
// that applied and the findings, from the policies in force for that connection on this gateway
// (the guard's own policyFor and the engine's decide: the same path a real request takes). As you,
// unless the input names another identity. Nothing is forwarded or recorded.
import { visible } from '../../api/connections.ts';
import { GatewayError } from '../../errors.ts';
import { policyFor } from '../../guard/decide.ts';
import { decide } from '../../policy/decide.ts';
import { contextOf, parseEvalInput } from '../../policy/eval-input.ts';
import { parseJson } from '../../../lib/json.ts';
import { csrfField, html, json, page, sendHtml, type Html } from '../html.ts';
import type { ConsoleRequest, ConsoleRoute, Shared } from '../index.ts';

const EXAMPLE = '{\n  "kind": "http",\n  "method": "DELETE",\n  "path": "/customers/42"\n}';

function form(s: Shared, c: ConsoleRequest, connection: string, input: string): Html {
  const names = s.connections.visibleTo(c.me.identity).map((x) => x.name);
  return html`<form method="post" action="/console/explain" class="edit">${csrfField(c.csrf)}
<label>Connection <select name="connection">${names.map((n) => html`<option${n === connection ? html` selected` : ''}>${n}</option>`)}</select></label>
<label>Request (the JSON <code>airlock policy eval</code> reads: kind http, mcp, sql, shell, text or json)<textarea name="input" rows="10" spellcheck="false">${input}</textarea></label>
<button type="submit">Explain</button></form>`;
}

export function explainPages(s: Shared): ConsoleRoute[] {
  const frame = (c: ConsoleRequest, body: Html) => page({ title: 'Explain', identity: c.me.identity, csrf: c.csrf, tab: 'explain' }, html`<h1>Explain a decision</h1>${body}`);
  return [
    { method: 'GET', path: /^\/console\/explain$/, handler: async (c) => sendHtml(c.res, 200, frame(c, form(s, c, '', EXAMPLE))) },
    {
      method: 'POST', path: /^\/console\/explain$/, handler: async (c) => {
        const text = c.form.get('input') ?? '';
        const connection = visible(s.connections, c.me.identity, c.form.get('connection') ?? '');
        let value: unknown;
        try {
          value = parseJson(text);
        } catch (err) {
          throw new GatewayError('GW_BAD_REQUEST', `The request is not JSON: ${(err as Error).message}`);
        }
        const input = parseEvalInput(value);
        if ('problem' in input) throw new GatewayError('GW_BAD_REQUEST', `The request is not one airlock knows: ${input.problem}.`);
        const me = c.me.identity;
        const ctx = contextOf({
          ...input,
          identity: input.identity ?? { sub: me.sub, email: me.email, name: me.name, groups: [...me.groups], roles: [...me.roles], via: me.via },
          connection: { name: connection.name, kind: connection.kind, tags: [...connection.tags], ...(connection.kind === 'postgres' ? { sql: { dialect: 'postgresql' as const } } : {}) },
        }, Date.now());
        const outcome = decide(policyFor(s, connection), ctx, { maskKey: s.maskKey });
        sendHtml(c.res, 200, frame(c, html`${form(s, c, connection.name, text)}
<section id="explained"><h2>Decision <span class="badge ${outcome.decision}">${outcome.decision}</span></h2>
<table><thead><tr><th>Rule</th><th>Policy</th><th>Action</th><th>Reason</th><th>Message</th></tr></thead><tbody>${outcome.reasons.map((r) => html`<tr><td><code>${r.rule}</code></td><td>${r.policy}</td><td><span class="badge ${r.action}">${r.action}</span></td><td><code>${r.reason}</code></td><td>${r.message ?? r.error ?? ''}</td></tr>`)}</tbody></table>
<h3>Findings</h3>${outcome.findings.length === 0 ? html`<p class="muted">None.</p>` : html`<table><thead><tr><th>Kind</th><th>Where</th><th>Severity</th><th>Detail</th></tr></thead><tbody>${outcome.findings.map((f) => html`<tr><td><code>${f.kind}</code></td><td><code>${f.path}</code></td><td>${f.severity}</td><td>${f.detail ?? ''}</td></tr>`)}</tbody></table>`}
${outcome.review ? html`<h3>Review</h3><pre>${json(outcome.review)}</pre>` : ''}
${outcome.decision === 'mask' && outcome.masked !== undefined ? html`<h3>As it would leave</h3><pre>${typeof outcome.masked === 'string' ? outcome.masked : json(outcome.masked)}</pre>` : ''}</section>`));
      },
    },
  ];
}
