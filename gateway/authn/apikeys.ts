// API keys for service identities (CI jobs, bots). A key reads `alk_<id>_<secret>`: the id is a
// public lookup prefix, the secret 256 random bits. Only SHA-256 of the whole key is stored
// (the secret is high-entropy, so a slow hash adds nothing); the stored hash is compared in
// constant time, after the lookup by id, so a wrong secret and an unknown id look the same.
//
// A key that verified is remembered for a second (ApiKeyCache), so a busy service identity costs
// no store read per request; the presented key is still hashed and compared in constant time, and
// revocation and expiry are checked on every request. Revoking through the API forgets the key at
// once (forgetApiKey); a revocation made through another replica is seen within the second.
//
// A key acts for a person: it records its creator (a person's sub, or the key that created it)
// and its owner (the person; for a service key, the key itself). On every use it holds at most
// what its creator holds now: its roles and connections are cut down to its creator's, up the
// chain of keys that created keys to the person, whose roles come from the groups they last
// presented (./principals.ts) under the current auth.roles. A creator key that was revoked or
// expired takes the keys it created with it. Keys made before creators were recorded are
// service keys held to their own roles.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { configSchema, type Config, type Role } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { ApiKeyRecord, Store } from '../store/types.ts';
import { rolesFor, type Identity } from './identity.ts';
import { principalGroups } from './principals.ts';
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
  return 'sha256:' + hash('sha256', key, 'hex');
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** Stands in for the stored hash of an unknown id, so that case costs the same compare. */
const UNKNOWN_HASH = Buffer.from(hashApiKey(`${API_KEY_PREFIX}unknown`));

/** auth.roles at its defaults (gateway/config/schema.ts): for callers that pass no mapping. */
const DEFAULT_ROLES: Config['auth']['roles'] = configSchema.shape.auth.parse({}).roles;

/** Longest chain of keys that created keys followed back to a person. */
const MAX_CHAIN = 8;

/**
 * Verifies a presented key and returns its identity; GW_API_KEY_INVALID otherwise. The key's
 * record comes from `cache` while it holds it (default: the cache of `store`), else from the store.
 * `now`: epoch ms, for the expiry check. `roles`: auth.roles, to work out what a person who
 * created a key holds now (default: the default mapping; the gateway passes its configuration).
 */
export async function verifyApiKey(token: string, store: Store, now: number = Date.now(), cache: ApiKeyCache = apiKeyCacheOf(store), roles: Config['auth']['roles'] = DEFAULT_ROLES): Promise<Identity> {
  const m = KEY_SHAPE.exec(token);
  if (!m) throw invalidKey('it is not in the alk_<id>_<secret> form');
  const id = m[1]!;
  const known = await knownKey(id, store, now, cache);
  const presented = Buffer.from(hashApiKey(token));
  const stored = known?.hash ?? UNKNOWN_HASH;
  const match = presented.length === stored.length && timingSafeEqual(presented, stored);
  if (known === undefined || !match) throw invalidKey('it is not known');
  const { record } = known;
  if (record.revokedAt !== null) throw invalidKey(`key ${record.id} ("${record.name}") was revoked`);
  if (record.expiresAt !== null && record.expiresAt <= now) throw invalidKey(`key ${record.id} ("${record.name}") expired at ${new Date(record.expiresAt).toISOString()}`);
  // Bookkeeping only, never failing the request, and at most once a minute per key: a write per
  // request would put a database commit on every call's path.
  const last = lastTouch.get(record.id) ?? 0;
  if (now - last >= TOUCH_EVERY_MS) {
    lastTouch.set(record.id, now);
    void store.apiKeys.touch(record.id, now).catch(() => {});
  }
  return apiKeyIdentity(record, await heldBy(record, store, now, cache, roles));
}

/** Key `id`'s record, from `cache` while it holds it, else from the store (remembered when usable). */
async function knownKey(id: string, store: Store, now: number, cache: ApiKeyCache): Promise<KnownKey | undefined> {
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const generation = cache.generation;
  const record = await store.apiKeys.get(id);
  if (record === null) return undefined;
  const known = { record, hash: Buffer.from(record.hash) };
  // Only a key that may be used is remembered, and only when no revocation happened meanwhile.
  if (record.revokedAt === null && (record.expiresAt === null || record.expiresAt > now)) cache.set(known, generation);
  return known;
}

interface Held { readonly roles: readonly Role[]; readonly connections: readonly string[] | null; readonly access?: Identity['creatorAccess'] }

