// `airlock api-keys create|list|revoke` (admin): API keys. The key is printed once, on stdout
// alone, so `KEY=$(airlock api-keys create …)` captures just it. A key acts for the person who
// created it (never more than they hold); `--service` makes a key for automation, its own owner,
// which may request reviews but not decide them (unless a rule names it).
import { InvalidArgumentError, type Command } from 'commander';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';

const ROLES = ['admin', 'reviewer', 'auditor', 'user'];

/** `30d`, `12h`, `90m`, `3600s` → seconds; `never` → 0 (commander keeps a null result as the raw text). */
export function ttlArg(value: string): number {
  if (value === 'never') return 0;
  const m = /^(\d{1,6})([smhd])$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected a duration such as 30d, 12h, 90m, 3600s, or never');
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (seconds < 60 || seconds > 2 * 365 * 86_400) throw new InvalidArgumentError('the lifetime must be between 1 minute and 2 years (or never)');
  return seconds;
}

function listArg(allowed?: readonly string[]) {
  return (value: string): string[] => {
    const items = value.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list');
    const bad = allowed ? items.filter((i) => !allowed.includes(i)) : [];
    if (bad.length) throw new InvalidArgumentError(`unknown ${bad.join(', ')}; choose from ${allowed!.join(', ')}`);
    return items;
  };
}

export function registerApiKeyCommands(program: Command): void {
  const keys = program.command('api-keys').description('API keys that act for you, or for automation (--service); admin only');

  keys.command('create')
    .description('create a key; it is printed once, on stdout')
    .requiredOption('--name <name>', 'what the key is for, e.g. ci-bot')
    .option('--roles <roles>', `comma-separated roles (${ROLES.join(', ')})`, listArg(ROLES), ['user'])
    .option('--connections <names>', 'comma-separated connections the key may use (default: none)', listArg(), [])
    .option('--ttl <duration>', 'lifetime: 30d, 12h, 90m, 3600s, or never', ttlArg, 90 * 86_400)
    .option('--service', 'a service identity (automation): its own owner; may request reviews, never decides one unless a rule names it')
    .addOption(gatewayOption())
    .option('--json', 'print the whole answer as JSON (the key included)')
    .action(async (opts: { name: string; roles: string[]; connections: string[]; ttl: number; service?: boolean; gateway?: string; json?: boolean }) => {
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, '/api/v1/api-keys', {
        method: 'POST',
        body: { name: opts.name, roles: opts.roles, connections: opts.connections, ttlSeconds: opts.ttl === 0 ? null : opts.ttl, kind: opts.service ? 'service' : 'personal' },
      });
      const created = (await import('../views.ts')).keyCreated.parse(answer);
      if (opts.json) {
        process.stdout.write(JSON.stringify(created, null, 2) + '\n');
        return;
      }
      const actsFor = created.kind === 'service' ? 'a service identity' : `acts for ${created.owner}, never holding more than its creator`;
      process.stderr.write(`Created API key ${created.id} ("${created.name}", ${actsFor}, roles ${created.roles.join(', ')}, ${created.expiresAt ? `expires ${created.expiresAt}` : 'never expires'}).\nStore it now: it is not shown again. Use it as: Authorization: Bearer <key>\n`);
      process.stdout.write(`${created.key}\n`);
    });

  keys.command('list')
    .description('list keys (never the keys themselves)')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .action(async (opts: { gateway?: string; json?: boolean }) => {
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, '/api/v1/api-keys');
      const { apiKeys } = (await import('../views.ts')).keyList.parse(answer);
      if (opts.json) {
        process.stdout.write(JSON.stringify(apiKeys, null, 2) + '\n');
        return;
      }
      const rows = [['ID', 'NAME', 'ROLES', 'CONNECTIONS', 'EXPIRES', 'STATE', 'LAST USED', 'OWNER']];
      const now = Date.now();
      for (const k of apiKeys) {
        const state = k.revokedAt ? 'revoked' : k.expiresAt && Date.parse(k.expiresAt) <= now ? 'expired' : 'active';
        rows.push([k.id, k.name, k.roles.join(','), k.connections.join(',') || '-', k.expiresAt ?? 'never', state, k.lastUsedAt ?? '-', k.kind === 'service' ? 'service' : k.owner]);
      }
      process.stdout.write(formatTable(rows));
    });

  keys.command('revoke')
    .description('revoke a key at once')
    .argument('<id>', 'the key id (the part after alk_, as `list` shows it)')
    .addOption(gatewayOption())
    .action(async (id: string, opts: { gateway?: string }) => {
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, `/api/v1/api-keys/${encodeURIComponent(id)}`, { method: 'DELETE' });
      const revoked = (await import('../views.ts')).keyView.parse(answer);
      process.stdout.write(`Revoked API key ${revoked.id} ("${revoked.name}").\n`);
    });
}
