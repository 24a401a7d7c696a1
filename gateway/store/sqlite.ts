// The embedded backend: one node:sqlite connection per store, WAL journal, foreign keys on.
//
// node:sqlite is synchronous, so two things need care:
// - A transaction body is async (repos await between statements). Every operation on a store
//   goes through one async lock, so nothing else runs on the connection inside a transaction.
// - Two stores on the same file in one process (tests, `airlock dev`) would deadlock: the second
//   one's BEGIN IMMEDIATE would spin in SQLite's busy handler on the only thread, while the first
//   one can never reach its COMMIT. So the lock is shared by every connection to the same file in
//   this process; between processes SQLite's own lock and busy_timeout apply.
import { mkdirSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { DriverError, closedStoreError, type Driver, type Executor, type Row, type SqlValue } from './driver.ts';

/** How long a writer waits for another process's write lock before failing, in ms. */
const BUSY_TIMEOUT_MS = 5000;
/** Prepared statements kept per connection (the SQL is static, so this is a bound, not a cache policy). */
const MAX_STATEMENTS = 500;

/** A FIFO async lock. */
class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}

const fileLocks = new Map<string, { lock: Lock; users: number }>();
let memoryDatabases = 0;

function acquireFileLock(key: string): Lock {
  const entry = fileLocks.get(key) ?? { lock: new Lock(), users: 0 };
  entry.users += 1;
  fileLocks.set(key, entry);
  return entry.lock;
}

function releaseFileLock(key: string): void {
  const entry = fileLocks.get(key);
  if (entry && --entry.users === 0) fileLocks.delete(key);
}

// SQLite result codes (https://sqlite.org/rescode.html).
const SQLITE_BUSY = 5;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

function driverError(err: unknown): DriverError {
  const code = (err as { errcode?: unknown }).errcode;
  const kind = code === SQLITE_CONSTRAINT_PRIMARYKEY || code === SQLITE_CONSTRAINT_UNIQUE ? 'unique'
    : code === SQLITE_CONSTRAINT_FOREIGNKEY ? 'foreign_key'
    : 'other';
  return new DriverError(kind, err);
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw driverError(err);
  }
}

/**
 * Switching to WAL needs an exclusive lock. When two processes create the same file at once,
 * SQLite answers BUSY straight away instead of waiting (busy_timeout does not apply), so retry
 * for up to BUSY_TIMEOUT_MS. Also the first read of the file: one that is not a database fails here.
 */
async function switchToWal(db: DatabaseSync): Promise<unknown> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
    } catch (err) {
      const code = Number((err as { errcode?: unknown }).errcode) & 0xff;
      if (code !== SQLITE_BUSY || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40));
    }
  }
}

/**
 * Opens (creating if needed, with its parent directory) the database file at `file`, an absolute
 * path or ':memory:'. Throws the underlying error when the file cannot be opened.
 */
export async function openSqliteDriver(file: string): Promise<Driver> {
  const memory = file === ':memory:';
  if (!memory) mkdirSync(dirname(file), { recursive: true });
  const db = new DatabaseSync(file, { timeout: BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true });
  let key: string;
  try {
    const mode = await switchToWal(db);
    if (!memory && mode !== 'wal') throw new Error(`could not switch the database to WAL mode (journal_mode is ${String(mode)})`);
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec('PRAGMA foreign_keys = ON');
    // WAL + NORMAL: durable across application crashes; the last transactions may be lost on power loss.
    db.exec('PRAGMA synchronous = NORMAL');
    key = memory ? `:memory:#${++memoryDatabases}` : realpathSync(file);
  } catch (err) {
    db.close();
    throw err;
  }
  const lock = acquireFileLock(key);

  const statements = new Map<string, StatementSync>();
  const statement = (sql: string): StatementSync => {
    let stmt = statements.get(sql);
    if (!stmt) {
      if (statements.size >= MAX_STATEMENTS) statements.clear();
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
  const direct = {
    query: (sql: string, params: readonly SqlValue[] = []): Row[] => wrap(() => statement(sql).all(...params).map((r) => ({ ...r }))),
    run: (sql: string, params: readonly SqlValue[] = []): number => wrap(() => Number(statement(sql).run(...params).changes)),
    exec: (sql: string): void => wrap(() => db.exec(sql)),
  };

  let closed = false;
  const guarded = <T>(fn: () => T | Promise<T>): Promise<T> => lock.run(() => {
    if (closed) throw closedStoreError();
    return fn();
  });

  return {
    backend: 'sqlite',
    query: (sql, params) => guarded(() => direct.query(sql, params)),
    run: (sql, params) => guarded(() => direct.run(sql, params)),
    exec: (sql) => guarded(() => direct.exec(sql)),
    transaction: (fn) => guarded(async () => {
      // IMMEDIATE takes the write lock now, so a transaction never fails half-way on lock upgrade.
      direct.exec('BEGIN IMMEDIATE');
      let open = true;
      const inside = <T>(f: () => T): Promise<T> => {
        if (!open) return Promise.reject(new TypeError('store transaction used after it finished'));
        try {
          return Promise.resolve(f());
        } catch (err) {
          return Promise.reject(err);
        }
      };
      const tx: Executor = {
        query: (sql, params) => inside(() => direct.query(sql, params)),
        run: (sql, params) => inside(() => direct.run(sql, params)),
        exec: (sql) => inside(() => direct.exec(sql)),
      };
      try {
        const result = await fn(tx);
        open = false;
        direct.exec('COMMIT');
        return result;
      } catch (err) {
        open = false;
        if (db.isTransaction) db.exec('ROLLBACK');
        throw err;
      }
    }),
    close: () => lock.run(() => {
      if (closed) return;
      closed = true;
      statements.clear();
      db.close();
      releaseFileLock(key);
    }),
  };
}
