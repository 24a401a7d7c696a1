// Reviews count people and show what they approve, on a real gateway, agent and target, with the
// development provider's tokens and real API keys: the requester cannot approve through a reviewer
// key they minted; two keys of one person count once; service keys decide only where a rule names
// them; an approval releases only the request exactly as approved (query and headers included);
// reviewers see headers (credentials redacted), the body (PII redacted) and SQL in full, and may
// read the requester's session of a review they are asked to decide, not other sessions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Running } from '../../support/process.ts';
import { addConnections, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let target: Server;
let agent: Running;
let alice: string; // admin and developer: requests, mints keys
let bob: string; // developer: requests
let carol: string; // admin and reviewer
let dave: string; // reviewer
let erin: string; // developer, never reviewed
const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];

const openapi = {
  openapi: '3.0.3',
  info: { title: 'Reports', version: '1' },
  paths: {
    '/query': {
      post: {
        operationId: 'runQuery', summary: 'Run a SQL query against the reporting database',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['sql'], properties: { sql: { type: 'string', description: 'SQL statement' }, note: { type: 'string', description: 'a note for the record' } } } } } },
        responses: { 200: { description: 'rows' } },
      },
    },
  },
};

before(async () => {
  target = createServer((req, res) => {
    req.resume();
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ done: req.method }));
  });
  const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway({ config: { reviews: { pollInterval: 0.05 } } });
  alice = await t.token('alice', ['admins', 'developers']);
  bob = await t.token('bob', ['developers']);
  carol = await t.token('carol', ['admins', 'reviewers']);
  dave = await t.token('dave', ['reviewers']);
  erin = await t.token('erin', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = (name: string, rules: string[]) => {
    const file = join(t.dir, `${name}.yaml`);
    writeFileSync(file, [`name: ${name}`, 'rules:', ...rules, ''].join('\n'));
    return { files: [file] };
  };
  await addConnections(t, alice, [
    { name: 'orders', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: policy('one-reviewer', [
      '  - { id: deletes, match: { methods: [DELETE, POST] }, action: review, reason: demo.write, message: Writes wait for a reviewer., review: { wait: 1, validity: 600 } }',
    ]) },
    { name: 'ledger', kind: 'http', agent: 'edge', target: `${url}/ledger`, groups: ['developers'], policy: policy('two-people', [
      '  - { id: two, match: { methods: [DELETE] }, action: review, reason: ledger.delete, review: { approvals: 2, wait: 1, serviceReviewers: [deploy-bot] } }',
    ]) },
    { name: 'dbaonly', kind: 'http', agent: 'edge', target: `${url}/dba`, groups: ['developers'], policy: policy('dba-only', [
      '  - { id: dba, match: { methods: [DELETE] }, action: review, reason: dba.delete, review: { reviewers: [dba], wait: 1 } }',
    ]) },
    { name: 'reports', kind: 'http', agent: 'edge', target: `${url}/reports`, groups: ['developers'], openapi, policy: policy('query-review', [
      '  - { id: queries, match: { kinds: [mcp], tools: [runQuery], directions: [request] }, action: review, reason: reports.query, review: { wait: 1 } }',
    ]) },
  ]);
});
after(() => stopAll(agent, t, target));

/** One request through /proxy; a held one answers 409 with its review id. */
async function send(path: string, token: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await fetch(`${t.gw.url}/proxy/${path}`, { method: init.method ?? 'DELETE', headers: { authorization: `Bearer ${token}`, ...init.headers }, ...(init.body === undefined ? {} : { body: init.body }) });
  const body = await res.json() as { error?: { code: string; message: string } };
  return { status: res.status, review: res.headers.get('x-airlock-review'), body };
}

