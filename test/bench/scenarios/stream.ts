// Streamed bodies (limits.oversize: stream): a 50 MB text download and upload through gateway →
// tunnel → agent → target, against the same target called directly, in the same run. Every
// 64 KiB window is scanned for PII, decided on, recorded durably and (downloads) masked, so the
// figures are the price of inspecting everything without holding it (bounded memory is asserted
// in test/gateway/proxy/stream.test.ts, on the flow-control counters).
import { request } from 'node:http';
import type { Scenario } from '../scenario.ts';
import { startInWorker } from '../lib/worker.ts';
import { piece } from '../servers/stream.ts';

const servers = new URL('../servers/stream.ts', import.meta.url);
const BYTES = 50 * 1024 * 1024;

/** Downloads `url` to nowhere; ms taken. */
function download(url: string, headers: Record<string, string> = {}): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => (res.statusCode === 200 && n > BYTES * 0.9 ? resolve(performance.now() - t0) : reject(new Error(`download: ${res.statusCode}, ${n} bytes`))));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

/** Uploads BYTES of text to `url`, chunked, waiting for drain; ms taken. */
function upload(url: string, headers: Record<string, string> = {}): Promise<number> {
  const chunk = piece();
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`upload: ${res.statusCode} ${text.slice(0, 200)}`))));
    });
    req.on('error', reject);
    let left = BYTES;
    const write = () => {
      while (left > 0) {
        left -= chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

const mbps = (ms: number) => BYTES / 1024 / 1024 / (ms / 1000);

const scenario: Scenario = {
  name: 'stream',
  repeats: 2,
  async run() {
    const target = await startInWorker(servers, { kind: 'target' });
    const gateway = await startInWorker(servers, { kind: 'gateway', target: `http://127.0.0.1:${target.port}` });
    try {
      const headers = { authorization: `Bearer ${String(gateway.info)}` };
      const direct = `http://127.0.0.1:${target.port}`;
      const via = `http://127.0.0.1:${gateway.port}/proxy/bench`;
      const directDown = await download(`${direct}/download/${BYTES}`);
      const cpu0 = await gateway.cpu();
      const viaDown = await download(`${via}/download/${BYTES}`, headers);
      const cpu1 = await gateway.cpu();
      const directUp = await upload(`${direct}/upload`);
      const cpu2 = await gateway.cpu();
      const viaUp = await upload(`${via}/upload`, headers);
      const cpu3 = await gateway.cpu();
      return [
        { name: '50 MB download direct', value: mbps(directDown), unit: 'MB/s' },
        { name: '50 MB download via airlock (streamed, masked)', value: mbps(viaDown), unit: 'MB/s', baseline: '50 MB download direct' },
        { name: '50 MB upload direct', value: mbps(directUp), unit: 'MB/s' },
        { name: '50 MB upload via airlock (streamed)', value: mbps(viaUp), unit: 'MB/s', baseline: '50 MB upload direct' },
        { name: 'gateway+agent CPU per MB down', value: (cpu1 - cpu0) / 1000 / 50, unit: 'ms' },
        { name: 'gateway+agent CPU per MB up', value: (cpu3 - cpu2) / 1000 / 50, unit: 'ms' },
      ];
    } finally {
      await gateway.close();
      await target.close();
    }
  },
};
export default scenario;
