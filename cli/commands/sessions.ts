// `airlock sessions list|show|replay|export|verify`: the audit trail. Verification happens here,
// on the auditor's machine, over what the gateway returns (sessions-verify.ts): the hash chain is
// recomputed, the checkpoints' signatures checked against the recording keys (fetched from the
// gateway, or pinned with --key FILE so a compromised gateway cannot vouch for itself), and the
// sessions held against the ledger.
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';
import { assemble, describeCheckpoint, describeEvent, type RecordedCheckpoint, type RecordedEvent } from '../render/events.ts';

// The lines themselves are drawn in ../render/events.ts; these re-exports keep older imports working.
export { assemble, describeEvent };

interface Session { id: string; connection: string; subject: string; kind: string; startedAt: string; endedAt: string | null; state: string; lastSeq: number; decisions: string[]; endReason: string | null; metadata: Record<string, unknown> }
type Event = RecordedEvent;

const PAGE = 1000;

async function call(gateway: string | undefined, path: string): Promise<any> {
  const { callGateway } = await import('../call.ts');
  return (await callGateway(gateway, path)).answer;
}

/** Every event after `after`, page by page (bounded by the session's size). */
async function eventsOf(gateway: string | undefined, id: string, after = 0): Promise<Event[]> {
  const out: Event[] = [];
  for (;;) {
    const page = (await call(gateway, `/api/v1/sessions/${encodeURIComponent(id)}/events?after=${after}&limit=${PAGE}`)).events as Event[];
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page.at(-1)!.seq;
  }
}