/** What `record` holds now: its roles and connections, cut down to its creator's, up the chain. */
async function heldBy(record: ApiKeyRecord, store: Store, now: number, cache: ApiKeyCache, mapping: Config['auth']['roles'], depth = 0): Promise<Held> {
  const own: Held = { roles: record.roles as Role[], connections: record.connections };
  const creator = record.creator;
  if (creator === null) return own; // made before creators were recorded: a service key, held to itself
  if (depth >= MAX_CHAIN) throw invalidKey(`key ${record.id} was created through more than ${MAX_CHAIN} keys`);
  let above: Held;
  if (creator.startsWith('apikey:')) {
    const parent = (await knownKey(creator.slice('apikey:'.length), store, now, cache))?.record;
    if (parent === undefined) throw invalidKey(`key ${record.id} ("${record.name}") was created by key ${creator.slice(7)}, which no longer exists`);
    if (parent.revokedAt !== null) throw invalidKey(`key ${record.id} ("${record.name}") was created by key ${parent.id}, which was revoked`);
    if (parent.expiresAt !== null && parent.expiresAt <= now) throw invalidKey(`key ${record.id} ("${record.name}") was created by key ${parent.id}, which expired`);
    above = await heldBy(parent, store, now, cache, mapping, depth + 1);
  } else {
    const groups = await principalGroups(store, creator);
    // A person the gateway holds no groups for holds nothing through their keys (fail closed).
    const roles = groups === null ? [] : rolesFor(groups, mapping);
    above = { roles, connections: null, access: { person: creator, groups: groups ?? [], admin: roles.includes('admin') } };
  }
  return {
    roles: own.roles.filter((r) => above.roles.includes(r)),
    connections: above.connections === null ? own.connections : own.connections!.filter((c) => above.connections!.includes(c)),
    ...(above.access === undefined ? {} : { access: above.access }),
  };
}

/** A key record as the cache holds it, with its stored hash ready for the compare. */
interface KnownKey {
  readonly record: ApiKeyRecord;
  readonly hash: Buffer;
}

export interface ApiKeyCacheOptions {
  /** How long a verified key's record is reused without reading the store, in ms. Default 1000; 0 turns the cache off. */
  readonly ttlMs?: number;
  /** Keys remembered, least recently used dropped first. Default 10000. */
  readonly maxEntries?: number;
  /** Monotonic milliseconds. Default performance.now. */
  readonly clock?: () => number;
}

/**
 * Key records that verified, by key id, for `ttlMs`. `forget` drops one and bumps `generation`,
 * so a store read that was under way during a revocation is not remembered after it.
 */
export class ApiKeyCache {
  readonly #entries: Lru<string, { known: KnownKey; until: number }>;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  #generation = 0;

  constructor(options: ApiKeyCacheOptions = {}) {
    const ttlMs = options.ttlMs ?? 1000;
    if (!Number.isFinite(ttlMs) || ttlMs < 0 || ttlMs > 60_000) throw new TypeError(`ApiKeyCache ttlMs must be 0–60000, not ${String(options.ttlMs)}`);
    this.#ttlMs = ttlMs;
    this.#entries = new Lru({ maxEntries: options.maxEntries ?? 10_000 });
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** Bumped by every forget. */
  get generation(): number { return this.#generation; }

  /** The record of key `id` while it is fresh; undefined otherwise. */
  get(id: string): KnownKey | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (this.#clock() < entry.until) return entry.known;
    this.#entries.delete(id);
    return undefined;
  }

  /** Remembers `known`, read from the store when `generation` was current; ignored if a forget came since. */
  set(known: KnownKey, generation: number): void {
    if (this.#ttlMs === 0 || generation !== this.#generation) return;
    this.#entries.set(known.record.id, { known, until: this.#clock() + this.#ttlMs });
  }

  /** Drops every key (the store's config epoch moved: some key may have changed on another replica). */
  forgetAll(): void {
    this.#generation++;
    this.#entries.clear();
  }

  /** Drops key `id`: its next use reads the store. */
  forget(id: string): void {
    this.#generation++;
    this.#entries.delete(id);
  }
}

const caches = new WeakMap<Store, ApiKeyCache>();

/** The key cache of `store` (one per store, made with default options on first use). */
export function apiKeyCacheOf(store: Store): ApiKeyCache {
  let cache = caches.get(store);
  if (cache === undefined) {
    cache = new ApiKeyCache();
    caches.set(store, cache);
  }
  return cache;
}

/** The revocation hook: call it when key `id` was revoked (or may have been) through `store`, so its next use is refused at once. */
export function forgetApiKey(store: Store, id: string): void {
  apiKeyCacheOf(store).forget(id);
}

/** The person a key acts for; the key itself (`apikey:<id>`) for a service key or one made before owners were recorded. */
export function ownerOfKey(record: ApiKeyRecord): string {
  return record.kind === 'personal' && record.owner !== null ? record.owner : `apikey:${record.id}`;
}

function apiKeyIdentity(record: ApiKeyRecord, held: Held): Identity {
  return {
    sub: `apikey:${record.id}`,
    owner: ownerOfKey(record),
    email: null,
    name: record.name,
    groups: [],
    roles: [...held.roles],
    via: 'apikey',
    tokenId: record.id,
    expiresAt: record.expiresAt,
    scopes: [],
    connections: held.connections === null ? null : [...held.connections],
    ...(held.access === undefined ? {} : { creatorAccess: held.access }),
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
