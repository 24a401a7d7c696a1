// The `aws` KMS provider with the real AWS SDK client, against the AWS KMS test double
// (test/support/aws-kms-double.ts: the real JSON 1.1 wire protocol, SigV4 form, encryption
// context enforced): round trips, context and tampering refusals, KMS down, denied and throttled
// (retries counted at the double), key rotation and `rewrap`, and the data-key cache's bounds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentError } from '../../agent/errors.ts';
import { createAwsKms } from '../../agent/vault/aws-kms.ts';
import { withDataKeyCache } from '../../agent/vault/data-key-cache.ts';
import type { Kms } from '../../agent/vault/kms.ts';
import { createLocalKms, LOCAL_KEY_ID } from '../../agent/vault/local-kms.ts';
import { openVault, type Vault } from '../../agent/vault/vault.ts';
import { startKmsDouble, type KmsDouble } from '../support/aws-kms-double.ts';

const root = mkdtempSync(join(tmpdir(), 'airlock-aws-kms-'));
const TOKEN = 'tok-AwsSup3rSecret-98765';
const CREDENTIALS = { accessKeyId: 'AKIAAIRLOCKTEST00001', secretAccessKey: 'test-secret-access-key-not-a-real-one-0000' };
let double: KmsDouble;
let counter = 0;
before(async () => { double = await startKmsDouble({ accessKeyId: CREDENTIALS.accessKeyId }); });
after(async () => {
  await double.close();
  rmSync(root, { recursive: true, force: true });
});

function awsKms(maxAttempts = 3): Kms {
  return createAwsKms({ region: double.region, endpoint: double.url, maxAttempts, timeoutMs: 2000, credentials: CREDENTIALS });
}
function awsVault(options: { kms?: Kms; keyId?: string; agent?: string; dataDir?: string } = {}): Vault {
  return openVault({ dataDir: options.dataDir ?? join(root, `d${++counter}`), agent: options.agent ?? 'edge-1', kms: options.kms ?? awsKms(), keyId: options.keyId ?? double.key.alias });
}
const entryOf = (vault: Vault, connection: string) => (JSON.parse(readFileSync(vault.path, 'utf8')) as { entries: Record<string, Record<string, string>> }).entries[connection]!;
function editEntry(vault: Vault, connection: string, change: (e: Record<string, string>) => void): void {
  const doc = JSON.parse(readFileSync(vault.path, 'utf8')) as { entries: Record<string, Record<string, string>> };
  change(doc.entries[connection] ??= {});
  writeFileSync(vault.path, JSON.stringify(doc), { mode: 0o600 });
}
async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: AgentError) => {
    assert.equal(err.code, code);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(TOKEN), 'the message does not carry the value');
    return true;
  });
}

test('round trip through AWS KMS: the vault stores the key ARN, the double sees {agent, connection} on every call', async () => {
  const vault = awsVault();
  const before = double.count();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
  const entry = entryOf(vault, 'demo');
  assert.equal(entry.keyId, double.key.arn);
  assert.ok(!readFileSync(vault.path, 'utf8').includes(TOKEN));
  const calls = double.requests.slice(before);
  assert.deepEqual(calls.map((r) => [r.operation, r.status]), [['GenerateDataKey', 200], ['Decrypt', 200]]);
  for (const call of calls) assert.deepEqual(call.context, { agent: 'edge-1', connection: 'demo' });
});

test('the double refuses unsigned or wrongly signed requests, as AWS does', async () => {
  const body = JSON.stringify({ KeyId: double.key.id, KeySpec: 'AES_256' });
  const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.GenerateDataKey' };
  const unsigned = await fetch(double.url, { method: 'POST', headers, body });
  assert.equal(unsigned.status, 400);
  assert.equal((await unsigned.json() as { __type: string }).__type, 'MissingAuthenticationTokenException');
  const malformed = await fetch(double.url, { method: 'POST', headers: { ...headers, authorization: 'AWS4-HMAC-SHA256 Credential=x', 'x-amz-date': '20260101T000000Z' }, body });
  assert.equal((await malformed.json() as { __type: string }).__type, 'IncompleteSignatureException');
  // The SDK with another access key id: signed in form, but not a key the double knows.
  const stranger = createAwsKms({ region: double.region, endpoint: double.url, credentials: { accessKeyId: 'AKIAOTHERKEY00000000', secretAccessKey: 'x'.repeat(40) } });
  await rejectsWith(stranger.generateDataKey({ keyId: double.key.id, context: {} }), 'AGENT_KMS_FAILED', /^AWS KMS GenerateDataKey failed \(UnrecognizedClientException\): the AWS credentials are not valid/);
});

