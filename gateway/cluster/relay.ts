// The relay between replicas: a replica that has no tunnel of an agent opens the stream on a
// replica that has one, over that replica's internal cluster listener. The relay is the tunnel
// protocol itself (gateway/tunnel/): each replica keeps one TunnelSession per peer it relays to,
// over one WebSocket, and each relayed stream is one tunnel stream whose open header names the
// agents and carries the open header the agent will read.
//
//   receiving replica: authn → route → guard (inspect, policy, review) → record → hub.open
//     → no tunnel here → RelayClient.open → [cluster WebSocket] → RelayListener
//     → hub.open(localOnly) → the agent's tunnel → agent → target
//
// The stream is already judged when it leaves the receiving replica: the guard decided and the
// recorder wrote there, and what flows back is inspected and masked there too. The replica that
// holds the tunnel only splices bytes between the two streams; it judges nothing and records
// nothing, so one request is decided once, by one guard, into one session. That is safe because
// only replicas holding the cluster secret may open relay streams (auth.ts, both directions), and
// fail closed: a relay stream that cannot be opened or authenticated fails the request.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { listen, ListenError } from '../../lib/listen.ts';
import type { Logger } from '../../lib/log.ts';
import { GatewayError, errorBody } from '../errors.ts';
import type { AgentHub } from '../agents/hub.ts';
import { TunnelSession, TUNNEL_WS_CLIENT_OPTIONS, TUNNEL_WS_SERVER_OPTIONS, type TunnelStream } from '../tunnel/index.ts';
import { answerProof, answerValid, callProof, CallVerifier, CLUSTER_ANSWER_HEADER, CLUSTER_HEADER } from './auth.ts';

export const RELAY_PATH = '/cluster/v1/relay';
const AGENT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** What a relay stream's open header holds. */
interface RelayHeader { readonly agents: readonly string[]; readonly open: Record<string, unknown> }

function relayHeader(header: Record<string, unknown>): RelayHeader | undefined {
  const { agents, open } = header;
  if (!Array.isArray(agents) || agents.length < 1 || agents.length > 16 || !agents.every((a) => typeof a === 'string' && AGENT_NAME.test(a))) return undefined;
  if (typeof open !== 'object' || open === null || Array.isArray(open)) return undefined;
  return { agents: agents as string[], open: open as Record<string, unknown> };
}

/** Splices two socket-like streams: bytes and half-closes both ways; a failure or close of one ends the other. */
export function splice(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  const end = (other: Duplex) => () => { if (!other.destroyed) other.destroy(); };
  a.on('error', () => {});
  b.on('error', () => {});
  a.once('close', end(b));
  b.once('close', end(a));
}

export interface RelayListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  /** This replica's id (proofs must name it). */
  readonly self: string;
  readonly hub: AgentHub;
  readonly logger: Logger;
}

