// One readable line per recorded event, as `airlock sessions show`, `replay` and `export --format
// asciicast` print it. Each data path writes its own shapes (gateway/guard/record.ts and the paths
// that call it): an HTTP request carries method and path, an MCP call its tool, a WebSocket
// message its path, a streamed window its offset. A line is built only from fields that are
// there: an event of a type or shape this CLI does not know (an older or newer gateway) gets its
// type and a short JSON summary, never "undefined".

/** A recorded event as the gateway's /api/v1/sessions/<id>/events returns it. */
export interface RecordedEvent { seq: number; type: string; at: number; offsetMs: number; payload: any; prevHash: string; hash: string }

/** A signed checkpoint as /api/v1/sessions/<id>/checkpoints returns it (only what is printed). */
export interface RecordedCheckpoint { seq: number; at?: number; state?: string | null; keyId?: string }

/** Body text shown under an event: at most this many characters. */
const BODY_CHARS = 2000;
/** The JSON summary of an event of unknown shape: at most this many characters. */
const SUMMARY_CHARS = 300;

/** Refusals by the gateway's own limits (server.limits, connection limits, quotas): named as such. */
const LIMIT_CODES = new Set(['GW_TOO_MANY_REQUESTS', 'GW_OVERLOADED', 'GW_BODY_TOO_LARGE', 'GW_RESPONSE_TOO_LARGE', 'GW_BODY_TIMEOUT', 'GW_REQUEST_TIMEOUT', 'GW_HEADERS_TOO_LARGE']);
const isLimit = (code: string) => LIMIT_CODES.has(code) || /_QUOTA|_LIMIT/.test(code);

/** chunk events folded back into the body of the event before them. */
export function assemble(events: readonly RecordedEvent[]): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.payload?.chunked) {
      let text = '';
      let j = i + 1;
      while (j < events.length && events[j]!.type === 'chunk') text += events[j++]!.payload.data;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = `(${e.payload.chunked.parts ?? '?'} chunks, ${j - i - 1} present: the body cannot be put back together)`;
      }
      out.push({ ...e, payload: { ...e.payload, body, chunked: undefined } });
      i = j - 1;
    } else if (e.type !== 'chunk') out.push(e);
  }
  return out;
}

const COLOR = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: string, text: string) => (COLOR ? `\x1b[${code}m${text}\x1b[0m` : text);

const has = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';
const arrow = (p: any) => (p.direction === 'response' ? '←' : '→');
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** What happened to a payload: flags the guard adds (withheld, held) and the recorder (omitted, truncated). */
function flags(p: any): string {
  let s = '';
  if (p.streamed) s += ' [streamed]';
  if (p.withheld) s += paint('31', ' [withheld]');
  if (p.held) s += paint('35', ' [held for review]');
  if (p.confirming) s += paint('36', ' [awaiting the caller\'s confirmation]');
  if (p.omitted) s += ` [body not recorded: ${p.omitted}]`;
  if (p.truncated && typeof p.truncated === 'object') s += ` [body not recorded: ${p.truncated.bytes} bytes over the ${p.truncated.why} limit]`;
  return s;
}

function body(b: unknown): string {
  if (b === undefined || b === null) return '';
  // Every line of the body indented under its event, so a multi-line text stays readable as one block.
  const text = (typeof b === 'string' ? b : JSON.stringify(b)).slice(0, BODY_CHARS);
  return text.split(/\r?\n/).map((l) => `\n${' '.repeat(12)}${l}`).join('');
}