test('a wrong, missing or extra encryption-context pair does not unwrap the data key', async () => {
  const kms = awsKms();
  const key = await kms.generateDataKey({ keyId: double.key.id, context: { agent: 'edge-1', connection: 'demo' } });
  assert.deepEqual(await kms.decrypt({ ciphertext: key.ciphertext, context: { connection: 'demo', agent: 'edge-1' } }), key.plaintext);
  const contexts: Array<Record<string, string>> = [{ agent: 'edge-1', connection: 'crm' }, { agent: 'edge-1' }, { agent: 'edge-1', connection: 'demo', extra: 'x' }, {}];
  for (const context of contexts) {
    await rejectsWith(kms.decrypt({ ciphertext: key.ciphertext, context }), 'AGENT_VAULT_DECRYPT_FAILED', /^AWS KMS Decrypt refused the wrapped data key \(InvalidCiphertextException\)/);
  }
  const other = double.createKey();
  await rejectsWith(kms.decrypt({ ciphertext: key.ciphertext, context: { agent: 'edge-1', connection: 'demo' }, keyId: other.arn }), 'AGENT_VAULT_DECRYPT_FAILED', /\(IncorrectKeyException\)/);
});

test('one connection\'s context never opens another\'s secret, nor another agent\'s', async () => {
  const vault = awsVault();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  await vault.set('crm', { type: 'basic', username: 'u', password: 'p' });
  editEntry(vault, 'crm', (e) => Object.assign(e, entryOf(vault, 'demo'), { type: 'basic' }));
  await rejectsWith(vault.get('crm'), 'AGENT_VAULT_DECRYPT_FAILED', /^The vault entry for connection crm cannot be decrypted: its data key does not unwrap for this agent and connection/);
  editEntry(vault, 'crm', (e) => Object.assign(e, entryOf(vault, 'demo')));
  await rejectsWith(vault.get('crm'), 'AGENT_VAULT_DECRYPT_FAILED', /connection crm cannot be decrypted/);
  const dataDir = vault.path.slice(0, -'/vault.json'.length);
  await rejectsWith(awsVault({ dataDir, agent: 'edge-2' }).get('demo'), 'AGENT_VAULT_DECRYPT_FAILED', /connection demo cannot be decrypted: its data key does not unwrap/);
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
});

test('a tampered wrapped key or ciphertext fails with a coded error naming the connection', async () => {
  const vault = awsVault();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  const good = { ...entryOf(vault, 'demo') };
  const flip = (b64: string, at: number) => { const b = Buffer.from(b64, 'base64'); b[at]! ^= 1; return b.toString('base64'); };
  for (const at of [0, 10, 50, Buffer.from(good.encryptedKey!, 'base64').length - 1]) {
    editEntry(vault, 'demo', (e) => Object.assign(e, good, { encryptedKey: flip(good.encryptedKey!, at) }));
    await rejectsWith(vault.get('demo'), 'AGENT_VAULT_DECRYPT_FAILED', /^The vault entry for connection demo cannot be decrypted: its data key does not unwrap/);
  }
  editEntry(vault, 'demo', (e) => Object.assign(e, good, { ciphertext: flip(good.ciphertext!, 3) }));
  await rejectsWith(vault.get('demo'), 'AGENT_VAULT_DECRYPT_FAILED', /its ciphertext does not authenticate \(altered\)/);
  editEntry(vault, 'demo', (e) => Object.assign(e, good));
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
});

