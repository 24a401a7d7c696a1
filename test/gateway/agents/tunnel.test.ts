// The tunnel endpoint and the hub on a real gateway, dialled by a real ws client running a real
// TunnelSession (the agent's end, driven by the test): every refusal is a coded HTTP error before
// the upgrade; an accepted tunnel carries streams both ways; revoke and shutdown close it with
// their codes and fail open streams at once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { request } from 'node:http';
import { GATEWAY_CLOSE_CODES } from '../../../agent/tunnel.ts';
import { TUNNEL_PATH as AGENT_TUNNEL_PATH } from '../../../agent/gateway-url.ts';
import { AGENT_CLOSE_CODES } from '../../../gateway/agents/hub.ts';
import { TUNNEL_PATH } from '../../../gateway/agents/endpoint.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { TunnelError, type TunnelSession, type TunnelStream } from '../../../gateway/tunnel/index.ts';
import { agentKey, connectToken, dialTunnel, enrolledAgent, eventually, startTestGateway, type Dialled, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let alice: string;
let key: KeyObject;

before(async () => {
  t = await startTestGateway({ agents: { maxTunnelsPerAgent: 2 } });
  alice = await t.token('alice', ['admins']);
  key = await enrolledAgent(t, 'edge');
});
after(() => t.close());

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function refused(d: Dialled): { status: number; body: Record<string, any> } {
  if (!('refused' in d)) {
    void d.session.close();
    assert.fail('the tunnel was accepted');
  }
  return d.refused;
}

async function accepted(d: Dialled): Promise<TunnelSession> {
  if ('refused' in d) assert.fail(`refused: ${JSON.stringify(d.refused)}`);
  return d.session;
}

/** The agent's end answers `echo` streams by sending back what it reads. */
function echo(session: TunnelSession): void {
  session.on('stream', (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
}

async function roundTrip(stream: TunnelStream, text: string): Promise<string> {
  stream.end(text);
  let back = '';
  for await (const chunk of stream) back += (chunk as Buffer).toString();
  return back;
}

test('refusals before the upgrade, each with its code and a message saying which check failed', async () => {
  const now = Math.floor(Date.now() / 1000);
  const stranger = generateKeyPairSync('ed25519').privateKey;
  const cases: Array<[string, Record<string, string>, number, string, RegExp, string?]> = [
    ['no token', {}, 401, 'GW_AUTH_REQUIRED', /signed connect token/],
    ['basic auth', { authorization: 'Basic x' }, 401, 'GW_AUTH_MALFORMED', /Bearer <token>/],
    ['forged: signed by another key', bearer(await connectToken('edge', stranger)), 401, 'GW_AGENT_TOKEN_INVALID', /signature does not verify with the key agent edge enrolled/],
    ['expired', bearer(await connectToken('edge', key, { iat: now - 120, exp: now - 60 })), 401, 'GW_AGENT_TOKEN_INVALID', /has expired/],
    ['lives too long', bearer(await connectToken('edge', key, { exp: now + 3600 })), 401, 'GW_AGENT_TOKEN_INVALID', /lives 3600 s \(exp − iat\); at most 60 s/],
    ['exp far ahead though iat matches it', bearer(await connectToken('edge', key, { iat: now + 600, exp: now + 630 })), 401, 'GW_AGENT_TOKEN_INVALID', /expires more than 60 s from now/],
    ['wrong audience', bearer(await connectToken('edge', key, { aud: 'http://other.test' })), 401, 'GW_AGENT_TOKEN_INVALID', /not meant for this gateway \(aud\)/],
    ['no jti', bearer(await connectToken('edge', key, { jti: undefined })), 401, 'GW_AGENT_TOKEN_INVALID', /has no jti/],
    ['short jti', bearer(await connectToken('edge', key, { jti: 'abc' })), 401, 'GW_AGENT_TOKEN_INVALID', /jti is not 16–128 base64url/],
    ['sub is another agent', bearer(await connectToken('edge', key, { sub: 'other' })), 401, 'GW_AGENT_TOKEN_INVALID', /subject \(sub\) is not edge/],
    ['untyped JWT', bearer(await connectToken('edge', key, { typ: 'JWT' })), 401, 'GW_AGENT_TOKEN_INVALID', /type \(typ\) is not agent\+jwt/],
    ['not a JWT', bearer('abc.def'), 401, 'GW_AGENT_TOKEN_INVALID', /not a signed JWT/],
    ['unknown agent', bearer(await connectToken('ghost', key)), 403, 'GW_AGENT_NOT_ENROLLED', /^Agent ghost is not enrolled at this gateway/],
    ['token in the query', bearer(await connectToken('edge', key)), 401, 'GW_AUTH_MALFORMED', /credential in the URL \("access_token" parameter\) is refused/, `${TUNNEL_PATH}?access_token=x`],
    ['another upgrade path', bearer(await connectToken('edge', key)), 404, 'GW_NOT_FOUND', /No upgrade route for \/api\/v1\/other/, '/api/v1/other'],
  ];
  for (const [what, headers, status, code, message, path] of cases) {
    const r = refused(await dialTunnel(t.gw.url, headers, path));
    assert.equal(r.status, status, what);
    assert.equal(r.body.error.code, code, what);
    assert.match(r.body.error.message, message, what);
    assert.match(r.body.error.requestId, /^[0-9a-f-]{36}$/, what);
  }
  assert.equal(t.gw.agents.presence('edge').online, false, 'nothing got through');
});

test('a pending agent and a revoked one are refused with their codes', async () => {
  await t.addAgent('fresh');
  const pending = refused(await dialTunnel(t.gw.url, bearer(await connectToken('fresh', agentKey().privateKey))));
  assert.deepEqual([pending.status, pending.body.error.code], [403, 'GW_AGENT_NOT_ENROLLED']);

  const gone = await enrolledAgent(t, 'gone');
  assert.equal((await t.call('DELETE', '/api/v1/agents/gone', alice)).status, 200);
  const revoked = refused(await dialTunnel(t.gw.url, bearer(await connectToken('gone', gone))));
  assert.deepEqual([revoked.status, revoked.body.error.code], [403, 'GW_AGENT_REVOKED']);
  assert.match(revoked.body.error.message, /^Agent gone was revoked at \d{4}-.*airlock agents add gone/);
  // Only a key holder learns that: a forged token for a revoked agent is just invalid.
  const forged = refused(await dialTunnel(t.gw.url, bearer(await connectToken('gone', agentKey().privateKey))));
  assert.equal(forged.body.error.code, 'GW_AGENT_TOKEN_INVALID');
});

test('an accepted tunnel: streams through the hub reach the agent and come back; presence is listed; a replayed token is refused', async () => {
  const token = await connectToken('edge', key);
  const session = await accepted(await dialTunnel(t.gw.url, bearer(token)));
  echo(session);
  await t.gw.agents.waitOnline('edge', 5000);
  assert.equal(await roundTrip(t.gw.agents.open('edge', { kind: 'echo' }), 'hello agent'), 'hello agent');

  const listed = await t.call('GET', '/api/v1/agents', alice);
  const row = listed.body.agents.find((a: { name: string }) => a.name === 'edge');
  assert.deepEqual([row.status, row.online, row.tunnels, row.version], ['active', true, 1, '9.9.9']);
  assert.match(row.connectedAt, /^\d{4}-/);

  const replay = refused(await dialTunnel(t.gw.url, bearer(token)));
  assert.equal(replay.body.error.code, 'GW_AGENT_TOKEN_INVALID');
  assert.match(replay.body.error.message, /jti was already used/);

  await session.close();
  await eventually(() => (t.gw.agents.presence('edge').online ? undefined : true), 5000, 'offline');
  const after = await t.call('GET', '/api/v1/agents/edge', alice);
  assert.deepEqual([after.body.online, after.body.tunnels], [false, 0]);
  assert.ok(Date.now() - Date.parse(after.body.lastSeen) < 10_000, 'last seen recorded at disconnect');
  assert.throws(() => t.gw.agents.open('edge', { kind: 'echo' }), (err: GatewayError) => err.code === 'GW_AGENT_OFFLINE' && err.status === 503 && /Agent edge is not connected/.test(err.message));
});

test('two tunnels share the streams; a third is refused (agents.maxTunnelsPerAgent = 2)', async () => {
  const a = await accepted(await dialTunnel(t.gw.url, bearer(await connectToken('edge', key))));
  const b = await accepted(await dialTunnel(t.gw.url, bearer(await connectToken('edge', key))));
  const held = { a: [] as TunnelStream[], b: [] as TunnelStream[] };
  a.on('stream', (s) => held.a.push(s));
  b.on('stream', (s) => held.b.push(s));
  await eventually(() => (t.gw.agents.presence('edge').tunnels === 2 ? true : undefined), 5000, 'two tunnels');
  const streams = Array.from({ length: 6 }, () => t.gw.agents.open('edge', { kind: 'hold' }));
  await eventually(() => (held.a.length + held.b.length === 6 ? true : undefined), 5000, 'six streams arrive');
  assert.deepEqual([held.a.length, held.b.length], [3, 3], 'the least-loaded tunnel takes each stream');
  for (const s of streams) s.destroy();

  const third = refused(await dialTunnel(t.gw.url, bearer(await connectToken('edge', key))));
  assert.deepEqual([third.status, third.body.error.code], [429, 'GW_AGENT_CONNECT_LIMITED']);
  assert.match(third.body.error.message, /already has 2 tunnels/);
  await Promise.all([a.close(), b.close()]);
});

test('revoke closes the tunnel at once with 4100: open streams fail, new ones are GW_AGENT_OFFLINE', async () => {
  const victim = await enrolledAgent(t, 'victim');
  const session = await accepted(await dialTunnel(t.gw.url, bearer(await connectToken('victim', victim))));
  echo(session);
  await t.gw.agents.waitOnline('victim', 5000);
  const stream = t.gw.agents.open('victim', { kind: 'echo' });
  stream.write('in flight');
  const failed = once(stream, 'error') as Promise<[TunnelError]>;

  const revoked = await t.call('DELETE', '/api/v1/agents/victim', alice);
  assert.equal(revoked.status, 200);
  assert.deepEqual([revoked.body.status, revoked.body.tunnelsClosed, revoked.body.online], ['revoked', 1, false]);
  const [err] = await failed;
  assert.equal(err.code, 'TUNNEL_CLOSED');
  assert.equal(err.closeCode, 4100);
  await session.closed;
  assert.equal(session.closeCode, 4100, 'the agent sees the revocation close code');
  assert.throws(() => t.gw.agents.open('victim', { kind: 'echo' }), { code: 'GW_AGENT_OFFLINE' });
});

test('an agent revoked through another replica has its tunnels here closed with 4100 through the config epoch', async () => {
  const roaming = await enrolledAgent(t, 'roaming');
  const session = await accepted(await dialTunnel(t.gw.url, bearer(await connectToken('roaming', roaming))));
  await t.gw.agents.waitOnline('roaming', 5000);
  const other = await t.replica();
  const res = await fetch(`${other.url}/api/v1/agents/roaming`, { method: 'DELETE', headers: bearer(alice) });
  assert.equal(res.status, 200);
  // This gateway's presence check is 30 s away: only the epoch brings the revocation here (bounded wait, no timing asserted).
  await Promise.race([session.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the tunnel stayed open')), 10_000).unref())]);
  assert.equal(session.closeCode, 4100);
  assert.throws(() => t.gw.agents.open('roaming', { kind: 'echo' }), { code: 'GW_AGENT_OFFLINE' });
  await other.stop();
});

test('gateway shutdown closes every tunnel with 4101 and does not wait for them', async () => {
  const other = await t.replica();
  const session = await accepted(await dialTunnel(other.url, bearer(await connectToken('edge', key))));
  await other.agents.waitOnline('edge', 5000);
  const started = Date.now();
  await other.stop();
  assert.ok(Date.now() - started < 5000, 'stop does not hang on the upgraded socket');
  await session.closed;
  assert.equal(session.closeCode, 4101);
});

test('an upgrade to another protocol (curl --http2 asks for h2c) is an ordinary request', async () => {
  const { port } = new URL(t.gw.url);
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ port, path: '/healthz', headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(answer, { status: 200, body: '{"status":"ok"}' });
});

test('the agent and the gateway agree on the close codes and the tunnel path', () => {
  assert.deepEqual({ ...GATEWAY_CLOSE_CODES }, { ...AGENT_CLOSE_CODES });
  assert.equal(AGENT_TUNNEL_PATH, TUNNEL_PATH);
  for (const code of Object.values(AGENT_CLOSE_CODES)) assert.ok(code >= 4100 && code <= 4199, `${code} is in the range the tunnel leaves to this layer`);
});
