// A fixed number of tools/call round trips through a bench gateway, for profiling (`--cpu-prof`)
// and syscall counts: `node test/bench/lib/mcp-calls.ts [calls]`. Not a scenario (no figures).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startInWorker } from './worker.ts';

const calls = Number(process.argv[2] ?? 300);
const servers = new URL('../servers/mcp.ts', import.meta.url);
const up = await startInWorker(servers, { kind: 'upstream' });
const gateway = await startInWorker(servers, { kind: 'gateway', upstream: `http://127.0.0.1:${up.port}` });
const client = new Client({ name: 'bench', version: '1' });
await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${gateway.port}/mcp/bench`), { requestInit: { headers: { authorization: `Bearer ${String(gateway.info)}` } } }));
for (let i = 0; i < 20; i++) await client.callTool({ name: 'echo', arguments: { text: 'warm' } });
const cpu0 = await gateway.cpu();
const t0 = performance.now();
for (let i = 0; i < calls; i++) await client.callTool({ name: 'echo', arguments: { text: `call ${i}` } });
const ms = performance.now() - t0;
const cpu = (await gateway.cpu() - cpu0) / 1000;
process.stdout.write(`${calls} calls in ${ms.toFixed(0)} ms: ${(ms / calls).toFixed(2)} ms per call; gateway+agent CPU ${(cpu / calls).toFixed(2)} ms per call\n`);
await client.close();
await gateway.close();
await up.close();
