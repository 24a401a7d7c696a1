// The bookkeeping of server.limits (gateway/http/budget.ts): what a ticket counts, what it gives
// back, and that it gives everything back once, however the request ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../../gateway/errors.ts';
import { ServerBudget } from '../../../gateway/http/budget.ts';

const settings = { maxConcurrent: 3, maxConcurrentPerIdentity: 2, maxInFlightBodyBytes: 1000, maxInFlightBodyBytesPerIdentity: 600, bodyIdleMs: 0, minBodyBytesPerSecond: 0, minBodyRateGraceMs: 0 };

function refusal(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof GatewayError && err.code === code && message.test(err.message) && err.headers['retry-after'] === '1');
}

test('requests and bytes are counted per identity and in total, and refused past each cap', () => {
  const budget = new ServerBudget(settings);
  const a = budget.enter();
  a.admit('bob');
  a.admit('bob'); // the same identity again (a route that authenticates twice) counts once
  a.take(500);
  refusal(() => a.take(200), 'GW_TOO_MANY_REQUESTS', /^bob's requests in flight already hold 500 bytes of bodies/);
  const b = budget.enter();
  b.admit('bob');
  const c = budget.enter();
  refusal(() => c.admit('bob'), 'GW_TOO_MANY_REQUESTS', /^bob already has 2 requests in flight/);
  refusal(() => budget.enter(), 'GW_OVERLOADED', /^The gateway is handling its maximum of 3 requests/);
  c.admit('carol');
  c.take(400);
  refusal(() => c.take(200), 'GW_OVERLOADED', /^The gateway holds its maximum of 1000 bytes of bodies in flight/);
  assert.deepEqual(budget.inFlight(), { requests: 3, bytes: 900 });
  assert.deepEqual(budget.inFlight('bob'), { requests: 2, bytes: 500 });
  assert.throws(() => c.admit('dave'), TypeError);

  a.give(300); // a streamed window passed on
  assert.deepEqual(budget.inFlight('bob'), { requests: 2, bytes: 200 });
  a.give(10_000); // never below what it holds
  assert.deepEqual(budget.inFlight('bob'), { requests: 2, bytes: 0 });
});

test('a ticket comes back after its last hold, once, with every byte', () => {
  const budget = new ServerBudget(settings);
  const t = budget.enter();
  t.hold(); // the response's close and the handler's end
  t.admit('bob');
  t.take(100);
  t.release();
  assert.deepEqual(budget.inFlight('bob'), { requests: 1, bytes: 100 }, 'the handler still holds its body');
  t.release();
  t.release(); // extra releases do nothing
  t.take(50); // nor do reads after the end
  assert.deepEqual(budget.inFlight(), { requests: 0, bytes: 0 });
  assert.deepEqual(budget.inFlight('bob'), { requests: 0, bytes: 0 });
});

test('bad settings are a TypeError', () => {
  assert.throws(() => new ServerBudget({ ...settings, maxConcurrent: Number.NaN }), TypeError);
  assert.throws(() => new ServerBudget({ ...settings, bodyIdleMs: -1 }), TypeError);
});
