// Human reviews on the HTTP data path, end to end: a held request is released by another user's
// approval; self-approval and outsiders are refused; a request whose wait ran out passes when
// retried after approval (once); a changed request needs a new review; a pending review survives
// a restart; Slack- and Teams-shaped webhooks reach a real local server, retried and recorded;
// every review event is in the session recording with the reviewer's identity.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { eventually, startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let target: Server;
let hooks: Server;
let agent: Running;
let admin: string;
let bob: string; // developer and reviewer: requests, and may review others
let carol: string; // reviewer in dba
let dave: string; // reviewer, not in dba
const deletes: string[] = [];
const webhookBodies: Array<{ path: string; body: any }> = [];
let failSlackOnce = true;

const listen = (s: Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as { port: number }).port}`)));

before(async () => {
  target = createServer((req, res) => {
    req.resume();
    if (req.method === 'DELETE') deletes.push(req.url!);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ done: req.method, url: req.url }));
  });
  const url = await listen(target);
  hooks = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/slack' && failSlackOnce) {
        failSlackOnce = false;
        res.writeHead(500).end('try again');
        return;
      }
      webhookBodies.push({ path: req.url!, body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200).end('ok');
    });
  });
  const hooksUrl = await listen(hooks);
  t = await startTestGateway({
    config: {
      reviews: { pollInterval: 0.05, webhookAttempts: 3, webhooks: [{ type: 'slack', url: `${hooksUrl}/slack` }, { type: 'teams', url: `${hooksUrl}/teams` }, { type: 'json', url: `${hooksUrl}/json` }] },
    },
  });
  admin = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers', 'reviewers', 'dba']);
  carol = await t.token('carol', ['reviewers', 'dba']);
  dave = await t.token('dave', ['reviewers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'review-deletes.yaml');
  writeFileSync(policy, [
    'name: review-deletes',
    'rules:',
    '  - id: review-deletes',
    '    match: { methods: [DELETE] }',
    '    action: review',
    '    reason: demo.delete',
    '    message: Deletes wait for a DBA.',
    '    review: { reviewers: [dba], wait: 2, validity: 600 }',
  ].join('\n'));
  const r = await t.call('POST', '/api/v1/connections', admin, { name: 'orders', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await new Promise<void>((r) => target.close(() => r()));
  await new Promise<void>((r) => hooks.close(() => r()));
});

const del = (path: string, token = bob) => fetch(`${t.gw.url}/proxy/orders${path}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
const pending = async () => (await t.call('GET', '/api/v1/reviews?status=pending', admin)).body.reviews as Array<{ id: string; detail: { path: string } }>;
const reviewFor = (path: string) => eventually(async () => (await pending()).find((r) => r.detail.path === `/api${path}`), 5000, `a pending review of ${path}`);

test('a held request is released by another reviewer; self-approval and outsiders are refused', async () => {
  const held = del('/orders/1');
  const review = await reviewFor('/orders/1');
  assert.match(review.id, /^rev_[0-9a-f]{20}$/);

  const self = await t.call('POST', `/api/v1/reviews/${review.id}/approve`, bob, {});
  assert.equal(self.status, 403);
  assert.equal(self.body.error.code, 'GW_REVIEW_FORBIDDEN');
  assert.equal(self.body.error.message, `You requested ${review.id}; someone else must review it.`);
  const outsider = await t.call('POST', `/api/v1/reviews/${review.id}/approve`, dave, {});
  assert.equal(outsider.body.error.code, 'GW_REVIEW_FORBIDDEN');
  assert.equal(outsider.body.error.message, `Review ${review.id} must be decided by a member of dba.`);
  const user = await t.call('POST', `/api/v1/reviews/${review.id}/approve`, await t.token('erin', ['developers']), {});
  assert.equal(user.body.error.code, 'GW_FORBIDDEN');
  assert.deepEqual(deletes, [], 'nothing forwarded while held');

  const ok = await t.call('POST', `/api/v1/reviews/${review.id}/approve`, carol, { reason: 'ticket 42' });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.status, 'approved');
  const res = await held;
  assert.equal(res.status, 200);
  assert.deepEqual(deletes, ['/api/orders/1']);

  const again = await t.call('POST', `/api/v1/reviews/${review.id}/deny`, carol, {});
  assert.equal(again.body.error.code, 'GW_REVIEW_FORBIDDEN');
  assert.equal(again.body.error.message, `Review ${review.id} is already approved.`);
});

test('a wait that runs out names the review; the identical retry after approval passes once; a changed request needs a new review', async () => {
  const first = await del('/orders/2');
  assert.equal(first.status, 409);
  const body = await first.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_REVIEW_PENDING');
  const id = first.headers.get('x-airlock-review')!;
  assert.equal(first.headers.get('retry-after'), '30');
  assert.match(body.error.message, new RegExp(`^The request waits for review ${id} \\(1 approval\\(s\\) needed from dba\\)`));

  assert.equal((await t.call('POST', `/api/v1/reviews/${id}/approve`, carol, {})).status, 200);
  const changed = del('/orders/3'); // another argument: a new review, held
  const changedReview = await reviewFor('/orders/3');
  assert.notEqual(changedReview.id, id);
  const retry = await del('/orders/2');
  assert.equal(retry.status, 200, 'released by the approval, without a new review');
  assert.equal(deletes.filter((d) => d === '/api/orders/2').length, 1);

  const deny = await t.call('POST', `/api/v1/reviews/${changedReview.id}/deny`, carol, { reason: 'not today' });
  assert.equal(deny.body.status, 'denied');
  const refused = await changed;
  assert.equal(refused.status, 403);
  const refusal = await refused.json() as { error: { code: string; message: string } };
  assert.equal(refusal.error.code, 'GW_REVIEW_DENIED');
  assert.equal(refusal.error.message, `Review ${changedReview.id} of this request was denied by carol: not today.`);

  const third = del('/orders/2'); // the approval was single use: a new review
  const next = await reviewFor('/orders/2');
  assert.notEqual(next.id, id);
  await t.call('POST', `/api/v1/reviews/${next.id}/deny`, carol, {});
  assert.equal((await third).status, 403);
});

