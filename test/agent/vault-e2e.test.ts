// The vault and credential minting end to end: a real gateway, a real `airlock-agent start`
// process whose vault is sealed by AWS KMS (the KMS test double, reached by the real SDK with
// credentials from the environment, as the standard chain finds them), and a target on loopback.
// The target receives a JWT minted for the caller, never the caller's token, and verifies it
// against the JWKS the agent serves over HTTP; with the KMS down the request fails closed with a
// coded error; and no secret value appears anywhere the run wrote (logs, store, vault, config).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import type { JwtSigningSecret } from '../../agent/credentials/schema.ts';
import { createAwsKms } from '../../agent/vault/aws-kms.ts';
import { openVault } from '../../agent/vault/vault.ts';
import { createLogger } from '../../lib/log.ts';
import { startKmsDouble, type KmsDouble } from '../support/aws-kms-double.ts';
import { AIRLOCK_AGENT, run, type Running } from '../support/process.ts';
import { startTestAgent, startTestGateway, type TestGateway } from '../support/gateway.ts';

const STATIC_SECRET = 'static-Sup3rSecret-5c1e';
const AWS = { AWS_ACCESS_KEY_ID: 'AKIAAIRLOCKE2E000001', AWS_SECRET_ACCESS_KEY: 'e2e-secret-access-key-not-real-0000000000' };
const seen: Array<IncomingMessage['headers']> = [];
const gatewayLog: string[] = [];
const minted: string[] = [];
let double: KmsDouble;
let t: TestGateway;
let target: Server;
let agent: Running;
let jwksUrl: URL;
let bob: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  double = await startKmsDouble({ accessKeyId: AWS.AWS_ACCESS_KEY_ID });
  target = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}`;
  t = await startTestGateway({ logger: createLogger({ level: 'debug', write: (l) => { gatewayLog.push(l); } }) });
  bob = await t.token('bob', ['developers']);
  env = {
    ...AWS,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(t.dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(t.dir, 'no-aws-credentials'),
    STATIC_SECRET,
  };
  agent = await startTestAgent(t, 'edge', {
    allow: [targetUrl],
    env,
    config: [
      `vault: { kms: aws, aws: { region: ${double.region}, keyId: ${double.key.alias}, endpoint: '${double.url}', maxAttempts: 2, timeout: 2 }, cache: { maxAge: 0, maxUses: 0 } }`,
      'connections: { minted: { jwt: { audience: crm-api, ttl: 120 } } }',
    ],
    beforeStart: async (config) => {
      for (const args of [['minted', '--type', 'jwt-signing-key', '--generate'], ['static', '--type', 'bearer', '--from-env', 'STATIC_SECRET']]) {
        const r = await run(AIRLOCK_AGENT, ['secrets', 'set', ...args, '--config', config], { cwd: t.dir, env });
        assert.equal(r.code, 0, r.stderr);
      }
    },
  });
  const [, health] = await agent.waitFor(/"health":"(http:\/\/127\.0\.0\.1:\d+)\/healthz"/);
  jwksUrl = new URL(`${health}/.well-known/jwks.json`);
  const alice = await t.token('alice', ['admins']);
  for (const name of ['minted', 'static']) {
    const r = await t.call('POST', '/api/v1/connections', alice, { name, kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
});
after(async () => {
  await agent?.stop('SIGTERM');
  await t?.close();
  await double?.close();
  await new Promise<void>((r) => { target.closeAllConnections(); target.close(() => r()); });
});

async function call(path: string, token = bob): Promise<{ status: number; body: string }> {
  const res = await fetch(`${t.gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
}

test('the target receives a JWT minted for the caller, never the caller\'s token; it verifies against the agent\'s JWKS over HTTP, then expires', async () => {
  const before = seen.length;
  const r = await call('/proxy/minted/items?q=1');
  assert.equal(r.status, 200, r.body);
  const headers = seen[before]!;
  const token = /^Bearer (.+)$/.exec(String(headers.authorization))?.[1] ?? assert.fail('no bearer at the target');
  minted.push(token);
  assert.notEqual(token, bob);
  assert.ok(!JSON.stringify(headers).includes(bob), 'the caller\'s token reaches the target in no header');

  const jwks = createRemoteJWKSet(jwksUrl);
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: 'edge', audience: 'crm-api', algorithms: ['ES256'] });
  assert.equal(payload.sub, 'bob');
  assert.deepEqual(payload.act, { sub: 'edge' });
  assert.equal(payload.exp! - payload.iat!, 120);
  assert.ok(protectedHeader.kid);
  await assert.rejects(jwtVerify(token, jwks, { issuer: 'edge', audience: 'crm-api', currentDate: new Date((payload.exp! + 1) * 1000) }), joseErrors.JWTExpired);
  await assert.rejects(jwtVerify(token, jwks, { issuer: 'edge', audience: 'another-target' }), joseErrors.JWTClaimValidationFailed);

  // The same caller again: the cached token; the JWKS response is cacheable by targets.
  assert.equal((await call('/proxy/minted/items')).status, 200);
  assert.equal(String(seen.at(-1)!.authorization), `Bearer ${token}`);
  const res = await fetch(jwksUrl);
  assert.equal(res.headers.get('cache-control'), 'public, max-age=60');
  const set = await res.json() as { keys: Array<Record<string, unknown>> };
  assert.equal(set.keys.length, 1);
  assert.equal(set.keys[0]!.d, undefined);

  const plain = await call('/proxy/static/items');
  assert.equal(plain.status, 200, plain.body);
  assert.equal(seen.at(-1)!.authorization, `Bearer ${STATIC_SECRET}`);
});

