// A review nobody decides within its `expires` is expired, which is a denial: it can no longer be
// approved, and the identical request asks for a new review. The real store, recorder and
// reviews, with the reviews' clock moved forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../lib/log.ts';
import type { Identity } from '../../../gateway/authn/identity.ts';
import { loadRecordingKey } from '../../../gateway/recorder/keys.ts';
import { Recorder } from '../../../gateway/recorder/recorder.ts';
import { Notifier } from '../../../gateway/reviews/notify.ts';
import { Reviews } from '../../../gateway/reviews/reviews.ts';
import { openStore } from '../../../gateway/store/index.ts';

const person = (sub: string, groups: string[]): Identity => ({ sub, email: `${sub}@example.com`, name: sub, groups, roles: ['reviewer'], via: 'jwt', expiresAt: null } as unknown as Identity);

test('an undecided review expires: it cannot be approved afterwards, and the same request needs a new review', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    let now = Date.now();
    const recorder = new Recorder({ store, logger: silentLogger, key: await loadRecordingKey(undefined, silentLogger) });
    const reviews = new Reviews({ store, logger: silentLogger, recorder, notifier: new Notifier({ store, logger: silentLogger, webhooks: [], publicUrl: 'http://airlock.test' }), pollIntervalMs: 20, now: () => now });
    const bob = person('bob', ['developers']);
    const session = await recorder.open({ connection: 'orders', kind: 'http', subject: 'bob' });
    const hold = () => reviews.hold({
      connection: 'orders', requester: bob, session, request: { method: 'DELETE', path: '/orders/1', body: '' }, detail: { method: 'DELETE', path: '/orders/1' },
      settings: { approvals: 1, wait: 1, expires: 60, validity: 900, uses: 1 },
    });
    const first = await hold().then(() => assert.fail('held, not passed'), (err: { code: string; headers: Record<string, string> }) => err);
    assert.equal(first.code, 'GW_REVIEW_PENDING');
    const id = first.headers['x-airlock-review']!;

    now += 61_000; // past `expires`
    await assert.rejects(reviews.decide(id, person('carol', ['reviewers']), true, null), { code: 'GW_REVIEW_FORBIDDEN', message: `Review ${id} is already expired.` });
    assert.equal((await store.reviews.get(id))?.status, 'expired');
    const second = await hold().then(() => assert.fail('held, not passed'), (err: { code: string; headers: Record<string, string> }) => err);
    assert.equal(second.code, 'GW_REVIEW_PENDING');
    assert.notEqual(second.headers['x-airlock-review'], id, 'a new review');
    await recorder.close();
  } finally {
    await store.close();
  }
});
