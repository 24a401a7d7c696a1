// `airlock reviews list|show|approve|deny`: the human in the loop. Reviewers decide; the requester
// never decides their own request.
import type { Command } from 'commander';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';

interface Review {
  id: string; connection: string; requester: string; requesterPerson?: string; status: string; createdAt: string; expiresAt: string; approvalsNeeded: number; reviewers: string[];
  votes: Array<{ reviewer: string; approve: boolean; reason: string | null; credential?: string | null }>; detail: Record<string, any>; decidedBy: string | null; reason: string | null;
  session?: { id: string; url: string } | null;
}

/** `text` indented under a label column (continuation lines aligned with the first). */
const block = (text: string) => text.split('\n').join('\n              ');

/** The request as it would leave, as the gateway shows it to reviewers (credentials and PII redacted there). */
function requestLines(r: Review): string[] {
  const d = r.detail;
  const lines: string[] = [];
  const headers = (d.headers ?? {}) as Record<string, string | string[]>;
  const names = Object.keys(headers);
  if (names.length) lines.push(`  headers:    ${block(names.map((n) => `${n}: ${([] as string[]).concat(headers[n]!).join(', ')}`).join('\n'))}`);
  if (d.payload !== undefined && d.payload !== null) lines.push(`  ${d.tool ? 'arguments:' : 'body:     '}  ${block(typeof d.payload === 'string' ? d.payload : JSON.stringify(d.payload, null, 2))}`);
  if (typeof d.justification === 'string') lines.push(`  justification: ${d.justification}`);
  return lines;
}

async function call(gateway: string | undefined, path: string, body?: unknown): Promise<any> {
  const { callGateway } = await import('../call.ts');
  return (await callGateway(gateway, path, body === undefined ? {} : { method: 'POST', body })).answer;
}

const what = (r: Review) => (r.detail.tool ? `tool ${r.detail.tool}` : `${r.detail.method ?? '?'} ${r.detail.path ?? '?'}`);

export function registerReviewCommands(program: Command): void {
  const reviews = program.command('reviews').description('requests held for a human review: list, show, approve, deny');

  reviews.command('list')
    .description('list reviews, newest first (default: pending ones)')
    .option('--status <status>', 'pending | approved | denied | expired | all', 'pending')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print only the ids, one a line (for scripts: airlock reviews approve $(airlock reviews list -q))')
    .action(async (opts: { status: string; gateway?: string; json?: boolean; quiet?: boolean }) => {
      const list = (await call(opts.gateway, `/api/v1/reviews${opts.status === 'all' ? '' : `?status=${encodeURIComponent(opts.status)}`}`)).reviews as Review[];
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      if (opts.quiet) return void process.stdout.write(list.map((r) => `${r.id}\n`).join(''));
      const rows = [['ID', 'STATUS', 'CONNECTION', 'REQUESTER', 'REQUEST', 'APPROVALS', 'EXPIRES']];
      for (const r of list) rows.push([r.id, r.status, r.connection, r.requester, what(r), `${r.votes.filter((v) => v.approve).length}/${r.approvalsNeeded}`, r.expiresAt]);
      process.stdout.write(formatTable(rows));
    });

  reviews.command('show')
    .description('show a review: the request as it would leave (headers, body or arguments), why it is held, the session, votes and notifications')
    .argument('<id>', 'the review id (rev_…)')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { gateway?: string; json?: boolean }) => {
      const r = await call(opts.gateway, `/api/v1/reviews/${encodeURIComponent(id)}`) as Review & { deliveries: Array<{ channel: string; attempt: number; ok: boolean; status: number | null; error: string | null }> };
      if (opts.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      const reasons = (r.detail.reasons ?? []) as Array<{ rule?: string; reason: string; message: string | null }>;
      const owner = r.requesterPerson && r.requesterPerson !== r.requester ? ` (for ${r.requesterPerson})` : '';
      process.stdout.write([
        `${r.id}  ${r.status}${r.decidedBy ? ` by ${r.decidedBy}` : ''}${r.reason ? `: ${r.reason}` : ''}`,
        `  request:    ${what(r)} on ${r.connection}, by ${r.requester}${owner}`,
        ...requestLines(r),
        `  why:        ${reasons.map((x) => `${x.message ?? x.reason}${x.rule ? ` [rule ${x.rule}, ${x.reason}]` : ''}`).join('; ') || 'policy'}`,
        `  findings:   ${((r.detail.findings ?? []) as Array<{ kind: string; path?: string }>).map((f) => (f.path ? `${f.kind} at ${f.path}` : f.kind)).join(', ') || 'none'}`,
        `  session:    ${r.session ? `${r.session.id} (airlock sessions replay ${r.session.id})` : 'none'}`,
        `  reviewers:  ${r.reviewers.length ? r.reviewers.join(', ') : 'anyone with the reviewer role'}; ${r.approvalsNeeded} approval(s) needed from different people`,
        `  votes:      ${r.votes.map((v) => `${v.reviewer}${v.credential ? ` (through ${v.credential})` : ''} ${v.approve ? 'approved' : 'denied'}${v.reason ? ` (${v.reason})` : ''}`).join('; ') || 'none'}`,
        `  expires:    ${r.expiresAt}`,
        `  notified:   ${r.deliveries.map((d) => `${d.channel}#${d.attempt} ${d.ok ? 'ok' : `failed (${d.error})`}`).join('; ') || 'no webhooks'}`,
      ].join('\n') + '\n');
    });

  for (const verb of ['approve', 'deny'] as const) {
    reviews.command(verb)
      .description(verb === 'approve' ? 'approve a held request (never your own); enough approvals release it' : 'deny a held request: the requester gets GW_REVIEW_DENIED')
      .argument('<id>', 'the review id (rev_…)')
      .option('--reason <text>', 'why, recorded with your decision')
      .addOption(gatewayOption())
      .action(async (id: string, opts: { reason?: string; gateway?: string }) => {
        const r = await call(opts.gateway, `/api/v1/reviews/${encodeURIComponent(id)}/${verb}`, opts.reason === undefined ? {} : { reason: opts.reason }) as Review;
        const approvals = r.votes.filter((v) => v.approve).length;
        process.stdout.write(r.status === 'pending'
          ? `Recorded your approval of ${r.id}: ${approvals} of ${r.approvalsNeeded} needed.\n`
          : `Review ${r.id} is ${r.status}.${r.status === 'approved' ? ' The held request is released (or passes when retried).' : ''}\n`);
      });
  }
}
