// What a person held when they last authenticated, kept in the store so that the API keys they
// created are held to it when the person is not there: a key never holds more than its creator,
// and a person's roles exist only in their access token. Each OIDC authentication notes the
// groups the token carried (a write when they changed, or at most once a minute per person and
// gateway, so other replicas' notes cannot linger); the roles are worked out from those groups
// with the current auth.roles at each key use, so a change of that mapping applies too.
//
// Limit (documented): a person who loses a group at the identity provider and never calls the
// gateway again keeps what their keys hold until an admin revokes them or they expire.
import type { Store } from '../store/types.ts';
import type { Identity } from './identity.ts';
import { Lru } from '../../lib/lru.ts';

/** How long a noted person is not noted again when nothing changed, in ms. */
const RENOTE_MS = 60_000;
/** How long a person's groups, once read, are reused for their keys, in ms (as key records). */
const READ_TTL_MS = 1000;

interface Noted { readonly fingerprint: string; readonly at: number }
interface Read { readonly groups: readonly string[] | null; readonly until: number }

const noted = new WeakMap<Store, Lru<string, Noted>>();
const reads = new WeakMap<Store, Lru<string, Read>>();

function lruOf<V>(map: WeakMap<Store, Lru<string, V>>, store: Store): Lru<string, V> {
  let lru = map.get(store);
  if (lru === undefined) {
    lru = new Lru({ maxEntries: 10_000 });
    map.set(store, lru);
  }
  return lru;
}

/**
 * Notes the groups person `identity` presented (OIDC identities only; others are ignored). Awaited
 * by the authenticator: a lost role must reach the store before the person's keys are used again.
 * `now`: epoch ms.
 */
export async function notePrincipal(store: Store, identity: Identity, now: number = Date.now()): Promise<void> {
  if (identity.via !== 'oidc') return;
  const groups = [...new Set(identity.groups)].sort();
  const fingerprint = JSON.stringify(groups);
  const cache = lruOf(noted, store);
  const last = cache.get(identity.sub);
  if (last !== undefined && last.fingerprint === fingerprint && now - last.at < RENOTE_MS) return;
  await store.principals.put({ sub: identity.sub, groups, seenAt: now });
  cache.set(identity.sub, { fingerprint, at: now });
  lruOf(reads, store).set(identity.sub, { groups, until: performance.now() + READ_TTL_MS });
}

/** The groups person `sub` last presented; null when the gateway never saw them. Reused for a second. */
export async function principalGroups(store: Store, sub: string): Promise<readonly string[] | null> {
  const cache = lruOf(reads, store);
  const hit = cache.get(sub);
  if (hit !== undefined && performance.now() < hit.until) return hit.groups;
  const record = await store.principals.get(sub);
  const groups = record?.groups ?? null;
  cache.set(sub, { groups, until: performance.now() + READ_TTL_MS });
  return groups;
}
