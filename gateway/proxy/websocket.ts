// WebSocket upgrades on the HTTP data path: /proxy/<connection>/<path…> with `Upgrade: websocket`.
// Not a blind byte pipe: the gateway ends the caller's WebSocket and opens its own to the target
// through the agent, then relays message by message, each inspected and decided on
// (websocket-relay.ts). Every refusal before the upgrade is a coded JSON error on the socket.
//
//   WebSocket handshake headers → authenticate → resolve the connection (an http one this
//   identity may use) → confine the path → decide on the upgrade (GET, path) → [record] →
//   open a tunnel stream to the agent → WebSocket client to the target over it (caller
//   credentials stripped; the agent adds the target's) → target accepts (101) → complete the
//   caller's upgrade, echoing the subprotocol the target chose → relay
//
// The target is dialled before the caller's upgrade completes, so a target that refuses is a
// coded HTTP error to the caller (GW_UPGRADE_REFUSED, or what the agent reported), not a
// WebSocket that opens and closes at once.
//
// Authority is re-checked while the session lives, not only at the upgrade: every message asks the
// registry whether the caller may still use the connection and decides under its current policy;
// any change to the connections (here, or on another replica through the store's config epoch)
// re-checks every live session at once, and an epoch change re-reads the API keys of sessions
// opened with one. A session that lost its access closes with 1008 and `GW_ACCESS_REVOKED: …`; a
// revoked key with `GW_API_KEY_INVALID: …`; a token closes at its `exp` with `GW_TOKEN_EXPIRED: …`.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import type { UpgradeRoute } from '../http/upgrade.ts';
import type { Outcome } from '../policy/decide.ts';
import type { PolicyRequest } from '../policy/context.ts';
import type { TunnelStream } from '../tunnel/index.ts';
import { forwardRequestHeaders } from './headers.ts';
import type { JsonObject } from '../store/index.ts';
import { AGENT_ERRORS } from '../agents/exchange.ts';
import { decideFor, limitsAfter, limitsBefore, limitsRoom, recordStep, refuseUnlessAllowed, sessionMeta, withLimits } from '../guard/index.ts';
import { beginStage, forMessages } from '../telemetry/context.ts';
import type { HttpProxyDeps } from './http.ts';
import { proxyTarget } from './path.ts';
import type { Finding } from '../inspect/types.ts';
import type { Gate } from '../limits/limiter.ts';
import { CLOSE, WebSocketRelay, type DecidedMessage, type Direction, type MessagePayload } from './websocket-relay.ts';
import { agentPool } from '../connections/schema.ts';

