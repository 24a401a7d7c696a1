// `airlock sessions verify <id>` and `airlock sessions verify --all [--since TIME]`: the checks of
// gateway/recorder/verify.ts (one session's events and checkpoints) and ledger-verify.ts (the set
// of sessions), run here, on the auditor's machine, over what the gateway returns. Keys come from
// the gateway (every key, current and retired, with its validity) or from --key FILE, so that a
// compromised gateway cannot vouch for itself. A verdict that fails exits 3 (CLI_VERIFY_FAILED).
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { CliError } from '../errors.ts';
import type { LedgerChainInput, LedgerSessionInput, VerifiableEntry, VerifiableHead } from '../../gateway/recorder/ledger-verify.ts';
import type { VerifiableCheckpoint, VerifiableEvent, VerifyResult } from '../../gateway/recorder/verify.ts';

const PAGE = 1000;

type Call = (path: string, options?: { method?: 'POST' }) => Promise<any>;

export interface VerifyOptions { key?: string; all?: boolean; since?: string; checkpoint?: boolean; json?: boolean }

interface SessionData { state: string; events: VerifiableEvent[]; checkpoints: VerifiableCheckpoint[] }

async function pages<T extends { seq: number }>(call: Call, path: string, field: string, after = 0): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const page = (await call(`${path}?after=${after}&limit=${PAGE}`))[field] as T[];
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page.at(-1)!.seq;
  }
}

/** The session, or null when the gateway says there is none. */
async function sessionData(call: Call, id: string): Promise<SessionData | null> {
  const path = `/api/v1/sessions/${encodeURIComponent(id)}`;
  let session: { state: string };
  try {
    session = await call(path);
  } catch (err) {
    if (err instanceof CliError && /\(GW_SESSION_NOT_FOUND\)$/.test(err.message)) return null;
    throw err;
  }
  const events = await pages<VerifiableEvent>(call, `${path}/events`, 'events');
  const checkpoints = (await call(`${path}/checkpoints`)).checkpoints as VerifiableCheckpoint[];
  return { state: session.state, events, checkpoints };
}

async function trustedKeys(call: Call, file: string | undefined): Promise<JWK[]> {
  if (!file) return (await call('/api/v1/recording-key')).keys as JWK[];
  let parsed: { keys?: JWK[] } & JWK;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError('CLI_USAGE', `--key ${file} is not a readable JSON file (${(err as Error).message}).`);
  }
  return parsed.keys ?? [parsed];
}

/** The ledger's chains (from their first entry at/after `since`, or naming `session`) with their entries, and every head. */
async function ledger(call: Call, query: URLSearchParams): Promise<{ chains: LedgerChainInput[]; heads: VerifiableHead[] }> {
  const answer = await call(`/api/v1/ledger?${query}`) as { chains: Array<{ chain: string; from: number; head: VerifiableHead | null }>; heads: VerifiableHead[] };
  const chains: LedgerChainInput[] = [];
  for (const c of answer.chains) {
    const entries = await pages<VerifiableEntry>(call, `/api/v1/ledger/${encodeURIComponent(c.chain)}/entries`, 'entries', c.from - 1);
    chains.push({ chain: c.chain, from: c.from, head: c.head, entries });
  }
  return { chains, heads: answer.heads };
}

const forbidden = (err: unknown) => err instanceof CliError && /\(GW_FORBIDDEN\)$/.test(err.message);

