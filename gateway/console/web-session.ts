// A console sign-in, from the browser's cookie to a verified identity.
//
//   cookie __Host-airlock=<secret> (32 random bytes) → row console_sessions[id = hash(secret)]
//   → unseal (AES-256-GCM under a key derived from the secret) → the OIDC tokens
//   → refresh them if they are about to expire → the API's own authenticator on the access token
//
// The tokens never reach the browser: it holds a random secret that names and unlocks a row the
// gateway keeps. The row is useless without the cookie (its id is a hash, its content sealed), so
// a copy of the store signs nobody in. The identity is verified on every request by the same
// authenticator the API uses (JWT checks, roles from groups, revocation of the person's keys), so
// a console page never holds more authority than the token behind it holds right now.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Authenticator } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import { GatewayError } from '../errors.ts';
import type { Store } from '../store/index.ts';

/** The session cookie: `__Host-` pins it to this origin, path / and Secure (RFC 6265bis §4.1.3.2). */
export const SESSION_COOKIE = '__Host-airlock';
/** The cookie of a sign-in in progress (between /console/login and /console/callback). */
export const LOGIN_COOKIE = '__Host-airlock-login';
/** Seconds a sign-in in progress stays usable. */
export const LOGIN_TTL_S = 600;
/** Refresh the access token when it has less than this left, in ms. */
const REFRESH_MARGIN_MS = 30_000;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** What a signed-in row holds, sealed. */
export interface SessionTokens {
  readonly sub: string;
  readonly accessToken: string;
  readonly refreshToken: string | null;
  /** When the access token expires, epoch ms. */
  readonly accessExpiresAt: number;
}

/** What a sign-in in progress holds, sealed. */
export interface LoginState {
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
  /** Console path to return to after signing in. */
  readonly returnTo: string;
}

/** Trades a refresh token for new tokens (the identity provider's token endpoint); null when it refuses. */
export type Refresh = (refreshToken: string) => Promise<Omit<SessionTokens, 'sub'> | null>;

export interface SignedIn {
  readonly identity: Identity;
  /** The cookie's secret; the CSRF token is derived from it. */
  readonly secret: string;
  readonly id: string;
  readonly tokens: SessionTokens;
}

export const newSecret = (): string => randomBytes(32).toString('base64url');
/** The row id of a secret: a hash, so the store alone cannot give the cookie back. */
export const rowId = (secret: string): string => createHash('sha256').update(`airlock console row\0${secret}`).digest('hex');
const sealKey = (secret: string): Buffer => Buffer.from(hkdfSync('sha256', secret, '', 'airlock console seal', 32));

export function seal(secret: string, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(secret), iv);
  cipher.setAAD(Buffer.from(rowId(secret)));
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The sealed value, or null when it does not open under this secret (tampered, or another row's). */
export function unseal<T>(secret: string, sealed: string): T | null {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', sealKey(secret), raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(rowId(secret)));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as T;
  } catch {
    return null;
  }
}

/** The synchronizer token of a sign-in: an HMAC of its secret, so it needs no storage and dies with it. */
export const csrfToken = (secret: string): string => createHmac('sha256', secret).update('airlock console csrf').digest('base64url');

