// Recording and reviews, assembled for one gateway process: the keys, the recorder, HTTP sessions,
// reviews with their notifier, and the background jobs — the heartbeat that tells other replicas
// this process is alive (and seals the open sessions and ledger chains of dead ones), and the
// retention purge (recorded in the ledger).
import type { Config } from '../config/schema.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import { Notifier } from '../reviews/notify.ts';
import { Reviews } from '../reviews/reviews.ts';
import type { Store } from '../store/index.ts';
import type { Logger } from '../../lib/log.ts';
import { HttpSessions } from './http-sessions.ts';
import { loadRecordingKeys, type RecordingKey, type RecordingKeys } from './keys.ts';
import { Recorder } from './recorder.ts';

const DAY_MS = 86_400_000;

export interface RecordingSystem {
  /** The key that signs now. */
  readonly key: RecordingKey;
  /** It and the retired keys, published at /api/v1/recording-key. */
  readonly keys: RecordingKeys;
  readonly recorder: Recorder;
  readonly httpSessions: HttpSessions;
  readonly reviews: Reviews;
  /** Ends open sessions, stops the jobs, forgets this process in the store. */
  stop(): Promise<void>;
}

/** `onCommit`: told of every recorder commit, seconds and whether it succeeded (metrics). */
export async function startRecording(config: Config, store: Store, connections: ConnectionRegistry, logger: Logger, publicUrl: string, onCommit?: (seconds: number, ok: boolean) => void): Promise<RecordingSystem> {
  const rc = config.recording;
  const keys = await loadRecordingKeys({ keyFile: rc.keyFile, keyNotBefore: rc.keyNotBefore, retiredKeys: rc.retiredKeys }, logger);
  const key = keys.current;
  const recorder = new Recorder({ store, logger, key, trusted: keys.published, checkpointEvery: rc.checkpointEvery, chunkBytes: rc.chunkBytes, maxEventBytes: rc.maxEventBytes, maxSessionBytes: rc.maxSessionBytes, ...(onCommit === undefined ? {} : { onCommit }) });
  const httpSessions = new HttpSessions(recorder, { idleMs: rc.httpIdle * 1000, logger });
  const notifier = new Notifier({ store, logger, webhooks: config.reviews.webhooks, attempts: config.reviews.webhookAttempts, timeoutMs: config.reviews.webhookTimeout * 1000, publicUrl, console: config.console.enabled });
  const reviews = new Reviews({ store, logger, recorder, notifier, pollIntervalMs: config.reviews.pollInterval * 1000 });

  const heartbeatMs = rc.heartbeat * 1000;
  const beat = async () => {
    const now = Date.now();
    await store.instances.beat(recorder.instance, now);
    const abandoned = await recorder.sweep(now - 3 * heartbeatMs);
    if (abandoned.length > 0) logger.warn('sessions of a gateway that stopped are marked incomplete', { sessions: abandoned.length });
  };
  await beat(); // a store that cannot take this cannot take recordings either: fail the start
  const heartbeat = setInterval(() => void beat().catch((err: unknown) => logger.error('gateway heartbeat failed', { err })), heartbeatMs);
  heartbeat.unref();

  const purge = async () => {
    for (const c of connections.list()) {
      const days = c.recording.retentionDays;
      if (days === 0) continue;
      const gone = await recorder.purge(c.name, Date.now() - days * DAY_MS);
      if (gone > 0) logger.info('recorded sessions purged', { connection: c.name, sessions: gone, retentionDays: days });
    }
  };
  const purger = setInterval(() => void purge().catch((err: unknown) => logger.error('purging recorded sessions failed', { err })), rc.purgeInterval * 1000);
  purger.unref();

  return {
    key, keys, recorder, httpSessions, reviews,
    stop: async () => {
      clearInterval(heartbeat);
      clearInterval(purger);
      await httpSessions.close();
      await recorder.close();
      await store.instances.remove(recorder.instance).catch(() => {});
    },
  };
}
