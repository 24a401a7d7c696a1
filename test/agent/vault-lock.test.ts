// The vault's write lock (no lost update with concurrent writers, in one process or several real
// `airlock-agent secrets set` processes; a dead holder's lock broken, a live one waited for),
// the new secret types through the CLI, and `airlock-agent vault rewrap` / `vault jwks`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { AgentError } from '../../agent/errors.ts';
import { mintJwt } from '../../agent/credentials/jwt.ts';
import type { JwtSigningSecret } from '../../agent/credentials/schema.ts';
import { createLocalKms, LOCAL_KEY_ID } from '../../agent/vault/local-kms.ts';
import { openVault, VAULT_FILE, type Vault } from '../../agent/vault/vault.ts';
import { AIRLOCK_AGENT, run } from '../support/process.ts';

const root = mkdtempSync(join(tmpdir(), 'airlock-vault-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

function localVault(dataDir = join(root, `d${++counter}`), lockTimeoutMs?: number): Vault {
  return openVault({ dataDir, agent: 'edge-1', kms: createLocalKms({ dataDir }), keyId: LOCAL_KEY_ID, ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }) });
}
const dirOf = (vault: Vault) => vault.path.slice(0, -VAULT_FILE.length - 1);

test('concurrent sets in one process never lose an update', async () => {
  const vault = localVault();
  await Promise.all(Array.from({ length: 20 }, (_, i) => vault.set(`c${i}`, { type: 'bearer', token: `t-${i}` })));
  assert.equal((await vault.list()).length, 20);
  for (let i = 0; i < 20; i++) assert.deepEqual(await vault.get(`c${i}`), { type: 'bearer', token: `t-${i}` });
  assert.equal(existsSync(`${vault.path}.lock`), false, 'the lock is released');
});

test('concurrent `secrets set` processes never lose an update', async () => {
  const dataDir = join(root, `cli${++counter}`);
  const env = { AIRLOCK_AGENT_DATA_DIR: dataDir, AIRLOCK_AGENT_NAME: 'edge-1', VALUE: 'v-Sup3r' };
  const localVaultHere = localVault(dataDir);
  await localVaultHere.set('seed', { type: 'bearer', token: 'seed' }); // the master key exists before the race
  const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => run(AIRLOCK_AGENT, ['secrets', 'set', `p${i}`, '--type', 'bearer', '--from-env', 'VALUE'], { cwd: root, env, timeout: 60_000 })));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await localVaultHere.list()).map((e) => e.connection), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'seed']);
});

