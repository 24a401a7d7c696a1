// The web console's sign-ins (gateway/console/web-session.ts): rows keyed by a hash of the
// cookie's secret, their content sealed under a key only the cookie gives. Plain reads and
// writes; what the rows mean is the console's business.
import type { Driver, Executor } from './driver.ts';
import { first, num, op, optStr, str } from './ops.ts';
import type { ConsoleSessionRecord, Store } from './types.ts';

const COLUMNS = 'id, kind, subject, sealed, created_at, expires_at';

export function consoleRepos(driver: Driver, now: () => number): Pick<Store, 'consoleSessions'> {
  const db: Executor = driver;
  return {
    consoleSessions: {
      put: (rec) => op('store a console sign-in', async () => {
        await db.run(`INSERT INTO console_sessions (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, subject = excluded.subject, expires_at = excluded.expires_at`,
          [rec.id, rec.kind, rec.subject, rec.sealed, rec.createdAt, rec.expiresAt]);
      }),
      reseal: (id, sealed) => op('update a console sign-in', async () => (await db.run('UPDATE console_sessions SET sealed = ? WHERE id = ?', [sealed, id])) > 0),
      get: (id) => op('read a console sign-in', async () => {
        const r = first(await db.query(`SELECT ${COLUMNS} FROM console_sessions WHERE id = ? AND expires_at > ?`, [id, now()]));
        return r ? { id: str(r.id), kind: str(r.kind) === 'login' ? 'login' : 'session', subject: optStr(r.subject), sealed: str(r.sealed), createdAt: num(r.created_at), expiresAt: num(r.expires_at) } : null;
      }),
      remove: (id) => op('remove a console sign-in', async () => (await db.run('DELETE FROM console_sessions WHERE id = ?', [id])) > 0),
      count: (kind) => op('count console sign-ins', async () => num(first(await db.query('SELECT COUNT(*) AS n FROM console_sessions WHERE kind = ? AND expires_at > ?', [kind, now()]))?.n ?? 0)),
      purge: (before) => op('purge expired console sign-ins', () => db.run('DELETE FROM console_sessions WHERE expires_at < ?', [before ?? now()])),
    },
  };
}
