// Recording keys and rotation: the signing key and the retired ones (files in every accepted form,
// a directory), published with their validity; a retired key's signature dated after its
// notAfter is refused; files that are not Ed25519 keys stop the start with a coded error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { silentLogger } from '../../../lib/log.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { GENESIS_HASH, checkpointStatement, eventHash } from '../../../gateway/recorder/chain.ts';
import { loadRecordingKeys } from '../../../gateway/recorder/keys.ts';
import { verifySession } from '../../../gateway/recorder/verify.ts';

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('retired keys from a private PEM, a public PEM, a JWKS and a directory are published with their validity', withDir(async (dir) => {
  const pairs = Array.from({ length: 4 }, () => generateKeyPairSync('ed25519'));
  const kids = await Promise.all(pairs.map(async (p) => calculateJwkThumbprint(await exportJWK(p.publicKey))));
  writeFileSync(join(dir, 'old-private.pem'), pairs[0]!.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(join(dir, 'old-public.pem'), pairs[1]!.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  mkdirSync(join(dir, 'older'));
  writeFileSync(join(dir, 'older', 'a.json'), JSON.stringify({ keys: [await exportJWK(pairs[2]!.publicKey)] }));
  writeFileSync(join(dir, 'older', 'b.jwk'), JSON.stringify(await exportJWK(pairs[3]!.publicKey)));
  writeFileSync(join(dir, 'older', 'README.txt'), 'not a key, not read');
  const keys = await loadRecordingKeys({
    keyFile: join(dir, 'current.pem'), keyNotBefore: '2026-12-01T00:00:00Z',
    retiredKeys: [{ file: join(dir, 'old-private.pem'), notAfter: '2026-12-01T00:00:00Z' }, join(dir, 'old-public.pem'), join(dir, 'older'), join(dir, 'current.pem')],
  }, silentLogger);
  assert.deepEqual(keys.published.map((k) => [k.kid, k.status, k.notBefore, k.notAfter]), [
    [keys.current.keyId, 'current', '2026-12-01T00:00:00Z', null],
    [kids[0], 'retired', null, '2026-12-01T00:00:00Z'],
    [kids[1], 'retired', null, null],
    [kids[2], 'retired', null, null],
    [kids[3], 'retired', null, null],
  ]);
  assert.ok(keys.published.every((k) => k.d === undefined), 'no private part is published');
}));

test('a retired key file that is not an Ed25519 key stops the start with GW_CONFIG_INVALID', withDir(async (dir) => {
  writeFileSync(join(dir, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string);
  writeFileSync(join(dir, 'junk.pem'), 'hello');
  for (const [file, why] of [['rsa.pem', 'holds a key that is not Ed25519'], ['junk.pem', 'is not a key'], ['missing.pem', 'cannot be read (ENOENT)']] as const) {
    await assert.rejects(loadRecordingKeys({ retiredKeys: [join(dir, file)] }, silentLogger), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'GW_CONFIG_INVALID');
      assert.ok(err.message.startsWith(`recording.retiredKeys: ${join(dir, file)} ${why}`), err.message);
      return true;
    });
  }
}));

test('a signature dated outside its key\'s validity is refused', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  const sessionId = 'ses_00000000000000000000000000000001';
  const e = { seq: 1, type: 'session.start', at: 1000, offsetMs: 0, payload: {}, prevHash: GENESIS_HASH };
  const hash = eventHash({ sessionId, ...e });
  const { sign } = await import('node:crypto');
  const c = { sessionId, seq: 1, hash, at: Date.parse('2026-12-02T00:00:00Z'), keyId: kid, state: 'open', prev: GENESIS_HASH };
  const checkpoint = { ...c, signature: sign(null, checkpointStatement(c), privateKey).toString('base64url') };
  const jwk = { ...(await exportJWK(publicKey)), kid } as JWK;
  const input = { sessionId, state: 'open', events: [{ ...e, hash }], checkpoints: [checkpoint] };
  assert.equal(verifySession({ ...input, keys: [jwk] }).ok, true);
  const retired = verifySession({ ...input, keys: [{ ...jwk, notAfter: '2026-12-01T00:00:00Z' } as JWK] });
  assert.deepEqual(retired.firstBad, { seq: 1, reason: `the checkpoint at event 1 is signed by key ${kid} at 2026-12-02T00:00:00.000Z, outside that key's validity (… to 2026-12-01T00:00:00Z)` });
});
