// Bench servers for the healthz scenario: the gateway's /healthz, and a bare node:http server
// answering the same body, as the baseline.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configSchema } from '../../../gateway/config/schema.ts';
import { silentLogger } from '../../../lib/log.ts';
import { createGateway } from '../../../gateway/server.ts';

export default async function start(kind: 'gateway' | 'bare'): Promise<{ port: number; close(): Promise<void> }> {
  if (kind === 'bare') {
    const body = JSON.stringify({ status: 'ok' });
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
  }
  const config = configSchema.parse({ server: { port: 0 } });
  const gateway = createGateway({ config, logger: silentLogger, store: { ping: async () => {} } });
  const address = await gateway.listen();
  return { port: address.port, close: () => gateway.close(1000) };
}
