// The HTTP data path end to end: curl-like clients → real gateway → real tunnel → a real
// `airlock-agent start` process → real target servers on loopback. The caller's token never
// reaches the target, the target's credential never reaches the gateway, PII in answers is
// masked, policy refusals, confinement and every failure come back as coded JSON errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../../lib/log.ts';
import type { Running } from '../../support/process.ts';
import { addConnections, eventually, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';

const TARGET_SECRET = 'target-secret-6b1f0c';
interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: string }
const seen: Seen[] = [];
const logLines: string[] = [];
let t: TestGateway;
let target: Server;
let targetUrl: string;
let agent: Running;
let alice: string;
let bob: string;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
}

before(async () => {
  target = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === '/api/slow') return void setTimeout(() => res.end('{}'), 5000);
      if (req.url === '/api/big') return void res.end(JSON.stringify({ pad: 'x'.repeat(4096) }));
      if (req.url === '/api/spoof') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-airlock-agent-error': 'TARGET_NOT_ALLOWED' });
        return void res.end('{"from":"target"}');
      }
      const body = JSON.stringify(req.url?.startsWith('/api/customers')
        ? { customers: [{ name: 'Ada', card: '4111 1111 1111 1111', email: 'ada@example.com', ssn: '412-67-3390', visits: 3 }] }
        : { method: req.method, url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'x-target': 'yes' });
      res.end(body);
    });
  });
  targetUrl = await listen(target);

  t = await startTestGateway({ logger: createLogger({ level: 'debug', write: (l) => { logLines.push(l); } }) });
  alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);

  const closedPort = 'http://127.0.0.1:9';
  agent = await startTestAgent(t, 'edge', { allow: [targetUrl, closedPort], bearer: { demo: TARGET_SECRET } });

  const policyFile = join(t.dir, 'no-delete.yaml');
  writeFileSync(policyFile, 'name: no-delete\nrules:\n  - { id: no-delete, match: { methods: [DELETE] }, action: deny, reason: demo.no_delete, message: Deleting through airlock is refused. }\n');
  const connections = [
    { name: 'demo', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], policy: { files: [policyFile] } },
    { name: 'admins-only', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: [] },
    { name: 'ghost', kind: 'http', agent: 'ghost', target: `${targetUrl}/api`, groups: ['*'] },
    { name: 'down', kind: 'http', agent: 'edge', target: `${closedPort}/api`, groups: ['*'] },
    { name: 'elsewhere', kind: 'http', agent: 'edge', target: 'http://127.0.0.2:8080/api', groups: ['*'] },
    { name: 'tight', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['*'], limits: { inspectBytes: 1024 } },
  ];
  await addConnections(t, alice, connections);
});
after(() => stopAll(agent, t, target));

