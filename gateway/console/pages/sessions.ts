// Sessions: the list with filters (the API's own query parameters), and one session as a
// timeline — each request with its findings, decision and response in one block, payloads as
// recorded (masked values stay masked: the recording holds nothing else) — with a timed replay
// (console.js: play, pause, speed), a live tail of an open session, and the badge of the same
// verification `airlock sessions verify` runs (gateway/recorder/verify.ts), and its download as
// `airlock sessions export --format json` writes it (to verify elsewhere with `--key`).
import type { EventRecord, SessionRecord } from '../../store/index.ts';
import { verifySession, type VerifyResult } from '../../recorder/verify.ts';
import type { JWK } from 'jose';
import { SECURITY_HEADERS, html, json, page, sendHtml, when, type Html } from '../html.ts';
import { sessionView } from '../../api/sessions.ts';
import type { ConsoleRoute, Shared } from '../index.ts';

/** Events a session page shows (and verifies) at most; past it the CLI has the rest. */
const MAX_EVENTS = 5000;
const PAGE = 1000;
const FILTERS = ['connection', 'user', 'decision', 'since', 'until'] as const;

async function eventsOf(s: Shared, id: string, after = 0): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  for (;;) {
    const batch = await s.store.events.list(id, { afterSeq: after, limit: PAGE });
    out.push(...batch);
    if (batch.length < PAGE || out.length >= MAX_EVENTS) return out;
    after = batch.at(-1)!.seq;
  }
}

/** One line saying what an event is, from the fields its data path wrote (unknown shapes: their type). */
function summary(e: EventRecord): string {
  const p = (e.payload ?? {}) as Record<string, any>;
  switch (e.type) {
    case 'request': return p.tool ? `tool ${p.tool}` : p.method ? `${p.method} ${p.path ?? ''}` : p.label ?? 'request';
    case 'response': return p.status !== undefined ? `${p.status}${p.tool ? ` from ${p.tool}` : ''}` : p.label ?? 'response';
    case 'decision': return `${p.decision ?? p.action ?? ''}${p.reasons?.length ? ` — ${p.reasons.map((r: any) => r.message ?? r.reason ?? r.rule).join('; ')}` : ''}`;
    case 'finding': return `${p.kind ?? ''} at ${p.path ?? ''} (${p.severity ?? ''})`;
    case 'error': return `${p.code ?? ''} ${p.message ?? ''}`;
    default: return e.type.startsWith('review.') ? `${p.review ?? ''}${p.by ? ` by ${p.by}` : ''}` : '';
  }
}

function kindClass(e: EventRecord): string {
  const p = (e.payload ?? {}) as Record<string, any>;
  if (e.type === 'decision') return `decision ${p.decision ?? p.action ?? ''}`;
  if (e.type === 'finding') return 'finding';
  if (e.type === 'error') return 'error';
  if (e.type.startsWith('review.')) return 'review';
  return e.type.replace(/[^a-z]/g, '-');
}

/** One event; `data-offset` (ms since the session began) drives the replay. */
export function eventRow(e: EventRecord): Html {
  const p = e.payload as Record<string, unknown> | null;
  const body = p && typeof p === 'object' && 'body' in p ? p.body : undefined;
  return html`<li class="event ${kindClass(e)}" data-seq="${e.seq}" data-offset="${e.offsetMs}"><span class="off">+${(e.offsetMs / 1000).toFixed(3)}s</span> <span class="type">${e.type}</span> <span class="sum">${summary(e)}</span>${p !== null && typeof p === 'object' && Object.keys(p).length ? html`<details><summary>payload</summary><pre>${json(body !== undefined ? { ...p, body } : p)}</pre></details>` : ''}</li>`;
}

/** Events in blocks: a request, and what follows it until the next request (findings, decision, response). */
export function timeline(events: readonly EventRecord[]): Html {
  const blocks: EventRecord[][] = [];
  for (const e of events) {
    if (e.type === 'chunk') continue;
    if (e.type === 'request' || e.type === 'message' || blocks.length === 0) blocks.push([e]);
    else blocks.at(-1)!.push(e);
  }
  return html`${blocks.map((b) => html`<li class="pair"><ol>${b.map(eventRow)}</ol></li>`)}`;
}

