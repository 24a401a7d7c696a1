// Reconnect delays: full jitter under a cap that doubles from the minimum to the maximum, and
// starts over on reset().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../agent/backoff.ts';

test('the cap doubles per attempt up to the maximum; each delay is random below the cap', () => {
  const top = new Backoff({ minMs: 500, maxMs: 30_000, random: () => 0.999999 });
  const delays = Array.from({ length: 9 }, () => top.next());
  assert.deepEqual(delays, [499, 999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999]);
  const bottom = new Backoff({ minMs: 500, maxMs: 30_000, random: () => 0 });
  assert.deepEqual(Array.from({ length: 3 }, () => bottom.next()), [0, 0, 0], 'full jitter reaches down to zero');
  const half = new Backoff({ minMs: 500, maxMs: 30_000, random: () => 0.5 });
  assert.deepEqual(Array.from({ length: 3 }, () => half.next()), [250, 500, 1000]);
});

test('reset starts over from the minimum; many attempts never overflow the cap', () => {
  const b = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.999999 });
  for (let i = 0; i < 2000; i++) assert.ok(b.next() < 1000);
  assert.equal(b.cap, 1000);
  b.reset();
  assert.equal(b.cap, 100);
  assert.equal(b.next(), 99);
});

test('bad options are a TypeError', () => {
  assert.throws(() => new Backoff({ minMs: 0, maxMs: 10 }), TypeError);
  assert.throws(() => new Backoff({ minMs: 20, maxMs: 10 }), /0 < minMs ≤ maxMs/);
});
