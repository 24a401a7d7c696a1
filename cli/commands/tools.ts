// `airlock tools list|approve`: MCP tool integrity. Each upstream tool definition is pinned by its
// fingerprint; a new one (under mcp.pinMode approval) or a changed one stays hidden from callers
// until an admin approves what `list` shows.
import type { Command } from 'commander';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';

interface Pin { tool: string; state: string; approved: string | null; approvedBy: string | null; pending: string | null; pendingSince: string | null }

export function registerToolCommands(program: Command): void {
  const tools = program.command('tools').description('MCP tool integrity: pinned tool definitions, and approving new or changed ones (admin)');

  tools.command('list')
    .description('list a connection\'s MCP tools: approved, awaiting approval, or changed (hidden until approved)')
    .argument('<connection>', 'the connection')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .action(async (connection: string, opts: { gateway?: string; json?: boolean }) => {
      const { callGateway } = await import('../call.ts');
      const list = ((await callGateway(opts.gateway, `/api/v1/tools/${encodeURIComponent(connection)}`)).answer as { tools: Pin[] }).tools;
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      const rows = [['TOOL', 'STATE', 'APPROVED', 'BY', 'PENDING']];
      for (const p of list) rows.push([p.tool, p.state, p.approved?.slice(0, 12) ?? '-', p.approvedBy ?? '-', p.pending?.slice(0, 12) ?? '-']);
      process.stdout.write(formatTable(rows));
    });

  tools.command('approve')
    .description('approve the definition of a tool that awaits approval (new, or changed since it was approved)')
    .argument('<connection>', 'the connection')
    .argument('<tool>', 'the tool name')
    .option('--fingerprint <sha256>', 'the pending fingerprint you reviewed (default: the one pending now; refused if it changed meanwhile)')
    .addOption(gatewayOption())
    .action(async (connection: string, tool: string, opts: { fingerprint?: string; gateway?: string }) => {
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, `/api/v1/tools/${encodeURIComponent(connection)}/${encodeURIComponent(tool)}/approve`, { method: 'POST', body: opts.fingerprint ? { fingerprint: opts.fingerprint } : {} });
      const pin = answer as Pin;
      process.stdout.write(`Approved ${connection}/${pin.tool} at ${pin.approved?.slice(0, 12)}; callers see it from their next tools/list.\n`);
    });
}
