// Streamed bodies on the HTTP path (limits.oversize: stream), end to end: a real client → the real
// gateway → a real `airlock-agent start` process → a real target on loopback. 50 MB each way pass
// with the gateway holding about one window per direction (asserted on the scanner's and the
// tunnel stream's flow-control counters, recorded with the exchange); a slow client holds the
// target back; PII is masked as it flows; a refused window cuts the body before its end; JSON
// bodies and reviews are refused with their reasons.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Running } from '../../support/process.ts';
import { execFile } from 'node:child_process';
import { addConnections, requestEvents, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';
import { MAX_PAYLOAD_BYTES } from '../../../gateway/tunnel/frames.ts';
import { DEFAULT_OVERLAP_BYTES, DEFAULT_WINDOW_BYTES } from '../../../gateway/inspect/stream.ts';
import { describeEvent } from '../../../cli/commands/sessions.ts';

const MiB = 1024 * 1024;
const CARD = '4111 1111 1111 1111';
const AWS_KEY = 'AKIAQX3ZB7MF2WJ4KD5N';

/** Line `i` of a generated text body: every 400th line carries a card number. */
function line(i: number): string {
  return i % 400 === 7 ? `${String(i).padStart(8, '0')} paid with card ${CARD} at the counter, receipt follows ${'-'.repeat(30)}\n` : `${String(i).padStart(8, '0')} ${'lorem ipsum dolor sit amet '.repeat(3)}\n`;
}

/** The generated body of at least `bytes` bytes, in pieces of about `piece` bytes. */
function* textBody(bytes: number, piece = 64 * 1024, mask = false): Generator<Buffer> {
  let sent = 0;
  let i = 0;
  while (sent < bytes) {
    let s = '';
    while (s.length < piece) s += mask ? line(i++).replace(CARD, '[CREDIT_CARD …1111]') : line(i++);
    const b = Buffer.from(s);
    sent += b.length;
    yield b;
  }
}

interface Upload { bytes: number; sha256: string; complete: boolean }
const uploads: Upload[] = [];
const aborted = new WeakSet<Upload>();
const downloads: Array<{ sent: number; done: boolean }> = [];
let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;
let alice: string;
let targetUrl: string;

before(async () => {
  target = createServer((req, res) => {
    if (req.url === '/api/upload') {
      const up: Upload = { bytes: 0, sha256: '', complete: false };
      uploads.push(up);
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => { up.bytes += c.length; hash.update(c); });
      req.on('close', () => { if (!up.complete) aborted.add(up); });
      req.on('end', () => {
        up.complete = true;
        up.sha256 = hash.digest('hex');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes: up.bytes, sha256: up.sha256 }));
      });
      return;
    }
    const download = /^\/api\/download\/(\d+)(\/[a-z-]+)?$/.exec(req.url ?? '');
    if (download) {
      const state = { sent: 0, done: false };
      downloads.push(state);
      const extra = download[2] === '/secret-late' ? `aws_access_key_id=${AWS_KEY}\n` : '';
      const parts = [...(download[2] === '/secret-early' ? [Buffer.from(`aws_access_key_id=${AWS_KEY}\n`)] : []), ...textBody(Number(download[1]))];
      res.writeHead(200, { 'content-type': download[2] === '/binary' ? 'application/octet-stream' : 'text/plain; charset=utf-8' });
      let i = 0;
      const pump = () => {
        while (i < parts.length) {
          const part = i === Math.floor(parts.length / 2) && extra ? Buffer.concat([Buffer.from(extra), parts[i]!]) : parts[i]!;
          i++;
          state.sent += part.length;
          if (!res.write(part)) return void res.once('drain', pump);
        }
        state.done = true;
        res.end();
      };
      pump();
      res.on('close', () => { if (!state.done) state.sent = -state.sent; });
      return;
    }
    if (req.url === '/api/big.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ rows: Array.from({ length: 20_000 }, (_, i) => ({ i, pad: 'x'.repeat(40) })) }));
    }
    res.writeHead(404).end();
  });
  const port = await new Promise<number>((r) => target.listen(0, '127.0.0.1', () => r((target.address() as { port: number }).port)));
  targetUrl = `http://127.0.0.1:${port}`;

  t = await startTestGateway();
  alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [targetUrl] });

  const rules = join(t.dir, 'stream-rules.yaml');
  writeFileSync(rules, [
    'name: stream-rules',
    'rules:',
    '  - { id: no-secret-uploads, match: { directions: [request], findings: ["secret.*"] }, action: deny, reason: upload.secret, message: Secrets may not be uploaded. }',
    '  - { id: review-puts, match: { methods: [PUT] }, action: review, reason: put.review, message: Replacing a file needs a second pair of eyes. }',
    '  - { id: no-secret-downloads, match: { directions: [response], findings: ["secret.AWS_ACCESS_KEY"] }, action: deny, reason: download.secret, message: Cloud keys may not be downloaded. }',
    '',
  ].join('\n'));
  const limits = { oversize: 'stream', inspectBytes: 64 * 1024, maxRequestBytes: 64 * MiB, maxResponseBytes: 64 * MiB };
  await addConnections(t, alice, [
    { name: 'files', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], limits, policy: { files: [rules] } },
    { name: 'small-files', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], limits: { ...limits, maxRequestBytes: 2 * MiB, maxResponseBytes: 2 * MiB } },
  ]);
});
after(() => stopAll(agent, t, target));