/** Whether `offered` is the sign-in's CSRF token (constant time). */
export function csrfMatches(secret: string, offered: string | undefined): boolean {
  if (offered === undefined) return false;
  const expected = Buffer.from(csrfToken(secret));
  const given = Buffer.from(offered);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A cookie's value by name from the Cookie header, when it is a well-formed secret. */
export function cookieSecret(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return SECRET.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/**
 * Set-Cookie for `name`: HttpOnly (no page script reads it), Secure, SameSite=Lax (sent on a
 * top-level navigation from the identity provider back here, not on cross-site POSTs), Path=/.
 * `maxAgeS` 0 deletes it.
 */
export function setCookie(name: string, value: string, maxAgeS: number): string {
  return `${name}=${value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${maxAgeS}`;
}

export interface WebSessionsOptions {
  readonly store: Store;
  readonly authenticator: Authenticator;
  readonly refresh: Refresh;
  /** Seconds a sign-in lasts at most (console.sessionTtl). */
  readonly ttlS: number;
  /** Clock, epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Sign-ins in progress at most (rows anyone can create with a GET /console/login). Default 10 000. */
  readonly maxPendingLogins?: number;
}

export class WebSessions {
  readonly #o: WebSessionsOptions;
  readonly #now: () => number;

  constructor(options: WebSessionsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Stores a new sign-in; resolves with the cookie's secret (a new one: never the login's). */
  async create(tokens: SessionTokens): Promise<string> {
    const secret = newSecret();
    const at = this.#now();
    await this.#o.store.consoleSessions.put({ id: rowId(secret), kind: 'session', subject: tokens.sub, sealed: seal(secret, tokens), createdAt: at, expiresAt: at + this.#o.ttlS * 1000 });
    return secret;
  }

  /** Stores a sign-in in progress; resolves with its cookie's secret. Expired rows go first (abandoned sign-ins and ended sessions). */
  async begin(login: LoginState): Promise<string> {
    const secret = newSecret();
    const at = this.#now();
    await this.#o.store.consoleSessions.purge(at);
    // Starting a sign-in needs no identity: without a cap, anyone could fill the store with rows.
    if ((await this.#o.store.consoleSessions.count('login')) >= (this.#o.maxPendingLogins ?? 10_000)) {
      throw new GatewayError('GW_CONSOLE_BUSY', 'Too many console sign-ins are in progress right now; try again in a few minutes.');
    }
    await this.#o.store.consoleSessions.put({ id: rowId(secret), kind: 'login', subject: null, sealed: seal(secret, login), createdAt: at, expiresAt: at + LOGIN_TTL_S * 1000 });
    return secret;
  }

  /** Takes (reads and removes: one use) the sign-in in progress named by `secret`; null when there is none. */
  async takeLogin(secret: string | undefined): Promise<LoginState | null> {
    if (secret === undefined) return null;
    const row = await this.#o.store.consoleSessions.get(rowId(secret));
    if (!row || row.kind !== 'login' || !(await this.#o.store.consoleSessions.remove(row.id))) return null;
    return unseal<LoginState>(secret, row.sealed);
  }

  /**
   * The signed-in identity behind the request's cookie, or null when it has none, the sign-in
   * ended, or its tokens no longer verify (then the row goes). Errors of the identity provider
   * or store other than a refused token propagate (a 503, not a silent sign-out).
   */
  async identify(req: IncomingMessage, url: URL): Promise<SignedIn | null> {
    const secret = cookieSecret(req, SESSION_COOKIE);
    if (secret === undefined) return null;
    const id = rowId(secret);
    const row = await this.#o.store.consoleSessions.get(id);
    if (!row || row.kind !== 'session') return null;
    let tokens = unseal<SessionTokens>(secret, row.sealed);
    if (!tokens) return null;
    if (tokens.accessExpiresAt - REFRESH_MARGIN_MS < this.#now()) {
      const fresh = tokens.refreshToken === null ? null : await this.#o.refresh(tokens.refreshToken);
      if (!fresh) {
        await this.#o.store.consoleSessions.remove(id);
        return null;
      }
      tokens = { ...fresh, sub: tokens.sub, refreshToken: fresh.refreshToken ?? tokens.refreshToken };
      // An update, never an insert: a sign-out that removed the row meanwhile (another request,
      // another replica) must not be undone by this refresh bringing the row back.
      if (!(await this.#o.store.consoleSessions.reseal(id, seal(secret, tokens)))) return null;
    }
    let identity: Identity;
    try {
      // The API's authenticator, exactly: the console holds no authorization logic of its own.
      // The page's query is left out: a `?token=` there is the URL's business, not this token's
      // (the authenticator would refuse it, and a link could then sign anyone out).
      identity = await this.#o.authenticator.authenticate({ headers: { authorization: `Bearer ${tokens.accessToken}` } } as IncomingMessage, new URL(url.pathname, url));
    } catch (err) {
      if (err instanceof GatewayError && err.status === 401) {
        await this.#o.store.consoleSessions.remove(id);
        return null;
      }
      throw err;
    }
    return { identity, secret, id, tokens };
  }

  /** Ends a sign-in: its row goes, so its cookie opens nothing any more, on any replica. */
  async end(id: string): Promise<void> {
    await this.#o.store.consoleSessions.remove(id);
  }
}