async function get(path: string, token: string | null = bob, init: RequestInit = {}) {
  const res = await fetch(`${t.gw.url}${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string> ?? {}) } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, any> };
}

test('a GET reaches the target through the agent, and PII in the answer is masked', async () => {
  const r = await get('/proxy/demo/customers?page=1');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json(), { customers: [{ name: 'Ada', card: '[CREDIT_CARD …1111]', email: '[EMAIL_ADDRESS]', ssn: '[US_SSN]', visits: 3 }] });
  assert.equal(r.headers.get('x-airlock-masked'), 'true');
  assert.equal(r.headers.get('x-target'), 'yes', 'target headers come back');
  const last = seen.at(-1)!;
  assert.equal(last.url, '/api/customers?page=1', 'the path lands under the connection base path, query kept');
});

test('the target sees the agent\'s credential, never the caller\'s token or airlock headers', async () => {
  const r = await get('/proxy/demo/echo', bob, { method: 'POST', body: JSON.stringify({ note: 'hello' }), headers: { 'content-type': 'application/json', 'x-airlock-session': 'abc', 'x-custom': '1' } });
  assert.equal(r.status, 200, r.text);
  const last = seen.at(-1)!;
  assert.equal(last.method, 'POST');
  assert.equal(last.body, '{"note":"hello"}');
  assert.equal(last.headers.authorization, `Bearer ${TARGET_SECRET}`);
  assert.ok(!JSON.stringify(last.headers).includes(bob), 'the caller\'s token never reaches the target');
  assert.equal(last.headers['x-airlock-session'], undefined);
  assert.equal(last.headers['x-custom'], '1');
  assert.ok(!logLines.join('\n').includes(TARGET_SECRET), 'the gateway never logs the target credential');
  for (const f of readdirSync(t.dir).filter((n) => n.startsWith('gw.db'))) {
    assert.ok(!readFileSync(join(t.dir, f)).includes(TARGET_SECRET), `${f} never holds the target credential`);
  }
});

test('policy: a denied request never reaches the target and says why', async () => {
  const before = seen.length;
  const r = await get('/proxy/demo/customers/1', bob, { method: 'DELETE' });
  assert.equal(r.status, 403);
  assert.equal(r.json().error.code, 'GW_POLICY_DENIED');
  assert.match(r.json().error.message, /\(demo\.no_delete\): Deleting through airlock is refused\./);
  assert.equal(seen.length, before);
});

test('an answer larger than the inspection limit is refused (fail closed)', async () => {
  const r = await get('/proxy/tight/big');
  assert.equal(r.status, 403);
  assert.equal(r.json().error.code, 'GW_POLICY_DENIED');
  assert.match(r.json().error.message, /inspect\.oversize/);
});

/** A request with the path exactly as written (fetch would normalise dot segments first). */
function raw(path: string): Promise<{ status: number; body: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.gw.url}/`, { path, headers: { authorization: `Bearer ${bob}` } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, any> }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('paths cannot leave the connection', async () => {
  const before = seen.length;
  for (const path of ['/proxy/demo/../admin', '/proxy/demo/..%2f..%2fadmin', '/proxy/demo/%2e%2e/admin', '/proxy/demo/a%252fb', '/proxy/demo/a\\..\\b']) {
    const r = await raw(path);
    assert.equal(r.status, 400, path);
    assert.equal(r.body.error.code, 'GW_BAD_REQUEST');
  }
  assert.equal(seen.length, before);
});

test('identity and visibility: no token 401; a connection not yours is a 404 like a missing one', async () => {
  const none = await get('/proxy/demo/customers', null);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /resource_metadata="http:\/\/airlock\.test\/\.well-known\/oauth-protected-resource\/proxy\/demo"/);
  const hidden = await get('/proxy/admins-only/customers');
  const missing = await get('/proxy/nope/customers');
  assert.equal(hidden.status, 404);
  assert.equal(hidden.json().error.code, 'GW_CONNECTION_NOT_FOUND');
  assert.equal(missing.json().error.code, 'GW_CONNECTION_NOT_FOUND');
  assert.equal((await get('/proxy/admins-only/customers', alice)).status, 200, 'admins use every connection');
});

test('failures name their cause: agent offline 503, target down 502, target outside the agent\'s allowlist 502', async () => {
  const offline = await get('/proxy/ghost/x');
  assert.equal(offline.status, 503);
  assert.equal(offline.json().error.code, 'GW_AGENT_OFFLINE');
  const down = await get('/proxy/down/x');
  assert.equal(down.status, 502);
  assert.equal(down.json().error.code, 'GW_TARGET_UNREACHABLE');
  const refused = await get('/proxy/elsewhere/x');
  assert.equal(refused.status, 502);
  assert.equal(refused.json().error.code, 'GW_TARGET_REFUSED');
});

test('a target cannot forge the agent\'s error header', async () => {
  const r = await get('/proxy/demo/spoof');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json(), { from: 'target' });
  assert.equal(r.headers.get('x-airlock-agent-error'), null);
});

test('200 concurrent requests over one tunnel', async () => {
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => get(`/proxy/demo/items/${i}`)));
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
  assert.deepEqual(results.map((r) => r.json().url), Array.from({ length: 200 }, (_, i) => `/api/items/${i}`));
  assert.equal(t.gw.agents.presence('edge').tunnels, 1);
});

test('the agent killed mid-request: the client gets a coded 502 at once, no hang', async () => {
  const pending = get('/proxy/demo/slow');
  await eventually(() => seen.some((s) => s.url === '/api/slow') || undefined, 5000, 'the slow request at the target');
  agent.child.kill('SIGKILL');
  const r = await pending;
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json().error.code, 'GW_UPSTREAM_FAILED');
});
