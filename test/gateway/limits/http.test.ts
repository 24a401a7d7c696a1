// Limits declared in policy, end to end on the HTTP path: a real gateway, a real agent process and
// a real target. A scraper paging through customers is stopped at its egress budget (counted from
// the masked answers) with 429 GW_LIMIT_EXCEEDED and Retry-After, and stays stopped across a
// restart; a rate limit's Retry-After is honest (a client that waits gets through); a rule sees
// `usage.<limit>` in CEL; every hit is a recorded decision naming the limit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { loadPolicies, readPolicyFile } from '../../../gateway/policy/load.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { AIRLOCK, run } from '../../support/process.ts';

let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
let hits = 0;
let reloaded: string;
let alice: string;

before(async () => {
  target = createServer((req, res) => {
    hits++;
    const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '0');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ page, customers: [0, 1].map((i) => ({ name: `c${page}-${i}`, email: `c${page}-${i}@example.com`, visits: i })) }));
  });
  const targetUrl = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway({ config: { reviews: { pollInterval: 0.05 } } });
  alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [targetUrl] });
  /** A policy file in the gateway's directory, one YAML line per argument. */
  const file = (name: string, ...lines: string[]) => { const f = join(t.dir, `${name}.yaml`); writeFileSync(f, `${lines.join('\n')}\n`); return f; };
  const files = {
    bulk: file('bulk', 'name: bulk', 'limits:', '  - { name: exports, kind: cost, max: 1, action: review, review: { wait: 1 }, message: "One export a day without a review." }'),
    reloaded: reloaded = file('reloaded', 'name: reloaded', 'limits:', '  - { name: tries, kind: cost, max: 1 }'),
    scrape: file('scrape', 'name: scrape-budget',
      'rules:', '  - { id: mask-pii, match: { directions: [response], findings: ["pii.*"] }, action: mask, reason: pii.mask }',
      'limits:', '  - { name: customer_records, kind: egress, count: records, max: 4, window: 3600, block: 1, message: "At most 4 customer records an hour." }'),
    rated: file('rated', 'name: rated', 'limits:', '  - { name: calls, kind: rate, rate: 1, burst: 2 }'),
    paged: file('paged', 'name: paged',
      'rules:', '  - { id: too-many-pages, when: "usage.pages.used > 2", action: deny, reason: demo.too_many_pages, message: "Three pages is enough." }',
      'limits:', '  - { name: pages, kind: cost, max: 1000, costs: [{ match: { paths: ["/api/export*"] }, cost: 50 }] }'),
  };
  // One connection per policy file, named after it.
  await addConnections(t, alice, Object.entries(files).map(([name, f]) => (
    { name, kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], policy: { files: [f] } })));
});
after(() => stopAll(agent, t, target));

