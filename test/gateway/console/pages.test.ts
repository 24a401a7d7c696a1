// The console's pages over plain HTTP, signed in through the development provider: what each
// role sees and may change (through the API's own checks), the explain panel, the verification
// badge on a signed session and on a tampered one, and escaping of recorded text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestGateway } from '../../support/gateway.ts';
import { consoleSignIn, csrfOf, startConsoleGateway } from '../../support/console.ts';
import { verifySession } from '../../../gateway/recorder/verify.ts';

let gw: TestGateway & { origin: string };
let alice: string;
let bob: string;

before(async () => {
  gw = await startConsoleGateway();
  const policy = join(gw.dir, 'review-deletes.yaml');
  writeFileSync(policy, ['name: review-deletes', 'rules:', '  - id: review-deletes', '    match: { methods: [DELETE] }', '    action: review', '    reason: demo.delete', '    message: Deletes wait for a reviewer.'].join('\n'));
  const admin = await gw.token('alice', ['admins']);
  for (const [name, groups] of [['orders', ['developers']], ['payroll', ['admins']]] as const) {
    const r = await gw.call('POST', '/api/v1/connections', admin, { name, kind: 'http', agent: 'edge', ...(name === 'payroll' ? { agents: ['spare'] } : {}), target: 'http://127.0.0.1:9/api', groups, policy: { files: [policy] } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  alice = (await consoleSignIn(gw.origin, 'alice')).cookie;
  bob = (await consoleSignIn(gw.origin, 'bob')).cookie;
});
after(() => gw?.close());

const get = async (path: string, cookie: string) => {
  const res = await fetch(`${gw.origin}${path}`, { redirect: 'manual', headers: { cookie } });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') };
};
/** A form POST as the console's own page sends it: its Origin and the sign-in's form token. */
const post = async (path: string, cookie: string, fields: Record<string, string>) => {
  const csrf = csrfOf((await get('/console/reviews', cookie)).text);
  const res = await fetch(`${gw.origin}${path}`, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams({ csrf, ...fields }),
    headers: { cookie, origin: gw.origin, 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') };
};

test('connections: each sees what the API shows them; only admins edit, validated by the registry', async () => {
  const bobs = await get('/console/connections', bob);
  assert.match(bobs.text, /href="\/console\/connections\/orders"/);
  assert.doesNotMatch(bobs.text, /payroll/);
  assert.doesNotMatch(bobs.text, /<h2>Agents<\/h2>/, 'agents are for admins');
  // A connection served by an agent pool names every agent of it; none is connected here.
  assert.match((await get('/console/connections', alice)).text, />payroll<\/a><\/td><td>http<\/td><td>edge, spare<\/td><td><span class="badge offline">offline<\/span>/);
  const hidden = await get('/console/connections/payroll', bob);
  assert.equal(hidden.status, 404);
  assert.match(hidden.text, /GW_CONNECTION_NOT_FOUND/);
  assert.doesNotMatch((await get('/console/connections/orders', bob)).text, /<form method="post" action="\/console\/connections/);

  const forbidden = await post('/console/connections/orders', bob, { version: '1', definition: '{}' });
  assert.equal(forbidden.status, 403);
  assert.match(forbidden.text, /GW_FORBIDDEN.*needs the admin role/s);

  const page = (await get('/console/connections/orders', alice)).text;
  assert.match(page, /<textarea name="definition"/);
  const invalid = await post('/console/connections/orders', alice, { version: '1', definition: JSON.stringify({ kind: 'http', agent: 'edge', target: 'ftp://x' }) });
  assert.equal(invalid.status, 400);
  assert.match(invalid.text, /GW_CONNECTION_INVALID/);
  const notJson = await post('/console/connections/orders', alice, { version: '1', definition: '{nope' });
  assert.equal(notJson.status, 400);
  assert.match(notJson.text, /GW_BAD_REQUEST.*not JSON/s);
  const definition = { ...JSON.parse(page.match(/<textarea name="definition"[^>]*>([^<]*)</)![1]!.replaceAll('&#34;', '"')), groups: ['developers', 'analysts'] };
  const saved = await post('/console/connections/orders', alice, { version: '1', definition: JSON.stringify(definition) });
  assert.equal(saved.status, 303, saved.text);
  assert.deepEqual(gw.gw.connections.get('orders')?.groups, ['developers', 'analysts']);
  assert.equal(gw.gw.connections.get('orders')?.policy.files.length, 1, 'the rest of the definition is kept as shown');
  const stale = await post('/console/connections/orders', alice, { version: '1', definition: JSON.stringify(definition) });
  assert.equal(stale.status, 409);
  assert.match(stale.text, /GW_STORE_CONFLICT/);
});

test('explain: the decision and the rules of the policies in force for a connection', async () => {
  const input = JSON.stringify({ kind: 'http', method: 'DELETE', path: '/customers/42' });
  const res = await post('/console/explain', bob, { connection: 'orders', input });
  assert.equal(res.status, 200);
  assert.match(res.text, /Decision <span class="badge review">review<\/span>/);
  assert.match(res.text, /<code>review-deletes<\/code>.*<code>demo\.delete<\/code>.*Deletes wait for a reviewer\./s);
  const allowed = await post('/console/explain', bob, { connection: 'orders', input: JSON.stringify({ kind: 'http', method: 'GET', path: '/customers' }) });
  assert.doesNotMatch(allowed.text, /badge review">review<\/span><\/h2>/);
  const bad = await post('/console/explain', bob, { connection: 'orders', input: JSON.stringify({ kind: 'http', verb: 'GET' }) });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /GW_BAD_REQUEST.*not one airlock knows: verb/s);
  const notHis = await post('/console/explain', bob, { connection: 'payroll', input });
  assert.equal(notHis.status, 404);
  assert.match(notHis.text, /GW_CONNECTION_NOT_FOUND/);
});

test('a signed session is verified, a tampered one fails, and recorded text is escaped', async () => {
  const rec = gw.gw.recording.recorder;
  const s = await rec.open({ connection: 'orders', kind: 'http', subject: '<img src=x onerror=alert(1)>' });
  await rec.record(s, 'request', { method: 'GET', path: '/customers/<script>alert(1)</script>' }, { email: '[masked:email]' }, 'mask');
  await rec.end(s, 'done');
  const page = await get(`/console/sessions/${s.id}`, alice);
  assert.equal(page.status, 200);
  assert.match(page.text, /✓ Verified<\/b>: 3 events hash-chained, 1 signed checkpoint\(s\), signed through event 3, final state ended/);
  assert.doesNotMatch(page.text, /<img src=x|<script>alert/);
  assert.match(page.text, /&#60;img src=x onerror=alert\(1\)&#62;/);
  assert.match(page.text, /\[masked:email\]/);

  // bob sees neither this session nor its page: the API's rule (not his, not his to review).
  const his = await get(`/console/sessions/${s.id}`, bob);
  assert.equal(his.status, 404);
  assert.match(his.text, /GW_SESSION_NOT_FOUND/);

  // The download is `airlock sessions export --format json`'s document, and verifies on its own.
  assert.match(page.text, new RegExp(`<a href="/console/sessions/${s.id}/export" download>`));
  const res = await fetch(`${gw.origin}/console/sessions/${s.id}/export`, { headers: { cookie: alice } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-disposition'), `attachment; filename="${s.id}.json"`);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const doc = await res.json() as { session: { id: string; state: string }; events: any[]; checkpoints: any[] };
  assert.deepEqual(doc.session, (await gw.call('GET', `/api/v1/sessions/${s.id}`, await gw.token('alice', ['admins']))).body);
  assert.deepEqual(doc.events.map((e) => e.type), ['session.start', 'request', 'session.end']);
  const offline = verifySession({ sessionId: s.id, state: doc.session.state as never, events: doc.events, checkpoints: doc.checkpoints, keys: gw.gw.recording.keys.published as never });
  assert.equal(offline.ok, true);
  assert.equal(offline.signedThrough, 3);
  assert.equal((await get(`/console/sessions/${s.id}/export`, bob)).status, 404, 'bob may not download it either');

  const db = new DatabaseSync(join(gw.dir, 'gw.db'));
  db.prepare("UPDATE events SET payload = replace(payload, 'masked:email', 'bob@example.com') WHERE session_id = ? AND seq = 2").run(s.id);
  db.close();
  const tampered = await get(`/console/sessions/${s.id}`, alice);
  assert.match(tampered.text, /✗ Verification failed<\/b> at event 2: event 2 was altered/);
});

test("a reviewer's own request is shown without the buttons, and deciding it is refused", async () => {
  // Held as the data paths hold one (gateway/reviews/reviews.ts writes this row); alice requested it.
  const id = 'rev_0123456789abcdef0123';
  await gw.gw.store.reviews.create({
    id, connection: 'orders', requester: 'alice', requestHash: 'sha256:x', expiresAt: Date.now() + 600_000,
    detail: { method: 'DELETE', path: '/api/items/9', requesterPerson: 'alice', reasons: [{ rule: 'review-deletes', reason: 'demo.delete', message: 'Deletes wait for a reviewer.' }], headers: { authorization: '[redacted]' }, payload: { note: '<b>bold</b>' } },
  });
  const inbox = (await get('/console/reviews', alice)).text;
  assert.match(inbox, /Your requests <span class="count">1<\/span>.*rev_0123456789abcdef0123.*<span class="badge you">you<\/span>/s);
  assert.match(inbox, /Waiting for you <span class="count">0<\/span>/);
  const page = (await get(`/console/reviews/${id}`, alice)).text;
  assert.doesNotMatch(page, /<form method="post" class="decide"/);
  assert.match(page, /You requested rev_0123456789abcdef0123; someone else must review it\./);
  assert.match(page, /authorization: \[redacted\]/);
  assert.match(page, /&#60;b&#62;bold&#60;\/b&#62;/);
  const refused = await post(`/console/reviews/${id}/decide`, alice, { verdict: 'approve' });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /GW_REVIEW_FORBIDDEN.*someone else must review it/s);
  assert.equal((await gw.gw.store.reviews.get(id))?.status, 'pending');
  // bob sees neither the review nor its page: it is not his, and he is no reviewer.
  const hidden = await get(`/console/reviews/${id}`, bob);
  assert.equal(hidden.status, 404);
  assert.match(hidden.text, /GW_REVIEW_NOT_FOUND/);
});

test('what a reviewer reads cannot be reordered or hidden: bidi overrides and invisible characters are shown escaped', async () => {
  // The requester's agent wrote all of this; the reviewer must see every character that leaves.
  const id = 'rev_0123456789abcdef0456';
  await gw.gw.store.reviews.create({
    id, connection: 'orders', requester: 'bob', requestHash: 'sha256:y', expiresAt: Date.now() + 600_000,
    detail: {
      method: 'DELETE', path: '/api/items/9\u202E', requesterPerson: 'bob', justification: 'routine\u200B\u2028cleanup',
      reasons: [{ rule: 'review-deletes', reason: 'demo.delete', message: 'Deletes wait\u2066 for a reviewer.' }],
      headers: { 'x-note': 'a\uFE0Fb' }, payload: 'DELETE FROM t WHERE id = 1 \u202E; 1=1 --',
    },
  });
  const page = (await get(`/console/reviews/${id}`, alice)).text;
  assert.ok(!/[\u202E\u200B\u2028\u2066\uFE0F]/.test(page), 'no raw bidi, zero-width, separator or variation selector on the page');
  assert.match(page, /DELETE FROM t WHERE id = 1 \\u202e; 1=1 --/);
  assert.match(page, /routine\\u200b\\u2028cleanup/);
  assert.match(page, /x-note: a\\ufe0fb/);
  const inbox = (await get('/console/reviews', alice)).text;
  assert.ok(!/[\u202E\u2066]/.test(inbox), 'nor in the inbox');
});

test('session filters are the API\'s: by time, and a bad value is named', async () => {
  assert.match((await get('/console/sessions', alice)).text, /<table id="sessions">/);
  assert.match((await get('/console/sessions?since=2999-01-01T00:00:00Z', alice)).text, /No session matches\./);
  assert.match((await get('/console/sessions?connection=orders&decision=mask&since=&user=', alice)).text, /<table id="sessions">/, 'empty fields are no filter');
  const bad = await get('/console/sessions?since=yesterday', alice);
  assert.equal(bad.status, 400);
  assert.match(bad.text, /GW_BAD_REQUEST.*since=yesterday is not a date/s);
  const others = await get('/console/sessions?user=alice', bob);
  assert.equal(others.status, 403);
  assert.match(others.text, /GW_FORBIDDEN.*Only auditors and admins list the sessions of other users/s);
});
