// What recording adds to the HTTP data path (issue 8): the same 1 KB GET through gateway + agent,
// one request at a time, with recording on (request, findings, decisions and the answer durable in
// SQLite before the path moves on) and off (the recorder's writes made no-ops in the bench worker;
// the gateway itself has no such setting), in the same run.
import type { Scenario } from '../scenario.ts';
import { latency } from '../lib/load.ts';
import { startInWorker } from '../lib/worker.ts';

const servers = new URL('../servers/proxy.ts', import.meta.url);

const scenario: Scenario = {
  name: 'recording',
  async run() {
    const target = await startInWorker(servers, { kind: 'target' });
    const targetUrl = `http://127.0.0.1:${target.port}`;
    const on = await startInWorker(servers, { kind: 'gateway', target: targetUrl });
    const off = await startInWorker(servers, { kind: 'gateway', target: targetUrl, unrecorded: true });
    try {
      const url = (g: typeof on) => `http://127.0.0.1:${g.port}/proxy/bench/small`;
      const headers = (g: typeof on) => ({ authorization: `Bearer ${String(g.info)}` });
      await latency({ url: url(on), headers: headers(on), requests: 50, warmup: 20 });
      await latency({ url: url(off), headers: headers(off), requests: 50, warmup: 20 });
      const recorded = await latency({ url: url(on), headers: headers(on) });
      const unrecorded = await latency({ url: url(off), headers: headers(off) });
      return [
        { name: 'HTTP 1 KB p50, recording off', value: unrecorded.p50, unit: 'ms' },
        { name: 'HTTP 1 KB p50, recording on', value: recorded.p50, unit: 'ms' },
        { name: 'recording added p50', value: recorded.p50 - unrecorded.p50, unit: 'ms' },
        { name: 'recording added p99', value: recorded.p99 - unrecorded.p99, unit: 'ms' },
      ];
    } finally {
      await on.close();
      await off.close();
      await target.close();
    }
  },
};
export default scenario;
