// The audit view's line for every kind of recorded event (cli/render/events.ts), on events taken
// from real gateway runs (test/fixtures/events/recorded.jsonl, see its README): HTTP, WebSocket,
// streamed windows, MCP calls and results, tools hidden/flagged, findings, decisions, reviews,
// errors and limit refusals, session start and end. Shapes no test here produces yet (MCP
// notifications, an isError result, review.waiting/expired) are written as the gateway's code
// writes them. No line ever says "undefined"; an unknown type gets its type and a JSON summary.
// Every event type the gateway's source records is held to have a case here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assemble, describeCheckpoint, describeEvent, type RecordedEvent } from '../../cli/render/events.ts';

const fixtures = readFileSync(new URL('../fixtures/events/recorded.jsonl', import.meta.url), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as { case: string; from: string; event: RecordedEvent });

/** The line without its time, and the body lines under it. */
function render(e: Partial<RecordedEvent> & { type: string; payload: unknown }): { head: string; body: string[] } {
  const text = describeEvent({ seq: 1, at: 0, prevHash: '', hash: '', ...e, offsetMs: 1234 } as RecordedEvent);
  assert.match(text, /^ {3}\+1\.234s {2}/, 'each line starts with its time from the session start');
  const [head, ...body] = text.replace(/^\s*\+\d+\.\d{3}s {2}/, '').split('\n');
  return { head: head!, body: body.map((l) => l.trim()) };
}

/** What each recorded case reads as (its first line; bodies are checked separately). */
const EXPECTED: Record<string, string> = {
  'session.start http': 'session start  bob on demo (http)',
  'session.start websocket': 'session start  bob on demo (http, a WebSocket on /api/echo)',
  'session.start mcp': 'session start  bob on everything (mcp)',
  'session.start mcp aggregate': 'session start  bob on every connection they may use (mcp)',
  'http request': '→ POST /api/echo',
  'http request withheld': '→ DELETE /api/customers/1 [withheld]',
  'http request held': '→ DELETE /api/orders/1 [held for review]',
  'http response masked': '← 200 (40 ms)',
  'finding': '  finding pii.CREDIT_CARD at $.customers[0].card: credit card number (Luhn-valid, 16 digits, grouped)',
  'decision mask': '  decision mask (response): pii.masked',
  'decision deny': '  decision deny (request): demo.no_delete',
  'decision review': '  decision review (request): put.review',
  'websocket upgrade': '→ GET /api/echo?room=1 [WebSocket upgrade]',
  'websocket message': '→ WebSocket message on /api/echo?room=1',
  'websocket message withheld': '→ WebSocket message on /api/echo?deny [withheld]',
  'websocket answer': '← WebSocket message on /api/echo?room=1',
  'streamed request': '→ POST /api/upload [streamed]',
  'request.data': '→ window 0 at byte 0 (65536 bytes)',
  'request.end': '→ end of the streamed request: 52439040 bytes in 801 windows, 0 masked',
  'streamed response': '← 200 [streamed]',
  'response.data withheld': '← window 0 at byte 0 (65536 bytes) [withheld]',
  'response.end': '← end of the streamed response: 200, 52439040 bytes in 801 windows, 800 masked (14627 ms)',
  'mcp call': '→ call getCustomer (justification: "ticket 7")',
  'mcp call sql withheld': '→ call runQuery [sql] [withheld]',
  'mcp call held': '→ call deleteCustomer [held for review]',
  'mcp result': '← result of getCustomer (134 ms)',
  'mcp prompt': '← prompt:simple-prompt',
  'mcp error': 'error GW_TOOL_ARGUMENTS_INVALID (getCustomer): unknown argument "admin": this tool accepts only id',
  'tools.hidden': 'tools hidden: getCustomer: definition changed since it was approved (170485782cba → f81dd95454f9); hidden until an admin reviews it; approve it with `airlock tools approve crm getCustomer`; runQuery: definition changed since it was approved (8f7c000e9578 → 63ab0c49ef06); hidden until an admin reviews it; approve it with `airlock tools approve crm runQuery`',
  'tools.flagged': 'tools flagged: listCustomers (mcp.hidden_unicode)',
  'review.requested': 'review.requested rev_1cdbd86ecc414f52a816: 1 approval needed from dba, the request waits 2 s',
  'review.approved': 'review.approved rev_1cdbd86ecc414f52a816 by carol: ticket 42',
  'review.covered': 'review.covered rev_1cdbd86ecc414f52a816: approved before, covers this response',
  'mcp request confirming': '→ call deleteCustomer [awaiting the caller\'s confirmation]',
  'confirm accepted': 'confirm confirmed by the caller (deleteCustomer)',
  'confirm declined': 'confirm declined by the caller (deleteCustomer): GW_CONFIRM_DECLINED',
  'review.timeout': 'review.timeout rev_eb3373c718fc4098a524: not decided within 2 s, the caller is told to retry',
  'review.released': 'review.released rev_eb3373c718fc4098a524 by carol (the retried request)',
  'review.denied': 'review.denied rev_a75d41bbc72342389694 by carol: not today',
  'review.refunded': 'review.refunded rev_4b9504bd11a04cee85b6: the approval is given back (GW_AGENT_OFFLINE)',
  'error policy': 'error GW_POLICY_DENIED: The request on connection demo was refused by policy (demo.no_delete): Deleting through airlock is refused.',
  'error limit': 'refused by a limit GW_BODY_TIMEOUT: The request body arrived too slowly: 80 bytes in 0.5 s, under the 1000 bytes per second the gateway requires (server.limits.minBodyBytesPerSecond); send it faster.',
  'error limit size': 'refused by a limit GW_BODY_TOO_LARGE: The request body is larger than connection small-files accepts (2097152 bytes).',
  'session.end': 'session end  the gateway stopped',
  'session.start postgres': 'session start  bob on shop (postgres, PostgreSQL protocol)',
  'pg query': '→ query',
  'pg result masked': '← SELECT 1: 1 row, 1 masked (4 ms)',
  'pg query held': '→ query [held for review]',
  'pg bind': '→ bind 1 parameter to "SELECT name FROM customers WHERE id = $1"',
  'pg query withheld': '→ query [withheld]',
  'pg error': '← database error 25P02',
  'pg copy withheld': '→ COPY data (57 bytes) [withheld]',
};

