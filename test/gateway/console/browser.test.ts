// The console in a real browser (Debian's Chromium, headless, driven by playwright-core), against a
// real gateway, agent, target and the development OpenID provider: sign in by clicking at the
// provider; a held curl completes when a reviewer approves in the console, and a denied one is
// refused; the requester sees their own review but cannot approve it, nor decide through a forged
// POST; CSRF; cookie flags; no token in page storage; sessions filtered; a session replayed and
// tailed live. With AIRLOCK_SCREENSHOTS=<dir> it also writes the screenshots of docs/console.md.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Running } from '../../support/process.ts';
import { startTestAgent, type TestGateway } from '../../support/gateway.ts';
import { startConsoleGateway } from '../../support/console.ts';

const CHROMIUM = '/usr/bin/chromium';
const shots = process.env.AIRLOCK_SCREENSHOTS;

let gw: TestGateway & { origin: string };
let target: Server;
let agent: Running;
let browser: Browser;
let bobToken: string;
const deletes: string[] = [];

before(async () => {
  target = createServer((req, res) => {
    req.resume();
    if (req.method === 'DELETE') deletes.push(req.url!);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ deleted: req.url }));
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(target.address() as { port: number }).port}`;
  gw = await startConsoleGateway({ reviews: { pollInterval: 0.05 } });
  agent = await startTestAgent(gw, 'edge', { allow: [url] });
  const policy = join(gw.dir, 'review-deletes.yaml');
  writeFileSync(policy, [
    'name: review-deletes', 'rules:', '  - id: review-deletes', '    match: { methods: [DELETE] }', '    action: review',
    '    reason: demo.delete', '    message: Deletes wait for a reviewer.', '    review: { wait: 60, validity: 600 }',
  ].join('\n'));
  const admin = await gw.token('alice', ['admins']);
  const r = await gw.call('POST', '/api/v1/connections', admin, { name: 'orders', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  bobToken = await gw.token('bob', ['developers']);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  await agent?.stop('SIGTERM');
  await gw?.close();
  await new Promise<void>((r) => target.close(() => r()));
});

/** A curl through the gateway as bob; resolves with its HTTP status and body once it ends. */
function curl(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-X', method, '-H', `authorization: Bearer ${bobToken}`, '-w', '\n%{http_code}', `${gw.origin}/proxy/orders${path}`]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', () => {
      const at = out.lastIndexOf('\n');
      resolve({ status: Number(out.slice(at + 1)), body: out.slice(0, at) });
    });
  });
}

/** A new browser context signed in as `user` by clicking at the development provider. */
async function signIn(user: 'alice' | 'bob'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await page.goto(`${gw.origin}/console`);
  assert.match(await page.content(), /DEV ONLY — airlock development identity provider/);
  await page.click(`button[value="${user}"]`);
  await page.waitForURL(`${gw.origin}/console/reviews`);
  return { context, page };
}

const shot = async (page: Page, name: string) => {
  if (shots) await page.screenshot({ path: join(shots, `console-${name}.png`), fullPage: true });
};

/** A form POST from inside the page (what a forged or scripted submit would send), with the page's cookie. */
const postFrom = (page: Page, path: string, fields: Record<string, string>) => page.evaluate(async ([p, f]) => {
  const res = await fetch(p, { method: 'POST', body: new URLSearchParams(f), redirect: 'manual' });
  return { status: res.status, text: await res.text() };
}, [path, fields] as const);

test('reviewers approve and deny held requests in the console; requesters cannot', async () => {
  const alice = await signIn('alice');
  const bob = await signIn('bob');

  // Cookie flags as the browser holds them, and nothing a page script could read.
  const [cookie] = (await alice.context.cookies()).filter((c) => c.name.startsWith('__Host-airlock'));
  assert.ok(cookie, 'the browser keeps the __Host- cookie on plain-HTTP loopback');
  assert.deepEqual({ name: cookie.name, httpOnly: cookie.httpOnly, secure: cookie.secure, sameSite: cookie.sameSite, path: cookie.path }, { name: '__Host-airlock', httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
  const storage = await alice.page.evaluate('({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length })');
  assert.deepEqual(storage, { cookie: '', local: 0, session: 0 });

  // A held curl: the review appears in alice's open inbox by itself (live updates), she approves, the curl completes.
  const held = curl('DELETE', '/items/1');
  const row = alice.page.locator('#inbox tr[data-review]').first();
  await row.waitFor({ timeout: 15_000 });
  assert.match(await alice.page.locator('#inbox section').first().innerText(), /Waiting for you[\s\S]*DELETE \/api\/items\/1[\s\S]*bob/);
  await shot(alice.page, 'reviews');
  await row.locator('a').click();
  await alice.page.waitForSelector('form.decide');
  assert.match(await alice.page.locator('pre.request').innerText(), /^DELETE \/api\/items\/1/);
  assert.match(await alice.page.innerText('main'), /Deletes wait for a reviewer\./);
  await shot(alice.page, 'review');

  // bob sees his own review, without the buttons; a POST he forges is refused by the API's own role check.
  const reviewPath = new URL(alice.page.url()).pathname;
  await bob.page.goto(`${gw.origin}${reviewPath}`);
  assert.equal(await bob.page.locator('form.decide').count(), 0);
  assert.match(await bob.page.locator('.notice').innerText(), /Deciding reviews needs the reviewer or admin role\./);
  await bob.page.goto(`${gw.origin}/console/reviews`);
  assert.match(await bob.page.innerText('#inbox'), /Your requests[\s\S]*DELETE \/api\/items\/1/);
  const bobCsrf = await bob.page.getAttribute('header input[name=csrf]', 'value');
  const forged = await postFrom(bob.page, `${reviewPath}/decide`, { csrf: bobCsrf!, verdict: 'approve' });
  assert.equal(forged.status, 403);
  assert.match(forged.text, /GW_FORBIDDEN/);
  // And without the form token, even alice's own page cannot change anything.
  const noToken = await postFrom(alice.page, `${reviewPath}/decide`, { verdict: 'approve' });
  assert.equal(noToken.status, 403);
  assert.match(noToken.text, /GW_CONSOLE_CSRF/);

  await alice.page.fill('form.decide textarea[name=reason]', 'ticket OPS-1');
  await alice.page.click('form.decide button[value=approve]');
  await alice.page.waitForSelector('.badge.approved');
  const released = await held;
  assert.equal(released.status, 200, released.body);
  assert.deepEqual(JSON.parse(released.body), { deleted: '/api/items/1' });
  assert.deepEqual(deletes, ['/api/items/1']);
  assert.match(await alice.page.innerText('main'), /alice[\s\S]*approve[\s\S]*ticket OPS-1/);

  // Denied: the held curl gets the refusal.
  const refused = curl('DELETE', '/items/2');
  await alice.page.goto(`${gw.origin}/console/reviews`);
  await alice.page.locator('#inbox section').first().locator('tr[data-review]').first().waitFor({ timeout: 15_000 });
  await alice.page.locator('#inbox section').first().locator('tr[data-review] a').first().click();
  await alice.page.fill('form.decide textarea[name=reason]', 'not today');
  await alice.page.click('form.decide button[value=deny]');
  await alice.page.waitForSelector('.badge.denied');
  const denied = await refused;
  assert.equal(denied.status, 403);
  assert.match(denied.body, /GW_REVIEW_DENIED/);
  assert.deepEqual(deletes, ['/api/items/1']);

  // Sessions: filtered by user and decision; the session verified and replayed.
  await alice.page.goto(`${gw.origin}/console/sessions`);
  await alice.page.fill('form.filters input[name=user]', 'bob');
  await alice.page.selectOption('form.filters select[name=decision]', 'review');
  await alice.page.click('form.filters button[type=submit]');
  await alice.page.waitForURL(/decision=review/);
  const rows = alice.page.locator('#sessions tbody tr');
  assert.ok(await rows.count() >= 1);
  assert.match(await rows.first().innerText(), /orders[\s\S]*bob/);
  await shot(alice.page, 'sessions');
  await alice.page.fill('form.filters input[name=connection]', 'no-such-connection');
  await alice.page.click('form.filters button[type=submit]');
  await alice.page.waitForSelector('text=No session matches.');
  await alice.page.goBack();
  await alice.page.locator('#sessions tbody tr a').first().click();
  // The session is open: chained but not yet signed, and the badge says so rather than "verified".
  assert.match(await alice.page.innerText('.verify.unsigned'), /Chain intact, not yet signed[\s\S]*does not prove[\s\S]*airlock sessions verify/);
  assert.ok(await alice.page.locator('li.event.decision.review').count() >= 2, 'review decisions highlighted');
  const total = await alice.page.locator('li.event').count();
  await alice.page.selectOption('[data-action=speed]', '100');
  await alice.page.click('[data-action=play]');
  await alice.page.waitForSelector('#replay.playing, #replay.done'); // at 100× a loaded machine may see it only once done
  await alice.page.waitForSelector('#replay.done', { timeout: 30_000 });
  assert.equal(await alice.page.locator('li.event.hidden').count(), 0, 'every event shown at the end of the replay');
  assert.equal(await alice.page.locator('li.event').count(), total);
  await shot(alice.page, 'session');
  // Live tail: the session is open, so bob's next request appears on the page by itself.
  const read = await curl('GET', '/items');
  assert.equal(read.status, 200, read.body);
  await alice.page.locator('li.event.request', { hasText: 'GET /api/items' }).waitFor({ timeout: 15_000 });

  await alice.page.goto(`${gw.origin}/console/connections`);
  assert.match(await alice.page.innerText('#connections'), /orders[\s\S]*http[\s\S]*edge[\s\S]*online, 1 tunnel/);
  await shot(alice.page, 'connections');

  await alice.page.goto(`${gw.origin}/console/explain`);
  await alice.page.fill('textarea[name=input]', JSON.stringify({ kind: 'http', method: 'DELETE', path: '/items/7', body: { note: 'card 4111 1111 1111 1111' } }, null, 2));
  await alice.page.click('form.edit button[type=submit]');
  assert.match(await alice.page.innerText('#explained'), /Decision review[\s\S]*review-deletes[\s\S]*demo\.delete/);
  await shot(alice.page, 'explain');

  await alice.context.close();
  await bob.context.close();
});
