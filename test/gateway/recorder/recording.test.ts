// Recording on the HTTP data path, end to end (real gateway, real agent process, real target):
// every request lands in a session whose hash chain and signed checkpoints verify; masked values
// are recorded masked; every kind of tampering is caught; a store that refuses writes refuses the
// request and nothing reaches the target.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { JWK } from 'jose';
import type { Running } from '../../support/process.ts';
import { startTestAgent, startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { verifySession, type VerifiableCheckpoint, type VerifiableEvent } from '../../../gateway/recorder/verify.ts';

const CARD = '4111 1111 1111 1111';
let t: TestGateway;
let target: Server;
let agent: Running;
let alice: string;
let bob: string;
let hits = 0;

before(async () => {
  target = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, customer: { name: 'Ada', card: CARD }, pad: req.url === '/api/big' ? 'y'.repeat(3000) : '' }));
  });
  const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway({ config: { recording: { keyFile: undefined, checkpointEvery: 3, chunkBytes: 1024 } } });
  alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  for (const c of [
    { name: 'demo', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'] },
    { name: 'quiet', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], recording: { metadataOnly: true } },
  ]) assert.equal((await t.call('POST', '/api/v1/connections', alice, c)).status, 201);
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await new Promise<void>((r) => target.close(() => r()));
});

