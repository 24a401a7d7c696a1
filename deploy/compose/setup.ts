// The compose file's one-shot setup, run after the gateways are healthy and before the agent:
//   1. an admin token for alice from the development identity provider (POST /dev/token);
//   2. the demo connections (`demo`, `demo-mcp`, as `airlock dev` registers them), through agent
//      SETUP_AGENT, unless they exist;
//   3. the agent: registered, and its one-time enrollment token written (mode 0600) to
//      SETUP_TOKEN_FILE for `airlock-agent start --enroll-token-file`; nothing when it is
//      enrolled already (its key is in its data volume), so `docker compose up` runs again cleanly.
// DEV ONLY, like the provider it takes its token from. Exit 0 done, 1 failed (the reason on stderr).
//
//   SETUP_GATEWAY     the gateways, through the load balancer (default http://lb:8080)
//   SETUP_IDP         the development identity provider (default http://idp:8081)
//   SETUP_DEMO_URL    the demo service as the agent reaches it (default http://demo:8090)
//   SETUP_AGENT       the agent's name (default edge)
//   SETUP_TOKEN_FILE  where the enrollment token goes (default /var/lib/airlock/setup/enroll.token)
import { rmSync, writeFileSync } from 'node:fs';
import { demoConnections } from '../../cli/dev/run.ts';

/** Seconds to wait for the gateways to be ready. */
const READY_WAIT_S = 90;
/** Milliseconds one request may take. */
const REQUEST_MS = 10_000;

const env = process.env;
const gateway = env.SETUP_GATEWAY ?? 'http://lb:8080';
const idp = env.SETUP_IDP ?? 'http://idp:8081';
const demoUrl = env.SETUP_DEMO_URL ?? 'http://demo:8090';
const agent = env.SETUP_AGENT ?? 'edge';
const tokenFile = env.SETUP_TOKEN_FILE ?? '/var/lib/airlock/setup/enroll.token';

const log = (msg: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ level: 'info', component: 'setup', msg, ...fields })}\n`);

async function call(method: string, url: string, init: { token?: string; body?: unknown; form?: Record<string, string> } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.form !== undefined) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(init.form).toString(); }
  if (init.body !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(init.body); }
  const res = await fetch(url, { method, headers, body, redirect: 'error', signal: AbortSignal.timeout(REQUEST_MS) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try { parsed = text === '' ? {} : JSON.parse(text) as Record<string, unknown>; } catch { parsed = { text: text.slice(0, 200) }; }
  return { status: res.status, body: parsed };
}

function expect(step: string, answer: { status: number; body: Record<string, unknown> }, ok: readonly number[]): void {
  if (!ok.includes(answer.status)) throw new Error(`${step}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
}

async function ready(): Promise<void> {
  for (let i = 0; i < READY_WAIT_S; i++) {
    const status = await call('GET', `${gateway}/readyz`).then((a) => a.status, () => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`the gateways at ${gateway} were not ready within ${READY_WAIT_S} s; see their logs (docker compose logs gateway-1 gateway-2)`);
}

try {
  await ready();
  const issued = await call('POST', `${idp}/dev/token`, { form: { user: 'alice' } });
  expect('token for alice from the development identity provider', issued, [200]);
  const token = String(issued.body.access_token);

  for (const definition of demoConnections(agent, demoUrl)) {
    const found = await call('GET', `${gateway}/api/v1/connections/${definition.name}`, { token });
    if (found.status === 200) { log('connection exists', { connection: definition.name }); continue; }
    expect(`looking up connection ${definition.name}`, found, [404]);
    expect(`creating connection ${definition.name}`, await call('POST', `${gateway}/api/v1/connections`, { token, body: definition }), [201]);
    log('connection created', { connection: definition.name });
  }

  const record = await call('GET', `${gateway}/api/v1/agents/${agent}`, { token });
  expect(`looking up agent ${agent}`, record, [200, 404]);
  if (record.status === 200 && record.body.status === 'active') {
    rmSync(tokenFile, { force: true }); // a token left from an earlier run works no more
    log('agent enrolled already', { agent });
  } else {
    const added = await call('POST', `${gateway}/api/v1/agents`, { token, body: { name: agent } });
    expect(`registering agent ${agent}`, added, [200, 201]);
    writeFileSync(tokenFile, String(added.body.enrollmentToken), { mode: 0o600 });
    log('agent registered; its enrollment token is in the shared volume', { agent, file: tokenFile, expires: added.body.enrollmentExpiresAt });
  }
} catch (err) {
  process.stderr.write(`setup: ${(err as Error).message}\n`);
  process.exit(1);
}
