// Several real gateway processes (`airlock gateway start`) on one real PostgreSQL database,
// behind a real nginx (Debian's package) as the load balancer, trusting the real development
// OpenID provider; agents (`airlock-agent start`) keep a tunnel to every replica. For the
// multi-replica tests (test/gateway/cluster/) and the replica bench.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { startDevIdp, type DevIdp } from '../../cli/dev/idp.ts';
import { freePort } from '../../lib/listen.ts';
import { silentLogger } from '../../lib/log.ts';
import { AUDIENCE, eventually, type Reply } from './gateway.ts';
import { startPostgres, type TestPostgres } from './postgres.ts';
import { AIRLOCK, AIRLOCK_AGENT, run, start, type Running } from './process.ts';

export const NGINX = '/usr/sbin/nginx';
export const NGINX_MISSING = `nginx not found at ${NGINX}: the multi-replica tests run behind a real nginx; install it with \`apt-get install -y nginx\` (CI's .ci/run does).`;

export interface Replica {
  readonly port: number;
  readonly url: string;
  process: Running;
}

export interface TestCluster {
  readonly dir: string;
  readonly storeUrl: string;
  /** The load balancer's URL (nginx in front of every replica). */
  readonly url: string;
  readonly replicas: Replica[];
  /** The cluster secret the replicas share (relay clusters). */
  readonly clusterSecret: string;
  /** Each replica's cluster listener port (relay clusters), by replica index. */
  readonly clusterPorts: readonly number[];
  token(sub: string, groups: string[]): Promise<string>;
  /** A JSON call to `base` (the load balancer by default). */
  call(method: string, path: string, bearer: string | undefined, body?: unknown, base?: string): Promise<Reply>;
  /** Starts replica `i` again on its port (after a kill or stop); resolves once it answers /readyz. */
  restart(i: number): Promise<void>;
  /** A real agent process enrolled as `name` (through the load balancer), dialling every replica. */
  agent(name: string, options: { allow: readonly string[]; bearer?: Readonly<Record<string, string>> }): Promise<Running>;
  /** Another nginx in front of the replicas at `indexes` only (the bench's 1 vs 2 vs 3); stopped with the cluster. */
  balancer(indexes: readonly number[]): Promise<string>;
  /** Runs a query on the store's database. */
  query(sql: string, params?: unknown[]): Promise<Array<Record<string, any>>>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  readonly replicas: number;
  /** More gateway configuration (YAML flow text per top-level key), over the defaults here. */
  readonly config?: Readonly<Record<string, string>>;
  /**
   * true: every replica has a cluster listener (relay), and agents dial the load balancer, so
   * each holds one tunnel to one replica. false (default): agents hold a tunnel to every replica.
   */
  readonly relay?: boolean;
}

