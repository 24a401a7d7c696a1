// The agent's HTTP forwarder: streams of kind `http` carry ordinary HTTP requests from the
// gateway (served here by node:http, as if the stream were a socket); each is sent to the
// connection's target with the target's credential added (agent/credentials/: static, or minted
// for the caller the stream names), and the answer streamed back.
//
// The agent refuses targets outside `targets.allow` (a compromised gateway cannot make it dial
// anywhere), never forwards an Authorization header it did not add itself, and reports its own
// failures with a status and an `x-airlock-agent-error` code the gateway turns into its JSON error;
// a credential it cannot produce (vault, KMS, token endpoint) is CREDENTIAL_UNAVAILABLE and
// nothing is sent to the target.
import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Logger } from '../lib/log.ts';
import type { TunnelStream } from '../gateway/tunnel/index.ts';
import type { CredentialRequest } from './credentials/index.ts';
import type { StreamHandler } from './handlers.ts';
import { createWebSocketForwarder } from './websocket-forward.ts';

export type { StaticCredential } from './credentials/schema.ts';

/** The headers (lower-case names) that carry a connection's credential for one request; {} for none. */
export type CredentialHeaders = (connection: string, request: CredentialRequest) => Promise<Readonly<Record<string, string>>>;

export interface HttpForwarderOptions {
  /** Target origins the agent may reach: `http://host:port` patterns with `*` wildcards. */
  readonly allow: readonly string[];
  /**
   * The credential headers of a connection (agent/credentials/); called once per request or
   * upgrade. A rejection (vault, KMS, minting) fails that request with CREDENTIAL_UNAVAILABLE.
   */
  readonly credentialHeaders: CredentialHeaders;
  readonly logger: Logger;
  /** Milliseconds to connect to a target. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Milliseconds a target may stay silent (before the first byte, or between two). Default 60000. */
  readonly idleTimeoutMs?: number;
}

/** Error codes the agent reports in `x-airlock-agent-error` (with the HTTP status it answers). */
export const AGENT_HTTP_ERRORS = {
  TARGET_NOT_ALLOWED: 403,
  TARGET_INVALID: 400,
  TARGET_UNREACHABLE: 502,
  TARGET_TIMEOUT: 504,
  TARGET_FAILED: 502,
  CREDENTIAL_UNAVAILABLE: 502,
} as const;

/** The caller's identity the gateway put in the stream header, if any. */
export function callerOf(header: Readonly<Record<string, unknown>>): string | undefined {
  return typeof header.caller === 'string' && header.caller !== '' ? header.caller : undefined;
}

