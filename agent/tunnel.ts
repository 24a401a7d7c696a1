// One tunnel from this agent to one gateway, kept up: dial with a fresh connect token, run a
// TunnelSession over the WebSocket, hand the streams the gateway opens to agent/handlers.ts,
// and when the tunnel ends, dial again after a jittered exponential delay (agent/backoff.ts).
//
// Handover: a gateway about to stop opens a `goaway` stream. The agent then dials again at once
// (through a load balancer that lands elsewhere: the stopping gateway refuses new tunnels) while
// the old tunnel keeps serving, and adopts the new tunnel when the old one closes, so the agent is
// never without a tunnel during a rolling restart.
//
// What ends the loop: stop(), or a definitive refusal, which the gateway states with a code and
// retrying cannot fix: GW_AGENT_REVOKED or close code 4100 (revoked), GW_AGENT_NOT_ENROLLED (the
// gateway does not know this key's agent as enrolled). Every other failure (gateway down,
// restarting, 5xx, a refused token because of a clock step, too many tunnels) is retried.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { Logger } from '../lib/log.ts';
import { TunnelSession, TUNNEL_WS_CLIENT_OPTIONS, type TunnelError } from '../gateway/tunnel/index.ts';
import { mintConnectToken } from './assertion.ts';
import { Backoff } from './backoff.ts';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';
import type { GatewayUrl } from './gateway-url.ts';
import { dispatchStream } from './handlers.ts';
import type { AgentIdentity } from './identity.ts';
import { AGENT_VERSION } from './version.ts';

/**
 * Close codes the gateway sends (gateway/agents/hub.ts AGENT_CLOSE_CODES; the agent imports
 * nothing from gateway/ but the tunnel, so the numbers are repeated here and a test compares them).
 */
export const GATEWAY_CLOSE_CODES = Object.freeze({ REVOKED: 4100, GATEWAY_SHUTDOWN: 4101, TOO_MANY_TUNNELS: 4102 });

/** The open header kind of the stream a stopping gateway sends (gateway/agents/hub.ts GOAWAY_KIND). */
export const GOAWAY_KIND = 'goaway';

/** Largest refusal body read, in bytes. */
const MAX_REFUSAL_BYTES = 16 * 1024;

export interface TunnelClientOptions {
  readonly gateway: GatewayUrl;
  readonly identity: AgentIdentity;
  readonly settings: AgentConfig['tunnel'];
  readonly logger: Logger;
  /** Uniform random in [0, 1) for the backoff jitter. Default Math.random. */
  readonly random?: () => number;
}

interface Refusal { readonly status: number; readonly code: string; readonly message: string }

export class TunnelClient extends EventEmitter<{ connected: []; disconnected: [] }> {
  /** The gateway's base URL. */
  readonly gateway: string;
  /** Resolves with the definitive refusal that stopped this tunnel for good; pending otherwise. */
  readonly refused: Promise<AgentError>;

  readonly #options: TunnelClientOptions;
  readonly #logger: Logger;
  readonly #sessions = new Set<TunnelSession>();
  #up = 0; // sessions whose handshake finished and that have not closed
  #successor: Promise<{ refusal?: AgentError; upMs: number }> | undefined; // the handover's new tunnel
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #resolveRefused!: (err: AgentError) => void;

