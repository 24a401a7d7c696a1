// The compose file (deploy/compose/). No container engine here, so two kinds of test:
//   - the file itself: it parses, every file, script, image target and service it names exists,
//     and the configurations it mounts are valid for the real loaders and agree with each other;
//   - the same topology on loopback, each piece started as compose starts it (same entry
//     scripts, same configuration files, the compose environment with addresses swapped for
//     loopback ports): the development identity provider, the demo service, two gateways on one
//     real PostgreSQL, the real nginx with the compose nginx.conf in front, the setup script, and
//     the agent with a tunnel to each replica. Requests through nginx then reach the demo service
//     through either replica, masked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../lib/listen.ts';
import { AIRLOCK, AIRLOCK_AGENT, run, start, type Running } from '../support/process.ts';
import { startPostgres, type TestPostgres } from '../support/postgres.ts';
import { eventually } from '../support/gateway.ts';
import { loadAs, readYamlFile, ROOT } from './support.ts';

const DIR = 'deploy/compose';
const compose = readYamlFile(`${DIR}/compose.yaml`);
const services: Record<string, any> = compose.services;
const stages = new Set([...readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8').matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]!));

/** A service's environment as a plain object (compose allows a map or a list of K=V). */
function envOf(name: string): Record<string, string> {
  const env = services[name].environment ?? {};
  return Array.isArray(env) ? Object.fromEntries(env.map((e: string) => e.split(/=(.*)/s).slice(0, 2))) : env;
}

describe('the compose file', () => {
  test('names the services of the topology, each built from a stage of deploy/Dockerfile or a pinned image', () => {
    assert.deepEqual(Object.keys(services).sort(), ['agent', 'demo', 'gateway-1', 'gateway-2', 'idp', 'lb', 'postgres', 'setup']);
    for (const [name, s] of Object.entries(services)) {
      if (s.build) {
        assert.ok(existsSync(join(ROOT, DIR, s.build.context, s.build.dockerfile)), `${name}: its Dockerfile exists`);
        assert.ok(stages.has(s.build.target), `${name}: target ${s.build.target} is a stage of deploy/Dockerfile (${[...stages]})`);
        assert.equal(s.read_only, true, `${name}: read-only root filesystem`);
        assert.deepEqual(s.cap_drop, ['ALL'], `${name}: no capabilities`);
      } else {
        assert.match(s.image, /^[a-z0-9.\/-]+:\d[\w.-]*$/, `${name}: an image with a version tag`);
      }
      for (const dep of Object.keys(s.depends_on ?? {})) assert.ok(dep in services, `${name} depends on ${dep}, a service`);
      for (const v of s.volumes ?? []) {
        const source = String(v).split(':')[0]!;
        if (source.startsWith('.')) assert.ok(existsSync(join(ROOT, DIR, source)), `${name}: ${source} exists`);
        else assert.ok(source in compose.volumes, `${name}: volume ${source} is declared`);
      }
      const script = (s.entrypoint ?? []).find((a: string) => a.endsWith('.ts'));
      if (script) assert.ok(existsSync(join(ROOT, script)), `${name}: ${script} exists`);
    }
  });

  test('mounts gateway and agent configurations that are valid and agree with each other and with the other services', () => {
    const gatewayEnv = envOf('gateway-1');
    assert.deepEqual(envOf('gateway-2'), gatewayEnv, 'both replicas get the same environment');
    const gw = loadAs('gateway', readFileSync(join(ROOT, DIR, 'gateway.yaml'), 'utf8'), { ...gatewayEnv, AIRLOCK_CONFIG: undefined });
    assert.match(gw.store.url, /^postgres:\/\/airlock:[^@]+@postgres:5432\/airlock$/);
    assert.equal(gw.auth.issuer, envOf('idp').IDP_ISSUER, 'the gateways trust the provider under the name it issues as');
    assert.equal(gw.server.publicUrl, envOf('idp').IDP_AUDIENCE, 'tokens are issued for the gateways\' public URL');
    assert.equal(gw.dev.embeddedIdp, true, 'the plain-http development provider is allowed only as such, with its warning');
    assert.ok(services['gateway-1'].volumes.includes('./gateway.yaml:/etc/airlock/gateway.yaml:ro'));
    assert.equal(gatewayEnv.AIRLOCK_CONFIG, '/etc/airlock/gateway.yaml');
    assert.ok(gw.recording.keyFile?.startsWith('/var/lib/airlock/keys/'), 'the recording key is on the shared key volume');
    assert.ok(services['gateway-1'].volumes.includes('recording-key:/var/lib/airlock/keys'));
    assert.equal(services['gateway-2'].depends_on['gateway-1'].condition, 'service_healthy', 'gateway-2 starts once gateway-1 made the key');

    const agent = loadAs('agent', readFileSync(join(ROOT, DIR, 'agent.yaml'), 'utf8'));
    const setup = envOf('setup');
    const demo = envOf('demo');
    assert.equal(agent.name, setup.SETUP_AGENT);
    assert.deepEqual(agent.gateway.urls.map((u) => new URL(u).hostname), ['gateway-1', 'gateway-2'], 'one tunnel to each replica');
    assert.ok(agent.gateway.urls.every((u) => new URL(u).port === String(gw.server.port)));
    assert.deepEqual(agent.targets.allow, [setup.SETUP_DEMO_URL]);
    assert.equal(new URL(setup.SETUP_DEMO_URL!).port, demo.DEMO_PORT);
    for (const c of ['demo', 'demo-mcp']) assert.deepEqual(agent.credentials[c], { type: 'bearer', token: demo.DEMO_TOKEN });
    const command: string[] = services.agent.command;
    assert.equal(command[command.indexOf('--enroll-token-file') + 1], setup.SETUP_TOKEN_FILE, 'the agent reads the token setup writes');
    assert.ok(services.agent.volumes.some((v: string) => v.startsWith('setup:') && setup.SETUP_TOKEN_FILE!.startsWith(v.split(':')[1]!)));
    assert.equal(services.agent.depends_on.setup.condition, 'service_completed_successfully');
  });

  test('nginx balances over exactly the two gateway services, on their port', () => {
    const conf = readFileSync(join(ROOT, DIR, 'nginx.conf'), 'utf8');
    const upstreams = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual([...new Set(upstreams)].sort(), ['gateway-1:8080', 'gateway-2:8080']);
    assert.ok(services.lb.volumes.includes('./nginx.conf:/etc/nginx/nginx.conf:ro'));
    assert.deepEqual(services.lb.ports, ['127.0.0.1:8080:8080']);
  });
});

/** nginx from Debian (PATH or /usr/sbin). */
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? 'nginx';

describe('the compose topology on loopback', () => {
  let pgServer: TestPostgres;
  let dir: string;
  const ports: Record<string, number> = {};
  const procs: Running[] = [];
  let nginx: ReturnType<typeof spawn> | undefined;
  let idpUrl: string;
  let lbUrl: string;
  let demoUrl: string;
  let setupEnv: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-compose-'));
    pgServer = await startPostgres();
    const db = `airlock_compose_${process.pid}`;
    const c = new pg.Client({ connectionString: pgServer.url });
    await c.connect();
    try { await c.query(`CREATE DATABASE ${db}`); } finally { await c.end(); }
    const storeUrl = new URL(pgServer.url);
    storeUrl.pathname = `/${db}`;
    for (const name of ['idp', 'demo', 'gw1', 'gw2', 'lb']) ports[name] = await freePort();
    // 0.0.0.0 is not a loopback name to the gateway (so the compose rule for a plain-http issuer in
    // its own container applies) and still reaches this machine.
    idpUrl = `http://0.0.0.0:${ports.idp}`;
    lbUrl = `http://127.0.0.1:${ports.lb}`;
    demoUrl = `http://127.0.0.1:${ports.demo}`;

    const idp = start(join(ROOT, DIR, 'dev-idp.ts'), [], { env: { ...envOf('idp'), IDP_HOST: '127.0.0.1', IDP_PORT: String(ports.idp), IDP_ISSUER: idpUrl, IDP_AUDIENCE: lbUrl } });
    procs.push(idp);
    const demo = start(join(ROOT, DIR, 'demo-service.ts'), [], { env: { ...envOf('demo'), DEMO_HOST: '127.0.0.1', DEMO_PORT: String(ports.demo) } });
    procs.push(demo);
    await idp.waitFor(/development identity provider at/);
    await demo.waitFor(/demo service listening/);

    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
    const gatewayEnv = (port: number) => ({
      ...envOf('gateway-1'),
      AIRLOCK_CONFIG: join(ROOT, DIR, 'gateway.yaml'),
      AIRLOCK_SERVER_HOST: '127.0.0.1', AIRLOCK_SERVER_PORT: String(port), AIRLOCK_SERVER_PUBLIC_URL: lbUrl,
      AIRLOCK_AUTH_ISSUER: idpUrl, AIRLOCK_STORE_URL: storeUrl.href,
      AIRLOCK_RECORDING_KEY_FILE: join(dir, 'keys', 'recording-key.pem'),
    });
    // As compose orders them: gateway-2 once gateway-1 is up (it made the shared key).
    const gw1 = start(AIRLOCK, ['gateway', 'start'], { env: gatewayEnv(ports.gw1!), cwd: dir });
    procs.push(gw1);
    await gw1.waitFor(/"gateway listening"/, 30_000);
    const gw2 = start(AIRLOCK, ['gateway', 'start'], { env: gatewayEnv(ports.gw2!), cwd: dir });
    procs.push(gw2);
    await gw2.waitFor(/"gateway listening"/, 30_000);

    // The compose nginx.conf, with the service names and the writable paths swapped for this machine's.
    const conf = readFileSync(join(ROOT, DIR, 'nginx.conf'), 'utf8')
      .replaceAll('gateway-1:8080', `127.0.0.1:${ports.gw1}`)
      .replaceAll('gateway-2:8080', `127.0.0.1:${ports.gw2}`)
      .replace(/listen 8080;/, `listen 127.0.0.1:${ports.lb};`)
      .replaceAll('/tmp/', `${dir}/nginx-`);
    assert.notEqual(conf, readFileSync(join(ROOT, DIR, 'nginx.conf'), 'utf8'));
    writeFileSync(join(dir, 'nginx.conf'), conf);
    // Its log goes to a file: nginx opens /dev/stdout and /dev/stderr, which a socket (Node's
    // pipes) cannot be opened as; a container's log pipe can.
    const log = openSync(join(dir, 'nginx.log'), 'w');
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', log, log] });
    closeSync(log);
    const nginxErr = () => readFileSync(join(dir, 'nginx.log'), 'utf8').split('\n').filter((l) => /\[(emerg|alert|crit|error)\]/.test(l)).join('\n');
    let last = 0;
    await eventually(async () => (last = await fetch(`${lbUrl}/healthz`).then((r) => r.status, () => 0)) === 200 || undefined, 15_000, 'nginx answering')
      .catch((err: Error) => { throw new Error(`${err.message}: last status ${last}; nginx said: ${nginxErr()}`); });

    mkdirSync(join(dir, 'setup'), { mode: 0o700 });
    setupEnv = { ...envOf('setup'), SETUP_GATEWAY: lbUrl, SETUP_IDP: idpUrl, SETUP_DEMO_URL: demoUrl, SETUP_TOKEN_FILE: join(dir, 'setup', 'enroll.token') };
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await pgServer?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const tokenFor = async (user: string) => {
    const res = await fetch(`${idpUrl}/dev/token`, { method: 'POST', body: new URLSearchParams({ user }) });
    assert.equal(res.status, 200);
    return (await res.json() as { access_token: string }).access_token;
  };

  test('setup registers the demo connections and the agent; the agent holds a tunnel to each replica; requests through nginx reach the demo service masked, through both replicas', async () => {
    const setup = await run(join(ROOT, DIR, 'setup.ts'), [], { env: setupEnv, timeout: 60_000 });
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, /"msg":"connection created","connection":"demo"/);
    assert.match(setup.stdout, /"msg":"connection created","connection":"demo-mcp"/);
    assert.equal(statSync(setupEnv.SETUP_TOKEN_FILE!).mode & 0o777, 0o600, 'the enrollment token is readable by its owner only');
    assert.match(readFileSync(setupEnv.SETUP_TOKEN_FILE!, 'utf8'), /^aet_edge_/);

    const agent = start(AIRLOCK_AGENT, services.agent.command.map((a: string) => a === '/etc/airlock/agent.yaml' ? join(ROOT, DIR, 'agent.yaml') : a === setupEnv.SETUP_TOKEN_FILE || a === envOf('setup').SETUP_TOKEN_FILE ? setupEnv.SETUP_TOKEN_FILE : a), {
      env: {
        AIRLOCK_AGENT_DATA_DIR: join(dir, 'agent'),
        AIRLOCK_AGENT_GATEWAY_URLS: `http://127.0.0.1:${ports.gw1},http://127.0.0.1:${ports.gw2}`,
        AIRLOCK_AGENT_TARGETS_ALLOW: demoUrl,
        AIRLOCK_AGENT_HEALTH_PORT: '0',
      },
    });
    procs.push(agent);
    await agent.waitFor(/"agent started"/, 30_000);
    const alice = await tokenFor('alice');
    for (const port of [ports.gw1, ports.gw2]) {
      await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/agents/edge`, { headers: { authorization: `Bearer ${alice}` } });
        const body = await res.json() as { online?: boolean };
        return body.online === true || undefined;
      }, 20_000, `agent edge online on the replica at port ${port}`);
    }

    const bob = await tokenFor('bob');
    // One record per request: the demo's budget (policies/demo-limits.yaml) holds the 21st for review.
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${lbUrl}/proxy/demo/customers/1`, { headers: { authorization: `Bearer ${bob}` } });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.ok(text.includes('Ada Lovelace'), 'the demo service answered');
      assert.ok(!text.includes('4111 1111 1111 1111') && !text.includes('412-67-3390'), `cards and SSNs are masked: ${text.slice(0, 300)}`);
    }
    // An HTTP session is one identity on one connection on one replica: two sessions, two replicas.
    const sessions = await (await fetch(`${lbUrl}/api/v1/sessions?user=bob&connection=demo`, { headers: { authorization: `Bearer ${alice}` } })).json() as { sessions: Array<{ id: string }> };
    assert.equal(sessions.sessions.length, 2, `nginx spread the requests over both replicas: ${JSON.stringify(sessions)}`);

    // The demo service refuses a caller without the agent's credential.
    const direct = await fetch(`${demoUrl}/customers`);
    assert.equal(direct.status, 401);
    assert.equal((await direct.json() as { error: { code: string } }).error.code, 'DEMO_UNAUTHORIZED');

    // `docker compose up` again: setup finds everything in place and removes the spent token.
    const again = await run(join(ROOT, DIR, 'setup.ts'), [], { env: setupEnv, timeout: 60_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /"msg":"connection exists","connection":"demo"/);
    assert.match(again.stdout, /"msg":"agent enrolled already","agent":"edge"/);
    assert.equal(existsSync(setupEnv.SETUP_TOKEN_FILE!), false);
  });

  test('without dev.embeddedIdp a gateway refuses the plain-http provider on a non-loopback name, and says so', async () => {
    const port = await freePort();
    const gw = start(AIRLOCK, ['gateway', 'start'], {
      env: { ...envOf('gateway-1'), AIRLOCK_CONFIG: join(ROOT, DIR, 'gateway.yaml'), AIRLOCK_DEV_EMBEDDED_IDP: 'false', AIRLOCK_SERVER_HOST: '127.0.0.1', AIRLOCK_SERVER_PORT: String(port), AIRLOCK_SERVER_PUBLIC_URL: lbUrl, AIRLOCK_AUTH_ISSUER: idpUrl, AIRLOCK_STORE_URL: `sqlite:${join(dir, 'refusing.db')}`, AIRLOCK_RECORDING_KEY_FILE: join(dir, 'keys', 'recording-key.pem') },
      cwd: dir,
    });
    procs.push(gw);
    await gw.waitFor(/"gateway listening"/, 30_000);
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(res.status, 503);
    const body = await res.json() as { error: { code: string }; checks: Record<string, string> };
    assert.equal(body.error.code, 'GW_NOT_READY');
    assert.equal(body.checks['identity provider'], `discovery of ${idpUrl} has not succeeded: the issuer ${idpUrl} uses plain http on a non-loopback host; it must be https`);
    const bob = await tokenFor('bob');
    const refused = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${bob}` } });
    assert.equal(refused.status, 503);
    assert.equal((await refused.json() as { error: { code: string } }).error.code, 'GW_IDP_UNAVAILABLE');
  });
});