function badge(v: VerifyResult): Html {
  if (!v.ok) return html`<div class="verify bad"><b>✗ Verification failed</b> at event ${v.firstBad?.seq ?? 0}: ${v.firstBad?.reason ?? ''}</div>`;
  const how = html`<p>It is the check <code>airlock sessions verify</code> runs, with the keys this gateway publishes; run that on your own machine with <code>--key</code> to trust no gateway, and with <code>--all</code> to prove that no whole session is missing (the ledger).</p>${v.notes.map((n) => html`<p class="note">${n}</p>`)}`;
  // A hash chain alone shows only that the events agree with each other: whoever can rewrite the
  // store can rewrite the chain. Only a signature pins it, so no signature, no "verified".
  if (v.signedThrough === 0) {
    return html`<div class="verify unsigned"><b>Chain intact, not yet signed</b>: ${v.events} events hash-chained, no signed checkpoint yet.
<p>The events agree with each other, but nothing signed pins them yet: this does not prove they were not rewritten. An open session is signed at checkpoints and at its end.</p>${how}</div>`;
  }
  return html`<div class="verify ok"><b>✓ Verified</b>: ${v.events} events hash-chained, ${v.checkpoints} signed checkpoint(s), signed through event ${v.signedThrough}${v.signedState ? `, final state ${v.signedState}` : ''}.
<p>Proves that events 1 to ${v.signedThrough} are exactly as recorded — none altered, removed, reordered or inserted — and signed by a recording key of this gateway${v.signedState ? ', and that the session ended as it says' : ''}.</p>${how}</div>`;
}

function filterForm(q: URLSearchParams): Html {
  const v = (k: string) => q.get(k) ?? '';
  const decision = v('decision');
  return html`<form method="get" action="/console/sessions" class="filters">
<label>Connection <input name="connection" value="${v('connection')}" maxlength="63"></label>
<label>User <input name="user" value="${v('user')}" maxlength="200"></label>
<label>Decision <select name="decision"><option value="">any</option>${['allow', 'mask', 'review', 'deny'].map((d) => html`<option${d === decision ? html` selected` : ''}>${d}</option>`)}</select></label>
<label>Since <input name="since" value="${v('since')}" placeholder="2026-12-01T00:00:00Z" maxlength="40"></label>
<label>Until <input name="until" value="${v('until')}" placeholder="ISO 8601" maxlength="40"></label>
<button type="submit">Filter</button> <a href="/console/sessions">clear</a></form>`;
}

function sessionRow(x: SessionRecord): Html {
  return html`<tr><td><a href="/console/sessions/${x.id}">${x.id}</a></td><td>${x.connection}</td><td>${x.kind}</td><td>${x.subject}</td>
<td><span class="badge ${x.state}">${x.state}</span></td><td>${x.decisions.map((d) => html`<span class="badge ${d}">${d}</span> `)}</td><td>${when(x.startedAt)}</td><td>${x.lastSeq}</td></tr>`;
}

