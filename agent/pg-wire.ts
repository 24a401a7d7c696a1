// The agent's side of the gateway's PostgreSQL listener (gateway/postgres/): streams of kind
// `pg-wire`, one per client session. The open header names the connection, its target
// (postgres://host:port/database), the caller and the session; the agent logs in to the database
// with the vault's `postgres` login (pg does the SCRAM-SHA-256, md5 or password exchange), then
// the stream carries the wire protocol as it is, in both directions:
//
//   target in targets.allow? ─► the connection's login from the vault ─► pg connects and logs in
//   ─► the server's ParameterStatus messages and ReadyForQuery written to the stream ─► the
//   socket taken from pg and joined to the stream, byte for byte, until either side ends
//
// A failure before that is one ErrorResponse (SQLSTATE 08006 or 28P01, the agent's code in the
// message) and the end of the stream. The password goes to pg only; the gateway never sees it,
// and the caller's token never reaches the agent. BackendKeyData stays here: a cancel from the
// gateway (`pg-cancel` stream naming the session) is sent to the database with the real key.
import { connect as netConnect, type Socket } from 'node:net';
import pg from 'pg';
import type { TunnelStream } from '../gateway/tunnel/index.ts';
import type { Logger } from '../lib/log.ts';
import type { StreamHandler } from './handlers.ts';
import { callerOf } from './http-forward.ts';
import { allowlist, pgTargetOf, type PgLogin, type PgTarget } from './pg-tools.ts';
import { CANCEL_REQUEST, notice, parameterStatus, readyForQuery, i32 } from '../lib/pg-wire.ts';

export const PG_WIRE_LIMITS = Object.freeze({
  /** Milliseconds to connect and log in (5 s). */
  connectTimeoutMs: 5000,
  /** Sessions one agent holds open at once (500). */
  maxSessions: 500,
});

export interface PgWireOptions {
  /** targets.allow, as for the pg-tool streams. */
  readonly allow: readonly string[];
  /** The connection's database login (the vault's `postgres` entry); undefined when it has none. */
  readonly login: (connection: string) => Promise<PgLogin | undefined>;
  readonly logger: Logger;
}

const CONNECTION = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SESSION = /^[A-Za-z0-9_-]{8,64}$/;
const APPLICATION_NAME = 'airlock-agent';

interface Live { readonly target: PgTarget; readonly pid: number; readonly secret: number }

