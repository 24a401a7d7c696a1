// What metrics and tracing cost on the HTTP data path (issue 18): the same 1 KB GET through
// gateway + agent with both off (metrics.enabled false), with the default (metrics on, tracing
// off), and with both on (every trace sampled and exported over OTLP/HTTP to a receiver in the
// gateway's worker), in the same run: one request at a time (the latency added), under load
// (throughput), and the gateway + agent CPU per request, the figure least disturbed by the rest
// of the machine.
import type { Metric, Scenario } from '../scenario.ts';
import { latency, load } from '../lib/load.ts';
import { startInWorker } from '../lib/worker.ts';

const servers = new URL('../servers/proxy.ts', import.meta.url);
const MODES = [['off', 'telemetry off'], ['metrics', 'metrics on (default)'], ['on', 'metrics + tracing on']] as const;

const scenario: Scenario = {
  name: 'telemetry',
  async run() {
    const target = await startInWorker(servers, { kind: 'target' });
    const targetUrl = `http://127.0.0.1:${target.port}`;
    const gateways: Array<Awaited<ReturnType<typeof startInWorker>>> = [];
    try {
      for (const [mode] of MODES) gateways.push(await startInWorker(servers, { kind: 'gateway', target: targetUrl, telemetry: mode }));
      const url = (g: (typeof gateways)[number]) => `http://127.0.0.1:${g.port}/proxy/bench/small`;
      const headers = (g: (typeof gateways)[number]) => ({ authorization: `Bearer ${String(g.info)}` });
      for (const g of gateways) await latency({ url: url(g), headers: headers(g), requests: 50, warmup: 20 });
      const metrics: Metric[] = [];
      const off = MODES[0][1];
      for (const [i, g] of gateways.entries()) {
        const label = MODES[i]![1];
        const one = await latency({ url: url(g), headers: headers(g), warmup: 20, maxDuration: 10 });
        const c0 = await g.cpu();
        const loaded = await load({ url: url(g), headers: headers(g) });
        const c1 = await g.cpu();
        metrics.push(
          { name: `HTTP 1 KB p50, 1 conn, ${label}`, value: one.p50, unit: 'ms', ...(i === 0 ? {} : { baseline: `HTTP 1 KB p50, 1 conn, ${off}` }) },
          { name: `HTTP 1 KB p99, 1 conn, ${label}`, value: one.p99, unit: 'ms' },
          { name: `HTTP 1 KB req/s, ${label}`, value: loaded.rps, unit: 'req/s', ...(i === 0 ? {} : { baseline: `HTTP 1 KB req/s, ${off}` }) },
          { name: `gateway+agent CPU/request, ${label}`, value: (c1 - c0) / loaded.requests, unit: 'µs', ...(i === 0 ? {} : { baseline: `gateway+agent CPU/request, ${off}` }) },
        );
      }
      return metrics;
    } finally {
      for (const g of gateways) await g.close();
      await target.close();
    }
  },
};
export default scenario;
