// The agent's vault on real files: envelope encryption under the local KMS, strict parsing of a
// corrupt or tampered file (coded errors naming the connection, never the value), the forwarder
// taking credentials from it before the config's, and `airlock-agent secrets` as a real process.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../agent/config.ts';
import type { AgentError } from '../../agent/errors.ts';
import { createCredentials } from '../../agent/credentials/index.ts';
import { createHttpForwarder, type CredentialHeaders, type StaticCredential } from '../../agent/http-forward.ts';
import { createLocalKms, LOCAL_KEY_ID, MASTER_KEY_FILE } from '../../agent/vault/local-kms.ts';
import { openVault, VAULT_FILE, type Vault } from '../../agent/vault/vault.ts';
import { silentLogger } from '../../lib/log.ts';
import { AIRLOCK_AGENT, run } from '../support/process.ts';

const root = mkdtempSync(join(tmpdir(), 'airlock-vault-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const TOKEN = 'tok-Sup3rSecretValue-0123456789';

function freshVault(agent = 'edge-1', dataDir = join(root, `d${++counter}`), now?: () => Date): Vault {
  return openVault({ dataDir, agent, kms: createLocalKms({ dataDir }), keyId: LOCAL_KEY_ID, ...(now ? { now } : {}) });
}
const dirOf = (vault: Vault) => vault.path.slice(0, -VAULT_FILE.length - 1);
const readJson = (vault: Vault) => JSON.parse(readFileSync(vault.path, 'utf8')) as { entries: Record<string, Record<string, string>> };
const writeJson = (vault: Vault, doc: unknown) => writeFileSync(vault.path, JSON.stringify(doc), { mode: 0o600 });

/** Asserts `promise` rejects with `code`, a message matching `message`, and no trace of the secret. */
async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: AgentError) => {
    assert.equal(err.code, code);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(TOKEN) && !err.message.includes('Sup3r'), 'the message does not carry the value');
    return true;
  });
}

test('set, get, list and remove round-trip; the file holds no value in clear, mode 0600, no temp file left', async () => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const vault = freshVault('edge-1', undefined, () => new Date(clock));
  assert.equal(await vault.get('demo'), undefined);
  assert.deepEqual(await vault.list(), []);
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  await vault.set('crm', { type: 'basic', username: 'airlock', password: 'pa:ss' });
  clock += 60_000;
  await vault.set('demo', { type: 'header', name: 'X-Api-Key', value: TOKEN });
  assert.deepEqual(await vault.get('demo'), { type: 'header', name: 'X-Api-Key', value: TOKEN });
  assert.deepEqual(await vault.get('crm'), { type: 'basic', username: 'airlock', password: 'pa:ss' });
  assert.deepEqual(await vault.list(), [
    { connection: 'crm', type: 'basic', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' },
    { connection: 'demo', type: 'header', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:01:00.000Z' },
  ]);
  const text = readFileSync(vault.path, 'utf8');
  for (const clear of [TOKEN, Buffer.from(TOKEN).toString('base64').slice(0, 20), 'pa:ss', 'X-Api-Key']) assert.ok(!text.includes(clear), `${clear} is not in the file`);
  assert.deepEqual(Object.keys(readJson(vault).entries.demo!).sort(), ['ciphertext', 'createdAt', 'encryptedKey', 'iv', 'keyId', 'tag', 'type', 'updatedAt']);
  assert.equal(statSync(vault.path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dirOf(vault), MASTER_KEY_FILE)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dirOf(vault), MASTER_KEY_FILE)).size, 32);
  assert.deepEqual(readdirSync(dirOf(vault)).sort(), [VAULT_FILE, MASTER_KEY_FILE].sort());
  await rejectsWith(vault.set('Not A Name', { type: 'bearer', token: TOKEN }), 'AGENT_INPUT_INVALID', /^"Not A Name" is not a connection name/);
  assert.equal(await vault.remove('demo'), true);
  assert.equal(await vault.remove('demo'), false);
  assert.equal(await vault.get('demo'), undefined);
  assert.deepEqual((await vault.list()).map((e) => e.connection), ['crm']);
});

