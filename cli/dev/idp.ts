// The embedded development OpenID provider behind `airlock dev`: oidc-provider on loopback, two
// password-less users (alice in `admins`, bob in `developers`), a public client for the CLI and any
// public native client that registers itself.
// It issues what a real company IdP issues to `airlock login`: Authorization Code + PKCE (S256) on
// a loopback redirect (any port, RFC 8252), the device flow (RFC 8628), refresh tokens for
// offline_access, revocation (RFC 7009), introspection (RFC 7662), and RFC 9068 JWT access tokens
// (`typ: at+jwt`, ES256) for exactly one resource (RFC 8707): the gateway's audience, carrying
// `groups`, `email` and `name`. Dynamic client registration (RFC 7591) admits public native
// clients with loopback redirects, so MCP clients can register and sign in the same way; and
// `POST /dev/token` (cli/dev/token-endpoint.ts) mints the same access token without a browser.
// DEV ONLY: anyone who can reach the port can sign in as anyone.
//
// For clients: like any OpenID provider, offline_access on the authorization endpoint needs
// prompt=consent (OIDC Core §11), else no refresh token; the device flow needs no prompt. JWT
// access tokens cannot be introspected or revoked (unsupported_token_type); revoking the refresh
// token revokes the whole grant. No userinfo endpoint: the ID token carries name, email, groups.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { writeFileAtomic } from '../../lib/files.ts';
// @ts-expect-error -- oidc-provider ships no type declarations; the part used here is typed by OidcModule below.
import * as oidcProviderModule from 'oidc-provider';
import { listen } from '../../lib/listen.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { CliError } from '../errors.ts';
import { DEV_TOKEN_METADATA, DEV_TOKEN_PATH, devTokenEndpoint } from './token-endpoint.ts';

export interface DevUser { readonly sub: string; readonly name: string; readonly email: string; readonly groups: readonly string[] }

/** The only accounts the development provider knows; none has a password. */
export const DEV_USERS: readonly DevUser[] = Object.freeze([
  Object.freeze({ sub: 'alice', name: 'Alice (dev)', email: 'alice@airlock.dev', groups: Object.freeze(['admins']) }),
  Object.freeze({ sub: 'bob', name: 'Bob (dev)', email: 'bob@airlock.dev', groups: Object.freeze(['developers']) }),
]);

/** Path of the CLI's loopback redirect. Registered for http://127.0.0.1 and http://[::1]; any port matches (RFC 8252 §7.3). */
export const DEV_CALLBACK_PATH = '/callback';
/** The web console's client (console.clientId's default) and its redirect path on the gateway, any loopback port. */
export const CONSOLE_CLIENT_ID = 'airlock-console';
export const CONSOLE_CALLBACK_PATH = '/console/callback';

export interface DevIdpOptions {
  /** Address to bind (and the issuer's host). Default 127.0.0.1; keep it on loopback. */
  host?: string;
  /** TCP port. Default 0 (a free port); `airlock dev` uses 8081. */
  port?: number;
  /**
   * The issuer when clients reach the provider under another name than the address it binds: in
   * a container it binds 0.0.0.0 and is http://idp:8081 to the gateways (deploy/compose/).
   * http:// origin, no path. Default http://<host>:<bound port>.
   */
  issuer?: string;
  /** The gateway's audience and resource URL (e.g. http://localhost:8080): the only resource tokens are issued for, and their `aud`. */
  audience: string;
  /** client_id of the public CLI client. Default airlock-cli. */
  cliClientId?: string;
  /** File where the signing JWKS (private) is kept, mode 0600, so access tokens outlive a restart. Absent: keys live in memory only. */
  keyFile?: string;
  /** Access token lifetime in seconds. Default 900. */
  accessTokenTtl?: number;
  /** Where the provider logs. Default: JSON lines on stdout. */
  logger?: Logger;
}

