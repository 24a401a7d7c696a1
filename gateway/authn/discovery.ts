// Discovering the configured OpenID provider (openid-client) at start, retried with backoff.
// Until it succeeds the gateway is not ready (/readyz) and refuses tokens with GW_IDP_UNAVAILABLE.
import * as oidc from 'openid-client';
import type { Config } from '../config/schema.ts';
import type { ReadinessCheck } from '../health.ts';
import { isLoopbackHost } from '../../lib/config.ts';
import type { Logger } from '../../lib/log.ts';

export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwksUri: URL;
  readonly introspectionEndpoint: URL | undefined;
  /** The openid-client configuration (for introspection). */
  readonly configuration: oidc.Configuration;
}

export interface Discovery {
  /** The metadata once discovered, else undefined. */
  current(): IssuerMetadata | undefined;
  /** Resolves with the metadata when discovery succeeds (never rejects; it keeps retrying). */
  readonly done: Promise<IssuerMetadata>;
  readonly readiness: ReadinessCheck;
  /** Stops retrying. */
  stop(): void;
}

/** Backoff between attempts, in ms: 0.5 s doubling to 30 s. */
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

export interface DiscoveryOptions {
  /**
   * Accept a plain http:// issuer on a non-loopback host. Only with dev.embeddedIdp (which starts
   * with a DEV ONLY warning): the compose file's development provider runs in a container of its
   * own, http://idp:8081. Default false: such an issuer is refused (tokens and keys in clear).
   */
  readonly allowPlainHttp?: boolean;
}

export function discoverIssuer(auth: Config['auth'], logger: Logger, options: DiscoveryOptions = {}): Discovery {
  const issuer = auth.issuer;
  let metadata: IssuerMetadata | undefined;
  let lastError = 'not attempted yet';
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const done = new Promise<IssuerMetadata>((resolve) => {
    if (issuer === undefined) return; // never: no provider configured
    const url = new URL(issuer);
    const insecure = url.protocol === 'http:';
    let delay = FIRST_DELAY_MS;
    const attempt = async () => {
      if (stopped) return;
      try {
        if (insecure && !isLoopbackHost(url.hostname) && options.allowPlainHttp !== true) throw new Error(`the issuer ${issuer} uses plain http on a non-loopback host; it must be https`);
        const clientAuth = auth.introspection.enabled && auth.introspection.clientSecret ? oidc.ClientSecretBasic(auth.introspection.clientSecret) : oidc.None();
        const clientId = auth.introspection.enabled && auth.introspection.clientId ? auth.introspection.clientId : auth.cliClientId;
        const configuration = await oidc.discovery(url, clientId, undefined, clientAuth, { timeout: 5, ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}) });
        const server = configuration.serverMetadata();
        if (!server.jwks_uri) throw new Error('the discovery document has no jwks_uri');
        metadata = {
          issuer: server.issuer,
          jwksUri: new URL(server.jwks_uri),
          introspectionEndpoint: server.introspection_endpoint ? new URL(server.introspection_endpoint) : undefined,
          configuration,
        };
        logger.info('identity provider discovered', { issuer: server.issuer, jwksUri: server.jwks_uri });
        resolve(metadata);
      } catch (err) {
        lastError = (err as Error)?.message ?? String(err);
        logger.warn('identity provider discovery failed; retrying', { issuer, retryInMs: delay, reason: lastError });
        timer = setTimeout(() => void attempt(), delay);
        timer.unref();
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    };
    void attempt();
  });

  return {
    current: () => metadata,
    done,
    readiness: {
      name: 'identity provider',
      check: async () => {
        if (issuer === undefined) throw new Error('no identity provider configured (auth.issuer)');
        if (!metadata) throw new Error(`discovery of ${issuer} has not succeeded: ${lastError}`);
      },
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
