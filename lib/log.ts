// Structured JSON logs, one object per line, shared by the gateway and the agent. Inside a
// request (see `withRequestContext`) every line carries its `requestId` without the caller
// passing it along. Fields whose names look like credentials are replaced by "[REDACTED]"
// before writing: a secret must never reach a log line.
import { AsyncLocalStorage } from 'node:async_hooks';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines all carry `fields` (e.g. `{component: 'store'}`). */
  child(fields: Record<string, unknown>): Logger;
}

interface RequestContext { requestId: string }
const requestContext = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `requestId` attached to every log line written inside it. */
export function withRequestContext<T>(requestId: string, fn: () => T): T {
  return requestContext.run({ requestId }, fn);
}

export function currentRequestId(): string | undefined {
  return requestContext.getStore()?.requestId;
}

const SENSITIVE = /^(authorization|cookie|set-cookie|password|passwd|secret|client_?secret|token|access_?token|refresh_?token|id_?token|api_?key|private_?key|credential|credentials)$/i;
const MAX_DEPTH = 6;

function redact(value: unknown, depth: number): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code, stack: value.stack };
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SENSITIVE.test(k) ? '[REDACTED]' : redact(v, depth + 1);
  return out;
}

export interface LoggerOptions {
  /** Lowest level written. Default info. */
  level?: LogLevel;
  /** Where lines go. Default process.stdout. */
  write?: (line: string) => void;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

export function createLogger(options: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => { process.stdout.write(line); });
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < min) return;
    const requestId = currentRequestId();
    const record = { time: now().toISOString(), level, msg, ...(requestId ? { requestId } : {}), ...(redact({ ...base, ...fields }, 0) as object) };
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ time: record.time, level, msg, requestId, note: 'fields not serialisable' });
    }
    write(line + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ write: () => {} });
