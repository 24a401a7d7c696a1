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

let gw: TestGateway & { origin: string };
let alice: string;
let bob: string;

before(async () => {
  gw = await startConsoleGateway();
  const policy = join(gw.dir, 'review-deletes.yaml');
  writeFileSync(policy, ['name: review-deletes', 'rules:', '  - id: review-deletes', '    match: { methods: [DELETE] }', '    action: review', '    reason: demo.delete', '    message: Deletes wait for a reviewer.'].join('\n'));
  const admin = await gw.token('alice', ['admins']);
  for (const [name, groups] of [['orders', ['developers']], ['payroll', ['admins']]] as const) {
    const r = await gw.call('POST', '/api/v1/connections', admin, { name, kind: 'http', agent: 'edge', target: 'http://127.0.0.1:9/api', groups, policy: { files: [policy] } });
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

  const db = new DatabaseSync(join(gw.dir, 'gw.db'));
  db.prepare("UPDATE events SET payload = replace(payload, 'masked:email', 'bob@example.com') WHERE session_id = ? AND seq = 2").run(s.id);
  db.close();
  const tampered = await get(`/console/sessions/${s.id}`, alice);
  assert.match(tampered.text, /✗ Verification failed<\/b> at event 2: event 2 was altered/);
});