test('the KMS binds a data key to its context: another agent or connection does not unwrap it', async () => {
  const dataDir = join(root, `d${++counter}`);
  const kms = createLocalKms({ dataDir });
  const key = await kms.generateDataKey({ keyId: LOCAL_KEY_ID, context: { agent: 'edge-1', connection: 'demo' } });
  assert.equal(key.plaintext.length, 32);
  assert.deepEqual(await kms.decrypt({ ciphertext: key.ciphertext, context: { connection: 'demo', agent: 'edge-1' } }), key.plaintext, 'key order does not matter');
  await rejectsWith(kms.decrypt({ ciphertext: key.ciphertext, context: { agent: 'edge-2', connection: 'demo' } }), 'AGENT_VAULT_DECRYPT_FAILED', /cannot unwrap the data key/);
  await rejectsWith(kms.decrypt({ ciphertext: key.ciphertext, context: { agent: 'edge-1', connection: 'crm' } }), 'AGENT_VAULT_DECRYPT_FAILED', /another agent or connection/);
  await assert.rejects(kms.generateDataKey({ keyId: 'arn:aws:kms:x', context: {} }), TypeError);

  // the vault: read as another agent, or an entry copied to another connection
  const vault = freshVault('edge-1', dataDir);
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  await rejectsWith(freshVault('edge-2', dataDir).get('demo'), 'AGENT_VAULT_DECRYPT_FAILED', /^The vault entry for connection demo cannot be decrypted: its data key does not unwrap/);
  const doc = readJson(vault);
  doc.entries.other = doc.entries.demo!;
  writeJson(vault, doc);
  await rejectsWith(vault.get('other'), 'AGENT_VAULT_DECRYPT_FAILED', /^The vault entry for connection other cannot be decrypted/);
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN });
});

test('a tampered ciphertext, tag or type is a coded error naming the connection, never the value', async () => {
  const vault = freshVault();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  const original = readJson(vault);
  const flip = (b64: string) => { const b = Buffer.from(b64, 'base64'); b[0]! ^= 1; return b.toString('base64'); };
  for (const [field, change] of [['ciphertext', flip], ['tag', flip], ['iv', flip], ['type', () => 'header']] as const) {
    const doc = structuredClone(original);
    doc.entries.demo![field] = change(doc.entries.demo![field]!);
    writeJson(vault, doc);
    await rejectsWith(vault.get('demo'), 'AGENT_VAULT_DECRYPT_FAILED', /^The vault entry for connection demo cannot be decrypted: its ciphertext does not authenticate \(altered\); set it again/);
  }
  const doc = structuredClone(original);
  doc.entries.demo!.encryptedKey = flip(doc.entries.demo!.encryptedKey!);
  writeJson(vault, doc);
  await rejectsWith(vault.get('demo'), 'AGENT_VAULT_DECRYPT_FAILED', /connection demo cannot be decrypted: its data key does not unwrap/);
});

