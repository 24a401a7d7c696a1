// What metrics and tracing cost on the HTTP data path (issue 18): the same 1 KB GET through
// gateway + agent with both off (metrics.enabled false), with the default (metrics on, tracing
// off), and with both on (every trace sampled and exported over OTLP/HTTP to a receiver in the
// gateway's worker), in the same run: one request at a time (the latency added), under load
// (throughput), and the gateway + agent CPU per request. On a shared machine the end-to-end
// figures move more with the neighbours than with telemetry, so the scenario also times the
// telemetry work of one request by itself, in this process: a request begun and ended, eight
// stages observed (and with tracing, nine spans made and exported to a loopback receiver).
import type { Metric, Scenario } from '../scenario.ts';
import { latency, load } from '../lib/load.ts';
import { startInWorker } from '../lib/worker.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configSchema } from '../../../gateway/config/schema.ts';
import { stage, withTelemetry } from '../../../gateway/telemetry/context.ts';
import { Telemetry } from '../../../gateway/telemetry/telemetry.ts';

const STAGES_OF_ONE_GET = ['authn', 'inspect', 'policy', 'record', 'forward', 'inspect', 'policy', 'record'] as const;

/** µs of telemetry work per request (begin, 8 stages, end; with tracing its 9 spans exported), over `n` requests. */
async function perRequest(tracing: boolean, n = 20_000): Promise<number> {
  const receiver = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')); });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const config = configSchema.parse({ tracing: { enabled: tracing, otlp: { endpoint: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces` } } });
  const telemetry = new Telemetry(config, 'bench');
  try {
    const one = () => {
      const rt = telemetry.begin('http', 'GET', 'bench-request-id', undefined);
      withTelemetry(rt, () => { for (const s of STAGES_OF_ONE_GET) stage(s, performance.now()); });
      rt.connection = 'bench';
      rt.decision = 'allow';
      telemetry.end(rt, 200);
    };
    // In batches the span queue holds (4096 spans: 400 requests of 9), each exported before the
    // next, so every span is serialised and sent rather than dropped from a full queue.
    const batch = 400;
    const run = async (requests: number) => {
      for (let done = 0; done < requests; done += batch) {
        for (let i = 0; i < batch; i++) one();
        await telemetry.tracing?.flush();
      }
    };
    await run(2000);
    const started = performance.now();
    await run(n);
    return ((performance.now() - started) * 1000) / n;
  } finally {
    await telemetry.close();
    await new Promise<void>((r) => { receiver.closeAllConnections(); receiver.close(() => r()); });
  }
}

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
      metrics.push(
        { name: 'telemetry work per request, metrics', value: await perRequest(false), unit: 'µs' },
        { name: 'telemetry work per request, metrics + tracing', value: await perRequest(true), unit: 'µs' },
      );
      return metrics;
    } finally {
      for (const g of gateways) await g.close();
      await target.close();
    }
  },
};
export default scenario;
