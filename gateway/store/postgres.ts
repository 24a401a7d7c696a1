// The scale-out backend: a bounded pg.Pool. Repositories write `?` placeholders; they become
// `$1, $2, ...` here. BIGINT columns (epoch ms) come back as numbers, not pg's default strings.
import pg from 'pg';
import type { Logger } from '../../lib/log.ts';
import { DriverError, closedStoreError, type Driver, type Executor, type Row, type SqlValue } from './driver.ts';
import { listenChannel } from './postgres-listen.ts';

export interface PostgresOptions {
  /** Connections kept at most. Default 10. */
  readonly poolSize?: number;
  /** ms to establish a connection before giving up (unreachable server). Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Server-side limit on one statement, in ms. Default 15000; migrations lift it. */
  readonly statementTimeoutMs?: number;
  readonly logger: Logger;
}

const INT8_OID = 20;
// Epoch ms and offsets stay far below 2^53; a count or MAX() is BIGINT too.
const parseInt8 = (value: string) => Number(value);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

const placeholders = new Map<string, string>();
/** `?` → `$n`, skipping quoted literals. Our SQL is static, so the translation is cached. */
export function toPgPlaceholders(sql: string): string {
  let out = placeholders.get(sql);
  if (out !== undefined) return out;
  let n = 0;
  let quoted: string | undefined;
  out = '';
  for (const ch of sql) {
    if (quoted) {
      if (ch === quoted) quoted = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quoted = ch;
      out += ch;
    } else {
      out += ch === '?' ? `$${++n}` : ch;
    }
  }
  if (placeholders.size < 1000) placeholders.set(sql, out);
  return out;
}

// https://www.postgresql.org/docs/current/errcodes-appendix.html
function driverError(err: unknown): DriverError {
  const code = (err as { code?: unknown }).code;
  return new DriverError(code === '23505' ? 'unique' : code === '23503' ? 'foreign_key' : 'other', err);
}

async function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw driverError(err);
  }
}

function executor(client: pg.Pool | pg.PoolClient): Executor {
  return {
    query: (sql, params = []) => attempt(async () => (await client.query(toPgPlaceholders(sql), params as SqlValue[])).rows as Row[]),
    run: (sql, params = []) => attempt(async () => (await client.query(toPgPlaceholders(sql), params as SqlValue[])).rowCount ?? 0),
    // No parameters: the simple query protocol, which allows several statements.
    exec: (sql) => attempt(async () => { await client.query(sql); }),
  };
}

/**
 * Connects a pool to `url` and checks that the server answers. Throws the driver's error when
 * it does not (the caller words it, with the URL redacted).
 */
export async function openPostgresDriver(url: string, options: PostgresOptions): Promise<Driver> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs ?? 15_000,
    // A transaction left open by a stuck caller must not hold row or advisory locks for ever.
    idle_in_transaction_session_timeout: 60_000,
    keepAlive: true,
    application_name: 'airlock-gateway',
    types,
  });
  // An idle connection that drops emits here; without a listener it would crash the process.
  pool.on('error', (err) => options.logger.warn('store connection lost; the pool will reconnect', { error: err.message }));
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }

  const direct = executor(pool);
  const listeners = new Set<() => Promise<void>>();
  let closed = false;
  let ending: Promise<void> | undefined;
  const guard = () => {
    if (closed) throw closedStoreError();
  };

  return {
    backend: 'postgres',
    query: async (sql, params) => { guard(); return direct.query(sql, params); },
    run: async (sql, params) => { guard(); return direct.run(sql, params); },
    exec: async (sql) => { guard(); return direct.exec(sql); },
    async transaction(fn) {
      guard();
      const client = await attempt(() => pool.connect());
      let open = true;
      const inner = executor(client);
      const check = () => {
        if (!open) throw new TypeError('store transaction used after it finished');
      };
      const tx: Executor = {
        query: async (sql, params) => { check(); return inner.query(sql, params); },
        run: async (sql, params) => { check(); return inner.run(sql, params); },
        exec: async (sql) => { check(); return inner.exec(sql); },
      };
      let broken: Error | undefined;
      // A checked-out connection has no listener of the pool's: one that drops between two
      // statements (the transaction's own work in between) emits 'error', which would crash the
      // process. It is noted instead; the next statement fails, and the connection is destroyed.
      const lost = (err: Error) => { broken = err; };
      client.on('error', lost);
      try {
        await inner.exec('BEGIN');
        const result = await fn(tx);
        open = false;
        await inner.exec('COMMIT');
        return result;
      } catch (err) {
        open = false;
        await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken = rollbackErr; });
        throw err;
      } finally {
        // A connection whose ROLLBACK failed (or that was lost) is in an unknown state: destroy it, do not reuse it.
        client.removeListener('error', lost);
        client.release(broken);
      }
    },
    listen(channel, onNotify) {
      guard();
      const stop = listenChannel({ url, channel, onNotify, logger: options.logger, connectTimeoutMs: options.connectTimeoutMs ?? 5000 });
      listeners.add(stop);
      return () => {
        listeners.delete(stop);
        void stop();
      };
    },
    close() {
      closed = true;
      ending ??= Promise.all([...listeners].map((stop) => stop())).then(() => pool.end());
      return ending;
    },
  };
}
