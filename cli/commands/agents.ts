// `airlock agents add|list|revoke` (admin): the agents that carry traffic to internal services.
// `add` prints the one-time enrollment token on stdout alone (so `TOKEN=$(airlock agents add …)`
// captures just it) and, on stderr, the command to run on the agent host.
import type { Command } from 'commander';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';

export function registerAgentCommands(program: Command): void {
  const agents = program.command('agents').description('agents that run inside your network and dial out to the gateway; admin only');

  agents.command('add')
    .description('register an agent (or issue a new token for a pending one); prints a one-time enrollment token on stdout')
    .argument('<name>', 'the agent\'s name: a DNS label such as edge-1')
    .addOption(gatewayOption())
    .option('--json', 'print the whole answer as JSON (the token included)')
    .addHelpText('after', '\nOn the agent host, save the token to a file (mode 0600) and run:\n  airlock-agent enroll --gateway <this gateway> --token-file <file>\nThe token works once, for agents.enrollmentTtl (15 minutes by default).')
    .action(async (name: string, opts: { gateway?: string; json?: boolean }) => {
      const { callGateway } = await import('../call.ts');
      const { gateway, answer } = await callGateway(opts.gateway, '/api/v1/agents', { method: 'POST', body: { name } });
      const added = (await import('../views.ts')).agentAdded.parse(answer);
      if (opts.json) {
        process.stdout.write(JSON.stringify(added, null, 2) + '\n');
        return;
      }
      process.stderr.write([
        `Agent ${added.name} is registered and waits for its enrollment. The token below works once, until ${added.enrollmentExpiresAt}; it is not shown again.`,
        'On the agent host, save it to a file readable only by the agent (chmod 600), then run:',
        `  airlock-agent enroll --gateway ${gateway} --token-file <file>`,
        '  airlock-agent start',
        '',
      ].join('\n'));
      process.stdout.write(`${added.enrollmentToken}\n`);
    });

  agents.command('list')
    .description('list agents: status, online or offline (on this gateway), version, last seen')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .action(async (opts: { gateway?: string; json?: boolean }) => {
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, '/api/v1/agents');
      const list = (await import('../views.ts')).agentList.parse(answer).agents;
      if (opts.json) {
        process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        return;
      }
      const rows = [['NAME', 'STATUS', 'STATE', 'TUNNELS', 'VERSION', 'LAST SEEN']];
      for (const a of list) {
        rows.push([a.name, a.status, a.online ? 'online' : 'offline', String(a.tunnels), a.version ?? '-', a.online ? 'now' : a.lastSeen ?? 'never']);
      }
      process.stdout.write(formatTable(rows));
    });

  agents.command('revoke')
    .description('revoke an agent at once: its tunnels close, streams in flight fail, and it may not reconnect')
    .argument('<name>', 'the agent\'s name')
    .addOption(gatewayOption())
    .action(async (name: string, opts: { gateway?: string }) => {
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, `/api/v1/agents/${encodeURIComponent(name)}`, { method: 'DELETE' });
      const revoked = (await import('../views.ts')).agentRevoked.parse(answer);
      process.stdout.write(`Revoked agent ${revoked.name}; ${revoked.tunnelsClosed} tunnel${revoked.tunnelsClosed === 1 ? '' : 's'} closed on this gateway. To use it again: airlock agents add ${revoked.name}, then enroll it anew.\n`);
    });
}