test('KMS down: a request that needs the vault fails closed with GW_CREDENTIAL_UNAVAILABLE and reaches nothing; back up, it works', async () => {
  const before = seen.length;
  const kmsCalls = double.count('Decrypt');
  await double.down();
  let refused;
  try {
    refused = await call('/proxy/static/items');
  } finally {
    await double.up();
  }
  assert.equal(refused.status, 502, refused.body);
  const { error } = JSON.parse(refused.body) as { error: { code: string; message: string } };
  assert.equal(error.code, 'GW_CREDENTIAL_UNAVAILABLE');
  assert.match(error.message, /^The agent cannot produce the credential \(vault, KMS or token minting failed\) for connection static \(CREDENTIAL_UNAVAILABLE\)/);
  assert.equal(seen.length, before, 'nothing reached the target');
  assert.equal(double.count('Decrypt'), kmsCalls, 'the KMS was unreachable');
  await agent.waitFor(/"msg":"credential unavailable".*"connection":"static".*"code":"AGENT_KMS_FAILED".*ECONNREFUSED/);

  double.deny(true);
  let denied;
  try {
    denied = await call('/proxy/minted/items', await t.token('carol', ['developers'])); // a caller without a cached token
  } finally {
    double.deny(false);
  }
  assert.equal(denied.status, 502, denied.body);
  assert.equal((JSON.parse(denied.body) as { error: { code: string } }).error.code, 'GW_CREDENTIAL_UNAVAILABLE');
  await agent.waitFor(/"msg":"credential unavailable".*"connection":"minted".*AccessDeniedException/);
  assert.equal(seen.length, before);

  assert.equal((await call('/proxy/static/items')).status, 200);
  assert.equal(seen.at(-1)!.authorization, `Bearer ${STATIC_SECRET}`);
});

/** Every file under `dir`, recursively (bounded by the test's own directory). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))).filter((f) => statSync(f).isFile());
}

test('no secret value appears in any log, error, the gateway\'s store, the vault or any file the run wrote', async () => {
  // The signing key's private part, read the only way there is: through the vault and the KMS.
  const vault = openVault({
    dataDir: join(t.dir, 'agent-edge'), agent: 'edge', keyId: double.key.alias,
    kms: createAwsKms({ region: double.region, endpoint: double.url, credentials: { accessKeyId: AWS.AWS_ACCESS_KEY_ID, secretAccessKey: AWS.AWS_SECRET_ACCESS_KEY } }),
  });
  const signing = await vault.get('minted') as JwtSigningSecret;
  assert.equal(signing.type, 'jwt-signing-key');
  assert.ok(minted.length > 0 && decodeJwt(minted[0]!).sub === 'bob');
  const secrets: Record<string, string> = {
    'the static token': STATIC_SECRET,
    'the static token in base64': Buffer.from(STATIC_SECRET).toString('base64'),
    'the signing key (d)': signing.key.d!,
    'a minted token': minted[0]!,
    'a minted token\'s signature': minted[0]!.split('.')[2]!,
    'the AWS secret key': AWS.AWS_SECRET_ACCESS_KEY,
  };
  const written: Array<[string, string]> = [
    ['agent stdout', agent.output().stdout],
    ['agent stderr', agent.output().stderr],
    ['gateway log', gatewayLog.join('')],
    ...filesUnder(t.dir).map((f): [string, string] => [f, readFileSync(f).toString('latin1')]),
  ];
  assert.ok(written.some(([name]) => name.endsWith('gw.db')), 'the gateway\'s store file is among them');
  assert.ok(written.some(([name]) => name.endsWith('vault.json')), 'the vault file is among them');
  assert.ok(gatewayLog.length > 0 && agent.output().stdout.includes('credential unavailable'));
  for (const [where, text] of written) {
    for (const [what, value] of Object.entries(secrets)) assert.ok(!text.includes(value), `${what} appears in ${where}`);
    // The caller's token is the gateway's to see, never the agent's.
    if (where.startsWith('agent') || where.includes('agent-edge')) assert.ok(!text.includes(bob), `the caller's token appears in ${where}`);
  }
});
