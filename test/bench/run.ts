// `npm run bench [-- FILTER…]`: runs every scenario in test/bench/scenarios/ (or those whose
// name contains a FILTER), takes the median of each metric over the scenario's repeats, prints a
// table with each metric's ratio against its baseline, and writes test/bench/results/latest.json.
// Figures are printed, never asserted: aims are shown for reading, not enforced.
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import type { Metric, Scenario } from './scenario.ts';

const dir = new URL('./scenarios/', import.meta.url);
const filters = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();

interface Row { scenario: string; metric: string; unit: string; median: number; runs: number[]; ratio?: number; baseline?: string; aim?: string }
const rows: Row[] = [];
const failures: Array<{ scenario: string; error: string }> = [];

for (const file of files) {
  const mod = (await import(new URL(file, dir).href)) as { default: Scenario };
  const scenario = mod.default;
  if (filters.length > 0 && !filters.some((f) => scenario.name.includes(f) || file.includes(f))) continue;
  const repeats = scenario.repeats ?? 3;
  process.stderr.write(`bench: ${scenario.name} (${repeats} run${repeats === 1 ? '' : 's'})…\n`);
  const runs: Metric[][] = [];
  try {
    for (let i = 0; i < repeats; i++) {
      runs.push(await scenario.run());
      process.stderr.write(`bench:   run ${i + 1}/${repeats} done\n`);
    }
  } catch (err) {
    failures.push({ scenario: scenario.name, error: (err as Error)?.stack ?? String(err) });
    process.stderr.write(`bench: ${scenario.name} FAILED: ${(err as Error)?.message ?? String(err)}\n`);
    continue;
  }
  const first = runs[0] ?? [];
  const medians = new Map<string, number>();
  for (const m of first) {
    const values = runs.map((r) => r.find((x) => x.name === m.name)?.value).filter((v): v is number => typeof v === 'number');
    medians.set(m.name, median(values));
    rows.push({ scenario: scenario.name, metric: m.name, unit: m.unit, median: median(values), runs: values, ...(m.baseline ? { baseline: m.baseline } : {}), ...(m.aim ? { aim: m.aim } : {}) });
  }
  for (const row of rows.filter((r) => r.scenario === scenario.name && r.baseline)) {
    const base = medians.get(row.baseline!);
    if (base) row.ratio = row.median / base;
  }
}

printTable(rows);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/latest.json', import.meta.url), JSON.stringify({
  at: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  rows,
  failures,
}, null, 2) + '\n');
process.stderr.write(`bench: wrote test/bench/results/latest.json\n`);
if (failures.length > 0) process.exitCode = 1;

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

function printTable(table: Row[]): void {
  const head = ['scenario', 'metric', 'median', 'unit', 'vs baseline', 'aim'];
  const body = table.map((r) => [r.scenario, r.metric, fmt(r.median), r.unit, r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.baseline}`, r.aim ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  process.stdout.write(`\nairlock bench — node ${process.version}, ${os.cpus().length} cpus, medians\n\n`);
  process.stdout.write(line(head) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
  for (const b of body) process.stdout.write(line(b) + '\n');
  process.stdout.write('\n');
}
