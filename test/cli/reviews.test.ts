// `airlock reviews show` as a reviewer runs it against a real gateway, agent and target: the
// request as it would leave (headers with credentials redacted, the body with PII redacted), why
// it is held, and the requester's session.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AIRLOCK, run, type Running } from '../support/process.ts';
import { addConnections, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../support/gateway.ts';

let t: TestGateway;
let target: Server;
let agent: Running;
let carol: NodeJS.ProcessEnv;
let bob: string;

before(async () => {
  target = createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
  const url = await new Promise<string>((r) => target.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway({ config: { reviews: { pollInterval: 0.05 } } });
  carol = { AIRLOCK_GATEWAY: t.gw.url, AIRLOCK_CONFIG_DIR: join(t.dir, 'config'), AIRLOCK_TOKEN: await t.token('carol', ['reviewers']) };
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [url] });
  const policy = join(t.dir, 'review.yaml');
  writeFileSync(policy, 'name: r\nrules:\n  - { id: writes, match: { methods: [POST] }, action: review, reason: demo.write, message: Writes wait for a reviewer., review: { wait: 1 } }\n');
  await addConnections(t, await t.token('alice', ['admins']), [{ name: 'demo', kind: 'http', agent: 'edge', target: `${url}/api`, groups: ['developers'], policy: { files: [policy] } }]);
});
after(() => stopAll(agent, t, target));

test('`reviews show` prints the headers (credentials redacted), the body (PII redacted), the rule and the session', async () => {
  const res = await fetch(`${t.gw.url}/proxy/demo/refunds?order=7`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json', 'x-api-key': 'sk-live-77aa', 'x-tenant': 'acme' },
    body: JSON.stringify({ email: 'jane.doe@example.com', amount: 40 }),
  });
  assert.equal(res.status, 409);
  const id = res.headers.get('x-airlock-review')!;
  const shown = await run(AIRLOCK, ['reviews', 'show', id], { env: carol });
  assert.equal(shown.code, 0, shown.stderr);
  const out = shown.stdout;
  assert.match(out, /request: {4}POST \/api\/refunds\?order=7 on demo, by bob\n/);
  assert.match(out, /^ {2}headers: {4}(.+\n {14})*x-api-key: \[redacted\]$/m);
  assert.match(out, /^ {14}x-tenant: acme$/m);
  assert.match(out, /^ {2}body: {7}\{\n {14} {2}"email": "\[EMAIL_ADDRESS\]",\n {14} {2}"amount": 40\n {14}\}$/m);
  assert.match(out, /why: {8}Writes wait for a reviewer\. \[rule writes, demo\.write\]/);
  assert.match(out, /session: {4}ses_[0-9a-f]{32} \(airlock sessions replay ses_[0-9a-f]{32}\)/);
  for (const secret of ['sk-live-77aa', 'jane.doe@example.com', bob]) assert.ok(!out.includes(secret), 'no credential or PII in clear');
  const json = JSON.parse((await run(AIRLOCK, ['reviews', 'show', id, '--json'], { env: carol })).stdout) as { detail: { headers: Record<string, string> } };
  assert.equal(json.detail.headers['x-api-key'], '[redacted]');
});
