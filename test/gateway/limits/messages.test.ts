// Limits on WebSocket messages and streamed windows, end to end on SQLite and on PostgreSQL (a real
// gateway, agent process and target): each caller's message is a request to the limits (past a
// cost budget the session is closed with 1008 and GW_LIMIT_EXCEEDED, as any refused message, and
// the target never gets it); each target message must find room in the egress budget and is
// counted once it passed; a streamed answer (limits.oversize: stream) is counted window by window
// and cut at the window that finds the budget used up.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Running } from '../../support/process.ts';
import { addConnections, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { createDatabase, startPostgres, type TestPostgres } from '../../support/postgres.ts';

const WINDOW = 64 * 1024;
/** A text answer of `n` windows, each with one e-mail address in its middle. */
const windows = (n: number) => Array.from({ length: n }, (_, i) => `${'a'.repeat(WINDOW / 2)} mail${i}@example.com ${'b'.repeat(WINDOW / 2 - 22)}\n`).join('');

for (const backend of ['sqlite', 'postgres'] as const) describe(backend, () => {
  let server: TestPostgres | undefined;
  let t: TestGateway;
  let target: Server;
  let agent: Running;
  let bob: string;
  const received: string[] = [];

  before(async () => {
    let storeUrl: string | undefined;
    if (backend === 'postgres') {
      server = await startPostgres();
      storeUrl = await createDatabase(server, `airlock_messages_${process.pid}`);
    }
    const wss = new WebSocketServer({ noServer: true });
    target = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(windows(8));
    });
    target.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: RawData) => {
        const text = String(data);
        received.push(text);
        // `emails N`: N messages, one address each (a target pushing records).
        if (text.startsWith('emails ')) for (let i = 0; i < Number(text.slice(7)); i++) ws.send(JSON.stringify({ email: `pushed${i}@example.com` }));
        else ws.send(data);
      });
    }));
    const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
    t = await startTestGateway(storeUrl === undefined ? {} : { config: { store: { url: storeUrl } } });
    const alice = await t.token('alice', ['admins']);
    bob = await t.token('bob', ['developers']);
    agent = await startTestAgent(t, 'edge', { allow: [url] });
    const file = (name: string, ...lines: string[]) => { const f = join(t.dir, `${name}.yaml`); writeFileSync(f, `${lines.join('\n')}\n`); return f; };
    const chatty = file('chatty', 'name: chatty', 'limits:', '  - { name: messages, kind: cost, max: 3, match: { methods: [WEBSOCKET] }, message: "Three messages an hour." }');
    const pushy = file('pushy', 'name: pushy', 'limits:', '  - { name: pushed, kind: egress, max: 2, block: 1, match: { methods: [WEBSOCKET] }, message: "Two addresses an hour." }');
    const streamed = file('streamed', 'name: streamed', 'limits:', '  - { name: streamed_mail, kind: egress, max: 3, block: 1, message: "Three addresses an hour." }');
    await addConnections(t, alice, [
      { name: 'chatty', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [chatty] } },
      { name: 'pushy', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [pushy] } },
      { name: 'streamed', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [streamed] }, limits: { oversize: 'stream', inspectBytes: WINDOW } },
    ]);
  });
  after(async () => { await stopAll(agent, t, target); await server?.stop(); });

  /** A WebSocket session through the gateway: what it received and how it closed. */
  const open = async (connection: string) => {
    const ws = new WebSocket(`${t.gw.url.replace(/^http/, 'ws')}/proxy/${connection}/socket`, { headers: { authorization: `Bearer ${bob}` } });
    const messages: string[] = [];
    ws.on('message', (data: RawData) => messages.push(String(data)));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return { ws, messages, closed };
  };
  const decisions = async (connection: string) => {
    const out: Array<Record<string, any>> = [];
    for (const s of await t.gw.store.sessions.list({ connection, limit: 100 })) {
      for (const e of await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 })) if (e.type === 'decision' && (e.payload as Record<string, any>).limits !== undefined) out.push(e.payload as Record<string, any>);
    }
    return out;
  };

  test(`${backend}: a caller's WebSocket message past a cost budget closes the session with GW_LIMIT_EXCEEDED; the target never gets it`, async () => {
    received.length = 0;
    const s = await open('chatty');
    for (const m of ['one', 'two', 'three', 'four']) s.ws.send(m);
    const closed = await s.closed;
    assert.equal(closed.code, 1008, JSON.stringify(closed));
    assert.match(closed.reason, /^GW_LIMIT_EXCEEDED \(limit\.exceeded, retry after \d+ s\): Three messages an hour\.$/);
    assert.deepEqual(received, ['one', 'two', 'three'], 'the fourth message never reached the target');
    assert.ok(s.messages.every((m, i) => m === received[i]), 'echoes of what passed (the last may be cut by the close)');
    const [hit] = await decisions('chatty');
    assert.equal(hit?.direction, 'request');
    assert.deepEqual(hit?.limits.map((l: Record<string, unknown>) => [l.limit, l.kind, l.action, l.used, l.max]), [['messages', 'cost', 'deny', 3, 3]]);
    // The budget is the caller's, not the session's: a new session's first message is refused too.
    const next = await open('chatty');
    next.ws.send('five');
    assert.match((await next.closed).reason, /^GW_LIMIT_EXCEEDED /);
    assert.deepEqual(received, ['one', 'two', 'three']);
  });

  test(`${backend}: target messages carrying addresses are counted against the egress budget; the one that finds it used up is refused`, async () => {
    const s = await open('pushy');
    s.ws.send('emails 4');
    const closed = await s.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /^GW_LIMIT_EXCEEDED \(limit\.exceeded, retry after \d+ s\): Two addresses an hour\.$/);
    // Masked (the default pack), and counted all the same: a masked value was still asked for.
    assert.deepEqual(s.messages.map((m) => JSON.parse(m).email), ['[EMAIL_ADDRESS]', '[EMAIL_ADDRESS]']);
    assert.equal(s.messages.length, 2);
    const [hit] = await decisions('pushy');
    assert.equal(hit?.direction, 'response');
    assert.deepEqual(hit?.limits.map((l: Record<string, unknown>) => [l.limit, l.kind, l.action, l.used, l.max]), [['pushed', 'egress', 'deny', 2, 2]]);
  });

  test(`${backend}: a streamed answer is counted window by window and cut at the window that finds the egress budget used up`, async () => {
    const res = await fetch(`${t.gw.url}/proxy/streamed/export`, { headers: { authorization: `Bearer ${bob}` } });
    assert.equal(res.status, 200, 'the head passed: the budget had room');
    let text = '';
    const reader = res.body!.getReader();
    let cut = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    } catch {
      cut = true;
    }
    assert.ok(cut || text.length < windows(8).length, 'the answer was cut before its end');
    const sent = text.match(/\[EMAIL_ADDRESS\]|mail\d@example\.com/g) ?? [];
    assert.deepEqual(sent, Array(3).fill('[EMAIL_ADDRESS]'), 'three addresses left (masked), one window each');
    const [hit] = await decisions('streamed');
    assert.deepEqual(hit?.limits.map((l: Record<string, unknown>) => [l.limit, l.kind, l.action, l.used, l.max]), [['streamed_mail', 'egress', 'deny', 3, 3]]);
    assert.ok(t.gw.limiter.stats().hits.streamed_mail!.deny! >= 1);
  });
});
