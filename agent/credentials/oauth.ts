// Tokens from the target's own OAuth 2.0 authorization server, with the connection's
// `oauth-client` secret (client id and secret), through openid-client:
//
// - client_credentials: one token for the connection, whoever calls;
// - token_exchange (RFC 8693): one token per caller. The subject token is a short-lived JWT the
//   agent signs (credentials/jwt.ts) with `sub` = the caller as the gateway authenticated them,
//   which the authorization server verifies against the agent's JWKS; the caller's own token is
//   never available to the agent (the gateway strips it), let alone sent.
//
// Requests have a timeout, follow no redirects (openid-client sends redirect: manual) and go to
// https:// only, except to a loopback address. A refusal is AGENT_CREDENTIAL_FAILED naming the
// endpoint and the server's error code; the client secret is never in a message.
import * as oidc from 'openid-client';
import type { ConnectionSettings } from '../config.ts';
import { AgentError } from '../errors.ts';
import { causeOf } from '../../lib/cause.ts';
import type { IssuedToken } from './token-cache.ts';
import type { OAuthClientSecret } from './schema.ts';

export type OAuthSettings = NonNullable<ConnectionSettings['oauth']>;

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * An access token from `settings.tokenEndpoint`: client credentials, or (with `subjectToken`) a
 * token exchange. `expiresAt` in ms; when the server gives no expires_in it is `now` (not cached).
 */
export async function requestToken(connection: string, settings: OAuthSettings, client: OAuthClientSecret, subjectToken: string | undefined, now: () => number = Date.now): Promise<IssuedToken> {
  const endpoint = new URL(settings.tokenEndpoint);
  const auth = settings.auth === 'client_secret_post' ? oidc.ClientSecretPost(client.clientSecret) : oidc.ClientSecretBasic(client.clientSecret);
  const config = new oidc.Configuration({ issuer: endpoint.origin, token_endpoint: endpoint.href }, client.clientId, undefined, auth);
  config.timeout = settings.timeout;
  if (endpoint.protocol === 'http:') oidc.allowInsecureRequests(config); // loopback only (config validation)
  const params: Record<string, string> = {};
  if (settings.scope !== undefined) params.scope = settings.scope;
  if (settings.audience !== undefined) params.audience = settings.audience;
  if (settings.resource !== undefined) params.resource = settings.resource;
  const started = now();
  let answer;
  try {
    answer = subjectToken === undefined
      ? await oidc.clientCredentialsGrant(config, params)
      : await oidc.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, { ...params, subject_token: subjectToken, subject_token_type: JWT_TOKEN_TYPE, requested_token_type: ACCESS_TOKEN_TYPE });
  } catch (err) {
    throw tokenError(connection, endpoint, err);
  }
  if (answer.token_type.toLowerCase() !== 'bearer') {
    throw new AgentError('AGENT_CREDENTIAL_FAILED', `The token endpoint ${endpoint.origin}${endpoint.pathname} issued a ${answer.token_type.slice(0, 40)} token for connection ${connection}; the agent sends Bearer tokens only.`);
  }
  const expiresIn = answer.expiresIn();
  return { value: answer.access_token, expiresAt: expiresIn === undefined ? started : started + expiresIn * 1000 };
}

function tokenError(connection: string, endpoint: URL, err: unknown): AgentError {
  const where = `${endpoint.origin}${endpoint.pathname}`;
  // An OAuth error body, or (a 401 for client authentication) the same error in WWW-Authenticate.
  const refusal = err instanceof oidc.ResponseBodyError ? { status: err.status, error: err.error, description: err.error_description }
    : err instanceof oidc.WWWAuthenticateChallengeError ? { status: err.status, error: err.cause[0]?.parameters.error ?? err.cause[0]?.scheme ?? 'challenge', description: err.cause[0]?.parameters.error_description }
      : undefined;
  if (refusal !== undefined) {
    const description = typeof refusal.description === 'string' ? `: ${refusal.description.slice(0, 200)}` : '';
    return new AgentError('AGENT_CREDENTIAL_FAILED', `The token endpoint ${where} refused a token for connection ${connection} (HTTP ${refusal.status}, ${refusal.error.slice(0, 80)}${description}); check the client and the connections.${connection}.oauth settings.`, { cause: err });
  }
  const name = (err as { name?: string })?.name;
  const reason = name === 'TimeoutError' || name === 'AbortError' ? 'it did not answer in time' : causeOf(err).slice(0, 200);
  return new AgentError('AGENT_CREDENTIAL_FAILED', `The token endpoint ${where} gave no token for connection ${connection} (${reason}).`, { cause: err });
}