export interface DevIdp {
  /** Issuer identifier: options.issuer, else http://<host>:<bound port> (no trailing slash). */
  readonly issuer: string;
  /** Base URL of the provider; the same as `issuer`. */
  readonly url: string;
  /** Stops listening and drops every open connection. Idempotent. */
  close(): Promise<void>;
}

const ALG = 'ES256';
const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'groups'];
/** Scopes that describe the gateway's access token (its claims); openid and offline_access stay with the OpenID layer. */
const RESOURCE_SCOPE = 'profile email groups';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const FORM_LIMIT = 4 * 1024; // bytes; the login form carries one short field

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const clientId = options.cliClientId ?? 'airlock-cli';
  const ttl = options.accessTokenTtl ?? 900;
  const logger = (options.logger ?? createLogger()).child({ component: 'dev-idp' });
  if (!URL.canParse(options.audience)) throw new TypeError(`audience must be an absolute URL, got ${JSON.stringify(options.audience)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`port must be an integer 0-65535, got ${port}`);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new TypeError(`accessTokenTtl must be a positive integer (seconds), got ${ttl}`);
  if (clientId === '' || host === '') throw new TypeError('cliClientId and host must not be empty');
  if (options.issuer !== undefined && URL.parse(options.issuer)?.origin !== options.issuer) throw new TypeError(`issuer must be an origin such as http://idp:8081 (no path, no trailing slash), got ${JSON.stringify(options.issuer)}`);

  const jwks = await signingKeys(options.keyFile, logger);
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    if (handle) handle(req, res);
    else { res.statusCode = 503; res.end(); }
  });
  const address = await listen(server, host, port, '--idp-port'); // port in use: ListenError naming the port
  const issuer = options.issuer ?? `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };

  try {
    const provider = new oidc.default(issuer, configuration({ issuer, audience: options.audience, clientId, ttl, jwks }));
    observe(provider, logger);
    const providerHandler = provider.callback();
    const devToken = await devTokenEndpoint({
      issuer, audience: options.audience, clientId, scope: RESOURCE_SCOPE, ttl, key: jwks.keys[0]!, users: DEV_USERS, logger,
    });
    handle = (req, res) => {
      const path = URL.parse(req.url ?? '/', issuer)?.pathname ?? '/';
      if (path === DEV_TOKEN_PATH) { void devToken(req, res); return; }
      if (!path.startsWith('/interaction/')) { void providerHandler(req, res); return; }
      interaction(provider, issuer, path, req, res, logger).catch((err: unknown) => {
        logger.error('development identity provider: interaction failed', { err });
        if (!res.headersSent) sendPage(res, 500, errorPage('Something went wrong', 'The development identity provider failed; see its log. Start again from airlock login.'));
        else res.destroy();
      });
    };
  } catch (err) {
    await close();
    throw err;
  }

  const users = DEV_USERS.map((u) => `${u.sub} (${u.groups.join(', ')})`).join(', ');
  logger.warn(`DEV ONLY: embedded development identity provider at ${issuer}; users ${users}; never use it in production`);
  return { issuer, url: issuer, close };
}

// ---- oidc-provider configuration ---------------------------------------------------------------

function configuration(o: { issuer: string; audience: string; clientId: string; ttl: number; jwks: { keys: JWK[] } }): Record<string, unknown> {
  const isAudience = (resource: string) => URL.canParse(resource) && new URL(resource).href === new URL(o.audience).href;
  const policy = oidc.interactionPolicy.base();
  // Ask "which user?" on every authorization, even with a live session, so switching between
  // alice and bob is one click; the interaction result is what satisfies the check.
  policy.get('login')?.checks.add(new oidc.interactionPolicy.Check('dev_choose_user', 'the development provider asks for the user every time',
    (ctx: PolicyContext) => ctx.oidc.result?.login === undefined));
  return {
    adapter: memoryAdapter(),
    jwks: o.jwks,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [{
      client_id: o.clientId,
      client_name: 'airlock CLI',
      application_type: 'native', // loopback redirects match on any port (oidc-provider strips the port for native clients)
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      response_types: ['code'],
      redirect_uris: [`http://127.0.0.1${DEV_CALLBACK_PATH}`, `http://[::1]${DEV_CALLBACK_PATH}`],
      id_token_signed_response_alg: ALG,
    }, {
      // The gateway's web console (gateway/console/login.ts): signs in server side with a code and
      // PKCE, back to <gateway>/console/callback. Registered as native so the loopback redirect
      // matches the gateway's port, whichever it is (a test gateway's port is picked at start).
      client_id: CONSOLE_CLIENT_ID,
      client_name: 'airlock console',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['127.0.0.1', 'localhost', '[::1]'].map((host) => `http://${host}${CONSOLE_CALLBACK_PATH}`),
      id_token_signed_response_alg: ALG,
    }],
    clientDefaults: { id_token_signed_response_alg: ALG, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' },
    clientAuthMethods: ['none'], // every client is public: the CLI and dynamically registered native apps
    // oidc-provider calls this validator once per listed property with the client's whole metadata,
    // for static and registered clients alike: the one place to hold registrations to our policy.
    // software_id/software_version (RFC 7591 §2, sent by MCP clients) are kept rather than stripped.
    extraClientMetadata: { properties: ['software_id', 'software_version'], validator: loopbackClientsOnly },
    enabledJWA: { idTokenSigningAlgValues: [ALG] },
    responseTypes: ['code'],
    pkce: { required: () => true }, // S256 is the only method oidc-provider v9 accepts
    scopes: SCOPES,
    discovery: { [DEV_TOKEN_METADATA]: `${o.issuer}${DEV_TOKEN_PATH}` }, // how `airlock dev token` knows this is the dev provider
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'], groups: ['groups'] },
    conformIdTokenClaims: false, // the ID token carries name, email and groups (the CLI shows who signed in)
    findAccount: (_ctx: unknown, sub: string) => {
      const user = devUser(sub);
      if (!user) return undefined;
      return { accountId: user.sub, claims: () => ({ sub: user.sub, name: user.name, email: user.email, email_verified: true, groups: [...user.groups] }) };
    },
    // Access tokens carry the identity the gateway authorizes on, whatever scopes were asked for.
    extraTokenClaims: (_ctx: unknown, token: { accountId?: string }) => {
      const user = token.accountId === undefined ? undefined : devUser(token.accountId);
      return user ? { groups: [...user.groups], email: user.email, name: user.name } : undefined;
    },
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }, source: { scopes: Set<string> }) =>
      client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access'),
    ttl: { AccessToken: o.ttl, AuthorizationCode: 60, DeviceCode: 600, IdToken: 3600, Interaction: 600, Grant: 14 * 86400, Session: 86400, RefreshToken: 14 * 86400 },
    clientBasedCORS: () => false, // no browser-based client
    interactions: { policy, url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
    renderError: (ctx: ProviderContext, out: { error?: string; error_description?: string }) => {
      render(ctx, errorPage(`Sign-in failed: ${out.error ?? 'error'}`, out.error_description ?? 'The request was refused.'));
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false }, // every access token is for the gateway; the ID token carries the claims
      // `airlock logout` revokes the refresh token instead. Switching users in one browser still
      // ends the old browser session through oidc-provider's always-on /session/end/confirm.
      rpInitiatedLogout: { enabled: false },
      // RFC 7591 for MCP clients: open (no initial access token), public native clients only (see
      // loopbackClientsOnly); no RFC 7592 management, so no registration access token either.
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      introspection: { enabled: true, allowedPolicy: ownTokensOnly },
      deviceFlow: { enabled: true, userCodeInputSource, userCodeConfirmSource, successSource },
      resourceIndicators: {
        enabled: true,
        // No `resource` (or several): the gateway's. Refreshes and code exchanges keep the granted one.
        defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string[]) => oneOf?.find(isAudience) ?? oneOf ?? o.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (!isAudience(resource)) throw new oidc.errors.InvalidTarget(`this development provider issues tokens only for ${o.audience}`);
          return { scope: RESOURCE_SCOPE, audience: o.audience, accessTokenFormat: 'jwt', accessTokenTTL: o.ttl, jwt: { sign: { alg: ALG } } };
        },
      },
    },
  };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Registration policy: redirects only to http loopback addresses (RFC 8252 §7.3), so a client
 * registered here can only ever hand codes to a program on this machine; and every such client
 * is native, so its redirect matches on any port (a desktop app picks a free one each run).
 */
