// `airlock sessions list|show|replay|export|verify`: the audit trail. Verification happens here,
// on the auditor's machine, over what the gateway returns (sessions-verify.ts): the hash chain is
// recomputed, the checkpoints' signatures checked against the recording keys (fetched from the
// gateway, or pinned with --key FILE so a compromised gateway cannot vouch for itself), and the
// sessions held against the ledger.
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';

interface Session { id: string; connection: string; subject: string; kind: string; startedAt: string; endedAt: string | null; state: string; lastSeq: number; decisions: string[]; endReason: string | null; metadata: Record<string, unknown> }
interface Event { seq: number; type: string; at: number; offsetMs: number; payload: any; prevHash: string; hash: string }

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

/** chunk events folded back into the body of the event before them. */
export function assemble(events: readonly Event[]): Event[] {
  const out: Event[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.payload?.chunked) {
      let text = '';
      let j = i + 1;
      while (j < events.length && events[j]!.type === 'chunk') text += events[j++]!.payload.data;
      out.push({ ...e, payload: { ...e.payload, body: JSON.parse(text), chunked: undefined } });
      i = j - 1;
    } else if (e.type !== 'chunk') out.push(e);
  }
  return out;
}

const COLOR = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: string, text: string) => (COLOR ? `\x1b[${code}m${text}\x1b[0m` : text);

/** One line (or a few) per event, as `replay` prints it. */
export function describeEvent(e: Event): string {
  const p = e.payload ?? {};
  const t = `+${(e.offsetMs / 1000).toFixed(3)}s`.padStart(10);
  const body = (b: unknown) => (b === undefined || b === null ? '' : `\n${' '.repeat(12)}${(typeof b === 'string' ? b : JSON.stringify(b)).slice(0, 2000)}`);
  switch (e.type) {
    case 'session.start': return `${t}  ${paint('1', 'session start')}  ${p.subject} on ${p.connection} (${p.kind})`;
    case 'session.end': return `${t}  ${paint('1', 'session end')}  ${p.reason}`;
    case 'request': return `${t}  → ${p.method} ${p.path}${p.streamed ? ' [streamed]' : ''}${p.withheld ? paint('31', ' [withheld]') : ''}${p.held ? paint('35', ' [held for review]') : ''}${body(p.body)}`;
    case 'response': return `${t}  ← ${p.status}${p.streamed ? ' [streamed]' : ` (${p.ms} ms)`}${p.withheld ? paint('31', ' [withheld]') : ''}${body(p.body)}`;
    case 'request.data':
    case 'response.data':
      return `${t}  ${p.direction === 'request' ? '→' : '←'} window ${p.window} at byte ${p.offset} (${p.bytes} bytes${p.encoding === 'latin1' ? ', binary' : ''})${p.withheld ? paint('31', ' [withheld]') : ''}${body(p.body)}`;
    case 'request.end':
    case 'response.end':
      return `${t}  ${p.direction === 'request' ? '→' : '←'} end of the streamed ${p.direction}: ${p.bytes} bytes in ${p.windows} windows, ${p.masked} masked${p.ms === undefined ? '' : ` (${p.ms} ms)`}`;
    case 'message': return `${t}  ${p.direction === 'request' ? '→' : '←'} message${body(p.body)}`;
    case 'finding': return `${t}    ${paint('33', `finding ${p.kind}`)} at ${p.path}${p.detail ? `: ${p.detail}` : ''}`;
    case 'decision': {
      const color = p.decision === 'deny' ? '31' : p.decision === 'review' ? '35' : p.decision === 'mask' ? '33' : '32';
      return `${t}    ${paint(color, `decision ${p.decision}`)} (${p.direction})${p.reasons?.length ? `: ${p.reasons.map((r: { reason: string }) => r.reason).join(', ')}` : ''}`;
    }
    case 'error': return `${t}  ${paint('31', `error ${p.code}`)}: ${p.message}`;
    default:
      if (e.type.startsWith('review.')) return `${t}  ${paint('35', e.type)} ${p.review ?? ''}${p.by ? ` by ${p.by}` : ''}${p.reason ? `: ${p.reason}` : ''}`;
      return `${t}  ${e.type} ${JSON.stringify(p).slice(0, 500)}`;
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
    .action(async (opts: { connection?: string; user?: string; since?: string; decision?: string; limit: string; gateway?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: opts.limit });
      for (const k of ['connection', 'user', 'since', 'decision'] as const) if (opts[k] !== undefined) q.set(k, opts[k]);
      const list = (await call(opts.gateway, `/api/v1/sessions?${q}`)).sessions as Session[];
      if (opts.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
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
      for (const e of assemble(events)) process.stdout.write(`${String(e.seq).padStart(5)} ${describeEvent(e)}\n`);
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