export function sessionPages(s: Shared): ConsoleRoute[] {
  return [
    {
      method: 'GET', path: /^\/console\/sessions$/, handler: async (c) => {
        // The form sends empty fields; the API's parameters are the filled ones.
        const q = new URLSearchParams();
        for (const k of [...FILTERS, 'limit']) { const v = c.url.searchParams.get(k); if (v) q.set(k, v); }
        const list = await s.sessions.list(c.me.identity, q);
        sendHtml(c.res, 200, page({ title: 'Sessions', identity: c.me.identity, csrf: c.csrf, tab: 'sessions' }, html`<h1>Sessions</h1>${filterForm(q)}
${list.length === 0 ? html`<p class="muted">No session matches.</p>` : html`<table id="sessions"><thead><tr><th>Session</th><th>Connection</th><th>Kind</th><th>User</th><th>State</th><th>Decisions</th><th>Started</th><th>Events</th></tr></thead>
<tbody>${list.map(sessionRow)}</tbody></table>`}`));
      },
    },
    {
      method: 'GET', path: /^\/console\/sessions\/(ses_[0-9a-f]{32})$/, handler: async (c) => {
        const session = await s.sessions.get(c.me.identity, c.params[0]!);
        const events = await eventsOf(s, session.id);
        const verdict = events.length >= MAX_EVENTS ? null : verifySession({
          sessionId: session.id, state: session.state, events, checkpoints: await s.store.checkpoints.list(session.id), keys: s.recording.keys.published as unknown as JWK[],
        });
        const last = events.at(-1)?.seq ?? 0;
        sendHtml(c.res, 200, page({ title: `Session ${session.id}`, identity: c.me.identity, csrf: c.csrf, tab: 'sessions' }, html`<h1>Session <code>${session.id}</code> <span class="badge ${session.state}">${session.state}</span></h1>
<dl class="facts"><dt>Connection</dt><dd>${session.connection} (${session.kind})</dd><dt>User</dt><dd>${session.subject}</dd><dt>Started</dt><dd>${when(session.startedAt)}</dd><dt>Ended</dt><dd>${when(session.endedAt)}${session.endReason ? ` (${session.endReason})` : ''}</dd><dt>Decisions</dt><dd>${session.decisions.join(', ') || '—'}</dd></dl>
${verdict ? badge(verdict) : html`<p class="notice">This session has more than ${MAX_EVENTS} events: the console shows the first ones; verify it with <code>airlock sessions verify ${session.id}</code>.</p>`}
<div class="replay" id="replay"><button type="button" data-action="play">▶ Replay</button> <button type="button" data-action="pause">❚❚ Pause</button>
<label>Speed <select data-action="speed"><option value="0.5">0.5×</option><option value="1" selected>1×</option><option value="2">2×</option><option value="10">10×</option><option value="100">100×</option></select></label>
<span class="clock" data-clock>+0.000s</span> <a href="/console/sessions/${session.id}/export" download>Download (JSON)</a></div>
<ol class="timeline" id="timeline" data-tail="${session.state === 'open' ? `/console/sessions/${session.id}/tail` : ''}" data-last="${last}">${timeline(events)}</ol>`));
      },
    },
    {
      // The whole recording as one JSON document, as `airlock sessions export --format json` writes
      // it ({ session, events, checkpoints }), streamed a page of events at a time.
      method: 'GET', path: /^\/console\/sessions\/(ses_[0-9a-f]{32})\/export$/, handler: async (c) => {
        const session = await s.sessions.get(c.me.identity, c.params[0]!);
        const checkpoints = await s.store.checkpoints.list(session.id);
        c.res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-disposition': `attachment; filename="${session.id}.json"` });
        c.res.write(`{"session":${JSON.stringify(sessionView(session))},"events":[`);
        for (let after = 0, first = true; ;) {
          const batch = await s.store.events.list(session.id, { afterSeq: after, limit: PAGE });
          for (const e of batch) { c.res.write(`${first ? '' : ','}${JSON.stringify(e)}`); first = false; }
          if (batch.length < PAGE) break;
          after = batch.at(-1)!.seq;
        }
        c.res.end(`],"checkpoints":${JSON.stringify(checkpoints)}}\n`);
      },
    },
    {
      // The live tail: events after ?after=<seq> as timeline blocks; X-Session-State says when to stop.
      method: 'GET', path: /^\/console\/sessions\/(ses_[0-9a-f]{32})\/tail$/, handler: async (c) => {
        const session = await s.sessions.get(c.me.identity, c.params[0]!);
        const after = Number(c.url.searchParams.get('after') ?? '0');
        const events = await s.store.events.list(session.id, { afterSeq: Number.isSafeInteger(after) && after >= 0 ? after : 0, limit: PAGE });
        sendHtml(c.res, 200, timeline(events), { 'x-session-state': session.state, 'x-last-seq': String(events.at(-1)?.seq ?? after) });
      },
    },
  ];
}
