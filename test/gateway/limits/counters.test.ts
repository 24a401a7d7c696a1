// The limits' counters through a real store, on both backends: two limiters on one store (two
// replicas) keep one budget within the documented bound (never over max; at most block-1 units
// per replica left unspent), and the count survives a restart (a new store handle).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, silentLogger } from '../../../lib/log.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { openStore, type Store } from '../../../gateway/store/index.ts';
import { compileLimit, type LimitSubject } from '../../../gateway/limits/compile.ts';
import { Limiter, type LimiterOptions } from '../../../gateway/limits/limiter.ts';
import { limitSchema } from '../../../gateway/limits/schema.ts';
import { createDatabase, startPostgres, type TestPostgres } from '../../support/postgres.ts';
import { eventually } from '../../support/gateway.ts';
import { start } from '../../support/process.ts';

const HOLD_PLACES = fileURLToPath(new URL('./fixtures/hold-places.ts', import.meta.url));

const subject: LimitSubject = { identity: { sub: 'scraper', groups: ['developers'], via: 'oidc', tokenId: null }, connection: 'demo', direction: 'request', method: 'GET', path: '/customers' };
const limit = (spec: Record<string, unknown>) => compileLimit(limitSchema.parse(spec), 'test');

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`limit counters on ${backend}`, () => {
    let dir = '';
    let server: TestPostgres | undefined;
    let n = 0;
    const stores: Store[] = [];
    const limiters: Limiter[] = [];
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'airlock-limits-'));
      if (backend === 'postgres') server = await startPostgres();
    });
    after(async () => {
      for (const l of limiters) await l.close();
      for (const s of stores) await s.close();
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const freshUrl = async () => {
      if (backend === 'sqlite') return `sqlite:${join(dir, `limits-${++n}.db`)}`;
      return createDatabase(server!, `airlock_limits_${process.pid}_${++n}`);
    };
    const replica = async (url: string, options: Partial<LimiterOptions> = {}) => {
      const store = await openStore(url, { logger: silentLogger });
      stores.push(store);
      const limiter = new Limiter({ counters: store.counters, logger: silentLogger, purgeIntervalMs: 0, ...options });
      limiters.push(limiter);
      return limiter;
    };

    test('two replicas on one store spend one cost budget: never over max, at most block-1 per replica unspent', async () => {
      const url = await freshUrl();
      const [a, b] = [await replica(url), await replica(url)];
      const pages = [limit({ name: 'pages', kind: 'cost', max: 50, window: 3600, block: 5 })];
      const results = await Promise.all(Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? a : b).before(pages, subject)));
      const passed = results.filter((g) => g.hits.length === 0).length;
      assert.ok(passed <= 50, `${passed} requests passed a budget of 50`);
      assert.ok(passed >= 50 - 2 * (5 - 1), `${passed} requests passed: more was lost to unspent blocks than the documented 2 × (block - 1)`);
      const refused = results.find((g) => g.hits.length > 0)!;
      assert.equal(refused.hits[0]!.limit, 'pages');
      assert.equal(refused.hits[0]!.max, 50);
      assert.ok(refused.hits[0]!.retryAfter >= 1 && refused.hits[0]!.retryAfter <= 3600);

      // A restart: a new store handle and limiter see the spent budget (the counter is in the store).
      const restarted = await replica(url);
      const again = await restarted.before(pages, subject);
      assert.deepEqual(again.hits.map((h) => [h.limit, h.action]), [['pages', 'deny']]);
      assert.equal(again.usage.pages!.remaining, 0);
      // Another caller has its own budget.
      const other = await restarted.before(pages, { ...subject, identity: { ...subject.identity, sub: 'someone-else' } });
      assert.equal(other.hits.length, 0);
      assert.equal(other.usage.pages!.used, 1);
    });

    test('an egress budget counts the values (or records) in answers that left, masked or not, across replicas', async () => {
      const url = await freshUrl();
      const [a, b] = [await replica(url), await replica(url)];
      const records = [limit({ name: 'records', kind: 'egress', max: 5, count: 'records', block: 1 })];
      const page = (i: number) => [
        { kind: 'pii.EMAIL_ADDRESS', path: `$.customers[${i}].email`, severity: 'medium' as const, detail: 'email' },
        { kind: 'pii.US_SSN', path: `$.customers[${i}].ssn`, severity: 'high' as const, detail: 'ssn' },
        { kind: 'secret.AWS_KEY', path: `$.customers[${i}].note`, severity: 'high' as const, detail: 'key' },
      ];
      for (const [i, l] of [a, b, a].entries()) {
        assert.equal((await l.before(records, subject)).hits.length, 0, `page ${i}`);
        await l.after(records, { ...subject, direction: 'response' }, [...page(2 * i), ...page(2 * i + 1)]);
      }
      // 6 records left (two per page): over the 5; the next request on either replica is refused.
      for (const l of [a, b]) {
        const gate = await l.before(records, subject);
        assert.deepEqual(gate.hits.map((h) => [h.limit, h.kind]), [['records', 'egress']]);
      }
    });
    test('a replica that stops gives its unspent units back, and another that saw the budget used up asks again', async () => {
      const url = await freshUrl();
      const [a, b] = [await replica(url), await replica(url)];
      const pages = [limit({ name: 'pages', kind: 'cost', max: 5, block: 5 })];
      assert.equal((await a.before(pages, subject)).hits.length, 0); // a reserved all 5, spent 1
      assert.deepEqual((await b.before(pages, subject)).hits.map((h) => h.limit), ['pages'], 'b finds the budget reserved by a');
      await a.close(); // 4 units go back
      await new Promise((r) => setTimeout(r, 1100)); // b asks the store again at most once a second
      const passed = (await Promise.all(Array.from({ length: 6 }, () => b.before(pages, subject)))).filter((g) => g.hits.length === 0).length;
      assert.equal(passed, 4);
    });

    test('two replicas share one rate: a window in the store holds one burst for all (rate × window), blocks reserved ahead', async () => {
      const url = await freshUrl();
      let now = Date.UTC(2026, 0, 1); // one clock for both, so the test never straddles a window's end
      const clock = { now: () => now };
      const [a, b] = [await replica(url, clock), await replica(url, clock)];
      // 10 per second, burst 100: a window of 10 s allowing 100; each replica's own bucket allows 100 too.
      const calls = [limit({ name: 'calls', kind: 'rate', rate: 10, burst: 100, block: 5 })];
      const run = async () => (await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? a : b).before(calls, subject)))).filter((g) => g.hits.length === 0).length;
      const passed = await run();
      assert.ok(passed <= 100, `${passed} passed a shared rate of 100 per 10 s (per replica it would be 200)`);
      assert.ok(passed >= 100 - 2 * (5 - 1), `${passed} passed: more lost to unspent blocks than 2 × (block - 1)`);
      const refused = await a.before(calls, subject);
      assert.deepEqual(refused.hits.map((h) => [h.limit, h.kind, h.max]), [['calls', 'rate', 100]]);
      assert.equal(refused.hits[0]!.retryAfter, 10, 'the window ends in 10 s');
      now += 10_000; // the next window (and full buckets)
      assert.ok(await run() >= 100 - 2 * (5 - 1));
    });

    test('two replicas share one concurrency cap through leased places; places freed on one reach the other', async () => {
      const url = await freshUrl();
      const [a, b] = [await replica(url, { leaseSlotMs: 400 }), await replica(url, { leaseSlotMs: 400 })];
      const slots = [limit({ name: 'slots', kind: 'concurrent', max: 5, key: ['connection'] })];
      const gates = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).before(slots, subject)));
      const held = gates.filter((g) => g.hits.length === 0);
      assert.equal(held.length, 5, 'five places across both replicas, not five each');
      const refused = gates.find((g) => g.hits.length > 0)!;
      assert.deepEqual(refused.hits.map((h) => [h.limit, h.kind, h.max, h.retryAfter]), [['slots', 'concurrent', 5, 1]]);
      const onA = gates.filter((g, i) => i % 2 === 0 && g.hits.length === 0);
      assert.ok(onA.length >= 1 && onA.length <= 4, `a holds ${onA.length}`);
      for (const g of onA) g.release();
      // a gives its places back at its next heartbeat (a quarter slot): b gets them all.
      const more = await eventually(async () => { const g = await b.before(slots, subject); return g.hits.length === 0 ? g : undefined; }, 5000, 'a place freed on a reaches b');
      assert.equal(more.usage.slots!.used, 5 - onA.length + 1);
    });

    test('a replica that dies holding places: they come back within two lease slots', async () => {
      const url = await freshUrl();
      const dying = start(HOLD_PLACES, [url, '3', '400']);
      try {
        await dying.waitFor(/held 3/, 15_000);
        const survivor = await replica(url, { leaseSlotMs: 400 });
        const slots = [limit({ name: 'slots', kind: 'concurrent', max: 3, key: ['connection'] })];
        assert.deepEqual((await survivor.before(slots, subject)).hits.map((h) => h.limit), ['slots'], 'the live replica renews its places');
        dying.child.kill('SIGKILL');
        await dying.exited;
        const gates = await eventually(async () => {
          const got = await Promise.all([1, 2, 3].map(() => survivor.before(slots, subject)));
          if (got.every((g) => g.hits.length === 0)) return got;
          for (const g of got) g.release();
          return undefined;
        }, 5000, 'the dead replica\'s places are back');
        assert.equal(gates.length, 3);
      } finally {
        dying.child.kill('SIGKILL');
      }
    });

    test('a store that cannot be reached fails a required limit closed (GW_STORE_UNAVAILABLE) and lets the others pass, logged', async () => {
      const store = await openStore(await freshUrl(), { logger: silentLogger });
      const lines: string[] = [];
      const limiter = new Limiter({ counters: store.counters, logger: createLogger({ level: 'warn', write: (l) => { lines.push(l); } }), purgeIntervalMs: 0 });
      limiters.push(limiter);
      await store.close();
      const required = [limit({ name: 'pages', kind: 'cost', max: 10 })];
      await assert.rejects(limiter.before(required, subject), (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'GW_STORE_UNAVAILABLE');
        assert.equal(err.message, 'The store that counts limit pages cannot be reached, and the limit is required, so the request is refused; retry shortly.');
        return true;
      });
      const optional = [limit({ name: 'pages', kind: 'cost', max: 10, required: false })];
      assert.equal((await limiter.before(optional, subject)).hits.length, 0);
      assert.ok(lines.some((l) => l.includes('limit not counted') && l.includes('"limit":"pages"')), lines.join('\n'));
      await limiter.before(optional, subject);
      assert.deepEqual(limiter.stats(), { hits: {}, failOpen: { pages: 2 }, waiting: {} }, 'each request passed open is counted');
    });
  });
}