/** The type and a short JSON summary: for events this CLI does not know how to read. */
function generic(type: string, p: unknown): string {
  const { body: _body, ...rest } = (p && typeof p === 'object' ? p : p === null || p === undefined ? {} : { value: p }) as Record<string, unknown>;
  const text = JSON.stringify(rest);
  return `${type} ${text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…` : text}`;
}

/** An MCP label: a tool name, or `prompt:<name>`, `resource:<uri>`, `completion`, `sampling`, `elicitation`. */
const isToolName = (label: string) => !/^(prompt:|resource:|error:|progress:)/.test(label) && !['completion', 'sampling', 'elicitation', 'log', 'resource_updated', 'tools/list'].includes(label);

function request(p: any): string | undefined {
  if (has(p.tool)) {
    const tool = String(p.tool);
    const what = p.direction === 'request' && !isToolName(tool) ? `answer to ${tool}` : isToolName(tool) ? `call ${tool}` : `get ${tool}`;
    const marks = `${p.sql ? ' [sql]' : ''}${p.shell ? ' [shell]' : ''}${has(p.justification) ? ` (justification: ${JSON.stringify(String(p.justification).slice(0, 200))})` : ''}`;
    return `→ ${what}${marks}`;
  }
  if (!has(p.method) || !has(p.path)) return undefined;
  return `→ ${p.method} ${p.path}${p.upgrade ? ' [WebSocket upgrade]' : ''}`;
}

function response(p: any): string | undefined {
  const ms = has(p.ms) ? ` (${p.ms} ms)` : '';
  if (has(p.tool)) {
    const tool = String(p.tool);
    return `← ${isToolName(tool) ? `result of ${tool}` : tool}${p.isError ? paint('31', ' [isError]') : ''}${ms}`;
  }
  if (!has(p.status)) return undefined;
  return `← ${p.status}${p.streamed ? '' : ms}`;
}

function streamed(p: any): string | undefined {
  if (!has(p.window) || !has(p.offset) || !has(p.bytes)) return undefined;
  return `${arrow(p)} window ${p.window} at byte ${p.offset} (${p.bytes} bytes${p.encoding === 'latin1' ? ', binary' : ''})`;
}

function streamEnd(p: any): string | undefined {
  if (!has(p.bytes) || !has(p.windows)) return undefined;
  const status = has(p.status) ? `${p.status}, ` : '';
  return `${arrow(p)} end of the streamed ${p.direction === 'response' ? 'response' : 'request'}: ${status}${p.bytes} bytes in ${plural(Number(p.windows), 'window')}, ${p.masked ?? 0} masked${has(p.ms) ? ` (${p.ms} ms)` : ''}`;
}

/** The PostgreSQL listener's events (gateway/postgres/), read like a psql transcript: the SQL under its line, the rows under theirs. */
function postgres(type: string, p: any): string | undefined {
  const ms = has(p.ms) ? ` (${p.ms} ms)` : '';
  switch (type) {
    case 'pg.query': return `→ ${p.protocol === 'parse' ? 'prepare' : 'query'}`;
    case 'pg.bind': return has(p.params) ? `→ bind ${plural(Number(p.params), 'parameter')}${has(p.sql) ? ` to ${JSON.stringify(String(p.sql).slice(0, 200))}` : ''}` : undefined;
    case 'pg.result': {
      if (!has(p.rows)) return undefined;
      const masked = has(p.masked) && Number(p.masked) > 0 ? `, ${p.masked} masked` : '';
      return `← ${has(p.command) ? p.command : 'result'}: ${plural(Number(p.rows), 'row')}${masked}${ms}`;
    }
    case 'pg.error': return `← database error${has(p.sqlstate) ? ` ${p.sqlstate}` : ''}`;
    case 'pg.notice': return `← database notice${has(p.sqlstate) ? ` ${p.sqlstate}` : ''}`;
    case 'pg.copy': return has(p.bytes) ? `${arrow(p)} COPY data (${p.bytes} bytes)` : undefined;
    default: return undefined;
  }
}

function message(p: any): string {
  return `${arrow(p)} WebSocket message${has(p.path) ? ` on ${p.path}` : ''}`;
}

function notification(p: any): string {
  const kind = has(p.notification) ? String(p.notification) : 'message';
  const about = has(p.tool) ? ` of ${p.tool}` : has(p.level) ? ` (${p.level})` : '';
  return `← notification ${kind}${about}`;
}

function tools(type: string, p: any): string | undefined {
  if (!Array.isArray(p.tools)) return undefined;
  const items = p.tools.slice(0, 20).map((t: any) => {
    if (typeof t === 'string') return t;
    const why = has(t?.reason) ? `: ${t.reason}` : Array.isArray(t?.findings) ? ` (${[...new Set(t.findings)].join(', ')})` : '';
    return `${t?.tool ?? '?'}${why}`;
  });
  const more = p.tools.length > 20 ? `; and ${p.tools.length - 20} more` : '';
  return `${paint(type === 'tools.hidden' ? '31' : '33', type === 'tools.hidden' ? 'tools hidden' : 'tools flagged')}: ${items.join('; ')}${more}`;
}

function review(type: string, p: any): string {
  const id = has(p.review) ? ` ${p.review}` : '';
  let tail = '';
  switch (type) {
    case 'review.requested':
      tail = `${has(p.approvals) ? `: ${plural(Number(p.approvals), 'approval')} needed` : ''}${Array.isArray(p.reviewers) && p.reviewers.length ? ` from ${p.reviewers.join(', ')}` : ''}${has(p.wait) ? `, the request waits ${p.wait} s` : ''}`;
      break;
    case 'review.timeout':
      tail = has(p.waitedMs) ? `: not decided within ${Number(p.waitedMs) / 1000} s, the caller is told to retry` : '';
      break;
    case 'review.covered':
      tail = `: approved before, covers this ${p.direction ?? 'request'}${has(p.window) ? ` window ${p.window}` : ''}`;
      break;
    case 'review.refunded':
      tail = has(p.why) ? `: the approval is given back (${p.why})` : '';
      break;
    case 'review.released':
      tail = `${has(p.by) ? ` by ${p.by}` : ''}${p.retry ? ' (the retried request)' : ''}`;
      break;
    default:
      tail = `${has(p.by) ? ` by ${p.by}` : ''}${has(p.reason) ? `: ${p.reason}` : ''}`;
  }
  return `${paint('35', type)}${id}${tail}`;
}

/** The line of one event, without its time. Undefined when the event lacks the fields its type has. */
function line(e: RecordedEvent): string | undefined {
  const p = e.payload ?? {};
  switch (e.type) {
    case 'session.start': {
      if (!has(p.subject) || !has(p.connection)) return undefined;
      const on = p.connection === '*' ? 'every connection they may use' : p.connection;
      const via = `${p.mcp && p.kind !== 'mcp' ? ', over MCP' : ''}${p.postgres ? `, PostgreSQL protocol${p.tls ? ' over TLS' : ''}${has(p.application) && p.application !== '' ? ` from ${p.application}` : ''}` : ''}${p.websocket ? `, a WebSocket on ${p.path}` : ''}${p.metadataOnly ? ', metadata only' : ''}`;
      return `${paint('1', 'session start')}  ${p.subject} on ${on} (${p.kind}${via})`;
    }
    case 'session.end': return `${paint('1', 'session end')}  ${has(p.reason) ? p.reason : '(no reason recorded)'}`;
    case 'request': { const l = request(p); return l && `${l}${flags(p)}${body(p.body)}`; }
    case 'response': { const l = response(p); return l && `${l}${flags(p)}${body(p.body)}`; }
    case 'request.data':
    case 'response.data': { const l = streamed(p); return l && `${l}${p.final ? ' [last]' : ''}${flags(p)}${body(p.body)}`; }
    case 'request.end':
    case 'response.end': return streamEnd(p);
    case 'message': return `${message(p)}${flags(p)}${body(p.body)}`;
    case 'notification': return `${notification(p)}${flags(p)}${body(p.body)}`;
    case 'tools.hidden':
    case 'tools.flagged': return tools(e.type, p);
    case 'finding':
      if (!has(p.kind)) return undefined;
      return `  ${paint('33', `finding ${p.kind}`)}${has(p.path) ? ` at ${p.path}` : ''}${has(p.detail) ? `: ${p.detail}` : ''}`;
    case 'decision': {
      if (!has(p.decision)) return undefined;
      const color = p.decision === 'deny' ? '31' : p.decision === 'review' ? '35' : p.decision === 'confirm' ? '36' : p.decision === 'mask' ? '33' : '32';
      const reasons = Array.isArray(p.reasons) ? p.reasons.map((r: any) => r?.reason).filter(has) : [];
      return `  ${paint(color, `decision ${p.decision}`)}${has(p.direction) ? ` (${p.direction})` : ''}${reasons.length ? `: ${reasons.join(', ')}` : ''}`;
    }
    case 'error': {
      if (!has(p.code)) return undefined;
      const what = isLimit(String(p.code)) ? `refused by a limit ${p.code}` : `error ${p.code}`;
      return `${paint('31', what)}${has(p.tool) ? ` (${p.tool})` : ''}: ${has(p.message) ? p.message : '(no message)'}`;
    }
    case 'chunk': return has(p.part) ? `chunk ${p.part} of the body before it` : undefined;
    case 'confirm': { // the caller's answer to a confirmation (policy action confirm)
      const said: Record<string, string> = { accept: 'confirmed by the caller', decline: 'declined by the caller', cancel: 'dismissed by the caller', unsupported: 'not asked: the client has no elicitation', unanswered: 'not answered' };
      if (!has(p.answer)) return undefined;
      return `${paint(p.answer === 'accept' ? '32' : '31', `confirm ${said[String(p.answer)] ?? String(p.answer)}`)}${has(p.tool) ? ` (${p.tool})` : ''}${has(p.code) ? `: ${p.code}` : ''}${body(p.body)}`; // accepted: the arguments as they left
    }
    case 'pg.query': case 'pg.bind': case 'pg.result': case 'pg.error': case 'pg.notice': case 'pg.copy': {
      const l = postgres(e.type, p);
      return l && `${l}${flags(p)}${body(p.body)}`;
    }
    default:
      return e.type.startsWith('review.') ? review(e.type, p) : undefined;
  }
}

/** One line (or a few, with a body) per event, as `replay` prints it: its time from the session start, then what happened. */
export function describeEvent(e: RecordedEvent): string {
  const t = `+${((Number(e.offsetMs) || 0) / 1000).toFixed(3)}s`.padStart(10);
  return `${t}  ${line(e) ?? generic(String(e.type), e.payload)}`;
}

/** The line `sessions show` prints after the event a signed checkpoint covers. */
export function describeCheckpoint(c: RecordedCheckpoint): string {
  return `${' '.repeat(16)}${paint('2', `checkpoint signed through event ${c.seq}${c.state ? ` (session ${c.state})` : ''}${c.keyId ? `, key ${c.keyId.slice(0, 12)}` : ''}`)}`;
}