export function registerSessionCommands(program: Command): void {
  const sessions = program.command('sessions').description('recorded sessions: list, show, replay, export and verify them (auditors and admins see all; users their own)');

  sessions.command('list')
    .description('list recorded sessions, newest first')
    .option('--connection <name>', 'only this connection')
    .option('--user <subject>', 'only this user (auditors and admins)')
    .option('--since <date>', 'started at or after (ISO 8601, e.g. 2026-11-22T09:00:00Z)')
    .option('--decision <decision>', 'sessions with at least one allow|mask|review|deny decision')
    .option('--limit <n>', 'at most this many (1–1000)', '100')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print only the ids, one a line, newest first (for scripts)')
    .action(async (opts: { connection?: string; user?: string; since?: string; decision?: string; limit: string; gateway?: string; json?: boolean; quiet?: boolean }) => {
      const q = new URLSearchParams({ limit: opts.limit });
      for (const k of ['connection', 'user', 'since', 'decision'] as const) if (opts[k] !== undefined) q.set(k, opts[k]);
      const list = (await call(opts.gateway, `/api/v1/sessions?${q}`)).sessions as Session[];
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      if (opts.quiet) return void process.stdout.write(list.map((s) => `${s.id}\n`).join(''));
      const rows = [['ID', 'CONNECTION', 'USER', 'STARTED', 'STATE', 'EVENTS', 'DECISIONS']];
      for (const s of list) rows.push([s.id, s.connection, s.subject, s.startedAt, s.state, String(s.lastSeq), s.decisions.join(',') || '-']);
      process.stdout.write(formatTable(rows));
    });

  sessions.command('show')
    .description('show one session and its events')
    .argument('<id>', 'the session id (ses_…)')
    .addOption(gatewayOption())
    .option('--json', 'print JSON: the session and every event')
    .action(async (id: string, opts: { gateway?: string; json?: boolean }) => {
      const session = await call(opts.gateway, `/api/v1/sessions/${encodeURIComponent(id)}`) as Session;
      const events = await eventsOf(opts.gateway, id);
      if (opts.json) return void process.stdout.write(JSON.stringify({ session, events }, null, 2) + '\n');
      process.stdout.write(`${session.id}  ${session.subject} on ${session.connection} (${session.kind})  ${session.startedAt} → ${session.endedAt ?? '…'}  ${session.state}${session.endReason ? ` (${session.endReason})` : ''}\n`);
      // Each signed checkpoint is shown after the last event it covers.
      const checkpoints = ((await call(opts.gateway, `/api/v1/sessions/${encodeURIComponent(id)}/checkpoints`)).checkpoints ?? []) as RecordedCheckpoint[];
      for (const e of assemble(events)) {
        process.stdout.write(`${String(e.seq).padStart(5)} ${describeEvent(e)}\n`);
        for (const c of checkpoints) if (c.seq === e.seq) process.stdout.write(`${describeCheckpoint(c)}\n`);
      }
    });

  sessions.command('replay')
    .description('replay a session in the terminal with its original timing')
    .argument('<id>', 'the session id (ses_…)')
    .option('--speed <n>', 'playback speed: 2 = twice as fast, 0 = no waiting', '1')
    .option('--follow', 'keep following a live session until it ends')
    .addOption(gatewayOption())
    .action(async (id: string, opts: { speed: string; follow?: boolean; gateway?: string }) => {
      const speed = Number(opts.speed);
      if (!Number.isFinite(speed) || speed < 0) throw new CliError('CLI_USAGE', '--speed must be a number ≥ 0 (0 prints at once).');
      let last = 0;
      let offset = 0;
      const play = async (events: Event[]) => {
        for (const e of assemble(events)) {
          const wait = speed === 0 ? 0 : Math.min(10_000, (e.offsetMs - offset) / speed);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          offset = e.offsetMs;
          process.stdout.write(`${describeEvent(e)}\n`);
        }
      };
      for (let polls = 0; ; polls++) {
        const events = await eventsOf(opts.gateway, id, last);
        // Chunks belong to the event before them: wait for the whole set when following.
        await play(events);
        if (events.length) last = events.at(-1)!.seq;
        if (!opts.follow) return;
        const session = await call(opts.gateway, `/api/v1/sessions/${encodeURIComponent(id)}`) as Session;
        if (session.state !== 'open' && session.lastSeq <= last) return;
        if (polls > 86_400) throw new CliError('CLI_REMOTE_ERROR', 'Stopped following after a day of polling.');
        await new Promise((r) => setTimeout(r, 1000));
      }
    });

  sessions.command('export')
    .description('export a session: json (one document), jsonl (one event a line) or asciicast (asciinema v2)')
    .argument('<id>', 'the session id (ses_…)')
    .option('--format <format>', 'json | jsonl | asciicast', 'json')
    .addOption(gatewayOption())
    .action(async (id: string, opts: { format: string; gateway?: string }) => {
      if (!['json', 'jsonl', 'asciicast'].includes(opts.format)) throw new CliError('CLI_USAGE', `--format must be json, jsonl or asciicast, not ${opts.format}.`);
      const session = await call(opts.gateway, `/api/v1/sessions/${encodeURIComponent(id)}`) as Session;
      const events = await eventsOf(opts.gateway, id);
      if (opts.format === 'json') {
        const checkpoints = (await call(opts.gateway, `/api/v1/sessions/${encodeURIComponent(id)}/checkpoints`)).checkpoints;
        return void process.stdout.write(JSON.stringify({ session, events, checkpoints }, null, 2) + '\n');
      }
      if (opts.format === 'jsonl') return void process.stdout.write(events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : ''));
      const header = { version: 2, width: 120, height: 40, timestamp: Math.floor(Date.parse(session.startedAt) / 1000), title: `airlock ${session.id} ${session.subject}@${session.connection}` };
      const lines = [JSON.stringify(header), ...assemble(events).map((e) => JSON.stringify([e.offsetMs / 1000, 'o', `${describeEvent(e)}\r\n`]))];
      process.stdout.write(lines.join('\n') + '\n');
    });

  sessions.command('verify')
    .description('verify a session (its hash chain, signed checkpoints and what the ledger recorded of it), or with --all/--since every session and the ledger; exits 3 naming the first problem')
    .argument('[id]', 'the session id (ses_…)')
    .option('--all', 'verify every session and the ledger: none deleted, cut back or restored from an older copy')
    .option('--since <date>', 'like --all, for sessions and ledger entries from this time (ISO 8601)')
    .option('--checkpoint', 'first ask the gateway to sign a fresh checkpoint of the open session (auditors and admins), so it verifies up to its last event')
    .option('--key <file>', 'trust these recording keys (JWK or JWKS JSON file) instead of those the gateway publishes')
    .addOption(gatewayOption())
    .option('--json', 'print the result as JSON')
    .action(async (id: string | undefined, opts: { key?: string; all?: boolean; since?: string; checkpoint?: boolean; gateway?: string; json?: boolean }) => {
      const { verifyCommand } = await import('./sessions-verify.ts');
      const { callGateway } = await import('../call.ts');
      await verifyCommand(async (path, options = {}) => (await callGateway(opts.gateway, path, options)).answer, id, opts);
    });
}