/** The `pg-wire` and `pg-cancel` stream handlers, sharing the sessions open on this agent. */
export function createPgWireHandlers(options: PgWireOptions): { wire: StreamHandler; cancel: StreamHandler } {
  const allowed = allowlist(options.allow);
  const log = options.logger;
  const live = new Map<string, Live>();

  const fail = (stream: TunnelStream, sqlstate: string, code: string, message: string) => {
    if (stream.destroyed || !stream.writable) return;
    stream.end(notice('E', { S: 'FATAL', V: 'FATAL', C: sqlstate, M: `airlock agent: ${message} (${code})` }));
  };

  const wire: StreamHandler = async (stream, header) => {
    const connection = typeof header.connection === 'string' && CONNECTION.test(header.connection) ? header.connection : undefined;
    const session = typeof header.session === 'string' && SESSION.test(header.session) ? header.session : undefined;
    if (connection === undefined || session === undefined) return fail(stream, '08006', 'AGENT_REQUEST_INVALID', 'the stream names no valid connection and session');
    if (live.size >= PG_WIRE_LIMITS.maxSessions) return fail(stream, '53300', 'AGENT_REQUEST_INVALID', `this agent already holds ${PG_WIRE_LIMITS.maxSessions} database sessions`);
    const target = pgTargetOf(header, allowed);
    if ('code' in target) {
      log.warn('postgres target refused', { connection, code: target.code, reason: target.message });
      return fail(stream, '08006', target.code, target.message);
    }
    let login: PgLogin | undefined;
    try {
      login = await options.login(connection);
    } catch (err) {
      log.error('credential unavailable', { connection, code: (err as { code?: unknown })?.code, error: (err as Error)?.message });
      return fail(stream, '08006', 'AGENT_CREDENTIAL_UNAVAILABLE', `the agent cannot read the database login of connection ${connection}; its log has the detail`);
    }
    if (login === undefined) return fail(stream, '08006', 'AGENT_CREDENTIAL_UNAVAILABLE', `the agent's vault holds no database login for connection ${connection}; run \`airlock-agent secrets set ${connection} --type postgres\``);
    if (stream.destroyed) return;

    const client = new pg.Client({
      host: target.host, port: target.port, database: target.database, user: login.username, password: login.password,
      connectionTimeoutMillis: PG_WIRE_LIMITS.connectTimeoutMs, application_name: APPLICATION_NAME, keepAlive: true,
    });
    const statuses: Buffer[] = [];
    let key: { pid: number; secret: number } | undefined;
    client.connection.on('parameterStatus', (m: { parameterName: string; parameterValue: string }) => statuses.push(parameterStatus(m.parameterName, m.parameterValue)));
    client.connection.on('backendKeyData', (m: { processID: number; secretKey: number }) => { key = { pid: m.processID, secret: m.secretKey }; });
    client.on('error', () => {});
    const gone = () => client.connection.stream.destroy();
    stream.once('close', gone);
    try {
      await client.connect();
    } catch (err) {
      stream.off('close', gone);
      const e = err as pg.DatabaseError & NodeJS.ErrnoException;
      if (e instanceof pg.DatabaseError && e.code?.startsWith('28')) {
        return fail(stream, '28P01', 'AGENT_DB_LOGIN_FAILED', `the database at ${target.origin} refused the login of connection ${connection} (${e.message}); fix it with \`airlock-agent secrets set ${connection} --type postgres\``);
      }
      return fail(stream, '08006', /timeout/i.test(String(e?.message)) ? 'AGENT_TARGET_TIMEOUT' : 'AGENT_TARGET_UNREACHABLE', `${target.origin} cannot be reached (${typeof e?.code === 'string' ? e.code : String(e?.message).slice(0, 200)})`);
    }
    stream.off('close', gone);
    // From here the socket is the session's: pg's listeners go (its parser has nothing buffered after
    // ReadyForQuery, the server says nothing until asked), and no Terminate is sent on pg's behalf.
    const socket = client.connection.stream as Socket;
    for (const event of ['data', 'end', 'error', 'close']) socket.removeAllListeners(event);
    if (stream.destroyed) return void socket.destroy();
    if (key !== undefined) live.set(session, { target, ...key });
    const fields = { connection, session, caller: callerOf(header), pid: key?.pid };
    log.info('postgres session opened', fields);
    socket.on('error', (err) => log.debug('postgres session socket failed', { ...fields, err }));
    socket.once('close', () => {
      live.delete(session);
      if (!stream.destroyed) stream.reset('AGENT_TARGET_UNREACHABLE', `the database at ${target.origin} closed the session`);
    });
    stream.once('close', () => {
      live.delete(session);
      socket.destroy();
      log.info('postgres session closed', fields);
    });
    stream.write(Buffer.concat([...statuses, readyForQuery('I')]));
    socket.pipe(stream, { end: true });
    stream.pipe(socket, { end: true });
  };

  const cancel: StreamHandler = (stream, header) => {
    const session = typeof header.session === 'string' ? live.get(header.session) : undefined;
    stream.end();
    if (session === undefined) return;
    // A CancelRequest on its own connection, as libpq sends it; the server answers nothing.
    const socket = netConnect({ host: session.target.host, port: session.target.port });
    socket.on('error', () => {});
    socket.setTimeout(PG_WIRE_LIMITS.connectTimeoutMs, () => socket.destroy());
    socket.once('connect', () => socket.end(Buffer.concat([i32(16), i32(CANCEL_REQUEST), i32(session.pid), i32(session.secret)])));
    log.info('postgres cancel sent', { session: header.session });
  };

  return { wire, cancel };
}
