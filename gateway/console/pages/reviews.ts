// Reviews: the inbox (what waits for me, what I asked for, the rest), one review as reviewers
// see it (the request as it would leave, findings, rule, justification, the requester's
// session), and approve / deny with a reason. Reading and deciding go through reviewAccess, the
// API's own functions: who may see and who may decide is decided there, once.
import type { Identity } from '../../authn/identity.ts';
import { personOf } from '../../authn/identity.ts';
import { refusalToDecide, requesterPerson } from '../../reviews/reviewers.ts';
import { reviewSummary } from '../../reviews/notify.ts';
import { GatewayError } from '../../errors.ts';
import type { ReviewRecord } from '../../store/index.ts';
import { csrfField, Html, html, json, page, sendHtml, when } from '../html.ts';
import type { ConsoleRoute, Shared } from '../index.ts';

/** Why `identity` may not decide `review`, or null when the console offers them the buttons (the API decides again). */
export function cannotDecide(review: ReviewRecord, identity: Identity): string | null {
  if (review.status !== 'pending') return `This review is ${review.status}.`;
  if (!identity.roles.includes('reviewer') && !identity.roles.includes('admin')) return 'Deciding reviews needs the reviewer or admin role.';
  return refusalToDecide(review, identity);
}

const mine = (r: ReviewRecord, identity: Identity) => r.requester === identity.sub || requesterPerson(r) === personOf(identity);

function row(r: ReviewRecord, identity: Identity): Html {
  const d = r.detail as { reasons?: Array<{ reason?: string; message?: string }> };
  return html`<tr data-review="${r.id}"><td><a href="/console/reviews/${r.id}">${r.id}</a></td><td><span class="badge ${r.status}">${r.status}</span></td>
<td>${r.connection}</td><td><code>${reviewSummary(r)}</code></td><td>${(d.reasons ?? []).map((x) => x.message ?? x.reason).filter(Boolean).join('; ')}</td>
<td>${requesterPerson(r)}${mine(r, identity) ? html` <span class="badge you">you</span>` : ''}</td><td>${when(r.createdAt)}</td></tr>`;
}

function table(title: string, reviews: ReviewRecord[], identity: Identity, empty: string): Html {
  return html`<section><h2>${title} <span class="count">${reviews.length}</span></h2>${reviews.length === 0 ? html`<p class="muted">${empty}</p>` : html`<table>
<thead><tr><th>Review</th><th>Status</th><th>Connection</th><th>Request</th><th>Why</th><th>Requested by</th><th>Created</th></tr></thead>
<tbody>${reviews.map((r) => row(r, identity))}</tbody></table>`}</section>`;
}

async function inbox(s: Shared, identity: Identity): Promise<Html> {
  const all = await s.reviews.list(identity, { limit: 200 });
  const pending = all.filter((r) => r.status === 'pending');
  const forMe = pending.filter((r) => cannotDecide(r, identity) === null);
  const asked = all.filter((r) => mine(r, identity));
  const others = pending.filter((r) => !forMe.includes(r) && !mine(r, identity));
  const decided = all.filter((r) => r.status !== 'pending' && !mine(r, identity)).slice(0, 20);
  return html`${table('Waiting for you', forMe, identity, 'Nothing waits for your decision.')}
${table('Your requests', asked, identity, 'You have asked for no review.')}
${others.length ? table('Pending, for others to decide', others, identity, '') : ''}
${decided.length ? table('Recently decided', decided, identity, '') : ''}`;
}

function facts(rows: ReadonlyArray<readonly [string, unknown]>): Html {
  return html`<dl class="facts">${rows.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => html`<dt>${k}</dt><dd>${v instanceof Html ? v : String(v)}</dd>`)}</dl>`;
}