/** RFC 6455 §4.2.1: a base64 16-byte nonce. */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 6455 §4.1: subprotocol names are HTTP tokens. */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;
const MAX_PROTOCOLS = 32;
/** The method policies see for each message, so rules written for HTTP methods (GET reads) do not cover them by accident. */
export const WEBSOCKET_METHOD = 'WEBSOCKET';
/** How long shutdown waits for sessions to finish their closing handshakes, in ms. */
const CLOSE_GRACE_MS = 1000;
/** setTimeout's ceiling (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The upgrade route for `/proxy` (mount with `router.addPrefix('/proxy', …)`); its close hook closes every session with 1001. */
export function websocketProxyRoute(deps: HttpProxyDeps): UpgradeRoute {
  /** Every live session: who holds it, on which connection (re-checked when authority changes). */
  const holders = new Map<WebSocketRelay, { identity: Identity; name: string }>();
  let closing = false;
  const revoke = (relay: WebSocketRelay, err: GatewayError) => {
    deps.logger.info('websocket session closed: authority withdrawn', { code: err.code, caller: holders.get(relay)?.identity.sub });
    relay.close(CLOSE.POLICY_VIOLATION, `${err.code}: ${err.message}`);
  };
  const recheckAll = () => {
    for (const [relay, { identity, name }] of holders) {
      try {
        deps.connections.recheck(identity, name);
      } catch (err) {
        if (err instanceof GatewayError) revoke(relay, err);
      }
    }
  };
  // A key revoked on any replica: one store read per key in use, once per epoch change (never per message).
  const recheckKeys = async () => {
    const byKey = new Map<string, Array<[WebSocketRelay, Identity]>>();
    for (const [relay, { identity }] of holders) {
      if (identity.via !== 'apikey' || identity.tokenId === null) continue;
      byKey.set(identity.tokenId, [...(byKey.get(identity.tokenId) ?? []), [relay, identity]]);
    }
    for (const sessions of byKey.values()) {
      const problem = await deps.connections.credentialProblem(sessions[0]![1]).catch((err: unknown) => {
        deps.logger.warn('cannot re-check an API key of live websocket sessions; the next epoch change retries', { err });
        return undefined;
      });
      if (problem) for (const [relay] of sessions) revoke(relay, problem);
    }
  };
  const unsubscribe = [deps.connections.onChange(recheckAll), deps.connections.onEpoch(() => void recheckKeys())];
  return {
    handle: async (req, socket, head, ctx) => {
      checkHandshake(req);
      const identity = await deps.authenticator.authenticate(req, ctx.url);
      const name = /^\/proxy\/([^/?]*)/.exec(req.url ?? '')?.[1] ?? '';
      const connection = usable(deps, identity, name);
      const target = new URL(connection.target as string);
      const { path } = proxyTarget(req.url ?? '/', target.pathname);
      const protocols = offeredProtocols(req);

      // A WebSocket connection is one recorded session: the upgrade, every message, the close.
      const recorder = deps.recording.recorder;
      const recording = await recorder.open(sessionMeta(identity, connection, { websocket: true, path: path.split('?')[0] ?? '/' }));
      // A message that left is recorded as the text that left; one refused, as inspected with
      // what the inspectors found redacted (recordStep), hidden values and exact integers included.
      const record = (direction: 'request' | 'response', outcome: Outcome, message: DecidedMessage | undefined, summary: JsonObject) => recordStep(recorder, recording, {
        type: summary.upgrade ? 'request' : 'message', direction, outcome, maskKey: deps.maskKey,
        payload: message?.payload, leaving: message?.leaving, summary: { ...summary, requestId: ctx.requestId },
      });
      let relayed = false;
      let gate: Gate | undefined;
      try {
        // The upgrade is a request to the limits; its `concurrent` places are held while the session lives.
        gate = await limitsBefore(deps, identity, connection, { direction: 'request', method: 'GET', path: path.split('?')[0] ?? '/' });
        const upgrade = withLimits(decideFor(deps, identity, connection, { kind: 'http', direction: 'request', method: 'GET', path }, [], undefined, gate?.usage), gate);
        await record('request', upgrade, undefined, { upgrade: true, method: 'GET', path });
        refuseUnlessAllowed(upgrade, connection, 'request');

        const stream = deps.agents.open(agentPool(connection), { kind: 'http', connection: connection.name, target: target.origin, caller: identity.sub, requestId: ctx.requestId });
        const forward = beginStage('forward'); // until the target accepted the upgrade; its span is the target's traceparent
        let upstream: WebSocket;
        try {
          upstream = await dialTarget(stream, socket, {
            url: `ws://${target.host}${path}`,
            protocols,
            headers: { ...targetHeaders(req), 'x-request-id': ctx.requestId, ...(forward?.traceparent === undefined ? {} : { traceparent: forward.traceparent }) },
            limits: connection.limits,
            connection: connection.name,
          });
        } catch (err) {
          forward?.end(err);
          throw err;
        }
        forward?.end();

        if (closing) { // the dial outlived the shutdown's close of the sessions
          upstream.terminate();
          throw new GatewayError('GW_SHUTTING_DOWN', 'The gateway is shutting down; reconnect in a moment (another replica will answer).');
        }
        const log = deps.logger.child({ connection: connection.name, requestId: ctx.requestId, caller: identity.sub });
        const wss = new WebSocketServer({
          noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: connection.limits.inspectBytes,
          handleProtocols: () => upstream.protocol === '' ? false : upstream.protocol,
        });
        let relay: WebSocketRelay | undefined;
        // No verifyClient: handleUpgrade answers 101 and calls back in this tick, or destroys a
        // socket the client already closed (and never calls back).
        const ended = new AbortController();
        wss.handleUpgrade(req, socket, head, (caller) => {
          relay = new WebSocketRelay(caller, upstream, {
            decide: forMessages((direction, payload, findings) => decideMessage(deps, identity, connection.name, direction, path, payload, findings, ended.signal)),
            decideClose: forMessages((direction, payload, findings) => decideFor(deps, identity, deps.connections.recheck(identity, connection.name), { kind: 'http', direction, method: WEBSOCKET_METHOD, path, ...payload }, findings)),
            onDecision: forMessages((direction, outcome, message) => record(direction, outcome, message, { method: WEBSOCKET_METHOD, path })),
            inspectBytes: connection.limits.inspectBytes,
            logger: log,
          });
        });
        if (relay === undefined) {
          upstream.terminate();
          return;
        }
        const session = relay;
        holders.set(session, { identity, name: connection.name });
        const expiry = expiryTimer(identity, session);
        log.info('websocket session opened', { path: path.split('?')[0], protocol: upstream.protocol || undefined });
        void session.closed.then(() => {
          ended.abort();
          gate?.release();
          clearTimeout(expiry);
          holders.delete(session);
          log.info('websocket session closed');
        });
        upstream.resume(); // paused at open, so nothing the target sent first was missed
        relayed = true;
        void session.closed.then(() => recorder.end(recording, 'the WebSocket closed')).catch((err: unknown) => log.error('ending a recorded session failed', { err }));
      } finally {
        if (!relayed) {
          gate?.release();
          await recorder.end(recording, 'the WebSocket was refused or failed').catch(() => {});
        }
      }
    },
    close: async () => {
      closing = true;
      for (const off of unsubscribe) off();
      for (const relay of holders.keys()) relay.close(CLOSE.GOING_AWAY, 'GW_SHUTTING_DOWN: the gateway is shutting down; reconnect in a moment');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...holders.keys()].map((r) => r.closed)),
        new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE_MS); }),
      ]);
      clearTimeout(timer);
    },
  };
}