export async function startCluster(options: ClusterOptions): Promise<TestCluster> {
  try { accessSync(NGINX, constants.X_OK); } catch { throw new Error(NGINX_MISSING); }
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cluster-'));
  chmodSync(dir, 0o755); // nginx's workers run as nobody when the test runs as root
  const cleanup: Array<() => Promise<void>> = [];
  const stopAll = async () => { for (const fn of cleanup.reverse()) await fn().catch(() => {}); rmSync(dir, { recursive: true, force: true }); };
  try {
    const server: TestPostgres = await startPostgres();
    cleanup.push(() => server.stop());
    const db = `airlock_cluster_${process.pid}_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try { await admin.query(`CREATE DATABASE ${db}`); } finally { await admin.end(); }
    const u = new URL(server.url);
    u.pathname = `/${db}`;
    const storeUrl = u.href;
    const pool = new pg.Pool({ connectionString: storeUrl, max: 2 });
    cleanup.push(() => pool.end());

    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    const keyFile = join(dir, 'idp.json');
    writeFileSync(keyFile, JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] }), { mode: 0o600 });
    const idp: DevIdp = await startDevIdp({ audience: AUDIENCE, keyFile, logger: silentLogger });
    cleanup.push(() => idp.close());
    const token = (sub: string, groups: string[]) => new SignJWT({ iss: idp.issuer, aud: AUDIENCE, sub, email: `${sub}@airlock.dev`, groups, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(privateKey);

    const maskKey = randomBytes(32).toString('base64');
    const ports = await Promise.all(Array.from({ length: options.replicas }, () => freePort()));
    const clusterPorts = await Promise.all(Array.from({ length: options.replicas }, () => freePort()));
    const clusterSecret = randomBytes(32).toString('base64');
    const sections: Record<string, string> = {
      store: `{ url: '${storeUrl}' }`,
      auth: `{ issuer: '${idp.issuer}', audience: '${AUDIENCE}' }`,
      agents: '{ pingInterval: 0 }',
      // Polled rarely on purpose: changes must reach the other replicas through NOTIFY.
      connections: '{ epochInterval: 30, reloadInterval: 60 }',
      recording: `{ keyFile: '${join(dir, 'recording-key.pem')}', heartbeat: 0.5 }`,
      policy: `{ maskKey: '${maskKey}' }`,
      log: '{ level: info }',
      ...options.config,
    };
    const configFile = (port: number) => {
      const file = join(dir, `gateway-${port}.yaml`);
      const server = `server: { host: 127.0.0.1, port: ${port}, publicUrl: '${AUDIENCE}', shutdownGrace: 10 }`;
      const cluster = options.relay === true ? [`cluster: { port: ${clusterPorts[ports.indexOf(port)]!}, secret: '${clusterSecret}', heartbeat: 0.3 }`] : [];
      writeFileSync(file, [server, ...cluster, ...Object.entries(sections).map(([k, v]) => `${k}: ${v}`), ''].join('\n'), { mode: 0o600 });
      return file;
    };
    const boot = async (port: number): Promise<Running> => {
      const p = start(AIRLOCK, ['gateway', 'start', '--config', configFile(port)], { cwd: dir, env: {} });
      await p.waitFor(/"gateway listening"/, 30_000);
      return p;
    };
    const replicas: Replica[] = [];
    // One after the other: the first creates the schema and the recording key the others read.
    for (const port of ports) replicas.push({ port, url: `http://127.0.0.1:${port}`, process: await boot(port) });
    cleanup.push(async () => { await Promise.all(replicas.map((r) => r.process.stop('SIGTERM'))); });

    const lbPort = await freePort();
    const nginx = startNginx(dir, lbPort, ports);
    cleanup.push(() => nginx.stop());
    const url = `http://127.0.0.1:${lbPort}`;
    await eventually(async () => (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) || undefined, 10_000, 'nginx answering');

    const agents: Running[] = [];
    cleanup.push(async () => { await Promise.all(agents.map((a) => a.stop('SIGTERM'))); });

    const call: TestCluster['call'] = async (method, path, bearer, body, base = url) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text === '' ? {} : JSON.parse(text) as Record<string, any> };
    };
    return {
      dir, storeUrl, url, replicas, token, call, clusterSecret, clusterPorts,
      async restart(i) {
        const r = replicas[i]!;
        r.process = await boot(r.port);
      },
      async agent(name, o) {
        const adminToken = await token('alice', ['admins']);
        const added = await call('POST', '/api/v1/agents', adminToken, { name });
        if (added.status !== 201 && added.status !== 200) throw new Error(`add ${name}: ${JSON.stringify(added.body)}`);
        const tokenFile = join(dir, `${name}.token`);
        writeFileSync(tokenFile, `${added.body.enrollmentToken as string}\n`, { mode: 0o600 });
        const config = join(dir, `${name}.yaml`);
        const credentials = Object.entries(o.bearer ?? {}).map(([c, t]) => `${c}: { type: bearer, token: ${t} }`).join(', ');
        writeFileSync(config, [
          `dataDir: ${join(dir, `agent-${name}`)}`,
          'health: { port: 0 }',
          // Mesh: a tunnel to every replica, so whichever one a request lands on reaches the agent.
          // Relay: one tunnel, through the load balancer; the other replicas relay to it.
          `gateway: { urls: [${(options.relay === true ? [url] : replicas.map((r) => r.url)).map((u) => `'${u}'`).join(', ')}] }`,
          'tunnel: { pingInterval: 0, reconnectMinDelay: 0.05, reconnectMaxDelay: 0.3 }',
          `targets: { allow: [${o.allow.map((a) => `'${a}'`).join(', ')}] }`,
          `credentials: { ${credentials} }`,
          '',
        ].join('\n'), { mode: 0o600 });
        const enrolled = await run(AIRLOCK_AGENT, ['enroll', '--config', config, '--gateway', url, '--token-file', tokenFile], { cwd: dir, env: {} });
        if (enrolled.code !== 0) throw new Error(`enroll ${name}: ${enrolled.stderr}`);
        const agent = start(AIRLOCK_AGENT, ['start', '--config', config], { cwd: dir, env: {} });
        agents.push(agent);
        // Up on every replica (one "tunnel connected" line per gateway), or on one with the relay.
        const tunnels = options.relay === true ? 1 : replicas.length;
        await eventually(() => (agent.output().stdout.match(/"tunnel connected"/g)?.length ?? 0) >= tunnels || undefined, 20_000, `agent ${name} connected`);
        return agent;
      },
      async balancer(indexes) {
        const port = await freePort();
        const sub = join(dir, `lb-${port}`);
        mkdirSync(sub, { mode: 0o755 });
        chmodSync(sub, 0o755);
        const lb = startNginx(sub, port, indexes.map((i) => replicas[i]!.port));
        cleanup.push(() => lb.stop());
        const lbUrl = `http://127.0.0.1:${port}`;
        await eventually(async () => (await fetch(`${lbUrl}/healthz`).then((r) => r.ok, () => false)) || undefined, 10_000, 'nginx answering');
        return lbUrl;
      },
      query: async (sql, params = []) => (await pool.query(sql, params)).rows as Array<Record<string, any>>,
      close: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** nginx in the foreground on 127.0.0.1:`port`, balancing over `upstreams`, everything under `dir`. */
function startNginx(dir: string, port: number, upstreams: readonly number[]): { stop(): Promise<void> } {
  const temp = join(dir, 'nginx');
  mkdirSync(temp, { recursive: true, mode: 0o777 });
  chmodSync(temp, 0o777);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `
daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  upstream airlock {
    ${upstreams.map((p) => `server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n    ')}
    keepalive 32;
  }
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 20m;
    location / {
      proxy_pass http://airlock;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      # A replica that cannot serve (draining, just restarted before the agent's tunnel is back):
      # idempotent requests go to the next one (nginx never resends a POST it has sent).
      proxy_next_upstream error timeout http_502 http_503;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`);
  const test = spawnSync(NGINX, ['-t', '-q', '-c', conf, '-p', dir], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t refused the test config: ${test.stderr}`);
  const child: ChildProcess = spawn(NGINX, ['-c', conf, '-p', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