export async function verifyCommand(call: Call, id: string | undefined, opts: VerifyOptions): Promise<void> {
  const { verifySession } = await import('../../gateway/recorder/verify.ts');
  const { verifyLedger } = await import('../../gateway/recorder/ledger-verify.ts');
  if (!id && !opts.all && opts.since === undefined) throw new CliError('CLI_USAGE', 'Name a session (ses_…), or pass --all or --since TIME to verify every session.');
  if (id && (opts.all || opts.since !== undefined)) throw new CliError('CLI_USAGE', 'Pass either a session id or --all/--since, not both.');
  if (opts.checkpoint && !id) throw new CliError('CLI_USAGE', '--checkpoint asks for a fresh checkpoint of one open session: name it.');
  let since: string | undefined; // ISO 8601, as the API takes it
  if (opts.since !== undefined) {
    const sinceMs = Date.parse(opts.since);
    if (Number.isNaN(sinceMs)) throw new CliError('CLI_USAGE', `--since ${opts.since} is not a date (use ISO 8601, e.g. 2026-11-22T09:00:00Z).`);
    since = new Date(sinceMs).toISOString();
  }
  const keys = await trustedKeys(call, opts.key);

  if (id) {
    if (opts.checkpoint) await call(`/api/v1/sessions/${encodeURIComponent(id)}/checkpoint`, { method: 'POST' });
    const data = await sessionData(call, id);
    let ledgerResult: ReturnType<typeof verifyLedger> | undefined;
    const notes: string[] = [];
    try {
      const l = await ledger(call, new URLSearchParams({ session: id }));
      ledgerResult = verifyLedger({ ...l, sessions: new Map([[id, data]]), mustBeKnown: data ? [id] : [], keys });
    } catch (err) {
      if (!forbidden(err)) throw err;
      notes.push('the ledger was not checked (reading it needs the auditor or admin role): a tail cut back with its checkpoints, or the whole session deleted, is not excluded');
    }
    if (!data) {
      if (ledgerResult && !ledgerResult.ok) throw new CliError('CLI_VERIFY_FAILED', `Session ${id} does NOT verify: ${ledgerResult.problems[0]}.`);
      throw new CliError('CLI_REMOTE_ERROR', `There is no session ${id} you may see, and the ledger does not name it (GW_SESSION_NOT_FOUND)`);
    }
    const result = verifySession({ sessionId: id, state: data.state, events: data.events, checkpoints: data.checkpoints, keys });
    const problems = [...(result.ok ? [] : [`${result.firstBad!.reason} (event ${result.firstBad!.seq})`]), ...(ledgerResult?.problems ?? [])];
    // The ledger's notes are about whole chains (open ones): --all prints them.
    const allNotes = [...result.notes, ...notes];
    if (opts.json) process.stdout.write(JSON.stringify({ ok: problems.length === 0, session: result, ledger: ledgerResult ?? null, problems, notes: allNotes }, null, 2) + '\n');
    else if (problems.length === 0) {
      process.stdout.write(`OK: session ${id} (${data.state}): ${result.events} events chained, ${result.checkpoints} signed checkpoint(s), signed through event ${result.signedThrough}${ledgerResult ? '; the ledger agrees' : ''}.\n`);
      for (const n of allNotes) process.stdout.write(`note: ${n}\n`);
    }
    if (problems.length > 0) throw new CliError('CLI_VERIFY_FAILED', `Session ${id} does NOT verify: ${problems[0]}.`);
    return;
  }

  // Every session: those the ledger names (from `since`) and those the store lists (started since).
  const l = await ledger(call, new URLSearchParams(since === undefined ? {} : { since }));
  const ids = new Set<string>();
  for (const c of l.chains) for (const e of c.entries) if (e.sessionId) ids.add(e.sessionId);
  const listed = new Set<string>();
  let until: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ limit: String(PAGE), ...(since === undefined ? {} : { since }), ...(until ? { until } : {}) });
    const page = (await call(`/api/v1/sessions?${q}`)).sessions as Array<{ id: string; startedAt: string }>;
    const fresh = page.filter((s) => !listed.has(s.id));
    for (const s of fresh) listed.add(s.id);
    if (page.length < PAGE || fresh.length === 0) break;
    until = page.at(-1)!.startedAt;
  }
  for (const s of listed) ids.add(s);
  const sessions = new Map<string, LedgerSessionInput | null>();
  const failures: string[] = [];
  const results: Record<string, VerifyResult | null> = {};
  for (const sid of [...ids].sort()) {
    const data = await sessionData(call, sid);
    sessions.set(sid, data);
    if (!data) { results[sid] = null; continue; }
    const r = verifySession({ sessionId: sid, state: data.state, events: data.events, checkpoints: data.checkpoints, keys });
    results[sid] = r;
    if (!r.ok) failures.push(`session ${sid}: ${r.firstBad!.reason} (event ${r.firstBad!.seq})`);
  }
  const ledgerResult = verifyLedger({ ...l, sessions, mustBeKnown: [...listed], keys });
  const problems = [...failures, ...ledgerResult.problems];
  if (opts.json) process.stdout.write(JSON.stringify({ ok: problems.length === 0, sessions: results, ledger: ledgerResult, problems }, null, 2) + '\n');
  else {
    for (const p of problems) process.stdout.write(`FAIL: ${p}\n`);
    if (problems.length === 0) process.stdout.write(`OK: ${ids.size} session(s) verified${since === undefined ? '' : ` since ${since}`}; ledger: ${ledgerResult.chains} chain(s), ${ledgerResult.entries} entries, none missing.\n`);
    for (const n of ledgerResult.notes) process.stdout.write(`note: ${n}\n`);
  }
  if (problems.length > 0) {
    throw new CliError('CLI_VERIFY_FAILED', `The recording does NOT verify (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems[0]}.`);
  }
}