function loopbackClientsOnly(_ctx: unknown, key: string, _value: unknown, metadata: Record<string, unknown>): void {
  if (key !== 'software_id') return; // once per client
  const uris = metadata.redirect_uris;
  const loopback = (uri: unknown) => {
    const url = typeof uri === 'string' ? URL.parse(uri) : null;
    return url !== null && url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname) && url.hash === '' && url.username === '' && url.password === '';
  };
  if (!Array.isArray(uris) || uris.length === 0 || !uris.every(loopback)) {
    // the description's first word makes oidc-provider answer invalid_redirect_uri (RFC 7591 §3.2.2)
    throw new oidc.errors.InvalidClientMetadata('redirect_uris must all be http loopback addresses (http://127.0.0.1:<port>/<path>, RFC 8252): this development provider registers only native clients');
  }
  metadata.application_type = 'native';
}

function ownTokensOnly(_ctx: unknown, client: { clientId: string }, token: { clientId?: string }): boolean {
  return token.clientId === client.clientId;
}

function devUser(sub: string): DevUser | undefined {
  return DEV_USERS.find((u) => u.sub === sub);
}

const PROVIDER_ERRORS = ['authorization.error', 'grant.error', 'device_authorization.error', 'code_verification.error', 'registration_create.error',
  'revocation.error', 'introspection.error', 'discovery.error', 'jwks.error', 'resume.error', 'device_resume.error'];

