// `airlock connect <connection>`: PostgreSQL tools without token handling, as `hoop connect` does.
// It opens a port on this machine's loopback; each client that connects there (psql, a driver, a
// BI tool, with any user and no password) is relayed to the gateway's PostgreSQL listener, and the
// login the listener asks for is answered with a current access token (refreshed as needed, or
// $AIRLOCK_TOKEN). `--print` only prints the connection string to use with PGPASSWORD=$(airlock token).
//
//   local client ─► startup (SSL declined: it is loopback) ─► gateway: SSLRequest unless
//   --sslmode disable, TLS when offered (required off loopback) ─► the client's startup with
//   dbname = <connection> ─► AuthenticationCleartextPassword answered with the token ─► bytes
//   relayed both ways. A cancel request is passed on as it came (the keys are the gateway's).
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CANCEL_REQUEST, cstr, FrameReader, GSSENC_REQUEST, i32, message, PROTOCOL_3, readNotice, readStartup, SSL_REQUEST } from '../../lib/pg-wire.ts';
import { gatewayOption, resolveGateway } from '../gateway-url.ts';
import { CliError } from '../errors.ts';

type SslMode = 'disable' | 'prefer' | 'require' | 'verify-full';

interface ConnectOptions { gateway?: string; pgHost?: string; pgPort: number; listen: number; print?: boolean; sslmode: SslMode }

function portArg(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port from 0 to 65535');
  return n;
}

const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[?::1\]?)$/;

export function registerConnectCommand(program: Command): void {
  program
    .command('connect')
    .description('open a local port for PostgreSQL tools to reach <connection> through the gateway, logged in as you (--print: just the connection string)')
    .argument('<connection>', 'a postgres connection')
    .addOption(gatewayOption())
    .option('--pg-host <host>', 'the gateway\'s PostgreSQL listener host (default: the gateway URL\'s host)')
    .option('--pg-port <port>', 'the gateway\'s PostgreSQL listener port', portArg, 15432)
    .option('--listen <port>', 'the local port on 127.0.0.1 (0: any free port)', portArg, 0)
    .option('--print', 'print the connection string for PGPASSWORD=$(airlock token) and exit')
    .addOption(new Option('--sslmode <mode>', 'TLS to the gateway (prefer: when offered, and always off loopback)').choices(['disable', 'prefer', 'require', 'verify-full']).default('prefer'))
    .action(async (connection: string, opts: ConnectOptions) => {
      const [{ CredentialStore }, { accessToken }, { envToken }] = await Promise.all([import('../auth/credentials.ts'), import('../auth/session.ts'), import('../call.ts')]);
      const store = new CredentialStore();
      const gateway = await resolveGateway(opts.gateway, store);
      const host = opts.pgHost ?? new URL(gateway).hostname;
      const sslmode: SslMode = opts.sslmode === 'prefer' && !LOOPBACK_HOST.test(host) ? 'require' : opts.sslmode;
      if (opts.print) {
        process.stdout.write(`host=${host} port=${opts.pgPort} dbname=${connection} sslmode=${sslmode}\n`);
        process.stderr.write(`Use it with your token as password: PGPASSWORD=$(airlock token) psql "host=${host} port=${opts.pgPort} dbname=${connection} sslmode=${sslmode}"\n`);
        return;
      }
      const token = async () => envToken() ?? await accessToken(store, gateway);
      await token(); // not logged in: say so now, not at the first client
      const server = createServer((client) => {
        client.on('error', () => {});
        relay(client, { host, port: opts.pgPort, connection, sslmode, token }).catch((err: unknown) => {
          process.stderr.write(`airlock connect: ${(err as Error).message}\n`);
          if (client.writable) client.end(message('E', cstr('SFATAL'), cstr('C08006'), cstr(`Mairlock connect: ${(err as Error).message}`), Buffer.from([0])));
          else client.destroy();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new CliError('CLI_PORT_IN_USE', `Port ${opts.listen} on 127.0.0.1 is in use; choose another with --listen.`) : err));
        server.listen(opts.listen, '127.0.0.1', () => resolve());
      });
      const port = (server.address() as { port: number }).port;
      process.stdout.write(`psql "host=127.0.0.1 port=${port} dbname=${connection}"\n`);
      process.stderr.write(`Connection ${connection} through ${gateway} is open on 127.0.0.1:${port} for anyone on this machine, as you; Ctrl-C closes it.\n`);
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}

/** Reads one message at a time from a socket. */
function reader(stream: Duplex, frames: FrameReader): () => Promise<{ type: number; body: Buffer; raw: Buffer }> {
  return () => new Promise((resolve, reject) => {
    const attempt = () => {
      try {
        const f = frames.next();
        if (f === undefined) return false;
        done();
        resolve(f);
        return true;
      } catch (err) {
        done();
        reject(err);
        return true;
      }
    };
    const onData = (d: Buffer) => { frames.push(d); attempt(); };
    const onClose = () => { done(); reject(new Error('the connection closed during the login')); };
    const done = () => { stream.off('data', onData).off('close', onClose).off('end', onClose); stream.pause(); };
    stream.on('data', onData).once('close', onClose).once('end', onClose);
    if (!attempt()) stream.resume();
  });
}

/** One byte: the gateway's answer to SSLRequest. */
function oneByte(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('data', (d: Buffer) => {
      socket.pause();
      if (d.length !== 1) return reject(new Error('the gateway answered the SSL request with more than one byte'));
      resolve(d[0]!);
    });
    socket.once('close', () => reject(new Error('the gateway closed the connection')));
    socket.resume();
  });
}