/** The internal listener: refuses everything but an authenticated relay upgrade from another replica. */
export async function startRelayListener(o: RelayListenerOptions): Promise<{ readonly server: Server; port: number; close(): Promise<void> }> {
  const verifier = new CallVerifier({ secret: o.secret, self: o.self });
  const wss = new WebSocketServer({ noServer: true, ...TUNNEL_WS_SERVER_OPTIONS });
  const answers = new WeakMap<IncomingMessage, string>();
  wss.on('headers', (headers, req) => {
    const answer = answers.get(req);
    if (answer !== undefined) headers.push(`${CLUSTER_ANSWER_HEADER}: ${answer}`);
  });
  const sessions = new Set<TunnelSession>();
  const refuse = (socket: Duplex, err: GatewayError) => {
    const body = JSON.stringify(errorBody(err, 'cluster'));
    socket.end(`HTTP/1.1 ${err.status} ${err.status === 401 ? 'Unauthorized' : 'Not Found'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, () => socket.destroy());
  };
  const server = createServer((req, res) => {
    // Plain requests: the listener serves none. Authentication is said first, so a prober learns nothing else.
    let err: GatewayError;
    try {
      verifier.verify(req.headers[CLUSTER_HEADER]);
      err = new GatewayError('GW_NOT_FOUND', `The cluster listener serves only ${RELAY_PATH} (a WebSocket upgrade).`);
    } catch (e) {
      err = e as GatewayError;
    }
    res.writeHead(err.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' }).end(JSON.stringify(errorBody(err, 'cluster')));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    let from: string;
    let nonce: string;
    try {
      ({ from, nonce } = verifier.verify(req.headers[CLUSTER_HEADER]));
    } catch (err) {
      o.logger.warn('cluster listener refused a call', { remote: req.socket.remoteAddress, error: (err as Error).message });
      refuse(socket, err as GatewayError);
      return;
    }
    if (new URL(req.url ?? '/', 'http://x').pathname !== RELAY_PATH || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      refuse(socket, new GatewayError('GW_NOT_FOUND', `The cluster listener serves only ${RELAY_PATH} (a WebSocket upgrade).`));
      return;
    }
    answers.set(req, answerProof(o.secret, o.self, from, nonce));
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new TunnelSession(ws, { role: 'server', pingIntervalMs: 5000, pingTimeoutMs: 5000, maxStreams: 4096, logger: o.logger.child({ relayFrom: from }) });
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      session.on('stream', (stream) => serveRelayed(stream, o.hub, o.logger));
    });
  });
  let address;
  try {
    address = await listen(server, o.host, o.port, 'cluster.port in airlock.yaml or AIRLOCK_CLUSTER_PORT');
  } catch (err) {
    throw err instanceof ListenError ? new GatewayError('GW_PORT_IN_USE', err.message, { cause: err.cause }) : err;
  }
  return {
    server,
    port: address.port,
    async close() {
      await Promise.all([...sessions].map((s) => s.close(1000, 'the replica is stopping')));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A relay stream from another replica: opened on a local tunnel of one of its agents, then spliced. */
function serveRelayed(stream: TunnelStream, hub: AgentHub, logger: Logger): void {
  const header = relayHeader(stream.header);
  if (header === undefined) {
    stream.reset('GW_BAD_REQUEST', 'a relay stream names its agents and their open header');
    return;
  }
  let local: TunnelStream;
  try {
    local = hub.open(header.agents, header.open, { localOnly: true });
  } catch (err) {
    const code = err instanceof GatewayError ? err.code : 'GW_AGENT_OFFLINE';
    logger.info('relay stream refused: no tunnel of its agents here', { agents: header.agents, code });
    stream.reset(code, 'no tunnel of the agent on the relaying replica; retry');
    return;
  }
  splice(stream, local);
}

export interface RelayClientOptions {
  readonly self: string;
  readonly secret: string;
  readonly logger: Logger;
  /** Called when the relay session to a peer ended with an error (its routes are stale). */
  readonly onPeerLost?: (replica: string) => void;
}

/** The calling side: one relay session per peer replica, made on first use and again after it ends. */
export class RelayClient {
  readonly #o: RelayClientOptions;
  readonly #sessions = new Map<string, TunnelSession>();
  #closed = false;

  constructor(options: RelayClientOptions) {
    this.#o = options;
  }

  /**
   * A stream to one of `agents` through replica `replica` at `url`, opened with `open` as the
   * agent's open header. Synchronous like the hub's open: frames wait for the session's handshake.
   */
  open(replica: string, url: string, agents: readonly string[], open: Record<string, unknown>): TunnelStream {
    if (this.#closed) throw new GatewayError('GW_SHUTTING_DOWN', 'The gateway is shutting down; retry (another replica will answer).');
    let session = this.#sessions.get(replica);
    if (session === undefined || session.state === 'closing' || session.state === 'closed') {
      session = this.#connect(replica, url);
      this.#sessions.set(replica, session);
    }
    return session.open({ agents, open });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#sessions.values()].map((s) => s.close(1000, 'the replica is stopping')));
    this.#sessions.clear();
  }

  #connect(replica: string, url: string): TunnelSession {
    const { header, nonce } = callProof(this.#o.secret, this.#o.self, replica);
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${RELAY_PATH}`, { ...TUNNEL_WS_CLIENT_OPTIONS, headers: { [CLUSTER_HEADER]: header }, handshakeTimeout: 5000, followRedirects: false });
    ws.on('upgrade', (res) => {
      // The peer must prove it holds the secret too, before any stream crosses.
      if (!answerValid(this.#o.secret, replica, this.#o.self, nonce, res.headers[CLUSTER_ANSWER_HEADER] as string | undefined)) {
        this.#o.logger.error('relay peer did not prove the cluster secret; not relaying to it', { replica, url });
        ws.terminate();
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      this.#o.logger.warn('relay peer refused the connection', { replica, url, status: res.statusCode });
      res.resume();
      ws.terminate();
    });
    const session = new TunnelSession(ws, { role: 'client', pingIntervalMs: 5000, pingTimeoutMs: 5000, maxStreams: 4096, logger: this.#o.logger.child({ relayTo: replica }) });
    session.once('close', (err) => {
      if (this.#sessions.get(replica) === session) this.#sessions.delete(replica);
      if (err !== undefined && !this.#closed) this.#o.onPeerLost?.(replica);
    });
    return session;
  }
}
