// `pgbench -S` (select-only, 8 clients) through the PostgreSQL listener (gateway → tunnel → agent
// → database) against the same database directly, in the same run (issue: at least half the
// direct transactions per second, added p50 under 1 ms). Every statement is parsed and judged by
// the guard and every row scanned for PII; the session is recorded. A real PostgreSQL server
// (test/support/postgres.ts) and the real `pgbench`; the gateway and agent share one worker.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Scenario } from '../scenario.ts';
import { startInWorker } from '../lib/worker.ts';
import { startPostgres } from '../../support/postgres.ts';

const servers = new URL('../servers/postgres.ts', import.meta.url);
const SECONDS = 5;

function pgbenchPath(): string {
  for (const v of ['17', '16', '15', '14', '13']) if (existsSync(`/usr/lib/postgresql/${v}/bin/pgbench`)) return `/usr/lib/postgresql/${v}/bin/pgbench`;
  return 'pgbench';
}

function pgbench(args: string[], env: Record<string, string>): Promise<{ tps: number; latencyMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgbenchPath(), args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`pgbench ${args.join(' ')} exited with ${code}:\n${out.slice(-2000)}`));
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
      const latency = /latency average = ([\d.]+) ms/.exec(out);
      resolve({ tps: tps ? Number(tps[1]) : 0, latencyMs: latency ? Number(latency[1]) : 0 });
    });
  });
}

const scenario: Scenario = {
  name: 'postgres',
  repeats: 1,
  async run() {
    const server = await startPostgres();
    const url = new URL(server.url);
    const origin = `postgres://${url.hostname}:${url.port}`;
    const gateway = await startInWorker(servers, { target: `${origin}/postgres`, origin, user: url.username });
    try {
      const { key, pgPort } = gateway.info as { key: string; pgPort: number };
      const direct = { PGHOST: url.hostname, PGPORT: url.port, PGUSER: url.username, PGDATABASE: 'postgres' };
      await pgbench(['-i', '-s', '1', '-q'], direct);
      const run = ['-S', '-n', '-c', '8', '-j', '2', '-T', String(SECONDS)];
      const viaEnv = { PGHOST: '127.0.0.1', PGPORT: String(pgPort), PGUSER: 'bench', PGDATABASE: 'bench', PGPASSWORD: key, PGSSLMODE: 'disable' };
      await pgbench(['-S', '-n', '-c', '2', '-T', '1'], viaEnv); // warm the path
      const d = await pgbench(run, direct);
      const v = await pgbench(run, viaEnv);
      const d1 = await pgbench(['-S', '-n', '-c', '1', '-T', String(SECONDS)], direct);
      const v1 = await pgbench(['-S', '-n', '-c', '1', '-T', String(SECONDS)], viaEnv);
      return [
        { name: 'pgbench -S direct tps', value: d.tps, unit: 'tps' },
        { name: 'pgbench -S via airlock tps', value: v.tps, unit: 'tps', baseline: 'pgbench -S direct tps', aim: '>= 0.5x' },
        { name: 'pgbench -S added latency, 8 clients', value: v.latencyMs - d.latencyMs, unit: 'ms' },
        { name: 'pgbench -S added latency, 1 client', value: v1.latencyMs - d1.latencyMs, unit: 'ms', aim: '< 1' },
        { name: 'guard per statement, 1 client (latency via − direct)', value: (v1.latencyMs - d1.latencyMs) * 1000, unit: 'µs' },
      ];
    } finally {
      await gateway.close();
      await server.stop();
    }
  },
};
export default scenario;