/** oidc-provider's events into our log; Koa's own console output is replaced by the 'error' listener. */
function observe(provider: OidcProvider, logger: Logger): void {
  provider.on('error', (err: unknown) => logger.error('development identity provider error', { err }));
  provider.on('server_error', (_ctx: unknown, err: unknown) => logger.error('development identity provider failed', { err }));
  for (const event of PROVIDER_ERRORS) {
    provider.on(event, (_ctx: unknown, err: { error?: string; error_description?: string }) =>
      logger.info('development identity provider refused a request', { event, error: err.error, description: err.error_description }));
  }
}

// ---- our login page: one button per dev user -----------------------------------------------------

async function interaction(provider: OidcProvider, issuer: string, path: string, req: IncomingMessage, res: ServerResponse, logger: Logger): Promise<void> {
  const match = /^\/interaction\/([\w-]{1,64})(\/login|\/abort)?$/.exec(path);
  if (!match) return sendPage(res, 404, errorPage('Not found', 'There is no such page.'));
  const [, uid, action] = match;
  if (req.method !== (action ? 'POST' : 'GET')) return sendPage(res, 405, errorPage('Method not allowed', 'Use the buttons on the sign-in page.'));
  // A cross-site form post carries neither the SameSite=Lax interaction cookie nor our Origin.
  if (action && req.headers.origin !== undefined && req.headers.origin !== new URL(issuer).origin) {
    return sendPage(res, 403, errorPage('Forbidden', 'This form may only be sent from the development sign-in page.'));
  }
  let details: InteractionDetails;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    if (!(err instanceof oidc.errors.SessionNotFound)) throw err;
    return sendPage(res, 400, errorPage('Sign-in expired', 'This sign-in request expired or was started in another browser; start again from airlock login.'));
  }
  if (details.uid !== uid) return sendPage(res, 400, errorPage('Sign-in expired', 'This page belongs to another sign-in request; start again from airlock login.'));

  if (action === '/abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled the sign-in' }, { mergeWithLastSubmission: false });
  }
  if (details.prompt.name === 'consent' && action === undefined) return consent(provider, details, req, res);
  if (details.prompt.name !== 'login') return sendPage(res, 400, errorPage('Unsupported request', `The development provider cannot handle the "${details.prompt.name}" step.`));
  if (action === undefined) return sendPage(res, 200, loginPage(details));

  const form = await readForm(req);
  if (form === undefined) return sendPage(res, 400, errorPage('Bad request', 'The sign-in form could not be read; use the buttons on the sign-in page.'));
  const name = form.get('user') ?? '';
  const user = devUser(name);
  if (!user) return sendPage(res, 400, loginPage(details, `Unknown user "${name}": the development provider knows only ${DEV_USERS.map((u) => u.sub).join(' and ')}.`));
  logger.info('dev user signed in', { user: user.sub, clientId: details.params.client_id });
  return provider.interactionFinished(req, res, { login: { accountId: user.sub, remember: false } }, { mergeWithLastSubmission: false });
}

