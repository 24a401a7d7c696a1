// Policy action `confirm` end to end: a real gateway, a real agent process, a real HTTP service
// described by an OpenAPI document, and the MCP SDK's own client with an elicitation handler.
// The human at the client is asked (form elicitation) before a risky tools/call runs, and sees the
// call as it would leave (masked); a yes runs it, a no, a dismissal or a client without
// elicitation refuses it with a coded tool error; every answer is recorded before anything is
// forwarded. On the HTTP path nobody can be asked: the guard refuses (GW_CONFIRM_NEEDS_MCP).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type ElicitRequest, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import type { Running } from '../../support/process.ts';
import { startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { listenLoopback, textOf } from '../../support/mcp.ts';
import { confirmQuestion } from '../../../gateway/mcp/confirm.ts';
import type { Outcome } from '../../../gateway/policy/decide.ts';

const EMAIL = 'ada.lovelace@example.com';
let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
const seen: Array<{ method: string; url: string; body: string }> = [];

const openapi = {
  openapi: '3.0.3',
  info: { title: 'Customers', version: '1' },
  paths: {
    '/customers/{id}': {
      get: { operationId: 'getCustomer', summary: 'One customer by id', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'ok' } } },
      delete: { operationId: 'deleteCustomer', summary: 'Delete a customer', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 204: { description: 'gone' } } },
    },
    '/notes': {
      post: {
        operationId: 'sendNote', summary: 'Send a note to a customer',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['to', 'text'], properties: { to: { type: 'string' }, text: { type: 'string' } } } } } },
        responses: { 200: { description: 'sent' } },
      },
    },
  },
};

const POLICY = `name: confirming
rules:
  - { id: del, match: { kinds: [mcp], tools: [deleteCustomer], directions: [request] }, action: confirm, reason: crm.delete, message: Deleting a customer cannot be undone. }
  - { id: note, match: { kinds: [mcp], tools: [sendNote], directions: [request] }, action: confirm, reason: crm.note }
  - { id: pii, match: { kinds: [mcp], directions: [request], findings: ['pii.*'] }, action: mask, reason: pii.masked }
  - { id: http-delete, match: { kinds: [http], methods: [DELETE] }, action: confirm, reason: crm.delete }
`;

before(async () => {
  target = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, method: req.method }));
    });
  });
  const url = await listenLoopback(target);
  t = await startTestGateway();
  const admin = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'confirm.yaml');
  writeFileSync(policy, POLICY);
  const r = await t.call('POST', '/api/v1/connections', admin, { name: 'crm', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], openapi, policy: { files: [policy] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await new Promise<void>((r) => target.close(() => r()));
});

