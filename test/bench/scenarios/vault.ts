// The agent's vault and credential minting, on one core:
// - secret reads/s (vault.get: file read, KMS unwrap, AES-GCM) with the local KMS, and with AWS
//   KMS (the real SDK against the KMS test double on loopback, so a lower bound on what a real
//   KMS round trip costs) without and with the data-key cache;
// - JWT mints/s (ES256, jose), and credential lookups/s for a jwt-signing-key connection with the
//   token cache warm (one caller) and cold (a new caller each time);
// - minted-token requests/s through the agent's HTTP forwarder to a target, warm and cold.
import { request, createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCredentials } from '../../../agent/credentials/index.ts';
import { generateSigningSecret, mintJwt } from '../../../agent/credentials/jwt.ts';
import { createHttpForwarder } from '../../../agent/http-forward.ts';
import { createAwsKms } from '../../../agent/vault/aws-kms.ts';
import { withDataKeyCache } from '../../../agent/vault/data-key-cache.ts';
import { createLocalKms, LOCAL_KEY_ID } from '../../../agent/vault/local-kms.ts';
import { openVault } from '../../../agent/vault/vault.ts';
import { silentLogger } from '../../../lib/log.ts';
import { startKmsDouble } from '../../support/aws-kms-double.ts';
import type { Scenario } from '../scenario.ts';

const MAX_OPS = 100_000;
const MAX_MS = 1000;
const CONCURRENCY = 8;

async function perSecond(fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let i = 0;
  while (i < MAX_OPS && performance.now() - t0 < MAX_MS) await fn(i++);
  return i / ((performance.now() - t0) / 1000);
}

async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** Requests/s through the forwarder, CONCURRENCY loops, each request its own stream (socket) whose header names `caller(i)`. */
async function forwarded(frontPort: number, setCaller: (i: number) => void): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  const one = () => new Promise<void>((resolve, reject) => {
    setCaller(n);
    request({ host: '127.0.0.1', port: frontPort, path: '/x', headers: { connection: 'close' }, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.resume().on('end', resolve).on('error', reject);
    }).on('error', reject).end();
  });
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (n < MAX_OPS && performance.now() - t0 < MAX_MS) {
      await one();
      n++;
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

const scenario: Scenario = {
  name: 'vault',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-vault-'));
    const double = await startKmsDouble();
    const target = createServer((_req, res) => res.end('ok'));
    const front = createTcpServer();
    try {
      const secret = { type: 'bearer', token: 'bench-token-0123456789' } as const;
      const localDir = join(dir, 'local');
      const local = openVault({ dataDir: localDir, agent: 'bench', kms: createLocalKms({ dataDir: localDir }), keyId: LOCAL_KEY_ID });
      await local.set('demo', secret);
      const aws = createAwsKms({ region: double.region, endpoint: double.url, credentials: { accessKeyId: 'AKIABENCH00000000000', secretAccessKey: 'x'.repeat(40) } });
      const awsDir = join(dir, 'aws');
      const plain = openVault({ dataDir: awsDir, agent: 'bench', kms: aws, keyId: double.key.alias });
      await plain.set('demo', secret);
      const cachingKms = withDataKeyCache(aws, { maxAgeMs: 60_000, maxUses: 1_000_000 });
      const cached = openVault({ dataDir: awsDir, agent: 'bench', kms: cachingKms, keyId: double.key.alias });

      const localRate = await perSecond(() => local.get('demo'));
      const awsRate = await perSecond(() => plain.get('demo'));
      const kmsCalls = double.count('Decrypt');
      const cachedRate = await perSecond(() => cached.get('demo'));
      const cachedKmsCalls = double.count('Decrypt') - kmsCalls;

      const signing = generateSigningSecret();
      const claims = { issuer: 'bench', subject: 'bob', audience: 'https://crm.internal', actor: 'bench', ttlSeconds: 300 };
      const mintRate = await perSecond(() => mintJwt(signing, claims));
      await local.set('crm', signing);
      const credentials = createCredentials({ vault: local, agent: 'bench', logger: silentLogger });
      const url = new URL('https://crm.internal/x');
      const warm = await perSecond(() => credentials.headersFor('crm', { caller: 'bob', target: url }));
      const cold = await perSecond((i) => credentials.headersFor('crm', { caller: `caller-${i}`, target: url }));

      const targetPort = await listen(target);
      const origin = `http://127.0.0.1:${targetPort}`;
      const handler = createHttpForwarder({ allow: [origin], credentialHeaders: (c, r) => credentials.headersFor(c, r), logger: silentLogger });
      // Each accepted socket plays one tunnel stream, its header naming the connection and caller of the moment.
      const current = { connection: 'crm-static', caller: 'bob' };
      front.on('connection', (socket) => {
        Object.assign(socket, { header: { connection: current.connection, target: `${origin}/`, caller: current.caller } });
        void handler(socket as never, {}, { agent: 'bench', gateway: 'http://gateway.bench', logger: silentLogger });
      });
      const frontPort = await listen(front);
      await local.set('crm-static', secret);
      const staticRate = await forwarded(frontPort, () => {});
      current.connection = 'crm';
      const warmRequests = await forwarded(frontPort, () => { current.caller = 'bob'; });
      let run = 0;
      const coldRequests = await forwarded(frontPort, () => { current.caller = `cold-${run++}`; });
      cachingKms.clear();
      credentials.clear();
      return [
        { name: 'secret reads, local KMS', value: localRate, unit: 'ops/s' },
        { name: 'secret reads, AWS KMS (loopback double), no data-key cache', value: awsRate, unit: 'ops/s', baseline: 'secret reads, local KMS' },
        { name: 'secret reads, AWS KMS (loopback double), data-key cache', value: cachedRate, unit: 'ops/s', baseline: 'secret reads, AWS KMS (loopback double), no data-key cache' },
        { name: 'KMS Decrypt calls during the cached run', value: cachedKmsCalls, unit: 'count' },
        { name: 'JWT mints (ES256)', value: mintRate, unit: 'ops/s' },
        { name: 'minted credential lookups, token cache warm', value: warm, unit: 'ops/s', baseline: 'JWT mints (ES256)' },
        { name: 'minted credential lookups, token cache cold', value: cold, unit: 'ops/s', baseline: 'JWT mints (ES256)' },
        { name: 'forwarded requests, static bearer', value: staticRate, unit: 'req/s' },
        { name: 'forwarded requests, minted token warm', value: warmRequests, unit: 'req/s', baseline: 'forwarded requests, static bearer' },
        { name: 'forwarded requests, minted token cold', value: coldRequests, unit: 'req/s', baseline: 'forwarded requests, static bearer' },
      ];
    } finally {
      await new Promise<void>((r) => { front.close(() => r()); });
      await new Promise<void>((r) => { target.closeAllConnections(); target.close(() => r()); });
      await double.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
export default scenario;
