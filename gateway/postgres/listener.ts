// The PostgreSQL listener: one TCP server on postgres.host:postgres.port. What happens to a
// client connection, in order (see DESIGN.md beside this file):
//
//   1. negotiate   SSLRequest: 'S' and a TLS handshake when postgres.tls is set, else 'N';
//                  GSSENCRequest: 'N'; CancelRequest: routed to the session it names (cancel.ts);
//                  bytes sent after SSLRequest before the handshake: GW_PG_PROTOCOL
//   2. startup     protocol 3.0 only; `database` names the connection; replication refused
//   3. transport   plaintext only from loopback or with postgres.allowPlaintext (GW_PG_TLS_REQUIRED),
//                  refused before the password is asked for, so no token crosses in the clear
//   4. password    AuthenticationCleartextPassword; the password is an access token or API key,
//                  verified as a bearer token (gateway/authn); never logged, never forwarded
//   5. route       the connection, as the caller may use it (GW_CONNECTION_NOT_FOUND otherwise),
//                  of kind postgres
//   6. session     recorded session opened, `pg-wire` stream to the agent, which logs in to the
//                  database with the vault's credential; then session.ts relays through the guard
//
// Every refusal is an ErrorResponse with a SQLSTATE and airlock's code (sqlstate.ts) and the end
// of the connection; nothing a client sends crashes the process.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { listen, ListenError } from '../../lib/listen.ts';
import type { Logger } from '../../lib/log.ts';
import {
  authenticationCleartext, authenticationOk, backendKeyData, FrameReader, GSSENC_REQUEST, PROTOCOL_3, readStartup, SSL_REQUEST, utf8, WireError, type Frame,
} from '../../lib/pg-wire.ts';
import type { AgentOpener } from '../agents/exchange.ts';
import type { Authenticator } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import type { Connection, ConnectionRegistry } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { sessionMeta, type GuardDeps } from '../guard/index.ts';
import { CancelKeys } from './cancel.ts';
import { PgSession } from './session.ts';
import { errorResponse } from './sqlstate.ts';
import { agentPool } from '../connections/schema.ts';

export interface PostgresDeps extends GuardDeps {
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  readonly connections: ConnectionRegistry;
  readonly agents: AgentOpener;
}

export interface PostgresListener {
  readonly server: Server;
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /** Stops accepting and ends every open session (its recording ended). Idempotent. */
  close(): Promise<void>;
}

/** Largest password message (a token), in bytes. */
const MAX_PASSWORD_BYTES = 16 * 1024;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/** True when a client's address (as net reports it) is on this machine's loopback: the only place a token may cross in the clear by default. */
export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK.test(address);
}

