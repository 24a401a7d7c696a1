// Signing in to the console: OAuth 2.0 authorization code with PKCE (S256), server side, at the
// gateway's own identity provider (auth.issuer), as the web client console.clientId.
//
//   GET  /console/login?return=/console/…   a sign-in in progress (verifier, state, nonce) sealed in the
//                                           store, its secret in __Host-airlock-login; 303 to the provider
//   GET  /console/callback?code&state       the sign-in taken (one use), state checked, code exchanged
//                                           with the verifier for tokens for the gateway's resource;
//                                           a NEW secret in __Host-airlock (no fixation); 303 back
//   POST /console/logout                    refresh token revoked at the provider, row removed, cookie cleared
//
// The provider's metadata comes from the gateway's own discovery of the issuer (gateway/authn).
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as oidc from 'openid-client';
import type { Authn } from '../authn/index.ts';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../../lib/log.ts';
import { LOGIN_COOKIE, LOGIN_TTL_S, SESSION_COOKIE, cookieSecret, setCookie, type Refresh, type SessionTokens, type WebSessions } from './web-session.ts';

export const CALLBACK_PATH = '/console/callback';
/** Scopes asked for: the identity the gateway authorizes on, and a refresh token where offered. */
const SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'];
/** A console path to come back to: no scheme, no host, no `//`, no backslash (no open redirect). */
const RETURN_TO = /^\/console(\/[A-Za-z0-9_\-./]*)?(\?[A-Za-z0-9_\-.=&%:+]*)?$/;

export interface ConsoleLogin {
  start(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  callback(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /** Revokes the refresh token (best effort: the row goes whatever the provider says). */
  revoke(refreshToken: string | null): Promise<void>;
  readonly refresh: Refresh;
}

export function consoleLogin(o: { config: Config; authn: Authn; sessions: () => WebSessions; publicUrl: string; resource: string; logger: Logger }): ConsoleLogin {
  let client: oidc.Configuration | undefined;
  /** The console's client over the metadata the gateway discovered at start. */
  const configuration = (): oidc.Configuration => {
    if (client) return client;
    const meta = o.authn.discovery.current();
    if (!meta) {
      throw new GatewayError('GW_IDP_UNAVAILABLE', o.config.auth.issuer === undefined
        ? 'No identity provider is configured (auth.issuer), so nobody can sign in to the console.'
        : `The identity provider ${o.config.auth.issuer} has not been discovered yet; retry shortly.`);
    }
    const secret = o.config.console.clientSecret;
    client = new oidc.Configuration(meta.configuration.serverMetadata(), o.config.console.clientId, secret, secret ? oidc.ClientSecretBasic(secret) : oidc.None());
    if (new URL(meta.issuer).protocol === 'http:') oidc.allowInsecureRequests(client); // discovery refused plain http off loopback already
    client.timeout = 10;
    return client;
  };
  const redirectUri = `${o.publicUrl}${CALLBACK_PATH}`;
  const tokensOf = (t: oidc.TokenEndpointResponse): Omit<SessionTokens, 'sub'> => ({
    accessToken: t.access_token,
    refreshToken: t.refresh_token ?? null,
    accessExpiresAt: Date.now() + (t.expires_in ?? 300) * 1000,
  });

  return {
    async start(_req, res, url) {
      const config = configuration();
      const wanted = url.searchParams.get('return');
      const returnTo = wanted !== null && RETURN_TO.test(wanted) && !wanted.includes('..') ? wanted : '/console/reviews';
      const supported = config.serverMetadata().scopes_supported;
      const scope = SCOPES.filter((s) => s === 'openid' || supported === undefined || supported.includes(s)).join(' ');
      const login = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce(), returnTo };
      const secret = await o.sessions().begin(login);
      const target = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri, scope, state: login.state, nonce: login.nonce, resource: o.resource,
        code_challenge: await oidc.calculatePKCECodeChallenge(login.verifier), code_challenge_method: 'S256',
        ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}),
      });
      res.writeHead(303, { location: target.href, 'set-cookie': setCookie(LOGIN_COOKIE, secret, LOGIN_TTL_S), 'cache-control': 'no-store' }).end();
    },

    async callback(req, res, url) {
      const login = await o.sessions().takeLogin(cookieSecret(req, LOGIN_COOKIE));
      if (!login) throw new GatewayError('GW_CONSOLE_LOGIN_FAILED', 'This sign-in is unknown, expired or already used (it must finish in the browser that started it, within 10 minutes); sign in again at /console.');
      let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
      try {
        const current = new URL(`${redirectUri}${url.search}`);
        tokens = await oidc.authorizationCodeGrant(configuration(), current, { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce });
      } catch (err) {
        const said = err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError ? `${err.error}${err.error_description ? `: ${err.error_description}` : ''}` : (err as Error).message;
        o.logger.warn('console sign-in failed', { reason: said });
        throw new GatewayError('GW_CONSOLE_LOGIN_FAILED', `The identity provider did not complete the sign-in (${said.slice(0, 200)}); sign in again at /console.`, { cause: err });
      }
      const sub = tokens.claims()?.sub;
      if (sub === undefined) throw new GatewayError('GW_CONSOLE_LOGIN_FAILED', 'The identity provider returned no ID token naming who signed in; sign in again at /console.');
      const secret = await o.sessions().create({ sub, ...tokensOf(tokens) });
      o.logger.info('console sign-in', { sub });
      res.writeHead(303, {
        location: login.returnTo, 'cache-control': 'no-store',
        'set-cookie': [setCookie(SESSION_COOKIE, secret, o.config.console.sessionTtl), setCookie(LOGIN_COOKIE, '', 0)],
      }).end();
    },

    async revoke(refreshToken) {
      if (refreshToken === null) return;
      try {
        const config = configuration();
        if (config.serverMetadata().revocation_endpoint) await oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
      } catch (err) {
        o.logger.warn('console sign-out: the identity provider did not revoke the refresh token', { reason: (err as Error).message });
      }
    },

    refresh: async (refreshToken) => {
      try {
        return tokensOf(await oidc.refreshTokenGrant(configuration(), refreshToken, { resource: o.resource }));
      } catch (err) {
        if (err instanceof oidc.ResponseBodyError) return null; // invalid_grant and kin: signed out
        throw new GatewayError('GW_IDP_UNAVAILABLE', 'The identity provider could not refresh the console sign-in; retry shortly.', { cause: err });
      }
    },
  };
}