/** The connection `name` if `identity` may use it and it is an http connection. */
function usable(deps: HttpProxyDeps, identity: Identity, name: string): Connection {
  const connection = deps.connections.resolve(identity, name);
  if (connection.kind !== 'http') {
    throw new GatewayError('GW_BAD_REQUEST', `Connection ${connection.name} is a ${connection.kind} connection; /proxy serves http connections (use ${connection.kind === 'mcp' ? `/mcp/${connection.name}` : 'the Postgres listener'}).`);
  }
  return connection;
}

/**
 * One message of a live session: the identity must still hold a valid credential and may still
 * use the connection (GW_TOKEN_EXPIRED, GW_ACCESS_REVOKED: the session ends), then the limits and
 * the connection's current policies decide. `signal`: the session ended (a message waiting for a
 * `delay` limit stops waiting).
 */
async function decideMessage(deps: HttpProxyDeps, identity: Identity, name: string, direction: Direction, path: string, payload: MessagePayload, findings: readonly Finding[], signal: AbortSignal): Promise<Outcome> {
  const connection = deps.connections.recheck(identity, name);
  const step = { direction, method: WEBSOCKET_METHOD, path };
  // A caller's message is a request to the limits (rate, cost; a `concurrent` place only while it
  // is decided); a target's message must find room in the egress budgets, and is counted once it passed.
  using gate = direction === 'request' ? await limitsBefore(deps, identity, connection, step, signal) : await limitsRoom(deps, identity, connection, step);
  const outcome = withLimits(decideFor(deps, identity, connection, { kind: 'http', direction, method: WEBSOCKET_METHOD, path, ...payload }, findings, undefined, gate?.usage), gate);
  if (direction === 'response') await limitsAfter(deps, identity, connection, step, outcome);
  return outcome;
}

/** Ends the session when the caller's credential expires (unref'd; cleared when the session ends). */
function expiryTimer(identity: Identity, relay: WebSocketRelay): NodeJS.Timeout | undefined {
  if (identity.expiresAt === null) return undefined;
  const ms = Math.min(Math.max(0, identity.expiresAt - Date.now()), MAX_TIMER_MS);
  return setTimeout(() => relay.close(CLOSE.POLICY_VIOLATION, `GW_TOKEN_EXPIRED: ${expired().message}`), ms).unref();
}

function expired(): GatewayError {
  return new GatewayError('GW_TOKEN_EXPIRED', 'The access token expired during the session; reconnect with a fresh one.');
}

