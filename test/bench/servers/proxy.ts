// Bench servers for the proxy scenario, each run in its own worker:
//   'target'   a node:http JSON API: /small (≈1 KB) and /large (≈1 MB) documents without PII
//   'gateway'  a real gateway (SQLite in a temp dir, no identity provider: an API key
//              authenticates) with a real agent started in the same worker and enrolled through
//              the store; connection `bench` points at the target. Reports the API key as info.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBenchGateway } from '../lib/gateway.ts';

function document(bytes: number): string {
  const rows: Array<{ id: number; sku: string; qty: number; note: string }> = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const row = { id: i, sku: `SKU-${String(i).padStart(6, '0')}`, qty: i % 17, note: 'lorem ipsum dolor sit amet' };
    rows.push(row);
    size += JSON.stringify(row).length + 1;
  }
  return JSON.stringify(rows);
}

/**
 * `telemetry` (gateway): 'off' turns metrics and tracing off; 'metrics' is the default (metrics
 * on, tracing off); 'on' turns both on, every trace sampled and exported to an OTLP receiver in
 * this worker that takes and drops them. Unset: the defaults.
 */
export default async function start(arg: { kind: 'target' } | { kind: 'gateway'; target: string; unrecorded?: boolean; telemetry?: 'off' | 'metrics' | 'on' }): Promise<{ port: number; info?: unknown; close(): Promise<void> }> {
  if (arg.kind === 'target') {
    const small = document(1024);
    const large = document(1024 * 1024);
    const server = createServer((req, res) => {
      const body = req.url?.endsWith('/large') ? large : small;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  }

  let receiver: import('node:http').Server | undefined;
  let telemetry: Record<string, unknown> = {};
  if (arg.telemetry === 'off') telemetry = { metrics: { enabled: false }, tracing: { enabled: false } };
  if (arg.telemetry === 'on') {
    const r = receiver = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')); });
    await new Promise<void>((done) => r.listen(0, '127.0.0.1', done));
    telemetry = { metrics: { enabled: true }, tracing: { enabled: true, sampleRatio: 1, otlp: { endpoint: `http://127.0.0.1:${(r.address() as AddressInfo).port}/v1/traces` } } };
  }
  const bench = await startBenchGateway({ kind: 'http', target: arg.target, limits: { inspectBytes: 2 * 1024 * 1024 } }, [arg.target], { config: telemetry });
  if (arg.unrecorded) {
    // Benchmark only, to measure what recording costs: the recorder's writes become no-ops in
    // this worker. The gateway has no setting that does this.
    const recorder = bench.gw.recording.recorder as unknown as { record: () => Promise<void>; open: (meta: unknown) => Promise<unknown>; end: () => Promise<void> };
    recorder.record = () => Promise.resolve();
    recorder.open = (meta) => Promise.resolve({ id: 'ses_unrecorded', meta, startedAt: Date.now(), ended: false });
    recorder.end = () => Promise.resolve();
  }
  return {
    port: bench.port, info: bench.key,
    close: async () => {
      await bench.close();
      if (receiver !== undefined) await new Promise<void>((r) => { receiver!.closeAllConnections(); receiver!.close(() => r()); });
    },
  };
}