/** Grants exactly what the request asked for (scopes, claims, the gateway resource): dev users consent to everything. */
async function consent(provider: OidcProvider, details: InteractionDetails, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const accountId = details.session?.accountId;
  if (accountId === undefined || !devUser(accountId)) return sendPage(res, 400, errorPage('Sign-in expired', 'Start again from airlock login.'));
  const found = details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId);
  const grant = found ?? new provider.Grant({ accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ---- pages ---------------------------------------------------------------------------------------

const BANNER = 'DEV ONLY — airlock development identity provider';
const HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // not no-referrer: under it Chromium sends `Origin: null` with the sign-in form, which the
  // Origin check in interaction() then refuses; same-origin still tells other sites nothing.
  'referrer-policy': 'same-origin',
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)} · airlock dev</title><style>
body{font:16px system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
.banner{background:#b00020;color:#fff;font-weight:700;padding:.6rem;text-align:center}
button{display:block;width:100%;margin:.5rem 0;padding:.6rem;font-size:1rem}input{font-size:1.2rem;width:100%}
.error{color:#b00020}.note{color:#555;font-size:.9rem}</style></head>
<body><p class="banner">${BANNER}</p><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function loginPage(details: InteractionDetails, error?: string): string {
  const scope = details.params.scope ?? '';
  return page('Sign in to airlock', `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<p>Client <code>${escapeHtml(details.params.client_id)}</code> asks for <code>${escapeHtml(scope)}</code>. Choose who you are:</p>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
${DEV_USERS.map((u) => `<button type="submit" name="user" value="${escapeHtml(u.sub)}">${escapeHtml(u.sub)} — ${escapeHtml(u.groups.join(', '))}</button>`).join('\n')}
</form>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/abort"><button type="submit">Cancel</button></form>
<p class="note">These users have no password: never expose this provider beyond your machine.</p>`);
}

function errorPage(title: string, message: string): string {
  return page(title, `<p class="error">${escapeHtml(message)}</p>`);
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, HEADERS).end(html);
}

/** Writes a page into an oidc-provider (Koa) response. */
function render(ctx: ProviderContext, html: string): void {
  for (const [name, value] of Object.entries(HEADERS)) ctx.set(name, value);
  ctx.body = html;
}

// The device flow's pages. The code form confirms in the same step (confirm=yes): the user typed
// the code shown by their own terminal. A prefilled verification_uri_complete link still gets the
// confirmation page, so a link from someone else cannot sign you in unnoticed.
async function userCodeInputSource(ctx: ProviderContext, _form: string, _out: unknown, err?: { name?: string; userCode?: string }): Promise<void> {
  const badCode = err !== undefined && (err.userCode !== undefined || err.name === 'NoCodeError');
  const message = err === undefined ? ''
    : badCode ? 'That code is not valid or has expired; check it and try again.'
      : err.name === 'AbortedError' ? 'The sign-in was cancelled.'
        : 'The request could not be processed; start again from airlock login.';
  if (badCode) ctx.status = 400; // oidc-provider re-renders these with 200
  render(ctx, page('Device sign-in', `${message ? `<p class="error">${escapeHtml(message)}</p>` : ''}
<p>Enter the code shown in your terminal.</p>
<form method="post" action="${escapeHtml(ctx.oidc.urlFor('code_verification'))}">
<input type="hidden" name="xsrf" value="${escapeHtml(ctx.oidc.session?.state?.secret ?? '')}">
<input type="hidden" name="confirm" value="yes">
<input type="text" name="user_code" autocomplete="off" autofocus placeholder="XXXX-XXXX">
<button type="submit">Continue</button></form>`));
}

async function userCodeConfirmSource(ctx: ProviderContext, form: string, client: { clientId: string }, _info: unknown, userCode: string): Promise<void> {
  render(ctx, page('Confirm device sign-in', `<p>Client <code>${escapeHtml(client.clientId)}</code> wants to sign in with the code
<strong><code>${escapeHtml(userCode)}</code></strong>. Continue only if your terminal shows this code.</p>
${withButtons(form)}`));
}

/**
 * oidc-provider's confirmation form with the buttons inside it, rather than outside with a
 * `form=` attribute that terminal browsers (w3m, lynx) ignore.
 */
function withButtons(form: string): string {
  const buttons = '<button type="submit">Continue</button>\n<button type="submit" name="abort" value="yes">Cancel</button>';
  return form.includes('</form>') ? form.replace(/<\/form>(?![\s\S]*<\/form>)/, `${buttons}</form>`) : `${form}${buttons}`;
}

async function successSource(ctx: ProviderContext): Promise<void> {
  render(ctx, page('Signed in', '<p>You are signed in. Close this page and return to your terminal.</p>'));
}

// ---- signing keys ---------------------------------------------------------------------------------

async function signingKeys(keyFile: string | undefined, logger: Logger): Promise<{ keys: JWK[] }> {
  if (keyFile === undefined) return { keys: [await newSigningKey()] };
  let text: string | undefined;
  try {
    text = await readFile(keyFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CliError('CLI_FILE_NOT_FOUND', `Cannot read the development identity provider's key file ${keyFile}: ${(err as Error).message}.`, { cause: err });
    }
  }
  if (text === undefined) {
    const jwks = { keys: [await newSigningKey()] };
    await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
    await writeFileAtomic(keyFile, JSON.stringify(jwks) + '\n'); // never a half-written key file
    logger.info('development identity provider: new signing key written', { keyFile });
    return jwks;
  }
  const keys = parseKeys(text);
  if (keys === undefined) {
    throw new CliError('CLI_INPUT_INVALID', `The development identity provider's key file ${keyFile} is not a JWKS with an ${ALG} private key; delete it and a new one is generated.`);
  }
  if (((await stat(keyFile)).mode & 0o077) !== 0) {
    logger.warn('development identity provider: key file was readable by others; restricted it to mode 0600', { keyFile });
    await chmod(keyFile, 0o600);
  }
  return { keys };
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG, use: 'sig' };
}

/** Our own file, but still parsed strictly: only P-256 private keys with a kid, known members only. */
function parseKeys(text: string): JWK[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (key, value: unknown) => (key === '__proto__' ? undefined : value));
  } catch {
    return undefined;
  }
  const list = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const keys: JWK[] = [];
  for (const k of list as Record<string, unknown>[]) {
    const { kty, crv, x, y, d, kid } = k ?? {};
    if (kty !== 'EC' || crv !== 'P-256' || [x, y, d, kid].some((v) => typeof v !== 'string' || v === '')) return undefined;
    keys.push({ kty, crv, x: x as string, y: y as string, d: d as string, kid: kid as string, alg: ALG, use: 'sig' });
  }
  return keys;
}