  constructor(options: TunnelClientOptions) {
    super();
    this.#options = options;
    this.gateway = options.gateway.base;
    this.#logger = options.logger.child({ gateway: this.gateway });
    this.refused = new Promise((resolve) => { this.#resolveRefused = resolve; });
  }

  /** True while the tunnel is up (handshake done). */
  get connected(): boolean { return this.#up > 0; }

  /** Starts dialling; idempotent. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops dialling and closes the tunnel (streams in flight fail with TUNNEL_CLOSED). Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await Promise.all([...this.#sessions].map((s) => s.close(1000, 'the agent is stopping')));
    await this.#loop;
  }

  // Runs until stop() or a definitive refusal; every turn after a failure waits for the backoff.
  async #run(): Promise<void> {
    const s = this.#options.settings;
    const backoff = new Backoff({ minMs: s.reconnectMinDelay * 1000, maxMs: s.reconnectMaxDelay * 1000, ...(this.#options.random ? { random: this.#options.random } : {}) });
    while (!this.#stopped) {
      let result = await this.#connectOnce();
      // The tunnel that closed had handed over: carry on with its successor, without a pause.
      while (this.#successor !== undefined && result.refusal === undefined && !this.#stopped) {
        const next = this.#successor;
        this.#successor = undefined;
        result = await next;
      }
      const { refusal, upMs } = result;
      if (refusal !== undefined) {
        this.#logger.error('tunnel refused for good; not reconnecting', { code: refusal.code, error: refusal.message });
        this.#resolveRefused(refusal);
        return;
      }
      if (this.#stopped) return;
      if (upMs >= s.stableAfter * 1000) backoff.reset();
      const delay = backoff.next();
      this.#logger.info('tunnel reconnecting', { inMs: delay });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => { clearTimeout(timer); resolve(); };
      });
      this.#wake = undefined;
    }
  }

  async #connectOnce(): Promise<{ refusal?: AgentError; upMs: number }> {
    const { identity, settings, gateway } = this.#options;
    let token: string;
    try {
      token = await mintConnectToken({ name: identity.state.name, audience: identity.state.audience, version: AGENT_VERSION, privateKey: identity.privateKey });
    } catch (err) {
      this.#logger.error('cannot sign a connect token', { err });
      return { upMs: 0 };
    }
    const connectMs = Math.round(settings.connectTimeout * 1000);
    const ws = new WebSocket(gateway.tunnel, { ...TUNNEL_WS_CLIENT_OPTIONS, headers: { authorization: `Bearer ${token}` }, handshakeTimeout: connectMs, followRedirects: false });
    const session = new TunnelSession(ws, {
      role: 'client',
      pingIntervalMs: Math.round(settings.pingInterval * 1000),
      pingTimeoutMs: Math.max(1, Math.round(settings.pingTimeout * 1000)),
      handshakeTimeoutMs: connectMs,
      logger: this.#logger,
    });
    this.#sessions.add(session);
    let refusal: Refusal | undefined;
    ws.on('unexpected-response', (_req, res) => {
      void readRefusal(res).then((r) => { refusal = r; }, () => {}).finally(() => ws.terminate());
    });
    session.on('stream', (stream) => {
      if (stream.header.kind === GOAWAY_KIND) {
        stream.destroy();
        this.#handover();
        return;
      }
      dispatchStream(stream, { agent: identity.state.name, gateway: this.gateway, logger: this.#logger });
    });
    let connectedAt: number | undefined;
    let up = false;
    void session.ready.then(() => {
      if (this.#stopped) return;
      connectedAt = Date.now();
      up = true;
      this.#up++;
      this.#logger.info('tunnel connected', { agent: identity.state.name, version: session.version });
      this.emit('connected');
    }, () => {});

    const error = await session.closed;
    this.#sessions.delete(session);
    const upMs = connectedAt === undefined ? 0 : Date.now() - connectedAt;
    if (up) {
      this.#up--;
      const fields = { closeCode: session.closeCode, ...(error === undefined ? {} : { code: error.code, error: error.message }), upMs };
      if (this.#stopped) this.#logger.info('tunnel closed', fields);
      else this.#logger.warn('tunnel disconnected', fields);
      this.emit('disconnected');
    }
    if (refusal !== undefined) return { upMs, ...this.#judgeRefusal(refusal) };
    if (session.closeCode === GATEWAY_CLOSE_CODES.REVOKED) {
      return { upMs, refusal: new AgentError('AGENT_REVOKED', `The gateway at ${this.gateway} closed the tunnel: agent ${identity.state.name} was revoked. An admin must add it again (airlock agents add ${identity.state.name}) and it must enroll anew.`) };
    }
    if (connectedAt === undefined && !this.#stopped) this.#logConnectFailure(error);
    return { upMs };
  }

  /** The gateway is going away: dial a second tunnel now; the loop adopts it when the first closes. */
  #handover(): void {
    if (this.#successor !== undefined || this.#stopped) return;
    this.#logger.info('the gateway is going away; opening a tunnel elsewhere first');
    this.#successor = this.#connectOnce();
  }

  #judgeRefusal(r: Refusal): { refusal?: AgentError } {
    const name = this.#options.identity.state.name;
    if (r.code === 'GW_AGENT_REVOKED') return { refusal: new AgentError('AGENT_REVOKED', `The gateway at ${this.gateway} refused the tunnel: ${r.message} (${r.code})`) };
    if (r.code === 'GW_AGENT_NOT_ENROLLED') {
      return { refusal: new AgentError('AGENT_NOT_ENROLLED', `The gateway at ${this.gateway} does not know agent ${name} as enrolled: ${r.message} (${r.code}); enroll again with a new token (airlock-agent enroll).`) };
    }
    this.#logger.warn('tunnel refused; retrying', { status: r.status, code: r.code, error: r.message });
    return {};
  }

  #logConnectFailure(error: TunnelError | undefined): void {
    this.#logger.warn('tunnel connect failed; retrying', error === undefined ? {} : { code: error.code, error: error.message });
  }
}

/** The gateway's coded refusal from a non-101 answer (its JSON error body). */
async function readRefusal(res: IncomingMessage): Promise<Refusal> {
  let text = '';
  for await (const chunk of res) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_REFUSAL_BYTES) break; // leaving the loop destroys the response
  }
  let code = `HTTP_${res.statusCode ?? 0}`;
  let message = `the gateway answered the tunnel upgrade with HTTP ${res.statusCode ?? 0}`;
  try {
    const body = JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v)) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string' && typeof body.error.message === 'string') {
      code = body.error.code.slice(0, 64);
      message = body.error.message.slice(0, 500);
    }
  } catch {
    // not an airlock answer (a proxy's error page): keep the status
  }
  return { status: res.statusCode ?? 0, code, message };
}