/** The stream's target, if the agent may reach it; else the refusal (code and message) to answer. */
export function targetOf(header: Readonly<Record<string, unknown>>, allowed: (origin: string) => boolean, log: Logger): URL | { code: 'TARGET_INVALID' | 'TARGET_NOT_ALLOWED'; message: string } {
  let target: URL;
  try {
    target = new URL(String(header.target));
  } catch {
    return { code: 'TARGET_INVALID', message: 'the stream names no valid target URL' };
  }
  if ((target.protocol !== 'http:' && target.protocol !== 'https:') || target.username || target.password) {
    return { code: 'TARGET_INVALID', message: 'the target must be an http(s) URL without credentials' };
  }
  if (!allowed(target.origin)) {
    log.warn('target refused: not in targets.allow', { connection: header.connection, origin: target.origin });
    return { code: 'TARGET_NOT_ALLOWED', message: `this agent does not reach ${target.origin} (targets.allow)` };
  }
  return target;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

function globRe(pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*') + '$');
}

export function createHttpForwarder(options: HttpForwarderOptions): StreamHandler {
  const allow = options.allow.map(globRe);
  const allowed = (origin: string) => allow.some((re) => re.test(origin));
  const connectMs = options.connectTimeoutMs ?? 5000;
  const idleMs = options.idleTimeoutMs ?? 60_000;
  const log = options.logger;

  // Connections to targets are kept alive and reused, as a client of the target would.
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 256 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 256 }) };
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5000 }, (req, res) => {
    const header = (req.socket as unknown as TunnelStream).header;
    forward(req, res, header).catch((err: unknown) => fail(res, 'TARGET_FAILED', `the agent failed to forward: ${(err as Error).message}`));
  });
  // WebSocket upgrades through /proxy: the same allowlist and credential, then bytes both ways (the gateway inspects the messages).
  server.on('upgrade', createWebSocketForwarder({ allowed, credentialHeaders: options.credentialHeaders, logger: log, connectTimeoutMs: connectMs }));

  /** Logs why the credential of `connection` is unavailable (code and message name the connection, never a value) and returns the client's sentence. */
  function credentialFailure(connection: string, err: unknown): string {
    const code = (err as { code?: unknown })?.code;
    log.error('credential unavailable', { connection, code, error: (err as Error)?.message });
    return `the agent cannot produce the credential of connection ${connection}${typeof code === 'string' ? ` (${code})` : ''}; its log has the detail`;
  }

  function fail(res: ServerResponse, code: keyof typeof AGENT_HTTP_ERRORS, message: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = JSON.stringify({ error: { code: `AGENT_${code}`, message } });
    res.writeHead(AGENT_HTTP_ERRORS[code], { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-airlock-agent-error': code });
    res.end(body);
  }

  // A stream carries request after request with the same open header: its allowed target is
  // worked out once per stream (refusals are not kept, so each one is logged).
  const targets = new WeakMap<object, URL>();

  async function forward(req: IncomingMessage, res: ServerResponse, header: Readonly<Record<string, unknown>>): Promise<void> {
    const connection = typeof header.connection === 'string' ? header.connection : '';
    const target = targets.get(header) ?? targetOf(header, allowed, log);
    if (!(target instanceof URL)) return fail(res, target.code, target.message);
    targets.set(header, target);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP.has(k) && k !== 'authorization' && k !== 'host') headers[k] = v;
    }
    headers.host = target.host;
    let injected: Readonly<Record<string, string>>;
    try {
      injected = await options.credentialHeaders(connection, { caller: callerOf(header), target });
    } catch (err) {
      return fail(res, 'CREDENTIAL_UNAVAILABLE', credentialFailure(connection, err));
    }
    for (const [name, value] of Object.entries(injected)) headers[name] = value;

    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = send({
      protocol: target.protocol, hostname: target.hostname, port: target.port || undefined,
      method: req.method, path: req.url, headers, timeout: connectMs,
      agent: target.protocol === 'https:' ? agents.https : agents.http,
    });
    let connected = false;
    upstream.on('socket', (socket) => {
      const ready = () => {
        connected = true;
        upstream.setTimeout(idleMs);
      };
      if (!socket.connecting) ready(); // a kept-alive socket, reused
      else socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', ready);
    });
    upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('timeout'), { code: connected ? 'ETIMEDOUT_IDLE' : 'ETIMEDOUT_CONNECT' })));
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      const timedOut = err.code === 'ETIMEDOUT_IDLE' || err.code === 'ETIMEDOUT_CONNECT';
      log.warn('target request failed', { connection, origin: target.origin, code: err.code });
      fail(res, timedOut ? 'TARGET_TIMEOUT' : 'TARGET_UNREACHABLE', timedOut
        ? `${target.origin} did not answer within ${(err.code === 'ETIMEDOUT_CONNECT' ? connectMs : idleMs) / 1000} s`
        : `${target.origin} cannot be reached (${err.code ?? 'error'})`);
    });
    upstream.on('response', (answer) => {
      const out: Record<string, string | string[]> = {};
      // A target cannot speak for the agent: its own x-airlock-agent-error would pass for ours.
      for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP.has(k) && k !== 'x-airlock-agent-error') out[k] = v;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    req.pipe(upstream);
    req.on('error', () => upstream.destroy());
    res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
  }

  return (stream) => {
    server.emit('connection', stream);
  };
}
