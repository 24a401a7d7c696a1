// Limits with action delay, end to end on SQLite and on PostgreSQL (a real gateway, agent and
// target): past a shared rate a request waits for its token and passes; past a concurrency cap it
// waits for a place (its queue bounded: one more is refused at once with 429 and Retry-After); a
// client that gives up while queued frees its place in the queue and never reaches the target; a
// window that ends later than the limit's maxWait refuses at once. Every wait is in the decision.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { createDatabase, startPostgres, type TestPostgres } from '../../support/postgres.ts';

const POLICY = [
  'name: patient',
  'limits:',
  '  - { name: paced, kind: rate, rate: 4, burst: 1, action: delay, delay: { maxWait: 5 }, match: { paths: ["/api/paced*"] } }',
  '  - { name: single, kind: concurrent, max: 1, key: [connection], action: delay, delay: { maxWait: 30, maxQueue: 1 }, match: { paths: ["/api/slow*"] } }',
  '  - { name: hourly, kind: cost, max: 1, window: 3600, action: delay, delay: { maxWait: 2 }, match: { paths: ["/api/hourly*"] } }',
  '',
].join('\n');

for (const backend of ['sqlite', 'postgres'] as const) describe(backend, () => {
  let server: TestPostgres | undefined;
  let t: TestGateway;
  let target: Server;
  let agent: Running;
  let bob: string;
  const seen: string[] = [];
  const held: ServerResponse[] = [];

  before(async () => {
    let storeUrl: string | undefined;
    if (backend === 'postgres') {
      server = await startPostgres();
      storeUrl = await createDatabase(server, `airlock_delay_${process.pid}`);
    }
    target = createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url?.startsWith('/api/slow')) { held.push(res); return; } // answered when the test says
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
    t = await startTestGateway(storeUrl === undefined ? {} : { config: { store: { url: storeUrl } } });
    const alice = await t.token('alice', ['admins']);
    bob = await t.token('bob', ['developers']);
    agent = await startTestAgent(t, 'edge', { allow: [url] });
    const policy = join(t.dir, 'patient.yaml');
    writeFileSync(policy, POLICY);
    await addConnections(t, alice, [{ name: 'patient', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } }]);
  });
  after(async () => {
    for (const res of held) res.end();
    await stopAll(agent, t, target);
    await server?.stop();
  });

  const get = async (path: string, signal?: AbortSignal) => {
    const res = await fetch(`${t.gw.url}/proxy/patient${path}`, { headers: { authorization: `Bearer ${bob}` }, ...(signal === undefined ? {} : { signal }) });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as Record<string, any> };
  };
  const decisions = async () => {
    const out: Array<Record<string, any>> = [];
    for (const s of await t.gw.store.sessions.list({ connection: 'patient', limit: 1000 })) {
      for (const e of await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 })) if (e.type === 'decision') out.push(e.payload as Record<string, any>);
    }
    return out;
  };
  const waiting = () => t.gw.limiter.stats().waiting.single ?? 0;

  test(`${backend}: past a rate with action delay, requests wait for their token and all pass; the wait is recorded`, async () => {
    const results = await Promise.all(['/paced/1', '/paced/2', '/paced/3'].map((p) => get(p)));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200]);
    const delayed = (await decisions()).filter((d) => d.delayed !== undefined);
    assert.ok(delayed.length >= 2, `two of three waited for a token: ${JSON.stringify(delayed)}`);
    for (const d of delayed) {
      assert.deepEqual(d.delayed.limits, ['paced']);
      assert.ok(d.delayed.waitedMs > 0, JSON.stringify(d));
      assert.equal(d.decision, 'allow');
    }
    assert.equal(t.gw.limiter.stats().hits.paced?.delay, delayed.length);
  });

  test(`${backend}: past a concurrency cap a request waits for the place; a full queue refuses at once; a client that leaves frees its place in the queue`, async () => {
    const first = get('/slow/a');
    await eventually(() => (seen.includes('/api/slow/a') ? true : undefined), 10_000, 'the first request at the target');
    const leaving = new AbortController();
    const second = get('/slow/b', leaving.signal).catch((err: unknown) => err as Error);
    await eventually(() => (waiting() === 1 ? true : undefined), 10_000, 'the second request queued');

    const third = await get('/slow/c');
    assert.equal(third.status, 429, JSON.stringify(third.body));
    assert.equal(third.body.error.code, 'GW_LIMIT_EXCEEDED');
    assert.match(third.body.error.message, /^The request on connection patient is over limit single: Limit single \(1 requests in flight\) is used up \(1 of 1\)\. Retry after 1 s\.$/);
    assert.equal(third.retryAfter, '1');
    const refused = (await decisions()).find((d) => d.limits?.[0]?.limit === 'single');
    assert.deepEqual(refused?.limits, [{ limit: 'single', kind: 'concurrent', action: 'deny', used: 1, max: 1, retryAfter: 1, waitedMs: 0 }]);

    leaving.abort(); // the client goes: its place in the queue is free again
    assert.equal((await second as Error).name, 'AbortError');
    await eventually(() => (waiting() === 0 ? true : undefined), 10_000, 'the queue empty once the client left');
    const fourth = get('/slow/d');
    await eventually(() => (waiting() === 1 ? true : undefined), 10_000, 'the fourth request queued, not refused');

    held.shift()!.end('{"slow":"a"}');
    assert.equal((await first).status, 200);
    await eventually(() => (seen.includes('/api/slow/d') ? true : undefined), 10_000, 'the fourth request at the target once the place freed');
    held.shift()!.end('{"slow":"d"}');
    assert.equal((await fourth).status, 200);
    assert.deepEqual(seen.filter((p) => p.startsWith('/api/slow')), ['/api/slow/a', '/api/slow/d'], 'the refused and the abandoned requests never reached the target');
    const passed = (await decisions()).filter((d) => d.delayed?.limits?.[0] === 'single');
    assert.equal(passed.length, 1);
    assert.ok(passed[0]!.delayed.waitedMs > 0);
    assert.deepEqual(t.gw.limiter.stats().hits.single, { deny: 1, delay: 1 });
  });

  test(`${backend}: a window that ends after maxWait is refused at once with Retry-After, not queued`, async () => {
    const first = await get('/hourly/1');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const over = await get('/hourly/2');
    assert.equal(over.status, 429, JSON.stringify(over.body));
    assert.equal(over.body.error.code, 'GW_LIMIT_EXCEEDED');
    assert.ok(Number(over.retryAfter) > 2, `Retry-After ${over.retryAfter}: the window ends later than the 2 s a request may wait`);
    const hit = (await decisions()).find((d) => d.limits?.[0]?.limit === 'hourly');
    assert.equal(hit?.limits[0].waitedMs, 0, JSON.stringify(hit));
  });
});