export function createPostgresListener(deps: PostgresDeps): PostgresListener {
  const { config, logger } = deps;
  const cfg = config.postgres;
  const tls: SecureContext | undefined = cfg.tls === undefined ? undefined : createSecureContext({ cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile), minVersion: 'TLSv1.2' });
  const sessions = new Set<PgSession>();
  const sockets = new Set<Duplex>();
  const cancels = new CancelKeys();
  /** Sessions (and logins past authentication) per caller, for postgres.maxSessionsPerIdentity. */
  const perIdentity = new Map<string, number>();
  let closing = false;
  // Authority between statements too: a connection changed or removed, a group gone (onChange), an
  // API key revoked on any replica (onEpoch: one store read per key in use) ends the sessions now.
  const recheckKeys = async () => {
    const byKey = new Map<string, PgSession[]>();
    for (const s of sessions) if (s.identity.via === 'apikey' && s.identity.tokenId !== null) byKey.set(s.identity.tokenId, [...(byKey.get(s.identity.tokenId) ?? []), s]);
    for (const held of byKey.values()) {
      const problem = await deps.connections.credentialProblem(held[0]!.identity).catch((err: unknown) => {
        logger.warn('cannot re-check an API key of live postgres sessions; the next epoch change retries', { err });
        return undefined;
      });
      if (problem) for (const s of held) s.revokeIfGone(problem);
    }
  };
  const unsubscribe = [
    deps.connections.onChange(() => { for (const s of sessions) s.revokeIfGone(); }),
    deps.connections.onEpoch(() => void recheckKeys()),
  ];

  const server = createServer({ noDelay: true }, (socket) => {
    if (closing) return void socket.destroy();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (err) => logger.debug('postgres client socket failed', { err }));
    void accept(socket).catch((err: unknown) => {
      logger.error('postgres client failed', { err });
      socket.destroy();
    });
  });

  /** Reads frames from `stream` one at a time, under a deadline. */
  const reader = (stream: Duplex, frames: FrameReader) => (deadline: number): Promise<Frame | undefined> => new Promise((resolve, reject) => {
    const attempt = () => {
      try {
        const frame = frames.next();
        if (frame !== undefined) {
          finish();
          resolve(frame);
        }
      } catch (err) {
        finish();
        reject(err);
      }
    };
    const onData = (chunk: Buffer) => { frames.push(chunk); attempt(); };
    const onEnd = () => { finish(); resolve(undefined); };
    const timer = setTimeout(() => { finish(); reject(new GatewayError('GW_REQUEST_TIMEOUT', `The client did not log in within ${cfg.startupTimeout} s (postgres.startupTimeout).`)); }, Math.max(0, deadline - Date.now()));
    const finish = () => {
      clearTimeout(timer);
      stream.off('data', onData).off('end', onEnd).off('close', onEnd);
      stream.pause();
    };
    stream.on('data', onData).once('end', onEnd).once('close', onEnd);
    stream.resume();
    attempt();
  });

  const refuse = (stream: Duplex, err: unknown) => {
    const e = err instanceof GatewayError ? err
      : err instanceof WireError ? new GatewayError('GW_PG_PROTOCOL', `The client broke the PostgreSQL protocol: ${err.message}.`)
        : new GatewayError('GW_INTERNAL', 'The gateway failed to open this session; its log has the detail.');
    if (!(err instanceof GatewayError) && !(err instanceof WireError)) logger.error('postgres startup failed', { err });
    else logger.info('postgres client refused', { code: e.code, message: e.message });
    if (stream.writable) stream.end(errorResponse(e.code, e.message, 'FATAL'), () => stream.destroy());
    else stream.destroy();
  };

  async function accept(socket: Socket): Promise<void> {
    const deadline = Date.now() + cfg.startupTimeout * 1000;
    let stream: Duplex = socket;
    let frames = new FrameReader({ maxBytes: MAX_PASSWORD_BYTES, startup: true });
    let next = reader(stream, frames);
    let encrypted = false;
    try {
      let startup: ReturnType<typeof readStartup> | undefined;
      for (let round = 0; startup === undefined; round++) {
        const frame = await next(deadline);
        if (frame === undefined) return void socket.destroy();
        const first = readStartup(frame.body);
        if (first.cancel !== undefined) {
          await cancels.cancel(first.cancel.pid, first.cancel.secret, deps.agents, logger); // in the clear, or inside TLS (libpq 17)
          return void socket.destroy(); // the server answers a cancel with nothing
        }
        if ((first.protocol === SSL_REQUEST || first.protocol === GSSENC_REQUEST) && round < 2 && !encrypted) {
          // Plaintext sent behind the request would be read as if it came through TLS (CVE-2021-23214).
          if (frames.buffered > 0) throw new WireError('the client sent data after its encryption request, before the answer');
          if (first.protocol === SSL_REQUEST && tls !== undefined) {
            socket.write('S');
            const secure = new TLSSocket(socket, { isServer: true, secureContext: tls });
            secure.on('error', (err) => logger.debug('postgres TLS failed', { err }));
            stream = secure;
            encrypted = true;
          } else {
            socket.write('N');
          }
          frames = new FrameReader({ maxBytes: MAX_PASSWORD_BYTES, startup: true });
          next = reader(stream, frames);
          continue;
        }
        if (first.protocol !== PROTOCOL_3) {
          throw new GatewayError('GW_PG_UNSUPPORTED', `The client asked for protocol ${first.protocol >> 16}.${first.protocol & 0xffff} (or a request the listener does not take); airlock speaks protocol 3.0.`);
        }
        startup = first;
      }
      const database = startup.params.get('database') ?? startup.params.get('user') ?? '';
      if (startup.params.has('replication') && startup.params.get('replication') !== 'false') {
        throw new GatewayError('GW_PG_UNSUPPORTED', 'Replication connections are not taken through airlock.');
      }
      const remote = socket.remoteAddress ?? '';
      if (!encrypted && !cfg.allowPlaintext && !isLoopbackAddress(remote)) {
        throw new GatewayError('GW_PG_TLS_REQUIRED', `Your password is an airlock token, which is sent only over TLS from ${remote}; connect with sslmode=require${tls === undefined ? ' (an admin sets postgres.tls on the gateway)' : ''}.`);
      }
      stream.write(authenticationCleartext());
      const reply = await next(deadline);
      if (reply === undefined) return void stream.destroy();
      if (reply.type !== 0x70 /* p */) throw new WireError(`the client answered the password request with message type ${JSON.stringify(String.fromCharCode(reply.type))}`);
      const end = reply.body.indexOf(0);
      if (end !== reply.body.length - 1) throw new WireError('the password message is not one terminated string');
      const password = utf8(reply.body.subarray(0, end), 'the password');
      if (password === '') throw new GatewayError('GW_AUTH_REQUIRED', 'The password must be an airlock access token (PGPASSWORD=$(airlock token)) or an API key.');
      const identity = await deps.authenticator.authenticate({ headers: { authorization: `Bearer ${password}` } } as IncomingMessage, new URL(`http://gateway.invalid/postgres/${encodeURIComponent(database)}`));
      await open(stream, socket, frames, identity, database, startup.params);
    } catch (err) {
      refuse(stream, err);
    }
  }

  async function open(stream: Duplex, socket: Socket, frames: FrameReader, identity: Identity, database: string, params: ReadonlyMap<string, string>): Promise<void> {
    const connection = deps.connections.resolve(identity, database);
    if (connection.kind !== 'postgres') {
      throw new GatewayError('GW_PG_UNSUPPORTED', `Connection ${connection.name} is of kind ${connection.kind}; the PostgreSQL listener serves postgres connections only.`);
    }
    const held = perIdentity.get(identity.sub) ?? 0;
    if (held >= cfg.maxSessionsPerIdentity) {
      throw new GatewayError('GW_TOO_MANY_REQUESTS', `${identity.sub} already holds ${held} PostgreSQL sessions on this gateway (postgres.maxSessionsPerIdentity); close one and connect again.`);
    }
    perIdentity.set(identity.sub, held + 1); // counted from here, so logins at the same time cannot pass the cap together
    try {
      await relaySession(stream, socket, frames, identity, connection, params);
    } finally {
      const left = (perIdentity.get(identity.sub) ?? 1) - 1;
      if (left === 0) perIdentity.delete(identity.sub);
      else perIdentity.set(identity.sub, left);
    }
  }

  async function relaySession(stream: Duplex, socket: Socket, frames: FrameReader, identity: Identity, connection: Connection, params: ReadonlyMap<string, string>): Promise<void> {
    const id = randomUUID().replaceAll('-', '');
    const client = { postgres: true, application: (params.get('application_name') ?? '').slice(0, 100), remote: socket.remoteAddress ?? null, tls: stream !== socket };
    const recording = await deps.recording.recorder.open(sessionMeta(identity, connection, client));
    const upstream = deps.agents.open(agentPool(connection), { kind: 'pg-wire', connection: connection.name, target: connection.target as string, caller: identity.sub, session: id }); // GW_AGENT_OFFLINE
    const key = { pid: randomBytes(4).readInt32BE() & 0x7fffffff, secret: randomBytes(4).readInt32BE() };
    frames.maxBytes = cfg.maxMessageBytes;
    const session = new PgSession({
      deps, identity, connectionName: connection.name, client: stream, upstream, frames, recording, logger: logger.child({ connection: connection.name, pgSession: id }),
      greeting: { ok: authenticationOk(), key: backendKeyData(key.pid, key.secret) },
      tokenClock: () => Date.now() - config.auth.clockSkew * 1000,
    });
    sessions.add(session);
    cancels.add(key, { agents: agentPool(connection), session: id });
    logger.info('postgres session opened', { connection: connection.name, sub: identity.sub, session: recording.id });
    try {
      await session.run();
    } finally {
      sessions.delete(session);
      cancels.delete(key.pid);
      socket.destroy();
    }
  }

  let closed: Promise<void> | undefined;
  return {
    server,
    listen: () => listen(server, cfg.host, cfg.port, 'postgres.port in airlock.yaml or AIRLOCK_POSTGRES_PORT').catch((err: unknown) => {
      throw err instanceof ListenError ? new GatewayError('GW_PORT_IN_USE', err.message, { cause: err.cause }) : err;
    }),
    close: () => {
      closing = true;
      for (const u of unsubscribe) u();
      closed ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all([...sessions].map((s) => s.shutdown('the gateway is shutting down')));
        for (const s of sockets) s.destroy();
        await stopped;
      })();
      return closed;
    },
  };
}
