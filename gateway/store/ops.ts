// What every repository shares: running an operation with coded errors, and row decoding.
import { GatewayError } from '../errors.ts';
import { DriverError, type Row } from './driver.ts';

/**
 * Runs one store operation. Our own coded errors and API misuse (TypeError) pass through; a
 * unique/foreign-key violation becomes GW_STORE_CONFLICT when `wordConflict` words it; anything else
 * is GW_STORE_UNAVAILABLE with the driver error as `cause` (the message never carries it).
 */
export async function op<T>(what: string, fn: () => Promise<T>, wordConflict?: (err: DriverError) => string | Promise<string>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GatewayError || err instanceof TypeError) throw err;
    if (err instanceof DriverError && err.kind !== 'other' && wordConflict) {
      const message = await Promise.resolve().then(() => wordConflict(err)).catch(() => `cannot ${what}: it conflicts with what is stored`);
      throw new GatewayError('GW_STORE_CONFLICT', message, { cause: err });
    }
    throw new GatewayError('GW_STORE_UNAVAILABLE', `The store could not ${what}; check that the database is reachable, then retry.`, { cause: err });
  }
}

export function conflict(message: string): never {
  throw new GatewayError('GW_STORE_CONFLICT', message);
}

export const str = (v: unknown): string => String(v);
export const num = (v: unknown): number => Number(v);
export const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
export const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
export const q = (name: string) => JSON.stringify(name);

export function first(rows: Row[]): Row | undefined {
  return rows[0];
}

export function positiveInt(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${what} must be a positive integer, got ${value}`);
}
