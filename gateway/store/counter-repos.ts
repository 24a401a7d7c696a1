// What replicas count and claim together, each in one statement so replicas acting at once never
// lose a unit or both win: the limits' counters (gateway/limits/: one row per limit, key and
// window, an upsert that returns the new total) and agent connect tokens used (an insert that
// does nothing when the row exists).
import type { Driver, Executor } from './driver.ts';
import { first, num, op } from './ops.ts';
import type { Store } from './types.ts';

export function counterRepos(driver: Driver, now: () => number): Pick<Store, 'counters'> {
  const db: Executor = driver;
  return {
    counters: {
      add: (key, amount, expiresAt) => op('count usage of a limit', async () => {
        if (!Number.isSafeInteger(amount)) throw new TypeError(`a counter changes by an integer, got ${amount}`);
        const row = first(await db.query(
          'INSERT INTO limit_counters (key, used, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET used = limit_counters.used + excluded.used RETURNING used',
          [key, amount, expiresAt]));
        return num(row?.used ?? 0);
      }),
      get: (key) => op('read usage of a limit', async () => num(first(await db.query('SELECT used FROM limit_counters WHERE key = ?', [key]))?.used ?? 0)),
      list: (options = {}) => op('list limit counters', async () => {
        const rows = await db.query('SELECT key, used, expires_at FROM limit_counters WHERE expires_at > ? AND used > 0 ORDER BY used DESC, key LIMIT ?',
          [options.after ?? now(), Math.min(Math.max(1, options.limit ?? 1000), 10_000)]);
        return rows.map((r) => ({ key: String(r.key), used: num(r.used), expiresAt: num(r.expires_at) }));
      }),
      purge: (before) => op('purge expired limit counters', () => db.run('DELETE FROM limit_counters WHERE expires_at < ?', [before ?? now()])),
    },
  };
}

export function connectTokenRepos(driver: Driver, now: () => number): Pick<Store, 'connectTokens'> {
  const db: Executor = driver;
  return {
    connectTokens: {
      claim: (agent, jti, expiresAt) => op('record an agent connect token', async () => {
        await db.run('DELETE FROM connect_token_uses WHERE agent = ? AND expires_at < ?', [agent, now()]);
        return (await db.run('INSERT INTO connect_token_uses (agent, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (agent, jti) DO NOTHING', [agent, jti, expiresAt])) === 1;
      }),
      purge: (before) => op('purge used agent connect tokens', () => db.run('DELETE FROM connect_token_uses WHERE expires_at < ?', [before ?? now()])),
    },
  };
}
