// Bench servers for the stream scenario, each run in its own worker:
//   'target'   GET /download/<bytes> streams that much generated text (a card number every
//              ~40 KB, so windows are masked); POST /upload reads and counts a body
//   'gateway'  a real gateway + agent (test/bench/lib/gateway.ts) whose connection `bench`
//              streams bodies over 64 KiB (limits.oversize: stream). Reports the API key as info.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBenchGateway } from '../lib/gateway.ts';

/** About 64 KiB of text lines, one with a card number. */
export function piece(): Buffer {
  let s = '';
  for (let i = 0; s.length < 64 * 1024; i++) s += i % 400 === 7 ? `${i} paid with card 4111 1111 1111 1111 at the counter\n` : `${i} ${'lorem ipsum dolor sit amet '.repeat(3)}\n`;
  return Buffer.from(s);
}

export default async function start(arg: { kind: 'target' } | { kind: 'gateway'; target: string }): Promise<{ port: number; info?: unknown; close(): Promise<void> }> {
  if (arg.kind === 'target') {
    const chunk = piece();
    const server = createServer((req, res) => {
      const download = /^\/download\/(\d+)$/.exec(req.url ?? '');
      if (download) {
        let left = Number(download[1]);
        res.writeHead(200, { 'content-type': 'text/plain' });
        const pump = () => {
          while (left > 0) {
            const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
            left -= part.length;
            if (!res.write(part)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      let bytes = 0;
      req.on('data', (c: Buffer) => { bytes += c.length; });
      req.on('end', () => res.end(JSON.stringify({ bytes })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  }
  const MiB = 1024 * 1024;
  const bench = await startBenchGateway({ kind: 'http', target: arg.target, limits: { oversize: 'stream', inspectBytes: 64 * 1024, maxRequestBytes: 256 * MiB, maxResponseBytes: 256 * MiB } }, [arg.target]);
  return { port: bench.port, info: bench.key, close: () => bench.close() };
}