function detailPage(r: ReviewRecord, identity: Identity, csrf: string): Html {
  const d = r.detail as Record<string, unknown> & {
    method?: string; path?: string; tool?: string; headers?: Record<string, unknown>; payload?: unknown; justification?: string;
    findings?: Array<{ kind?: string; path?: string; severity?: string; detail?: string }>; reasons?: Array<{ rule?: string; reason?: string; message?: string; action?: string; policy?: string }>;
  };
  const refusal = cannotDecide(r, identity);
  const decide = refusal === null
    ? html`<form method="post" class="decide" action="/console/reviews/${r.id}/decide">${csrfField(csrf)}
<label>Reason <textarea name="reason" maxlength="1000" placeholder="Why you approve or deny (recorded with your name)"></textarea></label>
<button type="submit" name="verdict" value="approve" class="approve">Approve</button> <button type="submit" name="verdict" value="deny" class="deny">Deny</button></form>`
    : html`<p class="notice">${refusal}</p>`;
  return html`<h1>Review <code>${r.id}</code> <span class="badge ${r.status}">${r.status}</span></h1>
<div class="grid"><section><h2>What is asked</h2>${facts([
    ['Connection', r.connection], ['Requested by', `${requesterPerson(r)}${r.requester !== requesterPerson(r) ? ` (through ${r.requester})` : ''}`],
    ['Justification', d.justification], ['Created', when(r.createdAt)], ['Expires', when(r.expiresAt)],
    ['Approvals needed', String(r.approvalsNeeded)], ['Reviewers', r.reviewers.length ? r.reviewers.join(', ') : 'anyone with the reviewer role'],
    ['Requester\'s session', r.sessionId ? html`<a href="/console/sessions/${r.sessionId}">${r.sessionId}</a>` : null],
  ])}
${decide}</section>
<section><h2>Why it is held</h2><table><thead><tr><th>Rule</th><th>Reason</th><th>Message</th></tr></thead><tbody>${(d.reasons ?? []).map((x) => html`<tr><td><code>${x.rule ?? x.policy ?? ''}</code></td><td><code>${x.reason ?? ''}</code></td><td>${x.message ?? ''}</td></tr>`)}</tbody></table>
<h3>Findings</h3>${(d.findings ?? []).length === 0 ? html`<p class="muted">None.</p>` : html`<table><thead><tr><th>Kind</th><th>Where</th><th>Severity</th><th>Detail</th></tr></thead><tbody>${(d.findings ?? []).map((f) => html`<tr class="finding ${f.severity ?? ''}"><td><code>${f.kind ?? ''}</code></td><td><code>${f.path ?? ''}</code></td><td>${f.severity ?? ''}</td><td>${f.detail ?? ''}</td></tr>`)}</tbody></table>`}</section></div>
<section><h2>The request as it would leave</h2><p class="muted">Credentials in headers and PII in the body are redacted here; the approval is bound to the exact request.</p>
<pre class="request"><b>${d.tool ? `tool ${d.tool}` : `${d.method ?? '?'} ${d.path ?? '?'}`}</b>
${Object.entries(d.headers ?? {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}\n`)}
${d.payload === undefined || d.payload === null ? '' : typeof d.payload === 'string' ? d.payload : json(d.payload)}</pre></section>
${r.votes.length ? html`<section><h2>Votes</h2><table><thead><tr><th>Reviewer</th><th>Vote</th><th>Reason</th><th>At</th></tr></thead><tbody>${r.votes.map((v) => html`<tr><td>${v.reviewer}</td><td><span class="badge ${v.approve ? 'approved' : 'denied'}">${v.approve ? 'approve' : 'deny'}</span></td><td>${v.reason ?? ''}</td><td>${when(v.at)}</td></tr>`)}</tbody></table></section>` : ''}`;
}

export function reviewPages(s: Shared): ConsoleRoute[] {
  return [
    {
      method: 'GET', path: /^\/console\/reviews$/, handler: async (c) => {
        const list = await inbox(s, c.me.identity);
        // ?part=list: the inbox alone, which console.js swaps in every few seconds (live updates).
        if (c.url.searchParams.get('part') === 'list') return sendHtml(c.res, 200, list);
        sendHtml(c.res, 200, page({ title: 'Reviews', identity: c.me.identity, csrf: c.csrf, tab: 'reviews' },
          html`<h1>Reviews</h1><div id="inbox" data-live="/console/reviews?part=list">${list}</div>`));
      },
    },
    {
      method: 'GET', path: /^\/console\/reviews\/(rev_[0-9a-f]{20})$/, handler: async (c) => {
        const review = await s.reviews.get(c.me.identity, c.params[0]!);
        sendHtml(c.res, 200, page({ title: `Review ${review.id}`, identity: c.me.identity, csrf: c.csrf, tab: 'reviews' }, detailPage(review, c.me.identity, c.csrf)));
      },
    },
    {
      method: 'POST', path: /^\/console\/reviews\/(rev_[0-9a-f]{20})\/decide$/, handler: async (c) => {
        const verdict = c.form.get('verdict');
        const reason = (c.form.get('reason') ?? '').trim().slice(0, 1000);
        if (verdict !== 'approve' && verdict !== 'deny') throw new GatewayError('GW_BAD_REQUEST', 'Choose approve or deny.');
        await s.reviews.decide(c.me.identity, c.params[0]!, verdict === 'approve', reason === '' ? null : reason);
        c.res.writeHead(303, { location: `/console/reviews/${c.params[0]}`, 'cache-control': 'no-store' }).end();
      },
    },
  ];
}