test('a lock whose holder is gone is broken; a live holder is waited for, then AGENT_VAULT_BUSY', async () => {
  const vault = localVault(undefined, 150);
  await vault.set('demo', { type: 'bearer', token: 't' });
  // A holder pid that cannot exist (above the kernel's pid_max).
  writeFileSync(`${vault.path}.lock`, JSON.stringify({ pid: 2 ** 30, nonce: 'dead', at: new Date().toISOString() }), { mode: 0o600 });
  await vault.set('crm', { type: 'bearer', token: 't' });
  assert.deepEqual((await vault.list()).map((e) => e.connection), ['crm', 'demo']);
  assert.equal(existsSync(`${vault.path}.lock`), false);

  writeFileSync(`${vault.path}.lock`, JSON.stringify({ pid: process.pid, nonce: 'alive', at: new Date().toISOString() }), { mode: 0o600 });
  await assert.rejects(vault.remove('demo'), (err: AgentError) => {
    assert.equal(err.code, 'AGENT_VAULT_BUSY');
    assert.match(err.message, /^Another process has held the vault's lock .*vault\.json\.lock for more than 0\.15 s; wait for it, or, if no airlock-agent secrets or vault command is running, remove that file\.$/);
    return true;
  });
  assert.equal(JSON.parse(readFileSync(`${vault.path}.lock`, 'utf8')).nonce, 'alive', 'a live holder\'s lock is left alone');
  rmSync(`${vault.path}.lock`);
  assert.equal(await vault.remove('demo'), true);
});

test('`secrets set` takes the new types: a PEM or generated signing key, an OAuth client, a Postgres login', async () => {
  const dataDir = join(root, `cli${++counter}`);
  const env = { AIRLOCK_AGENT_DATA_DIR: dataDir, AIRLOCK_AGENT_NAME: 'edge-1', OAUTH: 'airlock-agent:cl1ent-Sup3r', PG: 'app:pg-Sup3r' };
  const pem = join(root, `key${counter}.pem`);
  writeFileSync(pem, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const [fromPem, generated, oauth, pg] = await Promise.all([
    run(AIRLOCK_AGENT, ['secrets', 'set', 'crm', '--type', 'jwt-signing-key', '--from-file', pem], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'wiki', '--type', 'jwt-signing-key', '--generate'], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'billing', '--type', 'oauth-client', '--from-env', 'OAUTH'], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'orders', '--type', 'postgres', '--from-env', 'PG'], { cwd: root, env }),
  ]);
  for (const r of [fromPem, generated, oauth, pg]) assert.equal(r.code, 0, r.stderr);
  assert.match(generated.stdout, /^Stored the jwt-signing-key credential of connection wiki in .*vault\.json \(public key id [\w-]{43}, published in the agent's \/\.well-known\/jwks\.json\)\.\n$/);
  const vault = localVault(dataDir);
  const crm = await vault.get('crm') as JwtSigningSecret;
  assert.equal(crm.alg, 'EdDSA');
  assert.equal(((await vault.get('wiki')) as JwtSigningSecret).alg, 'ES256');
  assert.deepEqual(await vault.get('billing'), { type: 'oauth-client', clientId: 'airlock-agent', clientSecret: 'cl1ent-Sup3r' });
  assert.deepEqual(await vault.get('orders'), { type: 'postgres', username: 'app', password: 'pg-Sup3r' });
  assert.ok(!readFileSync(vault.path, 'utf8').includes('Sup3r'));

  // `vault jwks` prints both public keys; a token minted with the vault's key verifies against it.
  const jwks = await run(AIRLOCK_AGENT, ['vault', 'jwks'], { cwd: root, env });
  assert.equal(jwks.code, 0, jwks.stderr);
  const set = JSON.parse(jwks.stdout) as { keys: Array<Record<string, string>> };
  assert.deepEqual(set.keys.map((k) => [k.kty, k.alg, k.use]).sort(), [['EC', 'ES256', 'sig'], ['OKP', 'EdDSA', 'sig']]);
  for (const k of set.keys) assert.equal(k.d, undefined, 'no private member is published');
  const { value } = await mintJwt(crm, { issuer: 'edge-1', subject: 'bob', audience: 'https://crm.internal', actor: 'edge-1', ttlSeconds: 60 });
  const { payload } = await jwtVerify(value, createLocalJWKSet(set as never), { issuer: 'edge-1', audience: 'https://crm.internal' });
  assert.equal(payload.sub, 'bob');

  const [bad, generateMisused, noColon, publicKey] = await Promise.all([
    run(AIRLOCK_AGENT, ['secrets', 'set', 'x', '--type', 'jwt-signing-key', '--from-env', 'PG'], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'x', '--type', 'bearer', '--generate'], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'x', '--type', 'oauth-client', '--from-env', 'NOCOLON'], { cwd: root, env: { ...env, NOCOLON: 'just-an-id' } }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'x', '--type', 'jwt-signing-key', '--from-env', 'PUB'], { cwd: root, env: { ...env, PUB: generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string } }),
  ]);
  assert.equal(bad.stderr, 'airlock-agent: A jwt-signing-key is a private key in PEM (PKCS#8, SEC1 or PKCS#1) or a private JWK in JSON; this is neither. (AGENT_INPUT_INVALID)\n');
  assert.equal(generateMisused.stderr, 'airlock-agent: --generate is only for --type jwt-signing-key, not bearer. (AGENT_USAGE)\n');
  assert.equal(noColon.stderr, 'airlock-agent: A oauth-client credential is client_id:client_secret, with a non-empty client id before the first colon and a non-empty secret. (AGENT_INPUT_INVALID)\n');
  assert.match(publicKey.stderr, /\(AGENT_INPUT_INVALID\)\n$/);
  for (const r of [bad, generateMisused, noColon, publicKey]) assert.ok(r.code === 2 && !r.stderr.includes('Sup3r'), r.stderr);
  assert.equal((await vault.list()).some((e) => e.connection === 'x'), false);
});

test('`vault rewrap` re-wraps every entry with progress, and the secrets still open', async () => {
  const dataDir = join(root, `cli${++counter}`);
  const env = { AIRLOCK_AGENT_DATA_DIR: dataDir, AIRLOCK_AGENT_NAME: 'edge-1' };
  const empty = await run(AIRLOCK_AGENT, ['vault', 'rewrap'], { cwd: root, env });
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, 'The vault holds no secrets; nothing to re-wrap.\n');
  const vault = localVault(dataDir);
  await vault.set('demo', { type: 'bearer', token: 'tok-Sup3r' });
  await vault.set('crm', { type: 'basic', username: 'u', password: 'p' });
  const before = readFileSync(vault.path, 'utf8');
  const out = await run(AIRLOCK_AGENT, ['vault', 'rewrap'], { cwd: root, env });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, `[1/2] crm: re-wrapped under local\n[2/2] demo: re-wrapped under local\nRe-wrapped 2 data key(s) in ${vault.path}; the values were not decrypted.\n`);
  assert.notEqual(readFileSync(vault.path, 'utf8'), before);
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: 'tok-Sup3r' });
  assert.ok(!(out.stdout + out.stderr).includes('Sup3r'));
});
