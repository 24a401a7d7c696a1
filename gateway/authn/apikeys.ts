// API keys for service identities (CI jobs, bots). A key reads `alk_<id>_<secret>`: the id is a
// public lookup prefix, the secret 256 random bits. Only SHA-256 of the whole key is stored
// (the secret is high-entropy, so a slow hash adds nothing); the stored hash is compared in
// constant time, after the lookup by id, so a wrong secret and an unknown id look the same.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { ApiKeyRecord, Store } from '../store/types.ts';
import type { Identity } from './identity.ts';
import { Lru } from '../../lib/lru.ts';

export const API_KEY_PREFIX = 'alk_';
/** How often a key's last use is written, in ms. */
const TOUCH_EVERY_MS = 60_000;
const lastTouch = new Lru<string, number>({ maxEntries: 10_000 });
const KEY_SHAPE = /^alk_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewKey {
  readonly id: string;
  /** The whole key, shown once. */
  readonly key: string;
  readonly hash: string;
}

/** A fresh key: 80-bit id (base32), 256-bit secret (base64url). */
export function generateApiKey(random: (n: number) => Buffer = randomBytes): NewKey {
  const id = base32(random(10));
  const key = `${API_KEY_PREFIX}${id}_${random(32).toString('base64url')}`;
  return { id, key, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return 'sha256:' + createHash('sha256').update(key, 'utf8').digest('hex');
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** Verifies a presented key against the store and returns its identity; GW_API_KEY_INVALID otherwise. */
export async function verifyApiKey(token: string, store: Store, now: number = Date.now()): Promise<Identity> {
  const m = KEY_SHAPE.exec(token);
  if (!m) throw invalidKey('it is not in the alk_<id>_<secret> form');
  const record = await store.apiKeys.get(m[1]!);
  const presented = Buffer.from(hashApiKey(token));
  const stored = Buffer.from(record?.hash ?? hashApiKey(`${API_KEY_PREFIX}unknown`));
  const match = presented.length === stored.length && timingSafeEqual(presented, stored);
  if (!record || !match) throw invalidKey('it is not known');
  if (record.revokedAt !== null) throw invalidKey(`key ${record.id} ("${record.name}") was revoked`);
  if (record.expiresAt !== null && record.expiresAt <= now) throw invalidKey(`key ${record.id} ("${record.name}") expired at ${new Date(record.expiresAt).toISOString()}`);
  // Bookkeeping only, never failing the request, and at most once a minute per key: a write per
  // request would put a database commit on every call's path.
  const last = lastTouch.get(record.id) ?? 0;
  if (now - last >= TOUCH_EVERY_MS) {
    lastTouch.set(record.id, now);
    void store.apiKeys.touch(record.id, now).catch(() => {});
  }
  return apiKeyIdentity(record);
}

function apiKeyIdentity(record: ApiKeyRecord): Identity {
  return {
    sub: `apikey:${record.id}`,
    email: null,
    name: record.name,
    groups: [],
    roles: record.roles as Role[],
    via: 'apikey',
    tokenId: record.id,
    expiresAt: record.expiresAt,
    scopes: [],
    connections: record.connections,
  };
}

function invalidKey(reason: string): GatewayError {
  return new GatewayError('GW_API_KEY_INVALID', `The API key is not accepted: ${reason}. Ask an admin for a new one (airlock api-keys create).`);
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}