test('every event recorded by a real gateway reads as its line, never "undefined"', () => {
  assert.deepEqual(fixtures.map((f) => f.case).sort(), Object.keys(EXPECTED).sort(), 'one expected line per recorded case');
  for (const f of fixtures) {
    const { head, body } = render(f.event);
    assert.equal(head, EXPECTED[f.case], `${f.case} (from ${f.from})`);
    assert.ok(!`${head}\n${body.join('\n')}`.includes('undefined'), `${f.case}: ${head}`);
    // The body as recorded (masked where it left masked) follows, each of its lines indented.
    const b = f.event.payload.body;
    if (b === undefined || b === null) assert.deepEqual(body, [], f.case);
    else assert.equal(body.join('\n'), (typeof b === 'string' ? b : JSON.stringify(b)).split('\n').map((l: string) => l.trim()).join('\n'), f.case);
  }
});

test('MCP notifications, an isError result and the other review events have readable lines', () => {
  // As gateway/mcp firewall.checkNotification records them: recordStep with type notification.
  assert.equal(render({ type: 'notification', payload: { notification: 'log', level: 'warning', direction: 'response', body: { level: 'warning', data: 'disk 91% full' } } }).head, '← notification log (warning)');
  assert.equal(render({ type: 'notification', payload: { notification: 'progress', tool: 'longTask', requestId: '3', direction: 'response', withheld: true } }).head, '← notification progress of longTask [withheld]');
  assert.equal(render({ type: 'notification', payload: { notification: 'resource_updated', direction: 'response', body: { uri: 'file:///a' } } }).head, '← notification resource_updated');
  assert.equal(render({ type: 'response', payload: { tool: 'runQuery', requestId: '9', isError: true, ms: 12, direction: 'response' } }).head, '← result of runQuery [isError] (12 ms)');
  assert.equal(render({ type: 'request', payload: { tool: 'elicitation', requestId: 'x', direction: 'request' } }).head, '→ answer to elicitation');
  assert.equal(render({ type: 'request', payload: { tool: 'deploy', requestId: '2', shell: true, direction: 'request' } }).head, '→ call deploy [shell]');
  // gateway/reviews/reviews.ts: waiting (a retried request finds its review pending), expired, cancelled.
  assert.equal(render({ type: 'review.waiting', payload: { review: 'rev_1', requestHash: 'sha256:00' } }).head, 'review.waiting rev_1');
  assert.equal(render({ type: 'review.expired', payload: { review: 'rev_2', by: null, reason: null } }).head, 'review.expired rev_2');
  assert.equal(render({ type: 'error', payload: { requestId: 'r', code: 'GW_TOO_MANY_REQUESTS', message: 'bob already has 8 requests in flight.' } }).head, 'refused by a limit GW_TOO_MANY_REQUESTS: bob already has 8 requests in flight.');
  assert.equal(render({ type: 'error', payload: { requestId: 'r', code: 'GW_OVERLOADED', message: 'busy' } }).head, 'refused by a limit GW_OVERLOADED: busy');
  assert.equal(render({ type: 'request', payload: { method: 'GET', path: '/x', direction: 'request', body: null, omitted: 'metadata-only' } }).head, '→ GET /x [body not recorded: metadata-only]');
  assert.equal(render({ type: 'response', payload: { status: 200, ms: 3, direction: 'response', body: null, truncated: { bytes: 9000000, limit: 8388608, why: 'event' } } }).head, '← 200 (3 ms) [body not recorded: 9000000 bytes over the event limit]');
});

