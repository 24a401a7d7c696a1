// The agent's half of a WebSocket through /proxy: the gateway's WebSocket client sends its
// upgrade request over an `http` stream; node:http (the HTTP forwarder's server) hands it here.
// The same rules as for requests apply (only origins in `targets.allow`, never an Authorization
// the agent did not add, the connection's credential injected); then the request goes to the
// target over a fresh TCP (or TLS) connection and the bytes are piped both ways unparsed: the
// target's answer, 101 or not, reaches the gateway as sent, and the gateway inspects each message.
//
// Failures before the target is reached are HTTP errors on the stream with an
// `x-airlock-agent-error` code, as the HTTP forwarder answers them.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '../lib/log.ts';
import type { TunnelStream } from '../gateway/tunnel/index.ts';
import { callerOf, targetOf, type AGENT_HTTP_ERRORS, type CredentialHeaders } from './http-forward.ts';

export interface WebSocketForwarderOptions {
  /** Whether this agent may reach `origin` (its targets.allow). */
  allowed(origin: string): boolean;
  /** The credential headers the agent adds for a connection (agent/credentials/); rejects when it cannot produce them. */
  readonly credentialHeaders: CredentialHeaders;
  readonly logger: Logger;
  /** Milliseconds to connect (TCP, and TLS for https targets) to a target. Default 5000. */
  readonly connectTimeoutMs?: number;
}

type AgentErrorCode = keyof typeof AGENT_HTTP_ERRORS;
/** The HTTP forwarder's statuses (tsc checks the two tables agree). */
const STATUS = {
  TARGET_NOT_ALLOWED: 403, TARGET_INVALID: 400, TARGET_UNREACHABLE: 502, TARGET_TIMEOUT: 504, TARGET_FAILED: 502, CREDENTIAL_UNAVAILABLE: 502,
} as const satisfies typeof AGENT_HTTP_ERRORS;

/** Request headers that never cross: hop-by-hop ones (the upgrade's own are written anew), and the caller's credentials. */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'authorization', 'host', 'content-length']);
/** A header value as HTTP allows it on the wire (no CR, LF or NUL). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** After the gateway's side closed cleanly, how long a target may take to close its side, in ms. */
const LINGER_MS = 5000;

/** The node:http 'upgrade' listener for the HTTP forwarder's server. */
export function createWebSocketForwarder(options: WebSocketForwarderOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const connectMs = options.connectTimeoutMs ?? 5000;
  const log = options.logger;

  return (req, socket, head) => {
    const header = (socket as TunnelStream).header ?? {};
    const connection = typeof header.connection === 'string' ? header.connection : '';
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return refuse(socket, 'TARGET_INVALID', 'only WebSocket upgrades are forwarded');
    const target = targetOf(header, options.allowed, log);
    if (!(target instanceof URL)) return refuse(socket, target.code, target.message);
    options.credentialHeaders(connection, { caller: callerOf(header), target }).then(
      (injected) => dial(req, socket, head, target, connection, injected),
      (err: unknown) => {
        log.error('websocket upgrade not forwarded: the credential is unavailable', { connection, code: (err as { code?: string }).code, error: (err as Error)?.message });
        refuse(socket, 'CREDENTIAL_UNAVAILABLE', `the agent cannot produce the credential of connection ${connection} (${(err as { code?: string }).code ?? 'error'}); see its log`);
      },
    );
  };

  function dial(req: IncomingMessage, socket: Duplex, head: Buffer, target: URL, connection: string, injectedHeaders: Readonly<Record<string, string>>): void {
    const requestHead = upgradeRequest(req, target, injectedHeaders);
    if (typeof requestHead !== 'string') {
      log.error('websocket upgrade not forwarded', { connection, reason: requestHead.error });
      return refuse(socket, 'TARGET_FAILED', requestHead.error);
    }

    const secure = target.protocol === 'https:';
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(target.port || (secure ? 443 : 80));
    const upstream: Socket = secure
      ? tlsConnect({ host, port, ALPNProtocols: ['http/1.1'], ...(isIP(host) === 0 ? { servername: host } : {}) })
      : netConnect({ host, port });
    let connected = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      upstream.destroy();
    }, connectMs);
    upstream.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      connected = true;
      upstream.write(requestHead);
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return log.debug('websocket target connection failed', { connection, origin: target.origin, code: err.code });
      log.warn('target request failed', { connection, origin: target.origin, code: err.code });
      refuse(socket, 'TARGET_UNREACHABLE', `${target.origin} cannot be reached (${err.code ?? 'error'})`);
    });
    upstream.once('close', () => {
      clearTimeout(timer);
      if (!connected && timedOut) return refuse(socket, 'TARGET_TIMEOUT', `${target.origin} did not accept a connection within ${connectMs / 1000} s`);
      // A clean end was passed on by pipe(); anything else cuts the gateway's side too.
      if (connected && !upstream.readableEnded) socket.destroy();
    });
    socket.once('close', () => {
      if (!socket.readableEnded || !connected) upstream.destroy(); // the gateway's side was cut, or left before the target answered
      else if (!upstream.readableEnded) setTimeout(() => upstream.destroy(), LINGER_MS).unref(); // nobody reads the target any more
    });
  }
}

/**
 * The upgrade request as the target gets it: the gateway's request line and headers minus the
 * dropped ones, Host of the target, the connection's credential; or why it cannot be sent.
 */
function upgradeRequest(req: IncomingMessage, target: URL, injectedHeaders: Readonly<Record<string, string>>): string | { error: string } {
  const url = req.url ?? '';
  if (!url.startsWith('/')) return { error: 'the upgrade request has no origin-form path' };
  const injected = Object.entries(injectedHeaders);
  if (injected.some(([, v]) => !FIELD_VALUE.test(v))) return { error: 'the credential configured for this connection is not a valid header value' };
  const replaced = new Set(injected.map(([name]) => name));
  const lines = [`GET ${url} HTTP/1.1`, `host: ${target.host}`, 'connection: Upgrade', 'upgrade: websocket'];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) { // bounded by the headers node:http parsed
    const name = raw[i]!.toLowerCase();
    if (DROPPED.has(name) || replaced.has(name)) continue;
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  for (const [name, value] of injected) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Answers the gateway with an HTTP error it maps to its own code, then closes the stream. */
function refuse(socket: Duplex, code: AgentErrorCode, message: string): void {
  if (socket.destroyed || socket.writableEnded) return;
  const body = JSON.stringify({ error: { code: `AGENT_${code}`, message } });
  const status = STATUS[code];
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-airlock-agent-error: ${code}\r\nconnection: close\r\n\r\n${body}`);
}
