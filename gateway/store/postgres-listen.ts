// LISTEN on one PostgreSQL channel, on a connection of its own (a pooled connection cannot hold a
// LISTEN: the pool hands it to other queries). The connection is kept: when it is lost, it is
// made again after `retryMs`, and `onNotify` is called once it is back, since notifications sent
// meanwhile are gone (the caller then re-reads whatever the notification would have told it).
import pg from 'pg';
import type { Logger } from '../../lib/log.ts';

export interface ListenOptions {
  readonly url: string;
  readonly channel: string;
  readonly onNotify: () => void;
  readonly logger: Logger;
  /** Milliseconds before a lost listening connection is made again. Default 1000. */
  readonly retryMs?: number;
  /** ms to establish the connection. Default 5000. */
  readonly connectTimeoutMs?: number;
}

/** Starts listening; the returned function stops (idempotent, resolves once the connection ended). */
export function listenChannel(options: ListenOptions): () => Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.channel)) throw new TypeError(`a LISTEN channel is a lower-case identifier, not ${options.channel}`);
  const retryMs = options.retryMs ?? 1000;
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;

  const connect = async (again: boolean) => {
    timer = undefined;
    if (stopped) return;
    const c = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: options.connectTimeoutMs ?? 5000, keepAlive: true, application_name: 'airlock-gateway-listen' });
    client = c;
    const lost = (err?: Error) => {
      c.removeAllListeners();
      c.on('error', () => {}); // a late error from the dropped connection must not crash the process
      void c.end().catch(() => {});
      if (stopped || client !== c) return;
      client = undefined;
      if (!failing) options.logger.warn('store notifications lost; listening again (changes are still polled meanwhile)', { channel: options.channel, ...(err ? { error: err.message } : {}) });
      failing = true;
      timer = setTimeout(() => void connect(true), retryMs).unref();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (n) => { if (n.channel === options.channel) options.onNotify(); });
    try {
      await c.connect();
      await c.query(`LISTEN ${options.channel}`);
    } catch (err) {
      lost(err as Error);
      return;
    }
    if (failing) options.logger.info('store notifications back', { channel: options.channel });
    failing = false;
    if (again) options.onNotify();
  };
  void connect(false);

  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      stopped = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      if (c !== undefined) {
        c.removeAllListeners();
        c.on('error', () => {});
        await c.end().catch(() => {});
      }
    })();
    return stopping;
  };
}
