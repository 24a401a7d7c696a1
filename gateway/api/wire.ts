// Values as they cross the API: query parameters in, parsed strictly (a bad value is a
// GW_BAD_REQUEST naming the parameter and what it takes, never a silent default); dates out, as
// ISO 8601 text (the store keeps epoch ms).
import { GatewayError } from '../errors.ts';

/** An ISO 8601 date as epoch ms; undefined when the parameter is absent. */
export function dateParam(raw: string | null, name: string): number | undefined {
  if (raw === null) return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new GatewayError('GW_BAD_REQUEST', `${name}=${raw.slice(0, 40)} is not a date (use ISO 8601, e.g. 2026-11-22T10:00:00Z).`);
  return ms;
}

/** Decimal digits from `min` (default 1) to `max`; `fallback` when the parameter is absent. */
export function intParam(raw: string | null, fallback: number, max: number, name: string, min = 1): number {
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d{1,16}$/.test(raw) || n < min || n > max) throw new GatewayError('GW_BAD_REQUEST', `${name} must be an integer from ${min} to ${max}.`);
  return n;
}

/** Epoch ms as ISO 8601 text (null stays null). */
export const isoDate = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
