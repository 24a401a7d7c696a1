// The credential the agent presents to a connection's target, per request:
//
//   vault entry of the connection (else the config's static `credentials:`, for development)
//     bearer | basic | header   → sent as stored                         (static.ts)
//     jwt-signing-key           → a JWT minted for the caller            (jwt.ts)
//     oauth-client              → a token from the target's token endpoint (oauth.ts)
//     postgres                  → for the Postgres data path only         (postgres())
//
// Minted and fetched tokens are cached until shortly before they expire (token-cache.ts), keyed
// by the entry's fingerprint too, so `secrets set` takes effect with the next token. The public
// keys of every jwt-signing-key entry make the agent's JWKS; a key that was replaced or removed
// stays published for MAX_TTL_SECONDS, so tokens it signed still verify until they expire.
import type { JWK } from 'jose';
import type { Logger } from '../../lib/log.ts';
import type { ConnectionSettings } from '../config.ts';
import { AgentError } from '../errors.ts';
import type { Vault } from '../vault/vault.ts';
import { MAX_TTL_SECONDS, mintJwt, publicJwkOf } from './jwt.ts';
import { requestToken } from './oauth.ts';
import type { JwtSigningSecret, PostgresSecret, Secret, StaticCredential } from './schema.ts';
import { staticHeaders } from './static.ts';
import { TokenCache } from './token-cache.ts';

/** What the gateway said about the request the credential is for. */
export interface CredentialRequest {
  /** The caller's identity (`sub`) as the gateway authenticated it; needed to mint per caller. */
  readonly caller: string | undefined;
  /** The target the request goes to (its origin is the default `aud` of minted tokens). */
  readonly target: URL;
}

export interface CredentialsOptions {
  readonly vault: Vault;
  /** The agent's name: `act.sub` of minted tokens, and their default `iss`. */
  readonly agent: string;
  /** The config's static `credentials:`, used when the vault has no entry. Default none. */
  readonly staticCredentials?: Readonly<Record<string, StaticCredential>>;
  /** The config's `connections:` (jwt and oauth settings). Default none. */
  readonly connections?: Readonly<Record<string, ConnectionSettings>>;
  readonly logger: Logger;
  /** Clock in ms. Default Date.now. */
  readonly now?: () => number;
}

export interface Credentials {
  /** The headers (lower-case names) that carry the connection's credential; {} when it has none. Rejects with a coded AgentError. */
  headersFor(connection: string, request: CredentialRequest): Promise<Record<string, string>>;
  /** The agent's public JWKS: every jwt-signing-key entry, and recently replaced ones. */
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * The database login of a `postgres` connection, for the Postgres data path and built-in
   * tools; undefined when the vault has no entry; AGENT_CREDENTIAL_FAILED for another type.
   */
  postgres(connection: string): Promise<{ readonly username: string; readonly password: string } | undefined>;
  /** Drops cached tokens (the agent's stop). */
  clear(): void;
}

const MAX_CALLER = 1024;