test('KMS down or denying: every read fails closed with AGENT_KMS_FAILED, then works again', async () => {
  const vault = awsVault();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  await double.down();
  try {
    await rejectsWith(vault.get('demo'), 'AGENT_KMS_FAILED', /^AWS KMS Decrypt failed \(\w+\): ECONNREFUSED after 3 attempt\(s\); the vault cannot be used until it succeeds\.$/);
    await rejectsWith(vault.set('crm', { type: 'bearer', token: TOKEN }), 'AGENT_KMS_FAILED', /^AWS KMS GenerateDataKey failed .*ECONNREFUSED/);
  } finally {
    await double.up();
  }
  assert.equal((await vault.list()).length, 1, 'nothing was written while the KMS was down');
  double.deny(true);
  try {
    await rejectsWith(vault.get('demo'), 'AGENT_KMS_FAILED', /^AWS KMS Decrypt failed \(AccessDeniedException\): the key policy or the agent's IAM role does not allow it/);
  } finally {
    double.deny(false);
  }
  await rejectsWith(awsVault({ keyId: 'alias/no-such-key' }).set('demo', { type: 'bearer', token: TOKEN }), 'AGENT_KMS_FAILED', /\(NotFoundException\): the key does not exist in this region/);
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
});

test('throttling is retried a bounded number of times, counted at the double', async () => {
  const vault = awsVault({ kms: awsKms(3) });
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  let start = double.count('Decrypt');
  double.throttle(2);
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
  assert.equal(double.count('Decrypt') - start, 3, 'two throttled tries, then the third succeeds');
  start = double.count('Decrypt');
  double.throttle(10);
  await rejectsWith(vault.get('demo'), 'AGENT_KMS_THROTTLED', /^AWS KMS throttled Decrypt \(ThrottlingException\) 3 time\(s\) in a row; retry later/);
  assert.equal(double.count('Decrypt') - start, 3, 'maxAttempts bounds the tries');
  double.throttle(0);
  const once = awsVault({ kms: awsKms(1), dataDir: vault.path.slice(0, -'/vault.json'.length) });
  start = double.count('Decrypt');
  double.throttle(1);
  await rejectsWith(once.get('demo'), 'AGENT_KMS_THROTTLED', /1 time\(s\)/);
  assert.equal(double.count('Decrypt') - start, 1, 'maxAttempts 1: no retry');
});

test('after a key rotation old entries still open; rewrap moves every entry to the current key, old blobs still open', async () => {
  const kms = awsKms();
  const vault = awsVault({ kms });
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  await vault.set('crm', { type: 'basic', username: 'airlock', password: 'pw' });
  const before = { demo: { ...entryOf(vault, 'demo') }, crm: { ...entryOf(vault, 'crm') } };
  double.rotate();
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN }, 'the old version still decrypts');
  const steps: string[] = [];
  assert.equal(await vault.rewrap((s) => steps.push(`${s.index}/${s.total} ${s.connection} ${s.from === s.to ? 'same key' : s.to}`)), 2);
  assert.deepEqual(steps, ['1/2 crm same key', '2/2 demo same key']);
  assert.notEqual(entryOf(vault, 'demo').encryptedKey, before.demo.encryptedKey, 'wrapped under the new version');
  assert.equal(entryOf(vault, 'demo').ciphertext, before.demo.ciphertext, 'the value itself was not touched');
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
  assert.deepEqual(await vault.get('crm'), { type: 'basic', username: 'airlock', password: 'pw' });
  const old = await kms.decrypt({ ciphertext: Buffer.from(before.demo.encryptedKey!, 'base64'), context: { agent: 'edge-1', connection: 'demo' } });
  const current = await kms.decrypt({ ciphertext: Buffer.from(entryOf(vault, 'demo').encryptedKey!, 'base64'), context: { agent: 'edge-1', connection: 'demo' } });
  assert.deepEqual(old, current, 'the pre-rewrap blob still opens to the same data key');
  assert.equal(double.requests.filter((r) => r.operation === 'ReEncrypt').at(-1)?.context?.connection, 'demo');

  // Moving to another key: entries keep opening under the key they name, then rewrap moves them.
  const next = double.createKey('airlock-next');
  const moved = awsVault({ kms, keyId: next.alias!, dataDir: vault.path.slice(0, -'/vault.json'.length) });
  assert.deepEqual(await moved.get('demo'), { type: 'bearer', token: TOKEN }, 'opens under the key it recorded');
  await moved.set('new', { type: 'bearer', token: TOKEN });
  assert.equal(entryOf(moved, 'new').keyId, next.arn);
  const moves: string[] = [];
  assert.equal(await moved.rewrap((s) => moves.push(`${s.connection}: ${s.from === double.key.arn ? 'old' : s.from === next.arn ? 'next' : s.from} -> ${s.to === next.arn ? 'next' : s.to}`)), 3);
  assert.deepEqual(moves, ['crm: old -> next', 'demo: old -> next', 'new: next -> next']);
  for (const c of ['crm', 'demo', 'new']) assert.equal(entryOf(moved, c).keyId, next.arn);
  assert.deepEqual(await moved.get('crm'), { type: 'basic', username: 'airlock', password: 'pw' });
});