const proxy = (path: string, token: string, headers: Record<string, string> = {}) =>
  fetch(`${t.gw.url}/proxy${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

async function fetchSession(id: string, token = alice) {
  const session = await t.call('GET', `/api/v1/sessions/${id}`, token);
  const events = await t.call('GET', `/api/v1/sessions/${id}/events`, token);
  const checkpoints = await t.call('GET', `/api/v1/sessions/${id}/checkpoints`, token);
  const keys = await t.call('GET', '/api/v1/recording-key', undefined);
  return { session: session.body, events: events.body.events as VerifiableEvent[], checkpoints: checkpoints.body.checkpoints as VerifiableCheckpoint[], keys: keys.body.keys as JWK[] };
}

const verify = (id: string, state: string, events: readonly VerifiableEvent[], checkpoints: readonly VerifiableCheckpoint[], keys: readonly JWK[]) =>
  verifySession({ sessionId: id, state, events, checkpoints, keys });

test('requests are recorded in one session per caller and connection; the record verifies; masked values stay masked', async () => {
  const label = { 'x-airlock-session': 'story-1' };
  for (const path of ['/demo/customers', '/demo/big']) {
    const res = await proxy(path, bob, label);
    assert.equal(res.status, 200);
    assert.ok(!(await res.text()).includes(CARD), 'masked on the way out');
  }
  const list = await t.call('GET', '/api/v1/sessions?connection=demo&user=bob', alice);
  const mine = list.body.sessions.filter((s: { metadata: { label?: string } }) => s.metadata.label === 'story-1');
  assert.equal(mine.length, 1, 'both requests in the labelled session');
  const id = mine[0].id as string;
  assert.match(id, /^ses_[0-9a-f]{32}$/);
  assert.deepEqual(mine[0].decisions.sort(), ['allow', 'mask']);

  await t.gw.recording.httpSessions.close(); // ends the session: session.end + final checkpoint
  const { session, events, checkpoints, keys } = await fetchSession(id);
  assert.equal(session.state, 'ended');
  assert.deepEqual(events.map((e) => e.type).filter((x) => x !== 'finding' && x !== 'chunk'),
    ['session.start', 'request', 'decision', 'response', 'decision', 'request', 'decision', 'response', 'decision', 'session.end']);
  assert.ok(events.some((e) => e.type === 'chunk'), 'the big answer was chunked (chunkBytes 1024)');
  const response = events.find((e) => e.type === 'response') as { payload: { status: number; body: string } };
  assert.equal(response.payload.status, 200);
  const recordedCard = (JSON.parse(response.payload.body) as { customer: { card: string } }).customer.card;
  assert.match(recordedCard, /^\[CREDIT_CARD …1111\]$/, 'recorded as it left: masked');
  assert.ok(checkpoints.length >= 2, 'a checkpoint every 3 events, and one at the end');
  const result = verify(id, session.state, events, checkpoints, keys);
  assert.deepEqual({ ok: result.ok, firstBad: result.firstBad, signedThrough: result.signedThrough }, { ok: true, firstBad: undefined, signedThrough: events.length });

  // The card never reaches the store file (WAL included) in clear.
  const files = readdirSync(t.dir).filter((f) => f.startsWith('gw.db'));
  for (const f of files) assert.ok(!readFileSync(join(t.dir, f)).includes(CARD), `${f} holds no card number`);
});

test('verification catches an edited, deleted, reordered or truncated event and a forged checkpoint', async () => {
  await proxy('/demo/customers', bob, { 'x-airlock-session': 'tamper' });
  await proxy('/demo/customers', bob, { 'x-airlock-session': 'tamper' });
  await t.gw.recording.httpSessions.close();
  const list = await t.call('GET', '/api/v1/sessions?user=bob', alice);
  const id = list.body.sessions.find((s: { metadata: { label?: string } }) => s.metadata.label === 'tamper').id as string;
  const { events, checkpoints, keys } = await fetchSession(id);
  assert.equal(verify(id, 'ended', events, checkpoints, keys).ok, true);

  const edited = events.map((e) => (e.seq === 3 ? { ...e, payload: { ...(e.payload as object), decision: 'allow', forged: true } } : e));
  assert.deepEqual(verify(id, 'ended', edited, checkpoints, keys).firstBad, { seq: 3, reason: 'event 3 was altered: its content does not match its hash' });

  const deleted = events.filter((e) => e.seq !== 4);
  assert.deepEqual(verify(id, 'ended', deleted, checkpoints, keys).firstBad, { seq: 4, reason: 'event 4 is missing or out of order (found seq 5 in its place)' });

  const reordered = [...events];
  [reordered[2], reordered[3]] = [reordered[3]!, reordered[2]!];
  assert.equal(verify(id, 'ended', reordered, checkpoints, keys).firstBad?.seq, 3);

  const truncated = events.slice(0, -2);
  const cut = verify(id, 'ended', truncated, checkpoints, keys);
  assert.equal(cut.ok, false);
  assert.match(cut.firstBad!.reason, /truncated/);

  const last = checkpoints.at(-1)!;
  const forged = [...checkpoints.slice(0, -1), { ...last, hash: events[1]!.hash }];
  assert.equal(verify(id, 'ended', events, forged, keys).firstBad?.reason, `the checkpoint at event ${last.seq} has a signature that does not verify: it was forged or altered`);
  const foreignKey = [{ ...keys[0]!, kid: 'someone-else' }];
  assert.match(verify(id, 'ended', events, checkpoints, foreignKey).firstBad!.reason, /not a trusted recording key/);
});

test('users see their own sessions only; auditors see all', async () => {
  await proxy('/demo/customers', bob);
  const own = await t.call('GET', '/api/v1/sessions', bob);
  assert.equal(own.status, 200);
  assert.ok(own.body.sessions.length > 0);
  assert.ok(own.body.sessions.every((s: { subject: string }) => s.subject === 'bob'));
  const carol = await t.token('carol', ['developers']);
  const others = await t.call('GET', '/api/v1/sessions?user=bob', carol);
  assert.equal(others.status, 403);
  assert.equal(others.body.error.code, 'GW_FORBIDDEN');
  const peek = await t.call('GET', `/api/v1/sessions/${own.body.sessions[0].id}/events`, carol);
  assert.equal(peek.status, 404);
  assert.equal(peek.body.error.code, 'GW_SESSION_NOT_FOUND');
  const bad = await t.call('GET', '/api/v1/sessions?since=yesterday', alice);
  assert.equal(bad.body.error.code, 'GW_BAD_REQUEST');
});

test('a metadata-only connection records every event without its payload', async () => {
  await proxy('/quiet/customers', bob);
  await t.gw.recording.httpSessions.close();
  const list = await t.call('GET', '/api/v1/sessions?connection=quiet', alice);
  const { events } = await fetchSession(list.body.sessions[0].id);
  const response = events.find((e) => e.type === 'response') as { payload: Record<string, unknown> };
  assert.equal(response.payload.status, 200);
  assert.equal(response.payload.body, null);
  assert.equal(response.payload.omitted, 'metadata-only');
});

test('a store that refuses writes refuses the request, and nothing reaches the target', async () => {
  await proxy('/demo/customers', bob); // a session is open
  const before = hits;
  // Another connection holds SQLite's write lock: the recorder's writes fail (after busy_timeout).
  const blocker = new DatabaseSync(join(t.dir, 'gw.db'));
  blocker.exec('PRAGMA busy_timeout = 0');
  blocker.exec('BEGIN EXCLUSIVE');
  let res: Response;
  try {
    res = await proxy('/demo/customers', bob);
  } finally {
    blocker.exec('ROLLBACK');
    blocker.close();
  }
  assert.equal(res.status, 503);
  const body = await res.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_RECORDING_FAILED');
  assert.match(body.error.message, /could not record this request, so it was not forwarded/);
  assert.equal(hits, before, 'the target saw nothing');
  const again = await proxy('/demo/customers', bob);
  assert.equal(again.status, 200, 'recording resumes once the store takes writes');
  assert.equal(hits, before + 1);
});
