// Bench servers for the proxy scenario, each run in its own worker:
//   'target'   a node:http JSON API: /small (≈1 KB) and /large (≈1 MB) documents without PII
//   'gateway'  a real gateway (SQLite in a temp dir, no identity provider: an API key
//              authenticates) with a real agent started in the same worker and enrolled through
//              the store; connection `bench` points at the target. Reports the API key as info.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startAgent } from '../../../agent/run.ts';
import { issueEnrollment } from '../../../gateway/agents/index.ts';
import { generateApiKey } from '../../../gateway/authn/apikeys.ts';
import { startGateway } from '../../../gateway/main.ts';
import { silentLogger } from '../../../lib/log.ts';

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

export default async function start(arg: { kind: 'target' } | { kind: 'gateway'; target: string; unrecorded?: boolean }): Promise<{ port: number; info?: unknown; close(): Promise<void> }> {
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

  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-proxy-'));
  const gw = await startGateway({
    env: {}, cwd: dir, logger: silentLogger,
    overrides: { server: { port: 0, publicUrl: 'http://127.0.0.1' }, store: { url: `sqlite:${join(dir, 'gw.db')}` }, log: { level: 'error' }, agents: { pingInterval: 0 }, policy: { maskKey: 'YmVuY2gtbWFzay1rZXktYmVuY2gtbWFzay1rZXk=' } },
  });
  const key = generateApiKey();
  await gw.store.apiKeys.create({ id: key.id, name: 'bench', hash: key.hash, roles: ['user'], connections: ['bench'], createdBy: 'bench' });
  await gw.connections.create({ name: 'bench', kind: 'http', agent: 'bench', target: arg.target, groups: ['*'], limits: { inspectBytes: 2 * 1024 * 1024 } });
  const { token } = await issueEnrollment(gw.store, 'bench', { ttlSeconds: 60 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const agent = await startAgent({
    env: {}, cwd: dir, logger: silentLogger, enrollTokenFile: tokenFile, enrollGateway: gw.url,
    overrides: { dataDir: join(dir, 'agent'), health: { port: 0 }, tunnel: { pingInterval: 0 }, targets: { allow: [arg.target] }, gateway: { urls: [gw.url] } },
  });
  await gw.agents.waitOnline('bench', 10_000);
  if (arg.unrecorded) {
    // Benchmark only, to measure what recording costs: the recorder's writes become no-ops in
    // this worker. The gateway has no setting that does this.
    const recorder = gw.recording.recorder as unknown as { record: () => Promise<void>; open: (meta: unknown) => Promise<unknown>; end: () => Promise<void> };
    recorder.record = () => Promise.resolve();
    recorder.open = (meta) => Promise.resolve({ id: 'ses_unrecorded', meta, startedAt: Date.now(), ended: false });
    recorder.end = () => Promise.resolve();
  }
  return {
    port: Number(new URL(gw.url).port),
    info: key.key,
    close: async () => {
      await agent.stop();
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
