// Bench server for the limits scenario: a real gateway + agent (startBenchGateway) whose connection
// `bench` has five limits in force (a rate, a concurrency cap, two costs, one egress budget, all
// far from their bounds; rate and concurrency shared through the store like the others), or none,
// to measure what limits add on the 1 KB HTTP path.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBenchGateway } from '../lib/gateway.ts';

export const FIVE_LIMITS = [
  'name: bench-limits',
  'limits:',
  '  - { name: calls, kind: rate, rate: 1000000, burst: 1000000 }',
  '  - { name: in_flight, kind: concurrent, max: 100000, key: [connection] }',
  '  - { name: pages, kind: cost, max: 1000000000, block: 100 }',
  '  - { name: group_pages, kind: cost, max: 1000000000, block: 100, key: [group, connection] }',
  '  - { name: records, kind: egress, max: 1000000000, block: 100 }',
  '',
].join('\n');

export default async function start(arg: { target: string; limits: boolean }): Promise<{ port: number; info?: unknown; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-limits-'));
  const file = join(dir, 'limits.yaml');
  writeFileSync(file, FIVE_LIMITS);
  const bench = await startBenchGateway({ kind: 'http', target: arg.target, ...(arg.limits ? { policy: { files: [file] } } : {}) }, [arg.target]);
  return { port: bench.port, info: bench.key, close: async () => { await bench.close(); rmSync(dir, { recursive: true, force: true }); } };
}
