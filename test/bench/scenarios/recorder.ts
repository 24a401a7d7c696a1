// Durable recorder events per second (issue 8), on SQLite (a file, WAL) and on PostgreSQL (a real
// server started here): 32 concurrent writers across 8 sessions, each awaiting its event's
// durability before the next — the way requests do — so the group commit is what is measured.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../lib/log.ts';
import { loadRecordingKey } from '../../../gateway/recorder/keys.ts';
import { Recorder } from '../../../gateway/recorder/recorder.ts';
import { openStore, type Store } from '../../../gateway/store/index.ts';
import { startPostgres } from '../../support/postgres.ts';
import type { Metric, Scenario } from '../scenario.ts';

const WRITERS = 32;
const SESSIONS = 8;
const MAX_EVENTS = 200_000;
const MAX_MS = 2000;

async function measure(store: Store): Promise<{ perSecond: number; p50: number; p99: number }> {
  const recorder = new Recorder({ store, logger: silentLogger, key: await loadRecordingKey(undefined, silentLogger) });
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => recorder.open({ connection: 'bench', kind: 'http', subject: `user-${i}` })));
  const body = { customers: [{ name: 'Ada', card: '[CREDIT_CARD …1111]', visits: 3 }] };
  let count = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    const session = sessions[w % SESSIONS]!;
    while (count < MAX_EVENTS && performance.now() - t0 < MAX_MS) {
      const s = performance.now();
      await recorder.record(session, 'response', { status: 200, ms: 1 }, body);
      latencies.push(performance.now() - s);
      count++;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  await recorder.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: count / seconds, p50: latencies[Math.floor(latencies.length / 2)]!, p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

function figures(backend: string, r: { perSecond: number; p50: number; p99: number }): Metric[] {
  return [
    { name: `recorder ${backend} events/s`, value: r.perSecond, unit: 'ev/s' },
    { name: `recorder ${backend} p50 per event`, value: r.p50, unit: 'ms' },
    { name: `recorder ${backend} p99 per event`, value: r.p99, unit: 'ms' },
  ];
}

const scenario: Scenario = {
  name: 'recorder',
  repeats: 1,
  async run() {
    const metrics: Metric[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-recorder-'));
    try {
      const sqlite = await openStore(`sqlite:${join(dir, 'bench.db')}`);
      try {
        metrics.push(...figures('sqlite', await measure(sqlite)));
      } finally {
        await sqlite.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const pg = await startPostgres();
    try {
      const store = await openStore(pg.url);
      try {
        metrics.push(...figures('postgres', await measure(store)));
      } finally {
        await store.close();
      }
    } finally {
      await pg.stop();
    }
    return metrics;
  },
};
export default scenario;
