// The stored login in use: a current access token for every command that calls the gateway
// (refreshed before it expires, under the credentials lock so concurrent commands never replay a
// rotated refresh token), and logout (RFC 7009 revocation, then the entry is deleted).
import * as client from 'openid-client';
import { CliError } from '../errors.ts';
import type { CredentialStore, StoredSession } from './credentials.ts';
import { gatewayKey } from '../gateway-url.ts';
import { discoverProvider, expiresAt, isOAuthError, providerError } from './provider.ts';

/** Seconds before expiry at which a token is refreshed rather than used. */
export const REFRESH_MARGIN_S = 60;

export interface SessionOptions {
  /** Clock in milliseconds. Default Date.now. */
  readonly now?: () => number;
}

/**
 * The session for `gateway` with an access token valid for at least REFRESH_MARGIN_S more
 * seconds, refreshing it when needed. CLI_NOT_LOGGED_IN when there is none or it cannot be renewed.
 */
export async function currentSession(store: CredentialStore, gateway: string, options: SessionOptions = {}): Promise<StoredSession> {
  const now = options.now ?? Date.now;
  const fresh = (s: StoredSession) => s.expiresAt - now() / 1000 > REFRESH_MARGIN_S;
  const stored = await store.get(gateway);
  if (stored === undefined) throw notLoggedIn(gateway);
  if (fresh(stored)) return stored;

  let why: string | undefined; // why the session ended, when it did
  const session = await store.update(async (sessions) => {
    const key = gatewayKey(gateway);
    const s = sessions[key]; // again, under the lock: another command may have refreshed it meanwhile
    if (s === undefined) return undefined;
    if (fresh(s)) return s;
    if (s.refreshToken === undefined) {
      if (s.expiresAt > now() / 1000) return s; // no way to renew it: use what is left of it
      why = 'your session expired and the identity provider gave no refresh token';
      delete sessions[key];
      return undefined;
    }
    const config = await discoverProvider(s.issuer, s.clientId);
    let tokens: client.TokenEndpointResponse;
    try {
      tokens = await client.refreshTokenGrant(config, s.refreshToken, { resource: s.resource });
    } catch (err) {
      if (!isOAuthError(err, 'invalid_grant')) throw providerError(err, `Cannot renew your session at ${gateway} with ${s.issuer}`);
      why = 'your session expired or was revoked';
      delete sessions[key]; // expired or revoked: it can never work again
      return undefined;
    }
    const renewed: StoredSession = {
      ...s,
      accessToken: tokens.access_token,
      expiresAt: expiresAt(tokens, now),
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}), // rotated, or the same one again
      ...(tokens.scope ? { scope: tokens.scope } : {}),
    };
    sessions[key] = renewed;
    return renewed;
  });
  if (session === undefined) throw notLoggedIn(gateway, why);
  return session;
}

/** A current access token for `gateway` (see currentSession). */
export async function accessToken(store: CredentialStore, gateway: string, options: SessionOptions = {}): Promise<string> {
  return (await currentSession(store, gateway, options)).accessToken;
}

export interface LogoutResult {
  /** Whether there was a stored session. */
  readonly found: boolean;
  /** Why the provider could not revoke the session, when it could not; the local entry is deleted anyway. */
  readonly revocationProblem?: string;
}

/**
 * Revokes the refresh token (which ends the whole grant at providers like the dev one) and the
 * access token where the provider supports that, then deletes the entry whatever the provider said.
 */
export async function logout(store: CredentialStore, gateway: string): Promise<LogoutResult> {
  return store.update(async (sessions) => {
    const key = gatewayKey(gateway);
    const s = sessions[key];
    if (s === undefined) return { found: false };
    delete sessions[key];
    try {
      const config = await discoverProvider(s.issuer, s.clientId);
      if (config.serverMetadata().revocation_endpoint === undefined) {
        return { found: true, revocationProblem: `${s.issuer} offers no token revocation` };
      }
      if (s.refreshToken !== undefined) await client.tokenRevocation(config, s.refreshToken, { token_type_hint: 'refresh_token' });
      try {
        await client.tokenRevocation(config, s.accessToken, { token_type_hint: 'access_token' });
      } catch (err) {
        // JWT access tokens are often not revocable (RFC 7009 §2.2.1); they expire on their own
        if (!isOAuthError(err, 'unsupported_token_type')) throw err;
      }
      return { found: true };
    } catch (err) {
      return { found: true, revocationProblem: providerError(err, `${s.issuer} could not revoke the session`).message.replace(/\.$/, '') };
    }
  });
}

function notLoggedIn(gateway: string, why?: string): CliError {
  const what = why === undefined ? `You are not logged in to ${gateway}` : `You are no longer logged in to ${gateway}: ${why}`;
  return new CliError('CLI_NOT_LOGGED_IN', `${what}; run \`airlock login --gateway ${gateway}\`.`);
}