async function mint(token: string, body: Record<string, unknown>): Promise<{ id: string; key: string; owner: string; kind: string }> {
  const r = await t.call('POST', '/api/v1/api-keys', token, { ttlSeconds: 3600, ...body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { id: string; key: string; owner: string; kind: string };
}

const decide = (id: string, token: string, verb: 'approve' | 'deny' = 'approve') => t.call('POST', `/api/v1/reviews/${id}/${verb}`, token, {});

test('the requester cannot approve their own request through a reviewer key they minted, nor through any key of theirs', async () => {
  const reviewerKey = await mint(alice, { name: 'alice-reviews', roles: ['reviewer'] });
  assert.equal(reviewerKey.owner, 'alice');
  assert.equal(reviewerKey.kind, 'personal');
  const held = await send('orders/orders/1', alice);
  assert.equal(held.status, 409);
  assert.equal(held.body.error?.code, 'GW_REVIEW_PENDING');
  const id = held.review!;

  const self = await decide(id, reviewerKey.key);
  assert.equal(self.status, 403);
  assert.equal(self.body.error.code, 'GW_REVIEW_FORBIDDEN');
  assert.equal(self.body.error.message, `You requested ${id} as alice (asked through alice, deciding through apikey:${reviewerKey.id}); someone else must review it.`);

  // The other way round: asked through a key of hers, decided by herself.
  const userKey = await mint(alice, { name: 'alice-script', roles: ['user'], connections: ['orders'] });
  const viaKey = await send('orders/orders/2', userKey.key);
  assert.equal(viaKey.status, 409);
  const mine = await decide(viaKey.review!, alice);
  assert.equal(mine.body.error.code, 'GW_REVIEW_FORBIDDEN');
  assert.equal(mine.body.error.message, `You requested ${viaKey.review} as alice (asked through apikey:${userKey.id}, deciding through alice); someone else must review it.`);
  assert.equal((await decide(viaKey.review!, reviewerKey.key)).body.error.code, 'GW_REVIEW_FORBIDDEN');
  assert.equal((await t.call('GET', `/api/v1/reviews/${viaKey.review}`, alice)).body.requesterPerson, 'alice');

  assert.equal((await decide(id, carol)).body.status, 'approved', 'another person decides it');
  assert.equal((await send('orders/orders/1', alice)).status, 200);
});

test('two keys of one person count once toward a two-approval rule', async () => {
  const one = await mint(carol, { name: 'carol-1', roles: ['reviewer'] });
  const two = await mint(carol, { name: 'carol-2', roles: ['reviewer'] });
  const held = await send('ledger/entries/1', bob);
  assert.equal(held.status, 409);
  const id = held.review!;

  const first = await decide(id, one.key);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.status, 'pending');
  assert.deepEqual(first.body.votes.map((v: { reviewer: string; credential: string | null }) => [v.reviewer, v.credential]), [['carol', `apikey:${one.id}`]]);

  const again = await decide(id, two.key);
  assert.equal(again.status, 403);
  assert.equal(again.body.error.code, 'GW_REVIEW_FORBIDDEN');
  assert.equal(again.body.error.message, `carol has already voted on ${id} (apikey:${two.id} acts for them): each person votes once, whatever the credential.`);
  const herself = await decide(id, carol);
  assert.equal(herself.body.error.message, `carol has already voted on ${id}: each person votes once, whatever the credential.`);
  assert.equal((await send('ledger/entries/1', bob)).status, 409, 'one person is not two approvals');

  assert.equal((await decide(id, dave)).body.status, 'approved');
  assert.equal((await send('ledger/entries/1', bob)).status, 200);
});

test('a service key may request but decides only where the rule names it', async () => {
  const deploy = await mint(alice, { name: 'deploy-bot', roles: ['reviewer', 'user'], connections: ['ledger', 'orders'], kind: 'service' });
  assert.equal(deploy.owner, `apikey:${deploy.id}`);
  const other = await mint(alice, { name: 'other-bot', roles: ['reviewer'], kind: 'service' });

  const onOrders = await send('orders/orders/5', bob);
  for (const key of [other, deploy]) {
    const refused = await decide(onOrders.review!, key.key);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'GW_REVIEW_FORBIDDEN');
    assert.equal(refused.body.error.message, `apikey:${key.id} is a service identity: it may request reviews, but decides only those whose rule names it (review.serviceReviewers).`);
  }

  const onLedger = await send('ledger/entries/5', bob);
  assert.equal((await decide(onLedger.review!, other.key)).body.error.code, 'GW_REVIEW_FORBIDDEN');
  const named = await decide(onLedger.review!, deploy.key);
  assert.equal(named.status, 200, JSON.stringify(named.body));
  assert.deepEqual(named.body.votes.map((v: { reviewer: string; credential: string }) => [v.reviewer, v.credential]), [['alice', `apikey:${deploy.id}`]], 'a service key votes as the person who made it');
  assert.equal((await decide(onLedger.review!, alice)).body.error.message, `alice has already voted on ${onLedger.review}: each person votes once, whatever the credential.`);

  const asked = await send('ledger/entries/6', deploy.key);
  assert.equal(asked.status, 409, 'a service key requests like anyone');
  assert.equal((await decide(asked.review!, deploy.key)).body.error.message, `You requested ${asked.review}; someone else must review it.`);
  assert.equal((await decide(asked.review!, alice)).body.error.message,
    `You requested ${asked.review} as alice (asked through apikey:${deploy.id}, deciding through alice); someone else must review it.`, 'nor does its maker decide what it asked');
  // A service key named like the one the rule names, made by the requester, decides nothing of hers.
  const lookalike = await mint(alice, { name: 'deploy-bot', roles: ['reviewer'], kind: 'service' });
  const hers = await send('ledger/entries/8', alice);
  assert.equal((await decide(hers.review!, lookalike.key)).body.error.message,
    `You requested ${hers.review} as alice (asked through alice, deciding through apikey:${lookalike.id}); someone else must review it.`);
});

