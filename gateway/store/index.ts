// Opening the store named by store.url: pick the backend by scheme, connect, migrate.
//   sqlite:<path>         embedded default; path relative to cwd, parent directory created
//   sqlite::memory:       tests only (gone when closed)
//   postgres://… / postgresql://…   shared by several gateway replicas
// Whatever goes wrong names the URL with its password replaced by ***.
import { resolve } from 'node:path';
import { GatewayError } from '../errors.ts';
import { silentLogger, type Logger } from '../../lib/log.ts';
import { DriverError, type Driver } from './driver.ts';
import { runMigrations } from './migrations.ts';
import { openPostgresDriver } from './postgres.ts';
import { createStore } from './repos.ts';
import { openSqliteDriver } from './sqlite.ts';
import type { Store } from './types.ts';

export type * from './types.ts';
export { LATEST_VERSION } from './migrations.ts';

export interface OpenStoreOptions {
  /** Where applied migrations and dropped connections are logged. Default: nowhere. */
  readonly logger?: Logger;
  /** Base directory for a relative sqlite path. Default process.cwd(). */
  readonly cwd?: string;
  /** Clock for createdAt/updatedAt/applied_at, epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** PostgreSQL: ms to establish a connection before the store counts as unreachable. Default 5000. */
  readonly connectTimeoutMs?: number;
}

type Target = { backend: 'sqlite'; file: string } | { backend: 'postgres'; url: string };

const ACCEPTED = 'sqlite:<path> (e.g. sqlite:./data/airlock.db, relative to the working directory), sqlite::memory: (tests), or postgres://user:password@host:5432/database';

function parseStoreUrl(url: string, cwd: string): Target {
  const sqlite = /^sqlite:(.*)$/is.exec(url);
  if (sqlite) {
    const path = sqlite[1]!;
    if (path === ':memory:') return { backend: 'sqlite', file: ':memory:' };
    if (path === '' || path.startsWith('//')) {
      throw new GatewayError('GW_CONFIG_INVALID', `store.url "${redactUrl(url)}" does not name a file; use ${ACCEPTED}.`);
    }
    return { backend: 'sqlite', file: resolve(cwd, path) };
  }
  if (/^postgres(ql)?:\/\//i.test(url)) return { backend: 'postgres', url };
  throw new GatewayError('GW_CONFIG_INVALID', `store.url "${redactUrl(url)}" is not supported; use ${ACCEPTED}.`);
}

/**
 * Opens the store at `url` (see the list above), applies missing migrations and returns it.
 * Throws GatewayError: GW_CONFIG_INVALID for a URL of another form, GW_STORE_UNAVAILABLE when the
 * database cannot be opened or reached, GW_STORE_MIGRATION when its schema cannot be brought up
 * to date (or is newer than this code).
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const logger = options.logger ?? silentLogger;
  const label = redactUrl(url);
  const target = parseStoreUrl(url, options.cwd ?? process.cwd());
  let driver: Driver;
  try {
    driver = target.backend === 'sqlite'
      ? await openSqliteDriver(target.file)
      : await openPostgresDriver(target.url, { logger, ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }) });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_INVALID_URL') {
      throw new GatewayError('GW_CONFIG_INVALID', `store.url "${label}" is not a valid URL; use ${ACCEPTED}.`, { cause: err });
    }
    throw unreachable(url, err);
  }
  try {
    await runMigrations(driver, { label, logger, ...(options.now ? { now: options.now } : {}) });
  } catch (err) {
    await driver.close().catch(() => {});
    throw err instanceof GatewayError ? err : unreachable(url, err);
  }
  logger.debug('store opened', { backend: driver.backend, url: label });
  return createStore(driver, options.now ? { now: options.now } : {});
}

function unreachable(url: string, err: unknown): GatewayError {
  return new GatewayError('GW_STORE_UNAVAILABLE',
    `Cannot reach the store at ${redactUrl(url)}: ${scrub(reasonOf(err), url)}; check store.url / AIRLOCK_STORE_URL and that the database is running.`,
    { cause: err });
}

/** A short reason from a driver or system error (net errors may be an AggregateError with no message). */
function reasonOf(err: unknown): string {
  const e = err instanceof DriverError ? err.cause : err;
  if (e instanceof AggregateError && e.errors.length > 0) return [...new Set(e.errors.map(reasonOf))].join('; ');
  if (e instanceof Error) return e.message || String((e as { code?: unknown }).code ?? e.name);
  return String(e);
}

/** Removes the URL's password from a text, in case a driver quoted it. */
function scrub(text: string, url: string): string {
  const secrets = new Set<string>();
  try {
    const u = new URL(url);
    for (const raw of [u.password, ...[...u.searchParams].filter(([k]) => /pass/i.test(k)).map(([, v]) => v)]) {
      if (!raw) continue;
      secrets.add(raw);
      try { secrets.add(decodeURIComponent(raw)); } catch { /* not percent-encoded */ }
    }
  } catch {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]*:(.*)@/i.exec(url);
    if (m?.[1]) secrets.add(m[1]);
  }
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/**
 * The URL with any password (userinfo or a `password`-like query parameter) replaced by `***`.
 * Never throws: input it cannot parse is redacted by pattern.
 */
export function redactUrl(url: string): string {
  try {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      const params = [...parsed.searchParams.keys()].filter((k) => /pass/i.test(k));
      if (!parsed.password && params.length === 0) return url;
      if (parsed.password) parsed.password = '***';
      for (const k of params) parsed.searchParams.set(k, '***');
      return parsed.href.replace(/%2A%2A%2A/g, '***');
    }
    return String(url)
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:).*@/i, '$1***@')
      .replace(/([?&][^=&]*pass[^=&]*=)[^&#]*/gi, '$1***');
  } catch {
    return '(unprintable store URL)';
  }
}
