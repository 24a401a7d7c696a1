// The little a backend has to provide so the repositories (repos.ts) and the migration runner
// (migrations.ts) can be written once: run SQL with `?` placeholders, inside or outside a
// transaction. Drivers translate their own failures into a DriverError with a portable `kind`.
import { GatewayError } from '../errors.ts';

/** What may be bound to a `?`. Timestamps are numbers (epoch ms); JSON is bound as text. */
export type SqlValue = string | number | null;
export type Row = Record<string, unknown>;

export interface Executor {
  /** Rows of a SELECT (or of a statement with RETURNING). */
  query(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** A write; resolves with the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Driver extends Executor {
  readonly backend: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. SQLite
   * takes the write lock up front (BEGIN IMMEDIATE); PostgreSQL runs READ COMMITTED.
   */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
  /**
   * Calls `onNotify` whenever a notification on `channel` arrives (PostgreSQL LISTEN, on a
   * connection of its own that reconnects after a loss, calling `onNotify` once reconnected, since
   * notifications in between are lost). Absent where the backend has no notifications (SQLite: one
   * host, polling is enough). Returns the unsubscribe function; close() also ends it.
   */
  listen?(channel: string, onNotify: () => void): () => void;
  /** Idempotent. */
  close(): Promise<void>;
}

export type DriverErrorKind = 'unique' | 'foreign_key' | 'other';

/** A backend failure with a portable kind; the driver's own error is the `cause`. */
export class DriverError extends Error {
  readonly kind: DriverErrorKind;

  constructor(kind: DriverErrorKind, cause: unknown) {
    super(`store driver error (${kind}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DriverError';
    this.kind = kind;
  }
}

export function closedStoreError(): GatewayError {
  return new GatewayError('GW_STORE_UNAVAILABLE', 'The store is closed (the gateway is shutting down); retry against another replica.');
}