test('a pending review survives a restart and its approval releases the retried request', async () => {
  const first = await del('/orders/9');
  assert.equal(first.status, 409);
  const id = first.headers.get('x-airlock-review')!;
  assert.match(id, /^rev_/);
  await t.restart();
  await t.gw.agents.waitOnline('edge', 10_000);
  const after = await t.call('GET', `/api/v1/reviews/${id}`, admin);
  assert.equal(after.body.status, 'pending');
  assert.equal((await t.call('POST', `/api/v1/reviews/${id}/approve`, carol, {})).status, 200);
  const retry = await del('/orders/9');
  assert.equal(retry.status, 200);
  assert.ok(deletes.includes('/api/orders/9'));
});

test('reviewers are notified by Slack-, Teams- and JSON-shaped webhooks, retried, every delivery recorded', async () => {
  const reviews = (await t.call('GET', '/api/v1/reviews', admin)).body.reviews as Array<{ id: string }>;
  const some = reviews.at(-1)!; // the first review of this file
  const slack = await eventually(() => webhookBodies.find((w) => w.path === '/slack' && w.body.text.includes(some.id)), 10_000, 'the Slack delivery');
  assert.equal(slack.body.blocks[0].type, 'header');
  assert.ok(slack.body.blocks.some((b: { type: string }) => b.type === 'actions'));
  // The button opens the review's page in the web console.
  assert.match(JSON.stringify(slack.body), /"url":"http:\/\/airlock\.test\/console\/reviews\/rev_[0-9a-f]{20}"/);
  const teams = webhookBodies.find((w) => w.path === '/teams' && JSON.stringify(w.body).includes(some.id))!;
  assert.equal(teams.body.type, 'message');
  assert.equal(teams.body.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
  assert.equal(teams.body.attachments[0].content.type, 'AdaptiveCard');
  assert.match(teams.body.attachments[0].content.actions[0].url, /^http:\/\/airlock\.test\/console\/reviews\/rev_[0-9a-f]{20}$/);
  const json = webhookBodies.find((w) => w.path === '/json' && w.body.review?.id === some.id)!;
  assert.equal(json.body.event, 'review.requested');
  const detail = await eventually(async () => {
    const r = await t.call('GET', `/api/v1/reviews/${some.id}`, admin);
    return r.body.deliveries.filter((d: { channel: string }) => d.channel === 'slack').length >= 2 ? r : undefined;
  }, 10_000, 'two Slack attempts recorded');
  const slackAttempts = detail.body.deliveries.filter((d: { channel: string }) => d.channel === 'slack');
  assert.deepEqual(slackAttempts.map((d: { attempt: number; ok: boolean; status: number }) => [d.attempt, d.ok, d.status]), [[1, false, 500], [2, true, 200]]);
  assert.ok(!JSON.stringify(detail.body.deliveries).includes('/slack'), 'the webhook path (its secret) is never recorded');
});

test('review events are in the session recording with the reviewer identity', async () => {
  const sessions = (await t.call('GET', '/api/v1/sessions?connection=orders&decision=review', admin)).body.sessions as Array<{ id: string }>;
  assert.ok(sessions.length > 0);
  const types: string[] = [];
  let approvedBy: unknown;
  for (const s of sessions) {
    const events = (await t.call('GET', `/api/v1/sessions/${s.id}/events`, admin)).body.events as Array<{ type: string; payload: { by?: string } }>;
    types.push(...events.map((e) => e.type));
    approvedBy ??= events.find((e) => e.type === 'review.approved')?.payload.by;
  }
  for (const type of ['review.requested', 'review.approved', 'review.denied', 'review.timeout', 'review.released']) assert.ok(types.includes(type), `${type} recorded`);
  assert.equal(approvedBy, 'carol');
});

test('an approval is given back when the released request cannot reach its agent', async () => {
  const policy = join(t.dir, 'review-deletes.yaml');
  const r = await t.call('POST', '/api/v1/connections', admin, { name: 'offline', kind: 'http', agent: 'ghost', target: 'http://127.0.0.1:9/api', groups: ['developers'], policy: { files: [policy] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const send = () => fetch(`${t.gw.url}/proxy/offline/orders/5`, { method: 'DELETE', headers: { authorization: `Bearer ${bob}` } });
  const held = send();
  const review = await eventually(async () => (await pending()).find((x) => x.detail.path === '/api/orders/5'), 5000, 'the review');
  assert.equal((await t.call('POST', `/api/v1/reviews/${review.id}/approve`, carol, {})).status, 200);
  const first = await held;
  assert.equal(first.status, 503);
  assert.equal(((await first.json()) as { error: { code: string } }).error.code, 'GW_AGENT_OFFLINE');
  assert.equal((await t.gw.store.reviews.get(review.id))?.usesLeft, 1, 'the use is given back');
  const retry = await send();
  assert.equal(retry.status, 503, 'the retry is released by the same approval (and the agent is still offline)');
  assert.equal((await pending()).filter((x) => x.detail.path === '/api/orders/5').length, 0, 'no new review');
});