async function relay(client: Socket, to: { host: string; port: number; connection: string; sslmode: SslMode; token: () => Promise<string> }): Promise<void> {
  const frames = new FrameReader({ maxBytes: 1 << 16, startup: true });
  const next = reader(client, frames);
  let first = readStartup((await next()).body);
  while (first.protocol === SSL_REQUEST || first.protocol === GSSENC_REQUEST) {
    client.write('N'); // loopback: the local leg needs no TLS
    frames.startup = true;
    first = readStartup((await next()).body);
  }
  const socket = netConnect({ host: to.host, port: to.port });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let upstream: Duplex = socket;
  if (first.protocol === CANCEL_REQUEST) {
    socket.end(Buffer.concat([i32(16), i32(CANCEL_REQUEST), i32(first.cancel!.pid), i32(first.cancel!.secret)]));
    return void client.destroy();
  }
  if (to.sslmode !== 'disable') {
    socket.write(Buffer.concat([i32(8), i32(SSL_REQUEST)]));
    const answer = await oneByte(socket);
    if (answer === 0x53) {
      upstream = tlsConnect({ socket, servername: to.host, rejectUnauthorized: to.sslmode === 'verify-full' });
      await new Promise<void>((resolve, reject) => { upstream.once('secureConnect', resolve); upstream.once('error', reject); });
    } else if (to.sslmode !== 'prefer') {
      throw new Error(`the gateway at ${to.host}:${to.port} offers no TLS and --sslmode is ${to.sslmode}`);
    }
  }
  const params = new Map(first.params);
  params.set('database', to.connection);
  const body = Buffer.concat([i32(PROTOCOL_3), ...[...params].flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  upstream.write(Buffer.concat([i32(body.length + 4), body]));
  const fromGateway = new FrameReader({ maxBytes: 1 << 20 });
  const ask = await reader(upstream, fromGateway)();
  if (ask.type === 0x52 /* R */ && ask.body.length === 4 && ask.body.readInt32BE(0) === 3) {
    upstream.write(message('p', cstr(await to.token())));
  } else if (ask.type === 0x45 /* E */) {
    client.end(ask.raw);
    upstream.destroy();
    throw new Error(readNotice(ask.body).get('M') ?? 'the gateway refused the login');
  } else {
    client.write(ask.raw);
  }
  // From here, the bytes as they come, both ways (nothing is buffered: each side waits for the other).
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  upstream.on('error', () => client.destroy());
  upstream.pipe(client);
  client.pipe(upstream);
  upstream.resume();
  client.resume();
}
