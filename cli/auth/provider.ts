// The identity provider as the CLI sees it: openid-client's Configuration from OpenID discovery of
// the issuer the gateway names, for the gateway's public client (no secret), and the provider's
// errors turned into one-line CLI errors. Plain HTTP is allowed only to a provider on this machine
// (`airlock dev`): anywhere else it would expose codes and tokens on the network.
import * as client from 'openid-client';
import { causeOf } from '../../lib/cause.ts';
import { CliError, type CliErrorCode } from '../errors.ts';

/** Seconds each request to the identity provider may take. */
const TIMEOUT_S = 10;

/** Scopes asked for: identity for the gateway (groups), and a refresh token where the provider offers one. */
const WANTED_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'];

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Discovers `issuer` for the public client `clientId`; CLI_IDP_ERROR when that fails. */
export async function discoverProvider(issuer: string, clientId: string): Promise<client.Configuration> {
  const url = URL.parse(issuer);
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new CliError('CLI_IDP_ERROR', `The gateway names ${JSON.stringify(issuer)} as its identity provider, which is not an http(s) URL; ask its administrator to fix auth.issuer.`);
  }
  const insecure = url.protocol === 'http:';
  if (insecure && !isLoopbackHost(url.hostname)) {
    throw new CliError('CLI_IDP_ERROR', `The identity provider ${issuer} uses plain HTTP on another machine; refusing to sign in over it (only a provider on this machine may use http).`);
  }
  try {
    return await client.discovery(url, clientId, undefined, client.None(), {
      timeout: TIMEOUT_S,
      ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
    });
  } catch (err) {
    throw providerError(err, `Cannot use the identity provider ${issuer}`);
  }
}

/**
 * The scope to ask for: ours, less what the provider's discovery says it does not support
 * (some providers refuse unknown scopes); all of ours when it does not say.
 */
export function chooseScope(config: client.Configuration): string {
  const supported = config.serverMetadata().scopes_supported;
  return WANTED_SCOPES.filter((s) => s === 'openid' || supported === undefined || supported.includes(s)).join(' ');
}

/** True when the provider answered an OAuth error `code` (e.g. invalid_grant). */
export function isOAuthError(err: unknown, code: string): boolean {
  return (err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError) && err.error === code;
}

/**
 * An identity-provider failure as a CLI error: `<context>: <what the provider said> (<its code>)`,
 * or what stopped the request (ECONNREFUSED, a timeout). Never includes a token.
 */
export function providerError(err: unknown, context: string, code: CliErrorCode = 'CLI_IDP_ERROR'): CliError {
  if (err instanceof CliError) return err;
  let reason: string;
  if (err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError) {
    reason = `${err.error_description ?? 'refused'} (${err.error})`;
  } else if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    reason = `no answer within ${TIMEOUT_S} s`;
  } else {
    reason = causeOf(err);
  }
  return new CliError(code, `${context}: ${reason}.`, { cause: err });
}

/** When the access token expires (seconds since the epoch): expires_in, else 5 minutes, the cautious guess. */
export function expiresAt(tokens: client.TokenEndpointResponse, now: () => number = Date.now): number {
  const lifetime = typeof tokens.expires_in === 'number' && tokens.expires_in > 0 ? tokens.expires_in : 300;
  return Math.floor(now() / 1000) + lifetime;
}
