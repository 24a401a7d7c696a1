// What metrics and tracing cost on the HTTP data path (issue 18): the same 1 KB GET through
// gateway + agent with both off (metrics.enabled false, tracing off) and both on (every stage
// observed in its histogram, every trace sampled and exported over OTLP/HTTP to a receiver in the
// gateway's worker), in the same run: one request at a time (the latency added), under load
// (throughput), and the gateway + agent CPU per request, the figure least disturbed by the rest
// of the machine.
import type { Scenario } from '../scenario.ts';
import { latency, load } from '../lib/load.ts';
import { startInWorker } from '../lib/worker.ts';

const servers = new URL('../servers/proxy.ts', import.meta.url);

const scenario: Scenario = {
  name: 'telemetry',
  async run() {
    const target = await startInWorker(servers, { kind: 'target' });
    const targetUrl = `http://127.0.0.1:${target.port}`;
    const off = await startInWorker(servers, { kind: 'gateway', target: targetUrl, telemetry: 'off' });
    const on = await startInWorker(servers, { kind: 'gateway', target: targetUrl, telemetry: 'on' });
    try {
      const url = (g: typeof on) => `http://127.0.0.1:${g.port}/proxy/bench/small`;
      const headers = (g: typeof on) => ({ authorization: `Bearer ${String(g.info)}` });
      for (const g of [off, on]) await latency({ url: url(g), headers: headers(g), requests: 50, warmup: 20 });
      const offOne = await latency({ url: url(off), headers: headers(off), warmup: 20, maxDuration: 10 });
      const onOne = await latency({ url: url(on), headers: headers(on), warmup: 20, maxDuration: 10 });
      const c0 = await off.cpu();
      const offLoad = await load({ url: url(off), headers: headers(off) });
      const c1 = await off.cpu();
      const c2 = await on.cpu();
      const onLoad = await load({ url: url(on), headers: headers(on) });
      const c3 = await on.cpu();
      return [
        { name: 'HTTP 1 KB p50, 1 conn, telemetry off', value: offOne.p50, unit: 'ms' },
        { name: 'HTTP 1 KB p50, 1 conn, metrics + tracing on', value: onOne.p50, unit: 'ms' },
        { name: 'metrics + tracing added p50, 1 conn', value: onOne.p50 - offOne.p50, unit: 'ms' },
        { name: 'metrics + tracing added p99, 1 conn', value: onOne.p99 - offOne.p99, unit: 'ms' },
        { name: 'HTTP 1 KB req/s, telemetry off', value: offLoad.rps, unit: 'req/s' },
        { name: 'HTTP 1 KB req/s, metrics + tracing on', value: onLoad.rps, unit: 'req/s', baseline: 'HTTP 1 KB req/s, telemetry off' },
        { name: 'gateway+agent CPU/request, telemetry off', value: (c1 - c0) / offLoad.requests, unit: 'µs' },
        { name: 'gateway+agent CPU/request, metrics + tracing on', value: (c3 - c2) / onLoad.requests, unit: 'µs', baseline: 'gateway+agent CPU/request, telemetry off' },
      ];
    } finally {
      await on.close();
      await off.close();
      await target.close();
    }
  },
};
export default scenario;