test('rewrap of a tampered entry fails naming it, and saves the entries re-wrapped before it', async () => {
  const vault = awsVault();
  await vault.set('a-first', { type: 'bearer', token: TOKEN });
  await vault.set('b-broken', { type: 'bearer', token: TOKEN });
  const before = entryOf(vault, 'a-first').encryptedKey;
  editEntry(vault, 'b-broken', (e) => { e.encryptedKey = Buffer.from('not a blob').toString('base64'); });
  await rejectsWith(vault.rewrap(), 'AGENT_VAULT_DECRYPT_FAILED', /^The vault entry for connection b-broken cannot be re-wrapped/);
  assert.notEqual(entryOf(vault, 'a-first').encryptedKey, before);
  assert.deepEqual(await vault.get('a-first'), { type: 'bearer', token: TOKEN });
});

test('the data-key cache: bounded uses and age, keys zeroed on eviction, misses fail closed with the KMS down, 0 disables', async () => {
  let clock = 1_000_000;
  const handedOut: Buffer[] = [];
  const base = awsKms(1);
  // The real AWS client, recording the plaintext keys it hands to the cache.
  const recording: Kms = { ...base, decrypt: async (input) => { const key = await base.decrypt(input); handedOut.push(key); return key; } };
  const kms = withDataKeyCache(recording, { maxAgeMs: 60_000, maxUses: 2, now: () => clock });
  const vault = awsVault({ kms });
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  const count = () => double.count('Decrypt');
  const start = count();
  for (let i = 0; i < 3; i++) assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
  assert.equal(count() - start, 2, 'one KMS call serves two reads (maxUses 2)');
  assert.ok(handedOut[0]!.every((b) => b === 0), 'the spent key was zeroed');
  assert.ok(handedOut[1]!.some((b) => b !== 0), 'the live key is still cached');
  assert.equal(kms.size, 1);

  await double.down();
  try {
    assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN }, 'a cached key serves within its bound');
    assert.equal(kms.size, 0, 'spent after its second use');
    await rejectsWith(vault.get('demo'), 'AGENT_KMS_FAILED', /ECONNREFUSED/);
  } finally {
    await double.up();
  }
  await vault.get('demo');
  clock += 60_000;
  await double.down();
  try {
    await rejectsWith(vault.get('demo'), 'AGENT_KMS_FAILED', /ECONNREFUSED/);
    assert.ok(handedOut.at(-1)!.every((b) => b === 0), 'the expired key was zeroed');
  } finally {
    await double.up();
  }
  kms.clear();

  // The timer evicts and zeroes an unused key at its age, without a read.
  const timed = withDataKeyCache(recording, { maxAgeMs: 30, maxUses: 100 });
  await awsVault({ kms: timed, dataDir: vault.path.slice(0, -'/vault.json'.length) }).get('demo');
  assert.equal(timed.size, 1);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(timed.size, 0);
  assert.ok(handedOut.at(-1)!.every((b) => b === 0));

  for (const off of [{ maxAgeMs: 0, maxUses: 100 }, { maxAgeMs: 60_000, maxUses: 0 }]) {
    const none = withDataKeyCache(base, off);
    const plain = awsVault({ kms: none, dataDir: vault.path.slice(0, -'/vault.json'.length) });
    const s = count();
    await plain.get('demo');
    await plain.get('demo');
    assert.equal(count() - s, 2, `disabled by ${JSON.stringify(off)}: every read asks the KMS`);
    assert.equal(none.size, 0);
  }
});

test('concurrent reads of a cold key share one KMS call', async () => {
  const kms = withDataKeyCache(awsKms(), { maxAgeMs: 60_000, maxUses: 1000 });
  const vault = awsVault({ kms });
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  const start = double.count('Decrypt');
  const all = await Promise.all(Array.from({ length: 8 }, () => vault.get('demo')));
  for (const got of all) assert.deepEqual(got, { type: 'bearer', token: TOKEN });
  assert.equal(double.count('Decrypt') - start, 1);
  kms.clear();
});

test('the local provider re-wraps too (rewrap is provider-neutral) and refuses a foreign key id', async () => {
  const dataDir = join(root, `d${++counter}`);
  const local = createLocalKms({ dataDir });
  const vault = openVault({ dataDir, agent: 'edge-1', kms: local, keyId: LOCAL_KEY_ID });
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  const before = entryOf(vault, 'demo').encryptedKey;
  assert.equal(await vault.rewrap(), 1);
  assert.notEqual(entryOf(vault, 'demo').encryptedKey, before);
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
  editEntry(vault, 'demo', (e) => { e.keyId = double.key.arn; });
  await rejectsWith(vault.get('demo'), 'AGENT_VAULT_DECRYPT_FAILED', /connection demo cannot be decrypted/);
});