async function get(path: string, token = bob) {
  const res = await fetch(`${t.gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), review: res.headers.get('x-airlock-review'), text, json: () => JSON.parse(text) as Record<string, any> };
}

async function events(connection: string): Promise<Array<{ type: string; payload: Record<string, any> }>> {
  const out: Array<{ type: string; payload: Record<string, any> }> = [];
  for (const s of await t.gw.store.sessions.list({ connection, limit: 1000 })) {
    for (const e of await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 })) out.push({ type: e.type, payload: e.payload as Record<string, any> });
  }
  return out;
}

test('a scraping loop is stopped at its egress budget, counted from masked answers, and stays stopped across a restart', async () => {
  const before = hits;
  const pages: Array<Awaited<ReturnType<typeof get>>> = [];
  for (let page = 1; page <= 10; page++) {
    const r = await get(`/proxy/scrape/customers?page=${page}`);
    pages.push(r);
    if (r.status !== 200) break;
  }
  // Two records a page, four allowed: pages 1 and 2 pass (masked), page 3 is refused before the target.
  assert.deepEqual(pages.map((p) => p.status), [200, 200, 429]);
  assert.equal(pages[0]!.json().customers[0].email, '[EMAIL_ADDRESS]', 'the values counted were masked');
  assert.equal(hits - before, 2, 'the refused page never reached the target');
  const refused = pages[2]!;
  assert.equal(refused.json().error.code, 'GW_LIMIT_EXCEEDED');
  assert.match(refused.json().error.message, /^The request on connection scrape is over limit customer_records: At most 4 customer records an hour\. Retry after \d+ s\.$/);
  const wait = Number(refused.retryAfter);
  assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 3600, `Retry-After ${refused.retryAfter}`);

  const decisions = (await events('scrape')).filter((e) => e.type === 'decision' && e.payload.limits !== undefined);
  assert.equal(decisions.length, 1);
  assert.equal(decisions[0]!.payload.decision, 'deny');
  assert.deepEqual(decisions[0]!.payload.limits, [{ limit: 'customer_records', kind: 'egress', action: 'deny', used: 4, max: 4, retryAfter: wait }]);
  assert.equal(decisions[0]!.payload.reasons[0].reason, 'limit.exceeded');

  // The counter is in the store: a restarted gateway still refuses; another person has their own budget.
  await t.restart();
  await eventually(() => t.gw.agents.presence('edge').online || undefined, 15_000, 'agent back online');
  const again = await get('/proxy/scrape/customers?page=3');
  assert.equal(again.status, 429, again.text);
  assert.equal(again.json().error.code, 'GW_LIMIT_EXCEEDED');
  const carol = await get('/proxy/scrape/customers?page=1', await t.token('carol', ['developers']));
  assert.equal(carol.status, 200, carol.text);
});

test('a rate limit answers 429 with Retry-After, and a client that honours it gets through', async () => {
  assert.equal((await get('/proxy/rated/a')).status, 200);
  assert.equal((await get('/proxy/rated/b')).status, 200);
  const third = await get('/proxy/rated/c');
  assert.equal(third.status, 429, third.text);
  assert.equal(third.json().error.code, 'GW_LIMIT_EXCEEDED');
  // The bucket has a token again in 1 s; the shared window (2 s, aligned to the epoch: the burst) may end later.
  const [, wait] = /over limit calls: Limit calls \(1 requests per second, burst 2\) is used up \(2 of 2\)\. Retry after ([12]) s\.$/.exec(third.json().error.message) ?? [];
  assert.ok(wait, third.json().error.message);
  assert.equal(third.retryAfter, wait);
  await new Promise((r) => setTimeout(r, Number(third.retryAfter) * 1000));
  const later = await get('/proxy/rated/c');
  assert.equal(later.status, 200, later.text);
});

test('a rule sees usage.<limit> in CEL, and a cost rule weighs an export more than a page', async () => {
  const carol = await t.token('carol', ['developers']);
  assert.equal((await get('/proxy/paged/customers', carol)).status, 200);
  assert.equal((await get('/proxy/paged/customers', carol)).status, 200);
  const third = await get('/proxy/paged/customers', carol);
  assert.equal(third.status, 403, third.text);
  assert.equal(third.json().error.code, 'GW_POLICY_DENIED');
  assert.match(third.json().error.message, /\(demo\.too_many_pages\): Three pages is enough\.$/);
  // An export costs 50: a fresh caller's first export already reads 50 used.
  const dave = await t.token('dave', ['developers']);
  const exported = await get('/proxy/paged/export', dave);
  assert.equal(exported.status, 403, 'usage.pages.used is 50 after one export');
});

test('an invalid limit fails policy check naming the file, the line and the field', () => {
  const bad = join(t.dir, 'bad-limit.yaml');
  writeFileSync(bad, 'name: bad\nlimits:\n  - name: calls\n    kind: rate\n    burst: 3\n');
  assert.throws(() => readPolicyFile(bad), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_POLICY_INVALID');
    assert.match(err.message, /^invalid policy: .*bad-limit\.yaml:3:5: limits\.0\.rate: a rate limit needs rate \(requests per second\)$/);
    return true;
  });
});

test('action delay needs its bounds, and a rule reading usage of a limit not in force fails to load, naming the line, the field and the closest limit', () => {
  const delay = join(t.dir, 'bad-delay.yaml');
  writeFileSync(delay, 'name: bad\nlimits:\n  - name: calls\n    kind: rate\n    rate: 2\n    action: delay\n');
  assert.throws(() => readPolicyFile(delay), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_POLICY_INVALID');
    assert.match(err.message, /^invalid policy: .*bad-delay\.yaml:3:5: limits\.0\.delay: action delay needs delay: \{ maxWait: seconds \} \(and optionally maxQueue\)$/);
    return true;
  });
  writeFileSync(delay, 'name: bad\nlimits:\n  - { name: calls, kind: rate, rate: 2, action: delay, delay: { maxWait: 301 } }\n');
  assert.throws(() => readPolicyFile(delay), /bad-delay\.yaml:3:\d+: limits\.0\.delay\.maxWait: Too big: expected number to be <=300$/);

  const typo = join(t.dir, 'typo.yaml');
  writeFileSync(typo, [
    'name: typo',
    'rules:',
    '  - id: after-many',
    '    action: mask',
    '    reason: bulk.mask',
    '    when: "usage.recrods.used > 500 && identity.sub != \'usage.nothing\'"',
    'limits:',
    '  - { name: records, kind: egress, max: 1000 }',
    '  - { name: pages, kind: cost, max: 10 }',
    '',
  ].join('\n'));
  assert.throws(() => loadPolicies({ files: [typo] }), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_POLICY_INVALID');
    assert.match(err.message, /typo\.yaml:6: rules\.0\.when \(after-many\): usage\.recrods names no limit in force \(did you mean usage\.records\?\)$/);
    return true;
  });
  // Far from every name: the names in force are listed. usage["…"] is read too; a string that only mentions usage is not.
  writeFileSync(typo, 'name: typo\nrules:\n  - { id: r, action: deny, reason: x.y, when: \'usage["exports"].used > 1\' }\nlimits:\n  - { name: records, kind: egress, max: 1000 }\n');
  assert.throws(() => loadPolicies({ files: [typo] }), /typo\.yaml:3: rules\.0\.when \(r\): usage\.exports names no limit in force \(the limits in force are records\)$/);
  // The same rule with the limit declared in another file of the set loads; checked alone (partial) too.
  const other = join(t.dir, 'exports.yaml');
  writeFileSync(other, 'name: exports\nlimits:\n  - { name: exports, kind: cost, max: 5 }\n');
  writeFileSync(typo, 'name: typo\nrules:\n  - { id: r, action: deny, reason: x.y, when: \'usage["exports"].used > 1 || identity.sub == "usage.nothing"\' }\n');
  assert.equal(loadPolicies({ files: [other, typo] }).limits.length, 1);
  assert.equal(loadPolicies({ files: [typo], partial: true }).rules.length, 1);
  assert.throws(() => loadPolicies({ files: [typo] }), /usage\.exports names no limit in force \(no limits are declared in the policies in force\)$/);
});

test('a limit with action review holds the request past it like any review; the approved request goes through', async () => {
  assert.equal((await get('/proxy/bulk/export')).status, 200);
  const held = await get('/proxy/bulk/export');
  assert.equal(held.status, 409, held.text);
  assert.equal(held.json().error.code, 'GW_REVIEW_PENDING');
  assert.ok(held.review, 'the review id is in X-Airlock-Review');
  const review = await t.call('GET', `/api/v1/reviews/${held.review}`, alice);
  assert.equal(review.status, 200, JSON.stringify(review.body));
  assert.match(JSON.stringify(review.body), /limit\.exceeded/);
  assert.match(JSON.stringify(review.body), /One export a day without a review\./);
  const approved = await t.call('POST', `/api/v1/reviews/${held.review}/approve`, alice, {});
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const retried = await get('/proxy/bulk/export');
  assert.equal(retried.status, 200, retried.text);
});

test('a limit changed in its policy file applies without a restart, and the count so far is kept', async () => {
  assert.equal((await get('/proxy/reloaded/a')).status, 200);
  assert.equal((await get('/proxy/reloaded/b')).status, 429);
  writeFileSync(reloaded, 'name: reloaded\nlimits:\n  - { name: tries, kind: cost, max: 3 }\n');
  // The manager sees the edit within policy.reloadInterval (2 s); a replica that saw the limit used up asks the store again within a second.
  await eventually(async () => (await get('/proxy/reloaded/c')).status === 200 || undefined, 10_000, 'the raised limit in force');
  assert.equal((await get('/proxy/reloaded/d')).status, 200);
  const over = await get('/proxy/reloaded/e');
  assert.equal(over.status, 429, 'one used before the edit, two after: three of three');
  assert.match(over.json().error.message, /is used up \(3 of 3\)/);
});

test('/api/v1/usage shows admins and auditors who used how much, near or over; others are refused', async () => {
  const r = await t.call('GET', '/api/v1/usage?connection=scrape', alice);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const bobs = r.body.usage.find((u: Record<string, any>) => u.key.identity === 'bob');
  assert.deepEqual({ ...bobs, windowEnds: typeof bobs.windowEnds }, { limit: 'customer_records', key: { identity: 'bob', connection: 'scrape' }, used: 4, max: 4, remaining: 0, state: 'over', windowEnds: 'string' });
  const carols = r.body.usage.find((u: Record<string, any>) => u.key.identity === 'carol');
  assert.deepEqual([carols.used, carols.state], [2, 'ok']);
  assert.ok(r.body.usage.every((u: Record<string, any>) => u.key.connection === 'scrape'));
  const onlyBob = await t.call('GET', '/api/v1/usage?user=bob', alice);
  assert.ok(onlyBob.body.usage.length >= 1 && onlyBob.body.usage.every((u: Record<string, any>) => u.key.identity === 'bob'));
  const refused = await t.call('GET', '/api/v1/usage', bob);
  assert.equal(refused.status, 403);
  assert.deepEqual([refused.body.error.code, refused.body.error.message], ['GW_FORBIDDEN', 'Only auditors and admins see the usage of limits.']);
  const bad = await t.call('GET', '/api/v1/usage?since=yesterday', alice);
  assert.deepEqual([bad.status, bad.body.error.code], [400, 'GW_BAD_REQUEST']);
});

test('airlock usage lists the same, as a table and as JSON', async () => {
  const env = { AIRLOCK_GATEWAY: t.gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'cli-config'), AIRLOCK_TOKEN: alice };
  const table = await run(AIRLOCK, ['usage', '--connection', 'scrape', '--user', 'bob'], { env });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^LIMIT\s+KEY\s+USED\s+MAX\s+STATE\s+WINDOW ENDS$/m);
  assert.match(table.stdout, /^customer_records\s+identity=bob connection=scrape\s+4\s+4\s+over\s+\d{4}-/m);
  const json = await run(AIRLOCK, ['usage', '--json', '--user', 'bob', '--connection', 'scrape'], { env });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual((JSON.parse(json.stdout) as Array<Record<string, unknown>>).map((u) => [u.limit, u.used, u.state]), [['customer_records', 4, 'over']]);
});

test('the demo-limits pack (airlock dev\'s demo connection) loads: 20 records with PII an hour, then a review', async () => {
  const { loadPolicies } = await import('../../../gateway/policy/load.ts');
  const { limits } = loadPolicies({ packs: ['default', 'http-writes', 'demo-limits'] });
  assert.deepEqual(limits.map((l) => [l.name, l.spec.kind, l.spec.count, l.spec.max, l.spec.window, l.spec.action, l.spec.review?.wait]), [['customer_records', 'egress', 'records', 20, 3600, 'review', 5]]);
});
