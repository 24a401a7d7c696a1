// tools/call round trips (issue 7): one MCP client calling a small `echo` tool, one call at a
// time, against the upstream directly, through airlock (gateway + tunnel + agent, with the
// firewall: schema check, inspection, policy, recording, result inspection), and through a
// plain MCP proxy without policy (supergateway, Streamable HTTP → stdio, spawned by the client).
// Aim (issue 19): ≥ 0.80× direct, added p50 under 1.5 ms, and faster than the plain proxy.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../scenario.ts';
import { startInWorker } from '../lib/worker.ts';

const servers = new URL('../servers/mcp.ts', import.meta.url);
const SUPERGATEWAY = fileURLToPath(new URL('../../../node_modules/supergateway/dist/index.js', import.meta.url));
const MAX_CALLS = 5000;
const MAX_MS = 2000;

async function rounds(transport: Transport): Promise<{ perSecond: number; p50: number; p99: number; calls: number }> {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport);
  try {
    for (let i = 0; i < 20; i++) await client.callTool({ name: 'echo', arguments: { text: 'warm' } });
    const samples: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < MAX_CALLS && performance.now() - t0 < MAX_MS; i++) {
      const s = performance.now();
      await client.callTool({ name: 'echo', arguments: { text: `call ${i}` } });
      samples.push(performance.now() - s);
    }
    const seconds = (performance.now() - t0) / 1000;
    samples.sort((a, b) => a - b);
    return { perSecond: samples.length / seconds, p50: samples[Math.floor(samples.length / 2)]!, p99: samples[Math.floor(samples.length * 0.99)]!, calls: samples.length + 20 };
  } finally {
    await client.close();
  }
}

const scenario: Scenario = {
  name: 'mcp',
  async run() {
    const up = await startInWorker(servers, { kind: 'upstream' });
    const upstream = `http://127.0.0.1:${up.port}`;
    const gateway = await startInWorker(servers, { kind: 'gateway', upstream });
    try {
      const direct = await rounds(new StreamableHTTPClientTransport(new URL(`${upstream}/mcp`)));
      // The gateway's (and its in-process agent's) CPU per call: the cost that holds on a busy machine.
      const cpu0 = await gateway.cpu();
      const airlock = await rounds(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${gateway.port}/mcp/bench`), { requestInit: { headers: { authorization: `Bearer ${String(gateway.info)}` } } }));
      const cpuPerCall = (await gateway.cpu() - cpu0) / 1000 / airlock.calls;
      const plain = await rounds(new StdioClientTransport({ command: process.execPath, args: [SUPERGATEWAY, '--streamableHttp', `${upstream}/mcp`, '--logLevel', 'none'], stderr: 'ignore' }));
      return [
        { name: 'tools/call direct calls/s', value: direct.perSecond, unit: 'calls/s' },
        { name: 'tools/call via airlock calls/s', value: airlock.perSecond, unit: 'calls/s', baseline: 'tools/call direct calls/s', aim: '≥ 0.80×' },
        { name: 'tools/call via supergateway calls/s', value: plain.perSecond, unit: 'calls/s', baseline: 'tools/call direct calls/s' },
        { name: 'tools/call direct p50', value: direct.p50, unit: 'ms' },
        { name: 'tools/call added p50 (airlock)', value: airlock.p50 - direct.p50, unit: 'ms', aim: '< 1.5' },
        { name: 'tools/call added p99 (airlock)', value: airlock.p99 - direct.p99, unit: 'ms' },
        { name: 'tools/call gateway+agent CPU per call', value: cpuPerCall, unit: 'ms' },
        { name: 'tools/call added p50 (supergateway)', value: plain.p50 - direct.p50, unit: 'ms' },
        { name: 'tools/call airlock vs supergateway', value: plain.p50 / airlock.p50, unit: 'x', aim: '> 1 (faster)' },
      ];
    } finally {
      await gateway.close();
      await up.close();
    }
  },
};
export default scenario;
