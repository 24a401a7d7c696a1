// What an approval is bound to and what reviewers see, as plain functions: volatile headers left
// out of the binding, credential headers redacted for display, PII redacted outside SQL/shell
// arguments, long payloads cut with a note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundHeaders, MAX_SHOWN_CHARS, shownHeaders, shownPayload } from '../../../gateway/reviews/request-view.ts';
import { requestHash } from '../../../gateway/reviews/reviews.ts';
import { inspectRequest } from '../../../gateway/inspect/index.ts';

test('the binding keeps every forwarded header but the volatile ones, in one order whatever the case', () => {
  const a = boundHeaders({ 'X-Tenant': 'acme', 'user-agent': 'curl/8', 'x-request-id': 'r1', traceparent: 't1', 'content-length': '10', accept: ['a', 'b'] });
  assert.deepEqual(a, { accept: ['a', 'b'], 'user-agent': 'curl/8', 'x-tenant': 'acme' });
  assert.deepEqual(Object.keys(a), ['accept', 'user-agent', 'x-tenant']);
  const b = boundHeaders({ accept: ['a', 'b'], 'x-tenant': 'acme', 'x-request-id': 'r2', 'user-agent': 'curl/8' });
  const hash = (h: object) => requestHash('orders', { method: 'DELETE', path: '/a', body: '', headers: h as never });
  assert.equal(hash(a), hash(b), 'a new request id is the same request');
  assert.notEqual(hash(a), hash({ ...b, 'x-tenant': 'evil' }));
});

test('credential headers are shown redacted, by name and by pattern; others as sent', () => {
  const shown = shownHeaders({
    cookie: 'sid=1', 'x-api-key': 'k', 'x-vendor-token': 't', 'x-session-secret': 's', 'x-hub-signature': 'h', 'x-client-auth': 'a',
    'x-tenant': 'acme', 'x-author': 'ada', 'content-type': 'application/json', 'x-request-id': 'r',
  });
  assert.deepEqual(shown, {
    'content-type': 'application/json', cookie: '[redacted]', 'x-api-key': '[redacted]', 'x-author': 'ada', 'x-client-auth': '[redacted]',
    'x-hub-signature': '[redacted]', 'x-session-secret': '[redacted]', 'x-tenant': 'acme', 'x-vendor-token': '[redacted]',
  });
});

test('PII is redacted except inside SQL and shell arguments; long payloads are cut with a note', () => {
  const args = { sql: "SELECT * FROM t WHERE email = 'ada@example.com'", note: 'for ada@example.com', steps: [{ cmd: 'mail ada@example.com' }] };
  const findings = inspectRequest({ kind: 'mcp', direction: 'request', tool: 'x', args } as never);
  assert.ok(findings.filter((f) => f.kind.startsWith('pii.')).length >= 3, JSON.stringify(findings));
  assert.deepEqual(shownPayload(args, findings, ['$.sql', '$.steps[0].cmd']), { sql: args.sql, note: 'for [EMAIL_ADDRESS]', steps: [{ cmd: 'mail ada@example.com' }] });
  assert.deepEqual(shownPayload(args, findings), { sql: "SELECT * FROM t WHERE email = '[EMAIL_ADDRESS]'", note: 'for [EMAIL_ADDRESS]', steps: [{ cmd: 'mail [EMAIL_ADDRESS]' }] });
  assert.equal(shownPayload(undefined, []), null);
  const long = 'x'.repeat(MAX_SHOWN_CHARS + 10);
  const cut = shownPayload(long, []) as { truncated: boolean; chars: number; start: string; note: string };
  assert.deepEqual([cut.truncated, cut.chars, cut.start.length], [true, MAX_SHOWN_CHARS + 10, MAX_SHOWN_CHARS]);
  assert.match(cut.note, /the recorded session holds it all/);
});