// ---- storage: in memory, per provider --------------------------------------------------------------

/** oidc-provider's adapter contract over Maps. Our own rather than its built-in one, which is global and warns on stderr. */
function memoryAdapter(): (model: string) => Record<string, (...args: never[]) => Promise<unknown>> {
  type Payload = Record<string, unknown> & { grantId?: string; userCode?: string; uid?: string };
  const records = new Map<string, { payload: Payload; expiresAt: number }>();
  const lookup = new Map<string, string>(); // `uid:<uid>` / `userCode:<code>` → record key
  const grants = new Map<string, Set<string>>(); // grantId → record keys
  let writes = 0;
  const live = (key: string | undefined) => {
    const record = key === undefined ? undefined : records.get(key);
    if (record === undefined || record.expiresAt > Date.now()) return record;
    records.delete(key!);
    return undefined;
  };
  const sweep = () => {
    for (const key of records.keys()) live(key);
    for (const [k, key] of lookup) if (!records.has(key)) lookup.delete(k);
    for (const [id, keys] of grants) {
      for (const key of keys) if (!records.has(key)) keys.delete(key);
      if (keys.size === 0) grants.delete(id);
    }
  };
  return (model) => {
    const keyOf = (id: string) => `${model}:${id}`;
    return {
      upsert: async (id: string, payload: Payload, expiresIn?: number) => {
        const key = keyOf(id);
        records.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
        if (model === 'Session' && typeof payload.uid === 'string') lookup.set(`uid:${payload.uid}`, key);
        if (typeof payload.userCode === 'string') lookup.set(`userCode:${payload.userCode}`, key);
        if (typeof payload.grantId === 'string') {
          const members = grants.get(payload.grantId) ?? new Set<string>();
          grants.set(payload.grantId, members.add(key));
        }
        if (++writes % 256 === 0) sweep();
      },
      find: async (id: string) => live(keyOf(id))?.payload,
      findByUid: async (uid: string) => live(lookup.get(`uid:${uid}`))?.payload,
      findByUserCode: async (code: string) => live(lookup.get(`userCode:${code}`))?.payload,
      consume: async (id: string) => {
        const record = live(keyOf(id));
        if (record) record.payload.consumed = Math.floor(Date.now() / 1000);
      },
      destroy: async (id: string) => { records.delete(keyOf(id)); },
      revokeByGrantId: async (grantId: string) => {
        for (const key of grants.get(grantId) ?? []) records.delete(key);
        grants.delete(grantId);
      },
    };
  };
}

// ---- the slice of oidc-provider's (untyped) API used above ---------------------------------------

interface PolicyContext { oidc: { result?: { login?: unknown } } }
interface ProviderContext {
  body: unknown;
  status: number;
  set(name: string, value: string): void;
  oidc: { urlFor(name: string): string; session?: { state?: { secret?: string } } };
}
interface InteractionDetails {
  uid: string;
  grantId?: string;
  session?: { accountId?: string };
  params: { client_id: string; scope?: string };
  prompt: {
    name: string;
    details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  };
}
interface Grant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}
interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  on(event: string, listener: (...args: never[]) => void): void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options: { mergeWithLastSubmission: boolean }): Promise<void>;
  Grant: { new (fields: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
}
interface OidcModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  errors: { InvalidTarget: new (description: string) => Error; InvalidClientMetadata: new (description: string) => Error; SessionNotFound: new () => Error };
  interactionPolicy: {
    base(): { get(name: string): { checks: { add(check: unknown): void } } | undefined };
    Check: new (reason: string, description: string, check: (ctx: PolicyContext) => boolean) => unknown;
  };
}
const oidc = oidcProviderModule as unknown as OidcModule;