test('an approval releases only the request as approved: a different header or query needs its own review', async () => {
  const original = { 'x-tenant': 'acme', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
  const held = await send('orders/orders/7', bob, { headers: original });
  assert.equal(held.status, 409);
  assert.equal((await decide(held.review!, carol)).body.status, 'approved');

  const otherTenant = await send('orders/orders/7', bob, { headers: { ...original, 'x-tenant': 'evil' } });
  assert.equal(otherTenant.status, 409, 'another X-Tenant is another request');
  assert.notEqual(otherTenant.review, held.review);
  const extraHeader = await send('orders/orders/7', bob, { headers: { ...original, 'x-cascade': 'all' } });
  assert.equal(extraHeader.status, 409, 'an added header is another request');
  const otherQuery = await send('orders/orders/7?cascade=true', bob, { headers: original });
  assert.equal(otherQuery.status, 409, 'another query is another request');
  assert.notEqual(otherQuery.review, held.review);
  assert.ok(!seen.some((s) => s.url.startsWith('/api/orders/7')), 'nothing of these reached the target');

  // Trace context is volatile (documented): a new traceparent is the same request.
  const retry = await send('orders/orders/7', bob, { headers: { ...original, traceparent: '00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01' } });
  assert.equal(retry.status, 200, JSON.stringify(retry.body));
  const forwarded = seen.filter((s) => s.url.startsWith('/api/orders/7'));
  assert.deepEqual(forwarded.map((s) => [s.method, s.url, s.headers['x-tenant']]), [['DELETE', '/api/orders/7', 'acme']]);
});

test('a review shows the request as it would leave: headers with credentials redacted, the body with PII redacted, the session', async () => {
  const body = JSON.stringify({ note: 'call jane.doe@example.com', card: '4111 1111 1111 1111', amount: 12 });
  const held = await send('orders/notes?ticket=42', bob, {
    method: 'POST', body,
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-live-5f2a9c', cookie: 'sid=abc123', 'x-tenant': 'acme' },
  });
  assert.equal(held.status, 409, JSON.stringify(held.body));
  const shown = await t.call('GET', `/api/v1/reviews/${held.review}`, dave);
  assert.equal(shown.status, 200, JSON.stringify(shown.body));
  const d = shown.body.detail;
  assert.equal(d.method, 'POST');
  assert.equal(d.path, '/api/notes?ticket=42');
  assert.equal(d.headers['x-tenant'], 'acme');
  assert.equal(d.headers['x-api-key'], '[redacted]');
  assert.equal(d.headers.cookie, '[redacted]');
  assert.equal(d.headers['content-type'], 'application/json');
  assert.ok(!('authorization' in d.headers) && !('x-request-id' in d.headers), 'the caller\'s credential never leaves; volatile headers are not shown');
  assert.equal(d.payload.amount, 12);
  assert.match(d.payload.note, /^call \[[A-Z_]+\]$/);
  assert.match(d.payload.card, /^\[[A-Z_]+\]$/);
  const text = JSON.stringify(shown.body);
  for (const secret of ['sk-live-5f2a9c', 'abc123', 'jane.doe@example.com', '4111 1111 1111 1111']) assert.ok(!text.includes(secret), `${secret} is not shown`);
  assert.deepEqual(d.reasons, [{ rule: 'deletes', reason: 'demo.write', message: 'Writes wait for a reviewer.' }]);
  assert.ok(d.findings.some((f: { kind: string }) => f.kind.startsWith('pii.')), 'the findings are listed');
  assert.match(shown.body.session.id, /^ses_[0-9a-f]{32}$/);
  assert.equal(shown.body.session.url, `/api/v1/sessions/${shown.body.session.id}`);
  const listed = ((await t.call('GET', '/api/v1/reviews?status=pending', dave)).body.reviews as Array<{ id: string; detail: Record<string, unknown> }>).find((r) => r.id === held.review)!;
  assert.equal(listed.detail.path, '/api/notes?ticket=42');
  assert.ok(!('payload' in listed.detail) && !('headers' in listed.detail), 'a list carries summaries; the request comes with GET <id>');
});

test('MCP arguments are shown with SQL in full and PII elsewhere redacted, with the justification', async () => {
  const transport = new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/reports`), { requestInit: { headers: { authorization: `Bearer ${bob}` } } });
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  await client.connect(transport);
  const sql = "DELETE FROM customers WHERE email = 'jane.doe@example.com'";
  const result = await client.callTool({ name: 'runQuery', arguments: { body: { sql, note: 'asked by john.roe@example.com' }, _justification: 'GDPR erasure, ticket 7' } });
  await client.close();
  assert.equal(result.isError, true);
  const id = /review (rev_[0-9a-f]{20})/.exec(JSON.stringify(result.content))?.[1];
  assert.ok(id, JSON.stringify(result.content));
  const shown = await t.call('GET', `/api/v1/reviews/${id}`, dave);
  const d = shown.body.detail;
  assert.equal(d.tool, 'runQuery');
  assert.equal(d.justification, 'GDPR erasure, ticket 7');
  const args = JSON.stringify(d.payload);
  assert.ok(args.includes(JSON.stringify(sql).slice(1, -1)), `the SQL in full: ${args}`);
  assert.ok(!args.includes('john.roe@example.com'), `the note's address is redacted: ${args}`);
  assert.match(args, /asked by \[[A-Z_]+\]/);
});

test('a reviewer reads the requester\'s session of a review they may decide, and no other', async () => {
  const held = await send('orders/orders/11', bob);
  const review = (await t.call('GET', `/api/v1/reviews/${held.review}`, dave)).body;
  const session = review.session.id as string;
  const read = await t.call('GET', `/api/v1/sessions/${session}`, dave);
  assert.equal(read.status, 200, JSON.stringify(read.body));
  assert.equal(read.body.subject, 'bob');
  const events = await t.call('GET', `/api/v1/sessions/${session}/events`, dave);
  assert.equal(events.status, 200);
  assert.ok(events.body.events.some((e: { type: string }) => e.type === 'review.requested'));

  // A review only the dba group may decide: dave is not asked, so its session stays hidden.
  const dbaHeld = await send('dbaonly/rows/1', erin);
  const dbaSession = (await t.call('GET', `/api/v1/reviews/${dbaHeld.review}`, carol)).body.session.id as string;
  const hidden = await t.call('GET', `/api/v1/sessions/${dbaSession}`, dave);
  assert.equal(hidden.status, 404);
  assert.equal(hidden.body.error.code, 'GW_SESSION_NOT_FOUND');
  assert.equal(hidden.body.error.message, `There is no session ${JSON.stringify(dbaSession)} you may see; list yours with \`airlock sessions list\`.`);

  // A session without any review: erin's plain read.
  assert.equal((await send('orders/orders/12', erin, { method: 'GET' })).status, 200);
  const erins = (await t.call('GET', '/api/v1/sessions?user=erin&connection=orders', carol)).body.sessions as Array<{ id: string }>;
  assert.equal(erins.length, 1);
  assert.equal((await t.call('GET', `/api/v1/sessions/${erins[0]!.id}`, dave)).status, 404);
  assert.equal((await t.call('GET', `/api/v1/sessions/${session}`, erin)).status, 404, 'a user does not read another\'s session');
});
