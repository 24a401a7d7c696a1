// The recorder's commits in the metrics, on a real SQLite store: each commit timed by outcome,
// and a store that stops taking writes (closed under the recorder) counted as a store error while
// the event is refused (GW_RECORDING_FAILED): an operator sees the fail-closed refusals' cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../../../gateway/errors.ts';
import { loadRecordingKeys } from '../../../gateway/recorder/keys.ts';
import { Recorder } from '../../../gateway/recorder/recorder.ts';
import { openStore } from '../../../gateway/store/index.ts';
import { Metrics } from '../../../gateway/telemetry/metrics.ts';
import { silentLogger } from '../../../lib/log.ts';
import { parsePrometheus, sumOf } from '../../support/prometheus.ts';

test('commits are timed by outcome; a store that fails the commit is a store error, and the event is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-recorder-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(`sqlite:${join(dir, 'gw.db')}`, { logger: silentLogger });
  const metrics = new Metrics();
  const keys = await loadRecordingKeys({}, silentLogger);
  const recorder = new Recorder({ store, logger: silentLogger, key: keys.current, onCommit: (seconds, ok) => metrics.commit(seconds, ok) });
  metrics.gauge('airlock_recorder_queue_depth', 'queue', [], () => [[{}, recorder.queued]]);

  const session = await recorder.open({ connection: 'crm', kind: 'http', subject: 'bob' });
  await recorder.record(session, 'request', { requestId: 'r-1' });
  let s = parsePrometheus(await metrics.render());
  assert.equal(sumOf(s, 'airlock_recorder_commit_duration_seconds_count', { outcome: 'ok' }), 2, 'the session start and the event, one commit each');
  assert.equal(sumOf(s, 'airlock_store_errors_total'), 0);
  assert.equal(sumOf(s, 'airlock_recorder_queue_depth'), 0);

  await store.close();
  await assert.rejects(recorder.record(session, 'request', { requestId: 'r-2' }), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_RECORDING_FAILED');
    assert.match(err.message, /could not record this request, so it was not forwarded/);
    return true;
  });
  s = parsePrometheus(await metrics.render());
  assert.equal(sumOf(s, 'airlock_recorder_commit_duration_seconds_count', { outcome: 'failed' }), 1);
  assert.equal(sumOf(s, 'airlock_store_errors_total', { operation: 'recording.commit' }), 1);
});

test('a gauge whose read fails says NaN (or has no sample), never a made-up 0, and counts as a store error', async () => {
  const metrics = new Metrics();
  let down = false;
  metrics.gauge('airlock_reviews_pending', 'pending', [], () => down ? Promise.reject(new Error('the store is down')) : [[{}, 3]]);
  metrics.gauge('airlock_agent_tunnels', 'tunnels', ['agent'], () => { if (down) throw new Error('gone'); return [[{ agent: 'edge' }, 2]]; });
  let s = parsePrometheus(await metrics.render());
  assert.equal(sumOf(s, 'airlock_reviews_pending'), 3);
  assert.equal(sumOf(s, 'airlock_agent_tunnels', { agent: 'edge' }), 2);
  down = true;
  s = parsePrometheus(await metrics.render());
  const pending = s.filter((x) => x.name === 'airlock_reviews_pending');
  assert.equal(pending.length, 1);
  assert.ok(Number.isNaN(pending[0]!.value), 'unknown, not the last value nor 0');
  assert.ok(!s.some((x) => x.name === 'airlock_agent_tunnels'), 'a labelled gauge has no sample');
  // Gauges are read as the scrape is rendered, so a failed read is counted from the next scrape on.
  down = false;
  s = parsePrometheus(await metrics.render());
  assert.equal(sumOf(s, 'airlock_reviews_pending'), 3, 'read again once the store answers');
  assert.equal(sumOf(s, 'airlock_store_errors_total', { operation: 'airlock_reviews_pending' }), 1);
  assert.equal(sumOf(s, 'airlock_store_errors_total', { operation: 'airlock_agent_tunnels' }), 1);
});
