// Binding a server to host:port with an error that says what to change. Shared by the gateway,
// the agent and `airlock dev`, so "port in use" reads the same everywhere.
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';

export class ListenError extends Error {
  /** The errno code: EADDRINUSE, EACCES, EADDRNOTAVAIL, ... */
  readonly errno: string;
  constructor(message: string, errno: string, cause: unknown) {
    super(message, { cause });
    this.name = 'ListenError';
    this.errno = errno;
  }
}

/**
 * Listens and resolves with the bound address. `option` names the setting that changes the
 * port (e.g. `server.port in airlock.yaml or AIRLOCK_SERVER_PORT`) for the error message.
 */
export function listen(server: Server, host: string, port: number, option: string): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const errno = err.code ?? 'error';
      if (errno === 'EADDRINUSE') {
        reject(new ListenError(`Port ${port} on ${host} is already in use; stop what holds it, or choose another with ${option}.`, errno, err));
      } else {
        reject(new ListenError(`Cannot listen on ${host}:${port} (${errno}); check the address and port (${option}).`, errno, err));
      }
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** `http://host:port` for a bound address, with IPv6 hosts bracketed. */
export function urlOf(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * A port that was free on `host` a moment ago (bound to 0, then released). Another process may
 * take it before it is used: for tests, and for `airlock dev`, which must know a port up front.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
