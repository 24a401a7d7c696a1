// Start-up of the installed `airlock` command: the clone is installed as the README says
// (`npm install -g .`, here into a temporary prefix), and `airlock version` is timed through the
// launcher npm puts on PATH, against a bare start of the same Node (`node -e 0`). The first run
// fills Node's compile cache (a temporary XDG_CACHE_HOME, so the user's cache is left alone);
// the figure that matters is a warm run's, what every later command costs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../scenario.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Timed runs of each command per measurement. */
const RUNS = 15;

/** Wall-clock milliseconds of each of `runs` runs of `file args…`, one after another. */
function time(file: string, args: readonly string[], env: NodeJS.ProcessEnv, runs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  }
  return out;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const scenario: Scenario = {
  name: 'cli-startup',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-cli-'));
    try {
      const prefix = join(dir, 'prefix');
      // the README's install step; npm links the clone, so this is quick and offline
      execFileSync('npm', ['install', '-g', ROOT, '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'ignore', timeout: 120_000 });
      const airlock = join(prefix, 'bin', 'airlock');
      const env = { PATH: process.env.PATH, HOME: dir, XDG_CACHE_HOME: join(dir, 'cache') };
      const [cold] = time(airlock, ['version'], env, 1);
      const warm = time(airlock, ['version'], env, RUNS);
      const help = time(airlock, ['--help'], env, RUNS);
      const bare = time(join(ROOT, 'node_modules', 'node', 'bin', 'node'), ['-e', '0'], env, RUNS);
      return [
        { name: 'node -e 0 (same Node)', value: median(bare), unit: 'ms' },
        { name: 'airlock version, first run', value: cold!, unit: 'ms', baseline: 'node -e 0 (same Node)' },
        { name: 'airlock version', value: median(warm), unit: 'ms', baseline: 'node -e 0 (same Node)', aim: '< 500' },
        { name: 'airlock --help', value: median(help), unit: 'ms', baseline: 'node -e 0 (same Node)', aim: '< 500' },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
export default scenario;