export function createCredentials(options: CredentialsOptions): Credentials {
  const { vault, agent } = options;
  const now = options.now ?? Date.now;
  const tokens = new TokenCache({ now });
  const published = new Map<string, { readonly jwk: JWK; retiredAt: number | undefined }>(); // by entry fingerprint
  const settingsOf = (connection: string): ConnectionSettings | undefined =>
    options.connections !== undefined && Object.hasOwn(options.connections, connection) ? options.connections[connection] : undefined;
  const failed = (connection: string, why: string) => new AgentError('AGENT_CREDENTIAL_FAILED', `No credential for connection ${connection}: ${why}.`);

  /** The entry's secret, checked to be of `type` (the entry may have changed since its version was read). */
  async function secretOf<T extends Secret['type']>(connection: string, type: T): Promise<Extract<Secret, { type: T }>> {
    const secret = await vault.get(connection);
    if (secret?.type !== type) throw failed(connection, `its vault entry changed while it was read; retry`);
    return secret as Extract<Secret, { type: T }>;
  }

  function callerOf(connection: string, request: CredentialRequest): string {
    const { caller } = request;
    if (typeof caller !== 'string' || caller === '' || caller.length > MAX_CALLER) throw failed(connection, 'the gateway named no caller to mint a token for');
    return caller;
  }

  async function minted(connection: string, request: CredentialRequest, fingerprint: string): Promise<string> {
    const caller = callerOf(connection, request);
    const jwt = settingsOf(connection)?.jwt;
    const claims = { issuer: jwt?.issuer ?? agent, subject: caller, audience: jwt?.audience ?? request.target.origin, actor: agent, ttlSeconds: jwt?.ttl ?? MAX_TTL_SECONDS };
    const key = ['jwt', connection, fingerprint, claims.issuer, claims.audience, claims.ttlSeconds, caller].join('\u0000');
    return tokens.get(key, async () => mintJwt(await secretOf(connection, 'jwt-signing-key'), claims, now()));
  }

  async function fetched(connection: string, request: CredentialRequest, fingerprint: string): Promise<string> {
    const oauth = settingsOf(connection)?.oauth;
    if (oauth === undefined) throw failed(connection, `its vault entry is an oauth-client, but connections.${connection}.oauth (the token endpoint) is not configured`);
    if (oauth.mode === 'client_credentials') {
      return tokens.get(['cc', connection, fingerprint].join('\u0000'), async () => requestToken(connection, oauth, await secretOf(connection, 'oauth-client'), undefined, now));
    }
    const caller = callerOf(connection, request);
    const signer = oauth.subjectTokenKey!;
    return tokens.get(['te', connection, fingerprint, caller].join('\u0000'), async () => {
      const signing = await vault.get(signer);
      if (signing?.type !== 'jwt-signing-key') throw failed(connection, `connections.${connection}.oauth.subjectTokenKey names ${signer}, which is not a jwt-signing-key in the vault`);
      const endpoint = new URL(oauth.tokenEndpoint);
      const subject = await mintJwt(signing, {
        issuer: settingsOf(connection)?.jwt.issuer ?? agent, subject: caller, actor: agent,
        audience: oauth.subjectTokenAudience ?? endpoint.origin, ttlSeconds: 60,
      }, now());
      return requestToken(connection, oauth, await secretOf(connection, 'oauth-client'), subject.value, now);
    });
  }

  return {
    async headersFor(connection, request) {
      const version = await vault.version(connection);
      if (version === undefined) {
        const fallback = options.staticCredentials !== undefined && Object.hasOwn(options.staticCredentials, connection) ? options.staticCredentials[connection] : undefined;
        return fallback === undefined ? {} : staticHeaders(fallback);
      }
      switch (version.type) {
        case 'bearer': case 'basic': case 'header': {
          const secret = await vault.get(connection);
          if (secret === undefined || (secret.type !== 'bearer' && secret.type !== 'basic' && secret.type !== 'header')) throw failed(connection, 'its vault entry changed while it was read; retry');
          return staticHeaders(secret);
        }
        case 'jwt-signing-key': return { authorization: `Bearer ${await minted(connection, request, version.fingerprint)}` };
        case 'oauth-client': return { authorization: `Bearer ${await fetched(connection, request, version.fingerprint)}` };
        case 'postgres': throw failed(connection, 'its vault entry is a postgres login, which only the Postgres data path uses');
      }
    },

    async jwks() {
      const current = new Set<string>();
      for (const entry of (await vault.list()).filter((e) => e.type === 'jwt-signing-key')) { // bounded by the vault's entries
        const version = await vault.version(entry.connection);
        if (version === undefined) continue;
        current.add(version.fingerprint);
        const known = published.get(version.fingerprint);
        if (known !== undefined) {
          known.retiredAt = undefined;
          continue;
        }
        try {
          const secret = await vault.get(entry.connection);
          if (secret?.type === 'jwt-signing-key') published.set(version.fingerprint, { jwk: await publicJwkOf(secret as JwtSigningSecret), retiredAt: undefined });
        } catch (err) {
          // Left out, not fatal: a key the agent cannot read is one it cannot sign with either.
          options.logger.error('signing key not published: its vault entry cannot be read', { connection: entry.connection, code: (err as { code?: unknown }).code, error: (err as Error).message });
        }
      }
      const t = now();
      for (const [fingerprint, key] of published) {
        if (current.has(fingerprint)) continue;
        key.retiredAt ??= t;
        if (t - key.retiredAt > MAX_TTL_SECONDS * 1000) published.delete(fingerprint);
      }
      const byKid = new Map<string, JWK>();
      for (const { jwk } of published.values()) byKid.set(jwk.kid!, jwk);
      return { keys: [...byKid.values()] };
    },

    async postgres(connection) {
      const secret = await vault.get(connection);
      if (secret === undefined) return undefined;
      if (secret.type !== 'postgres') throw failed(connection, `its vault entry is a ${secret.type} credential, not a postgres login`);
      const { username, password } = secret as PostgresSecret;
      return { username, password };
    },

    clear() {
      tokens.clear();
    },
  };
}
