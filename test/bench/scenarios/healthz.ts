// /healthz on the gateway against a bare node:http server answering the same, in the same run:
// the cost of the gateway's request frame (request id, routing, logging context, JSON errors).
import type { Scenario } from '../scenario.ts';
import { load } from '../lib/load.ts';
import { startInWorker } from '../lib/worker.ts';

const server = new URL('../servers/healthz.ts', import.meta.url);

const scenario: Scenario = {
  name: 'healthz',
  async run() {
    const bare = await startInWorker(server, 'bare');
    const direct = await load({ url: `http://127.0.0.1:${bare.port}/healthz` }).finally(() => bare.close());
    const gw = await startInWorker(server, 'gateway');
    const via = await load({ url: `http://127.0.0.1:${gw.port}/healthz` }).finally(() => gw.close());
    return [
      { name: 'bare node:http req/s', value: direct.rps, unit: 'req/s' },
      { name: 'gateway /healthz req/s', value: via.rps, unit: 'req/s', baseline: 'bare node:http req/s' },
      { name: 'bare node:http p99', value: direct.p99, unit: 'ms' },
      { name: 'gateway /healthz p99', value: via.p99, unit: 'ms', baseline: 'bare node:http p99' },
    ];
  },
};
export default scenario;
