// Who is calling, as the gateway has verified it, and which roles that gives them.
import type { Config, Role } from '../config/schema.ts';
import { ROLES } from '../config/schema.ts';

export interface Identity {
  /** Subject: the identity provider's `sub`, or `apikey:<id>` for an API key. */
  readonly sub: string;
  /**
   * The person this identity acts for, by their `sub`: a personal API key's owner; the key itself
   * (`apikey:<id>`) for a service key. Absent: the identity is a person, `sub` (see ownerOf).
   * Reviews count people by it: a requester never approves through any key of theirs.
   */
  readonly owner?: string;
  /**
   * For an API key created (directly or through other keys) by a person: that person's `sub` and
   * what they may use now — their groups as last presented and whether they hold admin. The key uses only the
   * connections its own list and this both allow. Absent: no such limit.
   */
  readonly creatorAccess?: { readonly person: string; readonly groups: readonly string[]; readonly admin: boolean };
  readonly email: string | null;
  readonly name: string | null;
  readonly groups: readonly string[];
  readonly roles: readonly Role[];
  /** How the identity was proven. */
  readonly via: 'oidc' | 'apikey' | 'agent';
  /** The token's `jti` or the API key's id; null when the token has none. */
  readonly tokenId: string | null;
  /** When the credential stops being valid, epoch ms; null for a key without expiry. */
  readonly expiresAt: number | null;
  /** Scopes the access token carries (empty for API keys). */
  readonly scopes: readonly string[];
  /** Connections an API key is limited to; null = no such limit (users: their groups decide). */
  readonly connections: readonly string[] | null;
}

/** The person `identity` acts for (its owner, else itself). */
export function ownerOf(identity: Identity): string {
  return identity.owner ?? identity.sub;
}

/**
 * The human behind `identity`, as reviews count people: a person themselves, a personal key's
 * owner, a service key's creating person (a key made before creators were recorded: the key).
 */
export function personOf(identity: Identity): string {
  return identity.creatorAccess?.person ?? ownerOf(identity);
}

/** A service identity: an API key made for automation, owned by a key rather than a person. */
export function isService(identity: Identity): boolean {
  return identity.via === 'apikey' && ownerOf(identity).startsWith('apikey:');
}

/** The roles `groups` hold under auth.roles; `*` in a role's list means every authenticated user. */
export function rolesFor(groups: readonly string[], mapping: Config['auth']['roles']): Role[] {
  const held = new Set(groups);
  return ROLES.filter((role) => mapping[role].some((g) => g === '*' || held.has(g)));
}

/** The identity as `/api/v1/me` shows it. */
export function publicIdentity(identity: Identity) {
  const { sub, email, name, groups, roles, via, tokenId, expiresAt } = identity;
  return { sub, owner: ownerOf(identity), service: isService(identity), email, name, groups, roles, via, tokenId, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString() };
}
