// Authentication for the whole gateway: discovery of the issuer, the JWT verifier built on it,
// API keys, and the readiness check. `main.ts` creates one and hands the authenticator to routes.
import type { Config } from '../config/schema.ts';
import type { ReadinessCheck } from '../health.ts';
import type { Logger } from '../../lib/log.ts';
import type { Store } from '../store/types.ts';
import { createAuthenticator, type Authenticator } from './authenticate.ts';
import { discoverIssuer, type Discovery } from './discovery.ts';
import { createIntrospector, type Introspector } from './introspection.ts';
import { createJwtVerifier, type JwtVerifier } from './jwt.ts';

export interface Authn {
  readonly authenticator: Authenticator;
  readonly discovery: Discovery;
  /** Checks for /readyz: the identity provider, when one is configured. */
  readonly readiness: readonly ReadinessCheck[];
  /** The JWT verifier once discovery succeeded. */
  verifier(): JwtVerifier | undefined;
  /** The introspector for opaque tokens, when enabled and discovered. */
  introspector(): Introspector | undefined;
  stop(): void;
}

/** The gateway's public URL: server.publicUrl, else http://localhost:<port>. */
export function publicUrlOf(config: Config): string {
  return (config.server.publicUrl ?? `http://localhost:${config.server.port}`).replace(/\/+$/, '');
}

/** The audience access tokens must carry: auth.audience, else the public URL. */
export function audienceOf(config: Config): string {
  return config.auth.audience ?? publicUrlOf(config);
}

export function createAuthn(config: Config, store: Store, logger: Logger): Authn {
  const discovery = discoverIssuer(config.auth, logger, { allowPlainHttp: config.dev.embeddedIdp });
  let verifier: JwtVerifier | undefined;
  let introspector: Introspector | undefined;
  void discovery.done.then((meta) => {
    verifier = createJwtVerifier({ issuer: meta.issuer, jwksUri: meta.jwksUri, audience: audienceOf(config), auth: config.auth });
    if (config.auth.introspection.enabled) {
      if (meta.introspectionEndpoint === undefined) logger.error('auth.introspection.enabled, but the identity provider publishes no introspection_endpoint: opaque tokens will be refused');
      else introspector = createIntrospector({ configuration: meta.configuration, audience: audienceOf(config), auth: config.auth });
    }
  });
  const base = publicUrlOf(config);
  const authenticator = createAuthenticator({
    config,
    store,
    verifier: () => verifier,
    introspector: () => introspector,
    requiredScopes: config.auth.requiredScopes,
    resourceMetadataUrl: (path) => `${base}/.well-known/oauth-protected-resource${resourcePath(path)}`,
  });
  return {
    authenticator,
    discovery,
    readiness: config.auth.issuer === undefined ? [] : [discovery.readiness],
    verifier: () => verifier,
    introspector: () => introspector,
    stop: () => discovery.stop(),
  };
}

/**
 * The protected resource a request path belongs to, as the path suffix of its RFC 9728
 * metadata URL: `/mcp/<connection>` and `/proxy/<connection>` have their own; everything else
 * is the gateway itself (no suffix).
 */
export function resourcePath(path: string): string {
  const m = /^\/(mcp|proxy)\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\/|$)/.exec(path);
  return m ? `/${m[1]}/${m[2]}` : '';
}