/** Events of the exchange with request id `id`, in order. */
const eventsOf = (id: string, connection = 'files') => requestEvents(t, id, connection);

/** Sends `parts` as a chunked request body, waiting for each write to drain; resolves with the answer. */
function send(method: string, path: string, parts: Iterable<Buffer>, headers: Record<string, string> = {}): Promise<{ status: number; text: string; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.gw.url}${path}`, { method, headers: { authorization: `Bearer ${bob}`, 'content-type': 'text/plain', ...headers } });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString(), sha256: '' }));
      res.on('error', reject);
    });
    req.on('error', (err) => { if (!req.writableFinished) return; reject(err); }); // an early answer may close the connection mid-upload
    const it = parts[Symbol.iterator]();
    const write = () => {
      for (let next = it.next(); !next.done; next = it.next()) {
        if (req.destroyed) return;
        if (!req.write(next.value)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

test('a 50 MB body streams up through gateway, tunnel and agent with bounded memory (flow-control counters)', async () => {
  const hash = createHash('sha256');
  let bytes = 0;
  const parts = [...textBody(50 * MiB)].map((b) => { hash.update(b); bytes += b.length; return b; });
  const r = await send('POST', '/proxy/files/upload', parts, { 'x-request-id': 'upload-50mb-0001' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text), { bytes, sha256: hash.digest('hex') }, 'the target got every byte, in order (requests are not masked by the default pack)');

  const events = await eventsOf('upload-50mb-0001');
  const start = events.find((e) => e.type === 'request')!;
  assert.equal(start.payload.streamed, true);
  const windows = events.filter((e) => e.type === 'request.data');
  assert.ok(windows.length >= bytes / DEFAULT_WINDOW_BYTES, `${windows.length} windows recorded`);
  assert.ok(windows.every((w) => w.payload.bytes <= DEFAULT_WINDOW_BYTES));
  const end = events.find((e) => e.type === 'request.end')!.payload;
  assert.equal(end.bytes, bytes);
  assert.equal(end.windows, windows.length);
  // What the gateway held at once: one window, its overlap, and one read from the client's request
  // (what Node had buffered while a window was decided and recorded: about its high-water mark and
  // one socket read, since the socket is paused beyond).
  assert.ok(end.largestReadBytes <= 256 * 1024, `largest read ${end.largestReadBytes} bytes`);
  assert.ok(end.peakHeldBytes <= DEFAULT_WINDOW_BYTES + DEFAULT_OVERLAP_BYTES + end.largestReadBytes, `scanner held at most ${end.peakHeldBytes} bytes`);
  // The tunnel stream to the agent: the gateway wrote only what the agent's credit allowed, and
  // waited for 'drain' before the next window, so unsent bytes never piled up.
  assert.ok(end.tunnel.bytesWritten >= bytes, `the tunnel stream carried ${end.tunnel.bytesWritten} bytes`);
  assert.ok(end.tunnel.peakWritableBytes <= DEFAULT_WINDOW_BYTES + 64 * 1024, `unsent bytes at most ${end.tunnel.peakWritableBytes}`);
});

test('a 50 MB body streams down, masked as it flows; a client that stops reading holds the target back', async () => {
  const expected = createHash('sha256');
  let expectedBytes = 0;
  for (const b of textBody(50 * MiB, 64 * 1024, true)) { expected.update(b); expectedBytes += b.length; }
  const before = downloads.length;

  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    request(`${t.gw.url}/proxy/files/download/${50 * MiB}`, { headers: { authorization: `Bearer ${bob}`, 'x-request-id': 'download-50mb-0001' } }, resolve).on('error', reject).end();
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-airlock-inspection'], 'streamed');
  assert.equal(res.headers['content-length'], undefined);
  const got = createHash('sha256');
  let received = 0;
  // Read 2 MiB, then stop reading: the target must stall, far short of the whole body.
  await new Promise<void>((resolve) => {
    const onData = (c: Buffer) => {
      got.update(c);
      received += c.length;
      if (received >= 2 * MiB) { res.off('data', onData); res.pause(); resolve(); }
    };
    res.on('data', onData);
  });
  const state = downloads[before]!;
  let last = -1;
  for (let i = 0, same = 0; i < 300 && same < 10; i++) { // until the target's count holds still for 10 looks in a row
    await new Promise((r) => setTimeout(r, 50));
    same = state.sent === last ? same + 1 : 0;
    last = state.sent;
  }
  assert.equal(state.done, false, 'the target has not finished: it waits for the client');
  // Between them only socket buffers (the kernel's, on loopback a few MiB each) and the tunnel window.
  const ahead = state.sent - received;
  assert.ok(ahead < 25 * MiB, `the target ran ${ahead} bytes ahead of the paused client (less than half the body)`);

  // Resume: everything arrives, cards masked, and the body ends cleanly.
  await new Promise<void>((resolve, reject) => {
    res.on('data', (c: Buffer) => { got.update(c); received += c.length; });
    res.on('end', resolve);
    res.on('error', reject);
    res.resume();
  });
  assert.equal(received, expectedBytes);
  assert.equal(got.digest('hex'), expected.digest('hex'), 'every card masked, every other byte as sent');

  const events = await eventsOf('download-50mb-0001');
  const end = events.find((e) => e.type === 'response.end')!.payload;
  assert.equal(end.bytes, state.sent);
  assert.ok(end.masked > 0 && end.masked < end.windows, `${end.masked} of ${end.windows} windows masked`);
  // One read from the tunnel stream is at most what the agent could send ahead: the stream's window and its buffer.
  assert.ok(end.largestReadBytes <= end.tunnel.receiveWindow + 64 * 1024 + MAX_PAYLOAD_BYTES, `largest read ${end.largestReadBytes} bytes`);
  assert.ok(end.peakHeldBytes <= DEFAULT_WINDOW_BYTES + DEFAULT_OVERLAP_BYTES + end.largestReadBytes, `scanner held at most ${end.peakHeldBytes} bytes`);
  // The tunnel stream from the agent: never more unread than its window allows.
  assert.ok(end.tunnel.bytesRead >= state.sent);
  assert.ok(end.tunnel.peakReadableBytes <= end.tunnel.receiveWindow + 64 * 1024 + MAX_PAYLOAD_BYTES,
    `unread at most ${end.tunnel.peakReadableBytes} bytes (window ${end.tunnel.receiveWindow})`);
  const decisions = events.filter((e) => e.type === 'decision' && e.payload.direction === 'response');
  assert.ok(decisions.some((d) => d.payload.decision === 'mask'));
});

test('a secret in an upload after its first window: the upload is reset, the target never sees its end', async () => {
  const before = uploads.length;
  const parts = [...textBody(8 * MiB)];
  parts.splice(60, 0, Buffer.from(`aws_access_key_id=${AWS_KEY}\n`));
  const r = await send('POST', '/proxy/files/upload', parts, { 'x-request-id': 'upload-secret-0001' });
  assert.equal(r.status, 403);
  const error = JSON.parse(r.text).error;
  assert.equal(error.code, 'GW_POLICY_DENIED');
  assert.match(error.message, /refused by policy \(upload\.secret\): Secrets may not be uploaded\./);
  await new Promise((r) => setTimeout(r, 200));
  const up = uploads[before]!;
  assert.equal(up.complete, false, 'the target saw an aborted upload');
  assert.ok(up.bytes > 0 && up.bytes < 60 * 64 * 1024 + 100, `the target got ${up.bytes} bytes, all before the secret`);
  const events = await eventsOf('upload-secret-0001');
  const refused = events.filter((e) => e.type === 'request.data' && e.payload.withheld);
  assert.equal(refused.length, 1);
  assert.ok(!JSON.stringify(events).includes(AWS_KEY), 'the recording holds the refused window redacted');
  // How `airlock sessions replay` tells it.
  const lines = events.map((e) => describeEvent({ type: e.type, payload: e.payload, offsetMs: 0 } as Parameters<typeof describeEvent>[0]));
  assert.ok(lines.some((l) => l.includes('→ POST /api/upload [streamed]')), lines.slice(0, 3).join('\n'));
  assert.ok(lines.some((l) => l.includes('→ window 0 at byte 0 (65536 bytes)')));
  assert.ok(lines.some((l) => /→ window \d+ at byte \d+ \(\d+ bytes\) \[withheld\]/.test(l)));
});

test('a streamed answer under way is cut at its next window once the caller may no longer use the connection', async () => {
  const limits = { oversize: 'stream', inspectBytes: 64 * 1024, maxRequestBytes: 64 * MiB, maxResponseBytes: 64 * MiB };
  await addConnections(t, alice, [{ name: 'revocable-files', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], limits }]);
  const total = 32 * MiB;
  const got = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
    const req = request(`${t.gw.url}/proxy/revocable-files/download/${total}`, { headers: { authorization: `Bearer ${bob}` } });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      let bytes = 0;
      let revoked = false;
      const finish = () => resolve({ bytes, complete: res.complete });
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (revoked) return;
        revoked = true;
        res.pause(); // the gateway holds the rest back until the client reads again
        t.call('PATCH', '/api/v1/connections/revocable-files', alice, { groups: ['ops'] })
          .then((r) => { assert.equal(r.status, 200); res.resume(); }, reject);
      });
      res.on('end', finish);
      res.on('aborted', finish);
      res.on('error', finish);
    });
    req.end();
  });
  assert.equal(got.complete, false, 'the answer was cut, not completed');
  assert.ok(got.bytes < total, `the client got ${got.bytes} of ${total} bytes`);
});

test('a secret in the first window of an answer is an ordinary 403; later, it cuts the answer off', async () => {
  const early = await fetch(`${t.gw.url}/proxy/files/download/${MiB}/secret-early`, { headers: { authorization: `Bearer ${bob}` } });
  assert.equal(early.status, 403);
  const body = await early.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_POLICY_DENIED');
  assert.match(body.error.message, /The response on connection files was refused by policy \(download\.secret\): Cloud keys may not be downloaded\./);

  const late = await fetch(`${t.gw.url}/proxy/files/download/${4 * MiB}/secret-late`, { headers: { authorization: `Bearer ${bob}` } });
  assert.equal(late.status, 200, 'the answer had begun');
  let received = 0;
  const reader = late.body!.getReader();
  const failure = await (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        received += value.length;
      }
    } catch (err) {
      return err as Error;
    }
  })();
  assert.ok(failure instanceof Error, 'the body did not end cleanly');
  assert.ok(received < 2 * MiB + 64 * 1024, `the client got ${received} bytes, none from the window with the key`);
});

test('JSON over the inspection limit is not streamed, and a streamed body cannot wait for a review', async () => {
  const json = await fetch(`${t.gw.url}/proxy/files/big.json`, { headers: { authorization: `Bearer ${bob}` } });
  assert.equal(json.status, 403);
  const j = await json.json() as { error: { code: string; message: string } };
  assert.equal(j.error.code, 'GW_POLICY_DENIED');
  assert.match(j.error.message, /inspect\.oversize.*A JSON body is inspected whole, so it is not streamed \(limits\.oversize: stream\)\./);

  const before = uploads.length;
  const r = await send('PUT', '/proxy/files/upload', textBody(MiB));
  assert.equal(r.status, 403);
  const error = JSON.parse(r.text).error;
  assert.equal(error.code, 'GW_REVIEW_REQUIRED');
  assert.match(error.message, /The streamed request on connection files needs a human review \(put\.review\): Replacing a file needs a second pair of eyes\. A streamed body \(limits\.oversize: stream\) is not kept whole, so it cannot be held for one; it was refused at byte 0\./);
  assert.equal(uploads.length, before, 'nothing reached the target');
});

test('curl uploads a 5 MB binary file with --data-binary: the target gets it byte for byte', async () => {
  const file = join(t.dir, 'upload.bin');
  const bytes = Buffer.alloc(5 * MiB);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  writeFileSync(file, bytes);
  const before = uploads.length;
  const curl = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    // The token goes in a header file, not the command line (other users could read it there).
    const headers = join(t.dir, 'curl-headers');
    writeFileSync(headers, `Authorization: Bearer ${bob}\nContent-Type: application/octet-stream\n`, { mode: 0o600 });
    execFile('curl', ['-sS', '--fail-with-body', '-H', `@${headers}`, '--data-binary', `@${file}`, `${t.gw.url}/proxy/files/upload`], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
  assert.equal(curl.code, 0, curl.stderr + curl.stdout);
  assert.deepEqual(JSON.parse(curl.stdout), { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  assert.equal(uploads.length, before + 1);
});

test('a binary body streams byte for byte; a card number in it is masked in place', async () => {
  const r = await fetch(`${t.gw.url}/proxy/files/download/${3 * MiB}/binary`, { headers: { authorization: `Bearer ${bob}` } });
  assert.equal(r.status, 200);
  const body = Buffer.from(await r.arrayBuffer());
  const expected = Buffer.concat([...textBody(3 * MiB, 64 * 1024, true)]);
  assert.ok(body.equals(expected), `got ${body.length} bytes, expected ${expected.length}`);
});

test('limits hold while streaming: too large is refused or cut; a client gone midway aborts the upload', async () => {
  // Declared too large: refused before a byte is read.
  const declared = await new Promise<{ status: number; code: string; connection: string | undefined }>((resolve, reject) => {
    const req = request(`${t.gw.url}/proxy/small-files/upload`, { method: 'POST', headers: { authorization: `Bearer ${bob}`, 'content-type': 'text/plain', 'content-length': String(3 * MiB) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, code: JSON.parse(text).error.code, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.write(Buffer.alloc(1024, 'a'));
  });
  assert.deepEqual(declared, { status: 413, code: 'GW_BODY_TOO_LARGE', connection: 'close' });

  // Chunked, too large: refused when the limit is passed; the target's upload never ends.
  const before = uploads.length;
  const r = await send('POST', '/proxy/small-files/upload', textBody(3 * MiB));
  assert.equal(r.status, 413);
  assert.equal(JSON.parse(r.text).error.code, 'GW_BODY_TOO_LARGE');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(uploads.slice(before).every((u) => !u.complete), 'no upload was completed');

  // An answer over maxResponseBytes, already begun: cut off.
  const big = await fetch(`${t.gw.url}/proxy/small-files/download/${3 * MiB}`, { headers: { authorization: `Bearer ${bob}`, 'x-request-id': 'download-too-large-1' } });
  assert.equal(big.status, 200);
  await assert.rejects(big.arrayBuffer(), 'the answer is cut, not ended');
  const events = await eventsOf('download-too-large-1', 'small-files');
  assert.ok(events.some((e) => e.type === 'error' && e.payload.code === 'GW_RESPONSE_TOO_LARGE'), events.map((e) => e.type).join(' '));

  // The client goes away mid-upload: the target sees an aborted upload.
  const gone = uploads.length;
  const req = request(`${t.gw.url}/proxy/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${bob}`, 'content-type': 'text/plain' } });
  req.on('error', () => {});
  for (const part of textBody(2 * MiB)) req.write(part);
  for (let i = 0; i < 100 && (uploads[gone]?.bytes ?? 0) < 256 * 1024; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  req.destroy();
  for (let i = 0; i < 100 && uploads[gone] !== undefined && uploads[gone]!.bytes > 0 && !aborted.has(uploads[gone]!); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(uploads[gone] !== undefined && aborted.has(uploads[gone]!), 'the target saw the upload abort');
  assert.equal(uploads[gone]!.complete, false);
});