/** An MCP session on /mcp/crm; with `answer`, the client declares form elicitation and answers each question so. */
async function connect(answer?: (q: ElicitRequest['params']) => ElicitResult): Promise<{ client: Client; questions: Array<ElicitRequest['params']> }> {
  const questions: Array<ElicitRequest['params']> = [];
  const client = new Client({ name: 'confirm-test', version: '1.0.0' }, answer ? { capabilities: { elicitation: { form: {} } } } : {});
  if (answer) client.setRequestHandler(ElicitRequestSchema, (req) => { questions.push(req.params); return answer(req.params); });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/crm`), { requestInit: { headers: { authorization: `Bearer ${bob}` } } }));
  return { client, questions };
}

type Event = { seq: number; type: string; payload: Record<string, any> };

/** The events of the one recorded session on crm that holds a request event whose body has `marker` as its id. */
async function sessionOf(marker: string): Promise<Event[]> {
  for (const s of await t.gw.store.sessions.list({ connection: 'crm', limit: 1000 })) {
    const events: Event[] = [];
    for (let afterSeq = 0; ;) {
      const page = await t.gw.store.events.list(s.id, { afterSeq, limit: 1000 });
      if (page.length === 0) break;
      for (const e of page) events.push({ seq: e.seq, type: e.type, payload: e.payload as Record<string, any> });
      afterSeq = page.at(-1)!.seq;
    }
    if (events.some((e) => e.type === 'request' && e.payload.body?.id === marker)) return events;
  }
  throw new Error(`no session records a request for ${marker}`);
}

test('a yes runs the call: the human saw the tool, arguments, rule and reason; the answer is recorded before the call left', async () => {
  const { client, questions } = await connect(() => ({ action: 'accept', content: { confirm: true } }));
  const before = seen.length;
  const result = await client.callTool({ name: 'deleteCustomer', arguments: { id: 'c-yes' } });
  assert.equal(result.isError, undefined, textOf(result));
  assert.deepEqual(seen.slice(before).map((s) => `${s.method} ${s.url}`), ['DELETE /api/customers/c-yes']);
  assert.equal(questions.length, 1);
  const q = questions[0]! as { mode?: string; message: string; requestedSchema: Record<string, any> };
  assert.equal(q.mode, 'form');
  assert.match(q.message, /^airlock asks you to confirm a tool call before it runs\.\nConnection: crm\nTool: deleteCustomer\n/);
  assert.match(q.message, /\n\{"id":"c-yes"\}\n/);
  assert.match(q.message, /rule del \(crm\.delete\): Deleting a customer cannot be undone\./);
  assert.deepEqual(q.requestedSchema.required, ['confirm']);
  assert.equal(q.requestedSchema.properties.confirm.type, 'boolean');
  assert.equal(q.requestedSchema.properties.confirm.default, false);
  await client.close();

  const events = await sessionOf('c-yes');
  const request = events.find((e) => e.type === 'request' && e.payload.body?.id === 'c-yes')!;
  assert.equal(request.payload.confirming, true, 'recorded as awaiting confirmation');
  const decision = events.find((e) => e.type === 'decision' && e.seq > request.seq)!;
  assert.equal(decision.payload.decision, 'confirm');
  assert.deepEqual(decision.payload.reasons.map((r: { rule: string }) => r.rule), ['del']);
  const confirm = events.find((e) => e.type === 'confirm')!;
  assert.equal(confirm.payload.answer, 'accept');
  assert.equal(confirm.payload.tool, 'deleteCustomer');
  assert.deepEqual(confirm.payload.body, { id: 'c-yes' }, 'with the arguments as they left');
  const response = events.find((e) => e.type === 'response' && e.payload.tool === 'deleteCustomer')!;
  assert.ok(confirm.seq < response.seq, 'the answer is recorded before the call ran');
});

test('a no, a dismissal or an unchecked box refuses the call with GW_CONFIRM_DECLINED; nothing reaches the service; each answer is recorded', async () => {
  const answers: Array<[string, ElicitResult, RegExp]> = [
    ['c-no', { action: 'decline' }, /it was declined, so it did not run/],
    ['c-cancel', { action: 'cancel' }, /the question was dismissed, so it did not run/],
    ['c-false', { action: 'accept', content: { confirm: false } }, /it was declined, so it did not run/],
  ];
  for (const [id, answer, said] of answers) {
    const { client, questions } = await connect(() => answer);
    const before = seen.length;
    const result = await client.callTool({ name: 'deleteCustomer', arguments: { id } });
    assert.equal(result.isError, true, id);
    assert.match(textOf(result), /^airlock: The call of deleteCustomer on crm needs your confirmation, and /);
    assert.match(textOf(result), said);
    assert.match(textOf(result), /\(GW_CONFIRM_DECLINED\)$/);
    assert.equal(questions.length, 1, `${id}: asked once`);
    assert.equal(seen.length, before, `${id}: nothing reached the service`);
    await client.close();
    const events = await sessionOf(id);
    const confirm = events.find((e) => e.type === 'confirm')!;
    assert.equal(confirm.payload.answer, answer.action === 'accept' ? 'decline' : answer.action, id);
    assert.equal(confirm.payload.code, 'GW_CONFIRM_DECLINED');
    assert.equal(confirm.payload.body, undefined, `${id}: no arguments recorded as leaving`);
    assert.ok(!events.some((e) => e.type === 'response' && e.payload.tool === 'deleteCustomer'), `${id}: no answer of deleteCustomer`);
  }
});

test('a client without elicitation is refused with GW_CONFIRM_UNSUPPORTED, recorded; calls that need no confirmation still run', async () => {
  const { client } = await connect();
  const before = seen.length;
  const result = await client.callTool({ name: 'deleteCustomer', arguments: { id: 'c-noelicit' } });
  assert.equal(result.isError, true);
  assert.equal(textOf(result), 'airlock: The call of deleteCustomer on crm needs the user\'s confirmation, but this MCP client does not support form elicitation (it did not declare it at initialize), so nobody could be asked and it was refused. Use a client that supports elicitation. (GW_CONFIRM_UNSUPPORTED)');
  assert.equal(seen.length, before, 'nothing reached the service');
  const read = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-noelicit' } });
  assert.equal(read.isError, undefined, textOf(read));
  await client.close();
  const confirm = (await sessionOf('c-noelicit')).find((e) => e.type === 'confirm')!;
  assert.equal(confirm.payload.answer, 'unsupported');
  assert.equal(confirm.payload.code, 'GW_CONFIRM_UNSUPPORTED');
});

test('the human confirms the arguments as they leave: masked where policy masks; what the service receives is what was shown', async () => {
  const { client, questions } = await connect(() => ({ action: 'accept', content: { confirm: true } }));
  const before = seen.length;
  const result = await client.callTool({ name: 'sendNote', arguments: { body: { to: EMAIL, text: 'hello' } } });
  assert.equal(result.isError, undefined, textOf(result));
  const q = questions[0]!.message;
  assert.ok(!q.includes(EMAIL), 'the question never shows what policy masks');
  assert.match(q, /\{"body":\{"to":"\[EMAIL_ADDRESS\]","text":"hello"\}\}/);
  assert.match(q, /What the inspection found:\n {2}- pii\.EMAIL_ADDRESS at /);
  assert.deepEqual(seen.slice(before).map((s) => JSON.parse(s.body)), [{ to: '[EMAIL_ADDRESS]', text: 'hello' }]);
  await client.close();
});

test('what the agent wrote cannot reorder or hide part of the question: bidi, zero-width and line separators are shown escaped', async () => {
  const { client, questions } = await connect(() => ({ action: 'decline' }));
  const sneaky = 'c-1\u202Etxt.exe\u200B\u2028rm';
  await client.callTool({ name: 'deleteCustomer', arguments: { id: sneaky, _justification: 'safe\u2029trust me' } });
  const q = questions[0]!.message;
  assert.ok(!/[\u202E\u200B\u2028\u2029]/.test(q), 'no raw bidi, zero-width or separator character');
  assert.match(q, /\{"id":"c-1\\u202etxt\.exe\\u200b\\u2028rm"\}/);
  assert.match(q, /The agent's justification \(written by the agent, not checked\): "safe\\u2029trust me"/);
  await client.close();
});

test('invisible characters beyond format ones are shown escaped too: variation selectors, Hangul fillers, the title', async () => {
  const { client, questions } = await connect(() => ({ action: 'decline' }));
  // Variation selectors (U+FE0F, U+E0100..) carry bytes no reader sees ("emoji smuggling");
  // U+3164 and U+115F are letters that render as nothing. None is Cf, all are default-ignorable.
  const sneaky = 'ok\uFE0F\u{E0101}\u{E0102}\u3164\u115F\u2800end';
  await client.callTool({ name: 'sendNote', arguments: { body: { to: 'x', text: sneaky } } });
  const q = questions[0]!;
  assert.ok(!/[\uFE0F\u3164\u115F\u2800]|\u{E0101}/u.test(q.message), `nothing invisible stays raw: ${JSON.stringify(q.message)}`);
  assert.match(q.message, /"text":"ok\\ufe0f\\u\{e0101\}\\u\{e0102\}\\u3164\\u115f\\u2800end"/);
  await client.close();
  // An upstream MCP server names its tools as it likes: the title is escaped as the message is.
  const titled = confirmQuestion({ connection: 'crm', tool: 'list\u202Eeteled', args: {}, outcome: { decision: 'confirm', reasons: [], findings: [] } as unknown as Outcome });
  assert.equal(titled.requestedSchema.properties.confirm!.title, 'Run list\\u202eeteled on crm?');
});

test('a yes that comes after the call was abandoned is refused: the question died with its call, nothing runs', async () => {
  const abandon = new AbortController();
  let recorded: Event | undefined;
  let answered!: () => void;
  const lateYesSent = new Promise<void>((r) => { answered = r; });
  const { client, questions } = await connect(() => { throw new Error('replaced below'); });
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    questions.push(req.params);
    abandon.abort(); // the caller gives up (notifications/cancelled) while the question is open
    for (let i = 0; i < 200 && recorded === undefined; i++) { // until the gateway has recorded how the question ended
      await new Promise((r) => setTimeout(r, 25));
      recorded = (await sessionOf('c-late').catch(() => [])).find((e) => e.type === 'confirm');
    }
    setImmediate(answered);
    return { action: 'accept', content: { confirm: true } }; // the late yes
  });
  const before = seen.length;
  await assert.rejects(client.callTool({ name: 'deleteCustomer', arguments: { id: 'c-late' } }, undefined, { signal: abandon.signal }));
  await lateYesSent;
  assert.ok(recorded, 'the gateway recorded how the question ended');
  assert.equal(recorded.payload.answer, 'unanswered');
  assert.equal(recorded.payload.code, 'GW_CONFIRM_UNANSWERED');
  // A call after the late yes, on the same session: by then the yes has been read and dropped.
  const next = await client.callTool({ name: 'getCustomer', arguments: { id: 'c-after' } });
  assert.equal(next.isError, undefined, textOf(next));
  assert.deepEqual(seen.slice(before).map((x) => `${x.method} ${x.url}`), ['GET /api/customers/c-after'], 'the abandoned delete never reached the service');
  await client.close();
});

test('answers sent before the question (guessed request ids) are dropped: only an answer to the question asked counts', async () => {
  const { client, questions } = await connect(() => ({ action: 'decline' }));
  // The client's software pre-answers yes for every id the gateway's first requests could take.
  for (const id of [0, 1, 2, 3, 4, 5]) await client.transport!.send({ jsonrpc: '2.0', id, result: { action: 'accept', content: { confirm: true } } });
  const before = seen.length;
  const result = await client.callTool({ name: 'deleteCustomer', arguments: { id: 'c-pre' } });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /it was declined, so it did not run\. .*\(GW_CONFIRM_DECLINED\)$/);
  assert.equal(questions.length, 1, 'the question was still asked, and its own answer counted');
  assert.equal(seen.length, before, 'nothing reached the service');
  await client.close();
});

test('on the HTTP path nobody can be asked: the guard refuses with GW_CONFIRM_NEEDS_MCP and records the deny', async () => {
  const before = seen.length;
  const res = await fetch(`${t.gw.url}/proxy/crm/customers/c-http`, { method: 'DELETE', headers: { authorization: `Bearer ${bob}` } });
  assert.equal(res.status, 403);
  const body = await res.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_CONFIRM_NEEDS_MCP');
  assert.match(body.error.message, /^The request on connection crm needs the caller's confirmation \(crm\.delete\), which only an MCP client can give: /);
  assert.equal(seen.length, before, 'nothing reached the service');
  await t.gw.recording.httpSessions.close();
  const decisions: Array<Record<string, any>> = [];
  for (const s of await t.gw.store.sessions.list({ connection: 'crm', limit: 1000 })) {
    for (const e of await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 })) if (e.type === 'decision') decisions.push(e.payload as Record<string, any>);
  }
  const denied = decisions.find((d) => d.reasons.some((r: { rule: string }) => r.rule === '(confirm-unavailable)'));
  assert.ok(denied, 'the refusal is recorded');
  assert.equal(denied.decision, 'deny');
  assert.deepEqual(denied.reasons.map((r: { reason: string }) => r.reason), ['confirm.unavailable', 'crm.delete']);
});