/** The checks ws's handleUpgrade makes, made before anything is dialled, as coded errors. */
function checkHandshake(req: IncomingMessage): void {
  if (req.method !== 'GET') throw new GatewayError('GW_BAD_REQUEST', 'A WebSocket upgrade is a GET request.');
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !WS_KEY.test(key)) throw new GatewayError('GW_BAD_REQUEST', 'The WebSocket upgrade needs a valid Sec-WebSocket-Key header.');
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') throw new GatewayError('GW_BAD_REQUEST', 'The WebSocket upgrade needs Sec-WebSocket-Version 13.', { headers: { 'sec-websocket-version': '13, 8' } });
}

/** The caller's Sec-WebSocket-Protocol list, offered to the target as is. */
function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  if (raw === undefined) return [];
  const list = raw.split(',').map((p) => p.trim());
  if (list.length > MAX_PROTOCOLS || list.some((p) => !TOKEN.test(p)) || new Set(list).size !== list.length) {
    throw new GatewayError('GW_BAD_REQUEST', `Sec-WebSocket-Protocol must list distinct subprotocol names (HTTP tokens, at most ${MAX_PROTOCOLS}).`);
  }
  return list;
}

/** What the target may see of the caller's upgrade request: as for HTTP, minus the handshake's own headers (ws sets its own). */
function targetHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const headers = forwardRequestHeaders(req.headers);
  for (const name of Object.keys(headers)) {
    if (name.startsWith('sec-websocket-') || name === 'content-length') delete headers[name];
  }
  return headers;
}

interface Dial {
  readonly url: string;
  readonly protocols: readonly string[];
  readonly headers: Record<string, string | string[]>;
  readonly limits: Connection['limits'];
  readonly connection: string;
}

/**
 * A WebSocket client to the target over `stream`, open and paused; or a GatewayError saying
 * why not: what the agent reported, the target's refusal, a timeout (limits.timeouts.firstByteMs),
 * the tunnel failing, or the caller leaving meanwhile.
 */
function dialTarget(stream: TunnelStream, callerSocket: Duplex, dial: Dial): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(dial.url, [...dial.protocols], {
        createConnection: () => stream as never,
        headers: dial.headers as Record<string, string>,
        perMessageDeflate: false,
        maxPayload: dial.limits.inspectBytes,
        followRedirects: false,
      });
    } catch (err) { // a URL or header ws refuses: ours to fix, the stream is not left open
      stream.destroy();
      reject(err);
      return;
    }
    let settled = false;
    let answered = false;
    const fail = (err: GatewayError) => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.terminate();
      if (!stream.destroyed) stream.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new GatewayError('GW_TARGET_TIMEOUT', `The target of connection ${dial.connection} did not accept the WebSocket upgrade within ${dial.limits.timeouts.firstByteMs} ms (limits.timeouts.firstByteMs).`)), dial.limits.timeouts.firstByteMs);
    const gone = () => fail(new GatewayError('GW_BAD_REQUEST', 'The client closed its connection before the upgrade completed.'));
    const cleanup = () => {
      clearTimeout(timer);
      callerSocket.off('close', gone);
    };
    callerSocket.once('close', gone);

    ws.once('upgrade', () => { answered = true; });
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.pause(); // until the caller's side is up: a message the target sends at once waits
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      answered = true;
      res.resume();
      const agentError = res.headers['x-airlock-agent-error'];
      if (typeof agentError === 'string') {
        const mapped = AGENT_ERRORS[agentError] ?? { code: 'GW_TARGET_UNREACHABLE' as const, what: 'The agent failed' };
        fail(new GatewayError(mapped.code, `${mapped.what} for connection ${dial.connection} (${agentError}); check the target and the agent's log.`));
        return;
      }
      fail(new GatewayError('GW_UPGRADE_REFUSED', `The target of connection ${dial.connection} answered the WebSocket upgrade with HTTP ${res.statusCode} instead of switching protocols; check the path, and what the target expects of a WebSocket client.`, { detail: { status: res.statusCode } }));
    });
    // Stays attached: ws may report errors after the session began (the relay logs those).
    ws.on('error', (err: Error & { code?: string }) => {
      fail(answered
        ? new GatewayError('GW_UPGRADE_REFUSED', `The target of connection ${dial.connection} answered the WebSocket upgrade with an invalid handshake (${err.message}).`, { cause: err })
        : new GatewayError('GW_UPSTREAM_FAILED', `The tunnel to the agent failed during the WebSocket upgrade (${err.code ?? err.message}); retry.`, { cause: err }));
    });
  });
}
