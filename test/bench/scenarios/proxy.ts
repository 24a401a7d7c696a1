// GET of a 1 KB and of a 1 MB JSON document through gateway → tunnel → agent → target, against
// the same target called directly, in the same run (issue: added p50 under 1 ms on loopback for
// 1 KB, at least half the direct throughput). Everything the gateway does is in the figures:
// authentication (API key), policy, and the PII scan of every answer.
//
// Two kinds of figures: throughput and latency under load (autocannon, 16 or 4 connections; its
// percentiles are whole ms and, once the gateway is saturated, mostly queueing: p50 ≈
// connections / req/s), and the latency the path adds to one request (one connection, one
// request at a time, µs resolution), which is what "added p50" means. The CPU time the gateway +
// agent thread spends per request is the figure least disturbed by whatever else the machine runs.
// The gateway and the agent share one worker thread here (on two cores, load generator + target
// + gateway/agent already make three busy threads).
import type { Scenario } from '../scenario.ts';
import { latency, load } from '../lib/load.ts';
import { startInWorker } from '../lib/worker.ts';

const servers = new URL('../servers/proxy.ts', import.meta.url);

const scenario: Scenario = {
  name: 'proxy',
  async run() {
    const target = await startInWorker(servers, { kind: 'target' });
    const gateway = await startInWorker(servers, { kind: 'gateway', target: `http://127.0.0.1:${target.port}` });
    try {
      const headers = { authorization: `Bearer ${String(gateway.info)}` };
      const direct = `http://127.0.0.1:${target.port}`;
      const via = `http://127.0.0.1:${gateway.port}/proxy/bench`;
      await load({ url: `${via}/small`, headers, duration: 1, connections: 4 }); // warm both paths
      const directSmall = await load({ url: `${direct}/small` });
      const cpu0 = await gateway.cpu();
      const viaSmall = await load({ url: `${via}/small`, headers });
      const cpu1 = await gateway.cpu();
      const directLarge = await load({ url: `${direct}/large`, connections: 4 });
      const cpu2 = await gateway.cpu();
      const viaLarge = await load({ url: `${via}/large`, headers, connections: 4 });
      const cpu3 = await gateway.cpu();
      const directSmallOne = await latency({ url: `${direct}/small` });
      const viaSmallOne = await latency({ url: `${via}/small`, headers });
      const directLargeOne = await latency({ url: `${direct}/large`, requests: 100, warmup: 10 });
      const viaLargeOne = await latency({ url: `${via}/large`, headers, requests: 100, warmup: 10 });
      return [
        { name: '1 KB direct req/s', value: directSmall.rps, unit: 'req/s' },
        { name: '1 KB via airlock req/s', value: viaSmall.rps, unit: 'req/s', baseline: '1 KB direct req/s', aim: '>= 0.5x' },
        { name: '1 KB added p50', value: viaSmall.p50 - directSmall.p50, unit: 'ms' },
        { name: '1 KB added p99', value: viaSmall.p99 - directSmall.p99, unit: 'ms' },
        { name: '1 KB gateway+agent CPU/request', value: (cpu1 - cpu0) / viaSmall.requests, unit: 'µs' },
        { name: '1 KB direct p50, 1 conn', value: directSmallOne.p50, unit: 'ms' },
        { name: '1 KB added p50, 1 conn', value: viaSmallOne.p50 - directSmallOne.p50, unit: 'ms', aim: '< 1' },
        { name: '1 KB added p99, 1 conn', value: viaSmallOne.p99 - directSmallOne.p99, unit: 'ms' },
        { name: '1 MB direct req/s', value: directLarge.rps, unit: 'req/s' },
        { name: '1 MB via airlock req/s', value: viaLarge.rps, unit: 'req/s', baseline: '1 MB direct req/s' },
        { name: '1 MB added p50', value: viaLarge.p50 - directLarge.p50, unit: 'ms' },
        { name: '1 MB gateway+agent CPU/request', value: (cpu3 - cpu2) / viaLarge.requests, unit: 'µs' },
        { name: '1 MB direct p50, 1 conn', value: directLargeOne.p50, unit: 'ms' },
        { name: '1 MB added p50, 1 conn', value: viaLargeOne.p50 - directLargeOne.p50, unit: 'ms' },
      ];
    } finally {
      await gateway.close();
      await target.close();
    }
  },
};
export default scenario;
