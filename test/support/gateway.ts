// A real gateway for tests (SQLite file, so a restart keeps its state) trusting the
// real development OpenID provider, admin and user tokens signed with the provider's own key,
// enrollment through the real API, and raw tunnel dials with hand-made connect tokens.
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { startDevIdp, type DevIdp } from '../../cli/dev/idp.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { TunnelSession, TUNNEL_WS_CLIENT_OPTIONS, type TunnelSessionOptions } from '../../gateway/tunnel/index.ts';
import { silentLogger, type Logger } from '../../lib/log.ts';

/** The gateway's public URL in these tests, hence the audience of user and agent tokens. */
export const AUDIENCE = 'http://airlock.test';

export interface Reply { status: number; body: Record<string, any> }

export interface TestGateway {
  readonly dir: string;
  readonly idp: DevIdp;
  /** The running gateway (replaced by restart()). */
  gw: RunningGateway;
  /** A user's access token, valid for `ttlSeconds` (default 600). */
  token(sub: string, groups: string[], ttlSeconds?: number): Promise<string>;
  call(method: string, path: string, bearer: string | undefined, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** `POST /api/v1/agents` as alice (admin): the enrollment token. */
  addAgent(name: string): Promise<string>;
  /** Stops the gateway and starts it again on the same port and store. */
  restart(): Promise<RunningGateway>;
  /** Starts another gateway on the same store (a replica), with more configuration if given; closed with the rest. */
  replica(config?: Record<string, unknown>): Promise<RunningGateway>;
  close(): Promise<void>;
}

/** `config`: more gateway configuration (e.g. { connections: { reloadInterval: 60 } }), over the test defaults. */
export async function startTestGateway(options: { agents?: Record<string, unknown>; config?: Record<string, unknown>; logger?: Logger } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-gateway-'));
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const keyFile = join(dir, 'idp.json');
  writeFileSync(keyFile, JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] }), { mode: 0o600 });
  const idp = await startDevIdp({ audience: AUDIENCE, keyFile, logger: silentLogger });
  const replicas: RunningGateway[] = [];
  const boot = async (port: number, config: Record<string, unknown> = {}) => {
    const gw = await startGateway({
      env: {}, cwd: dir, logger: options.logger ?? silentLogger,
      overrides: {
        server: { port, publicUrl: AUDIENCE, shutdownGrace: 1 },
        store: { url: `sqlite:${join(dir, 'gw.db')}` },
        agents: { pingInterval: 0, ...options.agents },
        ...options.config,
        ...config,
        auth: { issuer: idp.issuer, audience: AUDIENCE, ...(options.config?.auth as object | undefined), ...(config.auth as object | undefined) },
        recording: { keyFile: join(dir, 'recording-key.pem'), ...(options.config?.recording as object | undefined), ...(config.recording as object | undefined) },
      },
    });
    await gw.authn.discovery.done;
    return gw;
  };
  const token = (sub: string, groups: string[], ttlSeconds = 600) => new SignJWT({ iss: idp.issuer, aud: AUDIENCE, sub, email: `${sub}@airlock.dev`, groups, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds).sign(privateKey);
  const t: TestGateway = {
    dir,
    idp,
    gw: await boot(0),
    token,
    async call(method, path, bearer, body, headers = {}) {
      const res = await fetch(`${t.gw.url}${path}`, {
        method,
        headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      return { status: res.status, body: await res.json() as Record<string, any> };
    },
    async addAgent(name) {
      const r = await t.call('POST', '/api/v1/agents', await token('alice', ['admins']), { name });
      if (r.status !== 201 && r.status !== 200) throw new Error(`add ${name}: ${JSON.stringify(r.body)}`);
      return r.body.enrollmentToken as string;
    },
    async restart() {
      const port = Number(new URL(t.gw.url).port);
      await t.gw.stop();
      t.gw = await boot(port);
      return t.gw;
    },
    async replica(config) {
      const gw = await boot(0, config);
      replicas.push(gw);
      return gw;
    },
    async close() {
      for (const gw of [t.gw, ...replicas]) await gw.stop();
      await idp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** An agent key pair as a test holds it: the private KeyObject and the public JWK to enrol. */
export function agentKey(): { privateKey: KeyObject; publicKey: { kty: 'OKP'; crv: 'Ed25519'; x: string } } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: { kty: 'OKP', crv: 'Ed25519', x: publicKey.export({ format: 'jwk' }).x! } };
}

/** Adds and enrols agent `name` through the API; returns its private key. */
export async function enrolledAgent(t: TestGateway, name: string): Promise<KeyObject> {
  const token = await t.addAgent(name);
  const key = agentKey();
  const r = await t.call('POST', `/api/v1/agents/${name}/enroll`, token, { publicKey: key.publicKey, version: '9.9.9' });
  if (r.status !== 200) throw new Error(`enroll ${name}: ${JSON.stringify(r.body)}`);
  return key.privateKey;
}

export interface ConnectClaims {
  iss?: string; sub?: string; aud?: string; iat?: number; exp?: number; jti?: string | undefined; version?: string; typ?: string; alg?: string;
}

/** A connect token as the agent makes it, every field overridable (undefined jti: none). */
export function connectToken(name: string, key: KeyObject, claims: ConnectClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jti = 'jti' in claims ? claims.jti : randomBytes(16).toString('base64url');
  const payload: Record<string, unknown> = {
    iss: claims.iss ?? name, sub: claims.sub ?? name, aud: claims.aud ?? AUDIENCE,
    iat: claims.iat ?? now, exp: claims.exp ?? now + 60, version: claims.version ?? '9.9.9',
    ...(jti === undefined ? {} : { jti }),
  };
  return new SignJWT(payload).setProtectedHeader({ alg: claims.alg ?? 'EdDSA', typ: claims.typ ?? 'agent+jwt' }).sign(key);
}

export type Dialled = { refused: { status: number; body: Record<string, any> } } | { session: TunnelSession; ws: WebSocket };

/** Dials the tunnel endpoint with `headers`; resolves with the coded refusal, or an open session. */
export function dialTunnel(gatewayUrl: string, headers: Record<string, string>, path = '/api/v1/agents/tunnel', options: Omit<TunnelSessionOptions, 'role'> = {}): Promise<Dialled> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gatewayUrl.replace(/^http/, 'ws')}${path}`, { ...TUNNEL_WS_CLIENT_OPTIONS, headers });
    const session = new TunnelSession(ws, { role: 'client', pingIntervalMs: 0, ...options });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => {
        ws.terminate();
        try {
          resolve({ refused: { status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, any> } });
        } catch {
          reject(new Error(`HTTP ${res.statusCode} without a JSON body: ${text}`));
        }
      });
    });
    session.ready.then(() => resolve({ session, ws }), () => {});
    session.closed.then((err) => setTimeout(() => reject(new Error(`closed before ready: ${err?.message}`)), 200));
  });
}

/** Polls `check` every 20 ms until it returns a value that is not undefined, at most `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, ms = 10_000, what = 'the condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Creates each connection through the API with `admin`'s token; the first refusal fails the setup with the gateway's answer. */
export async function addConnections(t: TestGateway, admin: string, connections: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  for (const c of connections) {
    const r = await t.call('POST', '/api/v1/connections', admin, c);
    if (r.status !== 201) throw new Error(`connection ${String(c.name)}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

/** The end of a data-path test file: the agent (SIGTERM), the gateway, then the target servers. Each may be missing (setup failed early). */
export async function stopAll(agent: { stop(signal?: NodeJS.Signals): Promise<unknown> } | undefined, t: TestGateway | undefined, ...servers: Array<import('node:http').Server | undefined>): Promise<void> {
  await agent?.stop('SIGTERM');
  await t?.close();
  for (const server of servers) {
    if (server !== undefined) await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  }
}

/** More for startTestAgent: extra YAML lines (e.g. `vault: …`, `connections: …`), environment, and a step between enrolment and start. */
export interface TestAgentExtras {
  /** Lines appended to the agent's YAML config. */
  readonly config?: readonly string[];
  /** Environment of the agent's commands (enroll, start). */
  readonly env?: NodeJS.ProcessEnv;
  /** Runs after enrolment, before start (e.g. `airlock-agent secrets set … --config configFile`). */
  readonly beforeStart?: (configFile: string) => Promise<void>;
}

/**
 * A real `airlock-agent` process for `t`: added and enrolled as `name` through the API, then
 * started with a config that allows `allow` targets and adds `credentials` (connection →
 * bearer token); resolves once its tunnel is up. Stopped with `t` by the caller (`agent.stop`).
 */
export async function startTestAgent(t: TestGateway, name: string, options: { allow: readonly string[]; bearer?: Readonly<Record<string, string>> } & TestAgentExtras): Promise<import('./process.ts').Running> {
  const { AIRLOCK_AGENT, run, start } = await import('./process.ts');
  const tokenFile = join(t.dir, `${name}.token`);
  writeFileSync(tokenFile, `${await t.addAgent(name)}\n`, { mode: 0o600 });
  const config = join(t.dir, `${name}.yaml`);
  const credentials = Object.entries(options.bearer ?? {}).map(([connection, token]) => `${connection}: { type: bearer, token: ${token} }`).join(', ');
  writeFileSync(config, [
    `dataDir: ${join(t.dir, `agent-${name}`)}`,
    'health: { port: 0 }',
    'tunnel: { pingInterval: 0, reconnectMinDelay: 0.05, reconnectMaxDelay: 0.3 }',
    `targets: { allow: [${options.allow.map((a) => `'${a}'`).join(', ')}] }`,
    `credentials: { ${credentials} }`,
    ...(options.config ?? []),
    '',
  ].join('\n'), { mode: 0o600 });
  const env = options.env ?? {};
  const enrolled = await run(AIRLOCK_AGENT, ['enroll', '--config', config, '--gateway', t.gw.url, '--token-file', tokenFile], { cwd: t.dir, env });
  if (enrolled.code !== 0) throw new Error(`enroll ${name}: ${enrolled.stderr}`);
  await options.beforeStart?.(config);
  const agent = start(AIRLOCK_AGENT, ['start', '--config', config], { cwd: t.dir, env });
  await eventually(() => t.gw.agents.presence(name).online || undefined, 15_000, `agent ${name} online`);
  return agent;
}

/** The events of one request (by its request id) on `connection`, across its sessions, in order. */
export async function requestEvents(t: TestGateway, id: string, connection: string): Promise<Array<{ type: string; payload: Record<string, any> }>> {
  const out: Array<{ type: string; payload: Record<string, any> }> = [];
  for (const s of await t.gw.store.sessions.list({ connection, limit: 1000 })) {
    for (let after = 0; ;) {
      const page = await t.gw.store.events.list(s.id, { afterSeq: after, limit: 1000 });
      if (page.length === 0) break;
      for (const e of page) if ((e.payload as Record<string, any>)?.requestId === id) out.push({ type: e.type, payload: e.payload as Record<string, any> });
      after = page.at(-1)!.seq;
    }
  }
  return out;
}