test('an unknown type, or a known type missing its fields, reads as its type and a short JSON summary', () => {
  assert.equal(render({ type: 'quota.warning', payload: { used: 90, of: 100 } }).head, 'quota.warning {"used":90,"of":100}');
  assert.equal(render({ type: 'request', payload: { direction: 'request', requestId: 'q' } }).head, 'request {"direction":"request","requestId":"q"}');
  assert.equal(render({ type: 'response', payload: null }).head, 'response {}');
  assert.equal(render({ type: 'error', payload: { message: 'no code' } }).head, 'error {"message":"no code"}');
  assert.equal(render({ type: 'tools.hidden', payload: { tools: 'x' } }).head, 'tools.hidden {"tools":"x"}');
  const long = render({ type: 'future.thing', payload: { text: 'a'.repeat(1000), body: 'not shown' } }).head;
  assert.equal(long, `future.thing {"text":"${'a'.repeat(291)}…`);
});

test('chunks fold back into their event; a body that cannot be put back together says so', () => {
  const base = { at: 0, offsetMs: 0, prevHash: '', hash: '' };
  const text = JSON.stringify({ big: 'x'.repeat(10) });
  const whole = assemble([
    { ...base, seq: 1, type: 'response', payload: { status: 200, ms: 1, direction: 'response', body: null, chunked: { parts: 2, bytes: text.length } } },
    { ...base, seq: 2, type: 'chunk', payload: { part: 0, data: text.slice(0, 5) } },
    { ...base, seq: 3, type: 'chunk', payload: { part: 1, data: text.slice(5) } },
    { ...base, seq: 4, type: 'session.end', payload: { reason: 'done' } },
  ]);
  assert.deepEqual(whole.map((e) => e.seq), [1, 4]);
  assert.deepEqual(whole[0]!.payload.body, { big: 'x'.repeat(10) });
  const cut = assemble([
    { ...base, seq: 1, type: 'response', payload: { status: 200, ms: 1, direction: 'response', body: null, chunked: { parts: 2, bytes: text.length } } },
    { ...base, seq: 2, type: 'chunk', payload: { part: 0, data: text.slice(0, 5) } },
  ]);
  assert.equal(cut[0]!.payload.body, '(2 chunks, 1 present: the body cannot be put back together)');
  assert.equal(render({ type: 'chunk', payload: { part: 3, data: 'x' } }).head, 'chunk 3 of the body before it');
});

test('a signed checkpoint reads as the event it covers, its session state and key', () => {
  assert.equal(describeCheckpoint({ seq: 12, state: 'ended', keyId: 'abcdefghijklmnopqrstuvwxyz' }).trim(), 'checkpoint signed through event 12 (session ended), key abcdefghijkl');
  assert.equal(describeCheckpoint({ seq: 3, state: null }).trim(), 'checkpoint signed through event 3');
});

test('every event type the gateway records has a line of its own here', () => {
  const types = new Set<string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) {
        const src = readFileSync(path, 'utf8');
        for (const m of src.matchAll(/recorder\.record\([^,]+,\s*'([a-z.]+)'/g)) types.add(m[1]!);
        for (const m of src.matchAll(/recordStep\([^;]*?type:\s*'([a-z.]+)'/g)) types.add(m[1]!);
      }
    }
  };
  walk(new URL('../../gateway/', import.meta.url).pathname);
  assert.ok(types.has('tools.hidden') && types.has('review.requested') && types.has('request'), [...types].join(', '));
  const generic = /^\S+ \{/;
  for (const type of types) {
    const { head } = render({ type, payload: {} });
    const covered = fixtures.some((f) => f.event.type === type) || ['review.waiting', 'review.refunded', 'notification'].includes(type);
    assert.ok(covered, `${type} is recorded by the gateway but has no case in test/fixtures/events/recorded.jsonl`);
    assert.ok(!head.includes('undefined'), `${type}: ${head}`);
    if (type !== 'session.end' && !type.startsWith('review.') && type !== 'message' && type !== 'notification') assert.match(head, generic, `${type} without its fields falls back to the summary`);
  }
});
