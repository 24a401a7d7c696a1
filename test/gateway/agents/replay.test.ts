// The jti replay cache: a key is fresh once, replayed until its expiry, free after it; a full
// cache refuses (fail closed) instead of forgetting a live entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayCache } from '../../../gateway/agents/replay.ts';

test('fresh once, replayed until expiry, then swept', () => {
  let now = 1_000_000;
  const cache = new ReplayCache({ now: () => now });
  assert.equal(cache.use('edge\na', now + 60_000), 'fresh');
  assert.equal(cache.use('edge\na', now + 60_000), 'replayed');
  assert.equal(cache.use('other\na', now + 60_000), 'fresh', 'keys are per agent');
  now += 60_001;
  assert.equal(cache.use('edge\nb', now + 60_000), 'fresh');
  assert.equal(cache.size, 1, 'expired entries are swept');
});

test('a full cache refuses new keys until entries expire', () => {
  let now = 0;
  const cache = new ReplayCache({ maxEntries: 2, now: () => now });
  assert.equal(cache.use('a', 1000), 'fresh');
  assert.equal(cache.use('b', 2000), 'fresh');
  assert.equal(cache.use('c', 3000), 'full');
  assert.equal(cache.use('a', 1000), 'replayed', 'a full cache still knows what it holds');
  now = 1500;
  assert.equal(cache.use('c', 3000), 'fresh', 'room again once an entry expired');
  assert.throws(() => new ReplayCache({ maxEntries: 0 }), TypeError);
});
