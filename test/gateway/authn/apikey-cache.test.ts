// The API-key cache: a verified key's record is reused for ttlMs, yet every request still
// hashes and compares the presented key and checks revocation and expiry; forgetting a key (the
// API's revocation hook) takes effect at once, even against a store read already under way. A
// real SQLite store; the cache's clock is the only thing moved by hand.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeyCache, apiKeyCacheOf, forgetApiKey, generateApiKey, verifyApiKey } from '../../../gateway/authn/apikeys.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { openStore, type Store } from '../../../gateway/store/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-apikey-cache-'));
let store: Store;
before(async () => { store = await openStore(`sqlite:${join(dir, 'gw.db')}`); });
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function newKey(expiresAt: number | null = null) {
  const k = generateApiKey();
  await store.apiKeys.create({ id: k.id, name: 'bot', hash: k.hash, roles: ['user'], connections: ['demo'], createdBy: 'test', expiresAt });
  return k;
}

/** A cache whose clock the test moves. */
function cacheWithClock(ttlMs = 1000) {
  let now = 0;
  return { cache: new ApiKeyCache({ ttlMs, clock: () => now }), advance: (ms: number) => { now += ms; } };
}

async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GatewayError, `refused with a GatewayError, got ${String(err)}`);
  assert.equal(err.code, 'GW_API_KEY_INVALID');
  return err;
}

test('a verified key is served from the cache until ttlMs, then the store is read again', async () => {
  const { cache, advance } = cacheWithClock(1000);
  const k = await newKey();
  assert.equal((await verifyApiKey(k.key, store, Date.now(), cache)).sub, `apikey:${k.id}`);
  // Revoked behind the cache's back (as another replica would): within ttlMs the cached record answers.
  await store.apiKeys.revoke(k.id);
  advance(999);
  assert.equal((await verifyApiKey(k.key, store, Date.now(), cache)).sub, `apikey:${k.id}`);
  advance(1);
  assert.match((await refusal(verifyApiKey(k.key, store, Date.now(), cache))).message, /was revoked/);
});

test('forgetting a key (the revocation hook) refuses it at once', async () => {
  const { cache } = cacheWithClock();
  const k = await newKey();
  await verifyApiKey(k.key, store, Date.now(), cache);
  await store.apiKeys.revoke(k.id);
  cache.forget(k.id);
  assert.match((await refusal(verifyApiKey(k.key, store, Date.now(), cache))).message, new RegExp(`key ${k.id} \\("bot"\\) was revoked`));
});

test('a store read under way when a key is forgotten is not cached', async () => {
  const { cache } = cacheWithClock();
  const k = await newKey();
  const inFlight = verifyApiKey(k.key, store, Date.now(), cache); // reads the record before the revocation
  cache.forget(k.id);
  await inFlight;
  await store.apiKeys.revoke(k.id);
  await refusal(verifyApiKey(k.key, store, Date.now(), cache));
});

test('with a cached record, a wrong secret is still refused and expiry is still checked', async () => {
  const { cache } = cacheWithClock();
  const expiresAt = Date.now() + 60_000;
  const k = await newKey(expiresAt);
  await verifyApiKey(k.key, store, Date.now(), cache);
  const wrong = k.key.slice(0, -4) + (k.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  assert.match((await refusal(verifyApiKey(wrong, store, Date.now(), cache))).message, /it is not known/);
  assert.match((await refusal(verifyApiKey(k.key, store, expiresAt, cache))).message, /expired at \d{4}-/);
});

test('a revoked or expired record is never cached, and ttlMs 0 turns the cache off', async () => {
  const { cache } = cacheWithClock();
  const expired = await newKey(Date.now() - 1000);
  await refusal(verifyApiKey(expired.key, store, Date.now(), cache));
  assert.equal(cache.get(expired.id), undefined);

  const off = cacheWithClock(0);
  const k = await newKey();
  await verifyApiKey(k.key, store, Date.now(), off.cache);
  assert.equal(off.cache.get(k.id), undefined);
  await store.apiKeys.revoke(k.id);
  await refusal(verifyApiKey(k.key, store, Date.now(), off.cache));
});

test('the store\'s own cache is the one forgetApiKey clears', async () => {
  const k = await newKey();
  await verifyApiKey(k.key, store); // default cache: the store's
  assert.equal(apiKeyCacheOf(store).get(k.id)?.record.id, k.id);
  forgetApiKey(store, k.id);
  assert.equal(apiKeyCacheOf(store).get(k.id), undefined);
});

test('bad options are a TypeError', () => {
  for (const ttlMs of [-1, Number.NaN, 60_001]) {
    assert.throws(() => new ApiKeyCache({ ttlMs }), { name: 'TypeError', message: /ttlMs must be 0–60000/ });
  }
});
