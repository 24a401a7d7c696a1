// The inspectors' bounded LRU: recency order, the entry bound, the weight bound, bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lru } from '../../lib/lru.ts';

test('evicts the least recently used entry, where a get counts as a use', () => {
  const lru = new Lru<string, number>({ maxEntries: 2 });
  lru.set('a', 1);
  lru.set('b', 2);
  assert.equal(lru.get('a'), 1);
  lru.set('c', 3);
  assert.equal(lru.has('b'), false);
  assert.deepEqual([lru.get('a'), lru.get('c'), lru.size], [1, 3, 2]);
});

test('setting an existing key replaces it without growing', () => {
  const lru = new Lru<string, number>({ maxEntries: 2, maxWeight: 10, weigh: (_k, v) => v });
  lru.set('a', 4);
  lru.set('a', 6);
  assert.deepEqual([lru.size, lru.weight, lru.get('a')], [1, 6, 6]);
});

test('keeps the summed weight under maxWeight, evicting the oldest first', () => {
  const lru = new Lru<string, string>({ maxEntries: 100, maxWeight: 10, weigh: (k) => k.length });
  lru.set('aaaa', 'x');
  lru.set('bbbb', 'y');
  lru.set('cccc', 'z');
  assert.deepEqual([lru.has('aaaa'), lru.has('bbbb'), lru.has('cccc'), lru.weight], [false, true, true, 8]);
});

test('an entry heavier than maxWeight is not stored and evicts nothing', () => {
  const lru = new Lru<string, string>({ maxEntries: 100, maxWeight: 10, weigh: (k) => k.length });
  lru.set('small', 'x');
  lru.set('x'.repeat(11), 'too heavy');
  assert.deepEqual([lru.size, lru.has('small'), lru.weight], [1, true, 5]);
});

test('delete and clear keep the weight in step', () => {
  const lru = new Lru<string, string>({ maxEntries: 10, maxWeight: 100, weigh: (k) => k.length });
  lru.set('abc', '1');
  lru.set('de', '2');
  assert.equal(lru.delete('abc'), true);
  assert.equal(lru.delete('abc'), false);
  assert.equal(lru.weight, 2);
  lru.clear();
  assert.deepEqual([lru.size, lru.weight, lru.get('de')], [0, 0, undefined]);
});

test('bad options throw TypeError at construction', () => {
  assert.throws(() => new Lru({ maxEntries: 0 }), { name: 'TypeError', message: 'Lru: maxEntries must be an integer >= 1' });
  assert.throws(() => new Lru({ maxEntries: 1.5 }), { name: 'TypeError', message: 'Lru: maxEntries must be an integer >= 1' });
  assert.throws(() => new Lru({ maxEntries: 1, maxWeight: 0 }), { name: 'TypeError', message: 'Lru: maxWeight must be > 0' });
});