test('a corrupt, malformed or too open vault file is AGENT_VAULT_INVALID naming the path', async () => {
  const vault = freshVault();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  const good = readJson(vault);
  const cases: Array<[unknown, RegExp]> = [
    ['{"version":1,', /is not JSON/],
    [{ ...good, extra: 1 }, /is not valid \(\(top level\): Unrecognized key: "extra"\)/],
    [{ ...good, version: 2 }, /is not valid \(version: /],
    [{ ...good, entries: { demo: { ...good.entries.demo, iv: 'AAAA' } } }, /is not valid \(entries\.demo\.iv: must be base64 of 12 bytes\)/],
    [{ ...good, entries: { demo: { ...good.entries.demo, ciphertext: '%%%' } } }, /entries\.demo\.ciphertext/],
    [{ ...good, entries: { 'Not A Name': good.entries.demo } }, /is not valid \(entries/],
    [{ ...good, kms: 'aws' }, /was written with the aws KMS, but vault\.kms is local/],
  ];
  for (const [content, message] of cases) {
    writeFileSync(vault.path, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
    await rejectsWith(vault.list(), 'AGENT_VAULT_INVALID', message);
    await rejectsWith(vault.get('demo'), 'AGENT_VAULT_INVALID', new RegExp(vault.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  }
  writeJson(vault, good);
  chmodSync(vault.path, 0o644);
  await rejectsWith(vault.list(), 'AGENT_VAULT_INVALID', /is readable by other users \(mode 644\); run chmod 600/);
});

test('a missing master key is AGENT_KMS_FAILED on decrypt and is not silently recreated', async () => {
  const vault = freshVault();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  const master = join(dirOf(vault), MASTER_KEY_FILE);
  rmSync(master);
  await rejectsWith(freshVault('edge-1', dirOf(vault)).get('demo'), 'AGENT_KMS_FAILED', /master key .* is missing, so no secret in the vault can be decrypted/);
  assert.equal(existsSync(master), false);
  writeFileSync(master, Buffer.alloc(16), { mode: 0o600 });
  await rejectsWith(freshVault('edge-1', dirOf(vault)).get('demo'), 'AGENT_KMS_FAILED', /is not 32 bytes/);
});

test('vault.kms is local by default, aws with its key, and nothing else, with clear messages', () => {
  const { config } = loadAgentConfig({ env: {}, cwd: root });
  assert.equal(config.vault.kms, 'local');
  assert.deepEqual(config.vault.cache, { maxAge: 60, maxUses: 1000 });
  assert.throws(() => loadAgentConfig({ env: { AIRLOCK_AGENT_VAULT_KMS: 'gcp' }, cwd: root }), (err: AgentError) => {
    assert.equal(err.code, 'AGENT_CONFIG_INVALID');
    assert.match(err.message, /AIRLOCK_AGENT_VAULT_KMS \(vault\.kms\): must be local \(a master key file in dataDir, for development\) or aws \(AWS KMS\)/);
    return true;
  });
  assert.throws(() => loadAgentConfig({ env: { AIRLOCK_AGENT_VAULT_KMS: 'aws' }, cwd: root }), (err: AgentError) => {
    assert.equal(err.code, 'AGENT_CONFIG_INVALID');
    assert.match(err.message, /vault\.aws: kms: aws needs the aws block \(region, keyId\)/);
    return true;
  });
  const aws = loadAgentConfig({ env: { AIRLOCK_AGENT_VAULT_KMS: 'aws', AIRLOCK_AGENT_VAULT_AWS_REGION: 'eu-west-1', AIRLOCK_AGENT_VAULT_AWS_KEY_ID: 'alias/airlock', AIRLOCK_AGENT_VAULT_CACHE_MAX_USES: '0' }, cwd: root }).config.vault;
  assert.deepEqual(aws, { kms: 'aws', aws: { region: 'eu-west-1', keyId: 'alias/airlock', maxAttempts: 3, timeout: 5 }, cache: { maxAge: 60, maxUses: 0 } });
  assert.throws(() => loadAgentConfig({ env: { AIRLOCK_AGENT_VAULT_KMS: 'aws', AIRLOCK_AGENT_VAULT_AWS_REGION: 'Europe', AIRLOCK_AGENT_VAULT_AWS_KEY_ID: 'k' }, cwd: root }), /AIRLOCK_AGENT_VAULT_AWS_REGION \(vault\.aws\.region\): an AWS region such as eu-west-1/);
});

/** A forwarder reached over real TCP (each accepted socket plays a tunnel stream), sending to a target that echoes the credential headers. */
async function forwarderTo(credentialHeaders: CredentialHeaders): Promise<(connection: string) => Promise<Response>> {
  const target: Server = createServer((req, res) => res.end(JSON.stringify({ authorization: req.headers.authorization ?? null, key: req.headers['x-api-key'] ?? null })));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(target.address() as { port: number }).port}`;
  const handler = createHttpForwarder({ allow: [origin], credentialHeaders, logger: silentLogger });
  let next = '';
  const front = createTcpServer((socket) => {
    Object.assign(socket, { header: { connection: next, target: `${origin}/` } });
    void handler(socket as never, {}, { agent: 'edge-1', gateway: 'http://gateway.test', logger: silentLogger });
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  after(() => { front.close(); target.close(); target.closeAllConnections(); });
  const port = (front.address() as { port: number }).port;
  // Every request carries a caller's Authorization, as a gateway that failed to strip it would: the agent drops it.
  return (connection) => { next = connection; return fetch(`http://127.0.0.1:${port}/x`, { headers: { connection: 'close', authorization: 'Bearer caller-token' } }); };
}

test('the forwarder takes the vault credential first, then the config; an undecryptable entry fails that request', async () => {
  const vault = freshVault();
  await vault.set('demo', { type: 'bearer', token: TOKEN });
  await vault.set('billing', { type: 'header', name: 'X-Api-Key', value: 'k-1' });
  const config: Record<string, StaticCredential> = { demo: { type: 'bearer', token: 'from-config' }, legacy: { type: 'bearer', token: 'from-config' } };
  const credentials = createCredentials({ vault, agent: 'edge-1', staticCredentials: config, logger: silentLogger });
  const get = await forwarderTo((c, request) => credentials.headersFor(c, request));
  assert.deepEqual(await (await get('demo')).json(), { authorization: `Bearer ${TOKEN}`, key: null });
  assert.deepEqual(await (await get('billing')).json(), { authorization: null, key: 'k-1' });
  assert.deepEqual(await (await get('legacy')).json(), { authorization: 'Bearer from-config', key: null });
  assert.deepEqual(await (await get('none')).json(), { authorization: null, key: null });
  const doc = readJson(vault);
  doc.entries.demo!.tag = Buffer.alloc(16).toString('base64');
  writeJson(vault, doc);
  const res = await get('demo');
  assert.equal(res.status, 502);
  assert.equal(res.headers.get('x-airlock-agent-error'), 'CREDENTIAL_UNAVAILABLE');
  const body = await res.text();
  assert.match(body, /the agent cannot produce the credential of connection demo \(AGENT_VAULT_DECRYPT_FAILED\)/);
  assert.ok(!body.includes(TOKEN) && !body.includes('from-config'));
});

/** Runs `airlock-agent args…` with `input` on standard input. */
function runWithStdin(args: string[], input: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AIRLOCK_AGENT, ...args], { cwd: root, env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out: ${stderr}`)); }, 20_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(input);
  });
}

test('`secrets set` from a file, a variable and stdin; `list` shows no value; `rm` removes', async () => {
  const dataDir = join(root, `cli${++counter}`);
  const env = { AIRLOCK_AGENT_DATA_DIR: dataDir, AIRLOCK_AGENT_NAME: 'edge-1' };
  const file = join(root, `token${counter}`);
  writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
  const fromFile = await run(AIRLOCK_AGENT, ['secrets', 'set', 'demo', '--type', 'bearer', '--from-file', file], { cwd: root, env });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(fromFile.stdout, `Stored the bearer credential of connection demo in ${join(dataDir, VAULT_FILE)}.\n`);
  assert.match(fromFile.stderr, /warning: vault\.kms is local: the vault's master key was created in .*vault-master\.key.*development only/);
  const fromEnv = await run(AIRLOCK_AGENT, ['secrets', 'set', 'billing', '--type', 'header', '--name', 'X-Api-Key', '--from-env', 'BILLING_KEY'], { cwd: root, env: { ...env, BILLING_KEY: 'k-Sup3r-2' } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  const fromStdin = await runWithStdin(['secrets', 'set', 'crm', '--type', 'basic', '--stdin'], 'airlock:Sup3r:pw\r\n', env);
  assert.equal(fromStdin.code, 0, fromStdin.stderr);

  const vault = freshVault('edge-1', dataDir);
  assert.deepEqual(await vault.get('demo'), { type: 'bearer', token: TOKEN }, 'the trailing newline is trimmed');
  assert.deepEqual(await vault.get('billing'), { type: 'header', name: 'X-Api-Key', value: 'k-Sup3r-2' });
  assert.deepEqual(await vault.get('crm'), { type: 'basic', username: 'airlock', password: 'Sup3r:pw' });

  const [list, json] = await Promise.all([
    run(AIRLOCK_AGENT, ['secrets', 'list'], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'list', '--json'], { cwd: root, env }),
  ]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^CONNECTION +TYPE +CREATED +UPDATED\nbilling +header +\S+Z +\S+Z\ncrm +basic .*\ndemo +bearer .*\n$/);
  assert.deepEqual((JSON.parse(json.stdout) as Array<{ connection: string; type: string }>).map((e) => [e.connection, e.type]), [['billing', 'header'], ['crm', 'basic'], ['demo', 'bearer']]);
  for (const out of [list.stdout + list.stderr, json.stdout + json.stderr]) assert.ok(!out.includes('Sup3r'), 'list prints no value');

  const rm = await run(AIRLOCK_AGENT, ['secrets', 'rm', 'demo'], { cwd: root, env });
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(await vault.get('demo'), undefined);
  const again = await run(AIRLOCK_AGENT, ['secrets', 'rm', 'demo'], { cwd: root, env });
  assert.equal(again.code, 2);
  assert.equal(again.stderr, 'airlock-agent: The vault holds no secret for connection demo. (AGENT_SECRET_NOT_FOUND)\n');
});

test('`secrets set` refuses a missing or unset source, a value on the command line, an empty value, and an agent without a name', async () => {
  const dataDir = join(root, `cli${++counter}`);
  const env = { AIRLOCK_AGENT_DATA_DIR: dataDir, AIRLOCK_AGENT_NAME: 'edge-1' };
  const empty = join(root, `empty${counter}`);
  writeFileSync(empty, '\n');
  const [none, unset, inline, blank, nameless] = await Promise.all([
    run(AIRLOCK_AGENT, ['secrets', 'set', 'demo', '--type', 'bearer'], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'demo', '--type', 'bearer', '--from-env', 'NOT_SET_ANYWHERE'], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'demo', '--type', 'bearer', '--value', TOKEN], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'demo', '--type', 'bearer', '--from-file', empty], { cwd: root, env }),
    run(AIRLOCK_AGENT, ['secrets', 'set', 'demo', '--type', 'bearer', '--from-env', 'HOME'], { cwd: root, env: { AIRLOCK_AGENT_DATA_DIR: dataDir } }),
  ]);
  assert.equal(none.code, 2);
  assert.equal(none.stderr, 'airlock-agent: secrets set takes the value from exactly one of --from-file FILE, --from-env VAR or --stdin; never from the command line, where it would land in shell history. (AGENT_USAGE)\n');
  assert.equal(unset.code, 2);
  assert.equal(unset.stderr, 'airlock-agent: The environment variable NOT_SET_ANYWHERE is not set. (AGENT_INPUT_INVALID)\n');
  assert.equal(inline.code, 2);
  assert.match(inline.stderr, /unknown option '--value'/);
  assert.ok(!inline.stderr.includes(TOKEN));
  assert.equal(blank.code, 2);
  assert.equal(blank.stderr, 'airlock-agent: The secret is empty; nothing was stored. (AGENT_INPUT_INVALID)\n');
  assert.equal(nameless.code, 2);
  assert.match(nameless.stderr, /Secrets are bound to the agent's name, and this one has none yet: enroll it first .* \(AGENT_NOT_ENROLLED\)\n$/);
  assert.equal(existsSync(join(dataDir, VAULT_FILE)), false, 'nothing was written');
});
