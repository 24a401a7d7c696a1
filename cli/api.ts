// The CLI's client for the gateway's API: one careful fetch (timeout, no redirects, size-capped
// body) and the gateway's JSON errors turned into one-line CLI errors. A token travels only in the
// Authorization header; no URL and no message built here ever contains one.
import { z } from 'zod';
import { CliError } from './errors.ts';
import { causeOf } from '../lib/cause.ts';

/** Milliseconds a gateway request may take. */
const TIMEOUT_MS = 10_000;
/** Largest response body read, in bytes: the API's answers are small JSON documents. */
const BODY_LIMIT = 1024 * 1024;

const infoSchema = z.object({
  name: z.literal('airlock'),
  version: z.string(),
  issuer: z.string().nullable(),
  cliClientId: z.string().min(1),
  audience: z.string().min(1),
  resource: z.string().min(1),
  devIdp: z.boolean(),
});

/** GET /api/v1/info: what `airlock login` needs. Unknown members are ignored (newer gateways may add some). */
export type GatewayInfo = z.infer<typeof infoSchema>;

const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string(), requestId: z.string().optional() }) });

export interface RequestOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Bearer token for the Authorization header. */
  readonly token?: string;
  /** Whether `token` came from $AIRLOCK_TOKEN, so a refusal says to fix that rather than to log in. Default false. */
  readonly tokenFromEnv?: boolean;
  /** JSON request body. */
  readonly body?: unknown;
  /** Milliseconds before the request is abandoned. Default 10000. */
  readonly timeoutMs?: number;
}

/** Calls `path` (e.g. `/api/v1/me`) on the gateway at `gateway` and returns its parsed JSON answer. */
export async function gatewayRequest(gateway: string, path: string, options: RequestOptions = {}): Promise<unknown> {
  const url = new URL(path.replace(/^\/+/, ''), gateway.endsWith('/') ? gateway : `${gateway}/`);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method: options.method ?? 'GET',
      headers,
      redirect: 'manual', // a redirect could carry the Authorization header somewhere else
      signal: AbortSignal.timeout(options.timeoutMs ?? TIMEOUT_MS),
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${(options.timeoutMs ?? TIMEOUT_MS) / 1000} s` : causeOf(err);
    throw new CliError('CLI_GATEWAY_UNREACHABLE', `Cannot reach the gateway at ${gateway} (${reason}); check the URL (--gateway or $AIRLOCK_GATEWAY) and that it runs.`, { cause: err });
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel();
    const to = res.headers.get('location');
    throw new CliError('CLI_REMOTE_ERROR', `The gateway at ${gateway} redirects ${path}${to ? ` to ${to}` : ''}; use the gateway's own URL with --gateway.`);
  }
  const body = await readJson(res);
  if (res.ok) {
    if (body === undefined) throw notAirlock(gateway, path, `HTTP ${res.status} without a JSON body`);
    return body;
  }
  const error = errorSchema.safeParse(body);
  if (!error.success) throw notAirlock(gateway, path, `HTTP ${res.status}`);
  const { code, message } = error.data.error;
  if (res.status === 401 && options.tokenFromEnv) {
    throw new CliError('CLI_NOT_LOGGED_IN', `The gateway at ${gateway} refused the token in $AIRLOCK_TOKEN: ${message} (${code}); set it to a current token or API key, or unset it and run \`airlock login --gateway ${gateway}\`.`);
  }
  if (res.status === 401) {
    throw new CliError('CLI_NOT_LOGGED_IN', `The gateway at ${gateway} refused your credentials: ${message} (${code}); run \`airlock login --gateway ${gateway}\`.`);
  }
  throw new CliError('CLI_REMOTE_ERROR', `${message} (${code})`);
}

/** GET /api/v1/info, checked to be an airlock gateway's answer. */
export async function fetchInfo(gateway: string): Promise<GatewayInfo> {
  const parsed = infoSchema.safeParse(await gatewayRequest(gateway, '/api/v1/info'));
  if (!parsed.success) throw notAirlock(gateway, '/api/v1/info', 'an answer that is not airlock\'s public info');
  return parsed.data;
}

async function readJson(res: Response): Promise<unknown> {
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('json') || res.body === null) {
    await res.body?.cancel();
    return undefined;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new CliError('CLI_REMOTE_ERROR', `The gateway's answer is larger than ${BODY_LIMIT} bytes; refusing to read it.`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'), (k, v: unknown) => (k === '__proto__' ? undefined : v));
  } catch {
    return undefined;
  }
}

function notAirlock(gateway: string, path: string, what: string): CliError {
  return new CliError('CLI_REMOTE_ERROR', `${gateway}${path} answered with ${what}; is ${gateway} an airlock gateway?`);
}
