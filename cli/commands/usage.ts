// `airlock usage`: who uses how much of the limits declared in policy (GET /api/v1/usage; admins
// and auditors), most used first, with each key's bound and whether it is near or over it.
import type { Command } from 'commander';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';

interface UsageRow { limit: string; key: Record<string, string>; used: number; max: number | null; remaining: number | null; state: string; windowEnds: string }

export function registerUsageCommands(program: Command): void {
  program.command('usage')
    .description('show the top consumers of the limits in policy, and who is near or over their budgets')
    .option('--connection <name>', 'only this connection')
    .option('--user <subject>', 'only this user')
    .option('--since <date>', 'windows ending at or after (ISO 8601, e.g. 2026-11-22T09:00:00Z)')
    .option('--limit <n>', 'at most this many rows (1–1000)', '100')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .action(async (opts: { connection?: string; user?: string; since?: string; limit: string; gateway?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: opts.limit });
      for (const k of ['connection', 'user', 'since'] as const) if (opts[k] !== undefined) q.set(k, opts[k]);
      const { callGateway } = await import('../call.ts');
      const list = ((await callGateway(opts.gateway, `/api/v1/usage?${q}`)).answer as { usage: UsageRow[] }).usage;
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      const rows = [['LIMIT', 'KEY', 'USED', 'MAX', 'STATE', 'WINDOW ENDS']];
      for (const u of list) rows.push([u.limit, Object.entries(u.key).map(([k, v]) => `${k}=${v}`).join(' '), String(u.used), u.max === null ? '-' : String(u.max), u.state, u.windowEnds]);
      process.stdout.write(formatTable(rows));
    });
}
