// The development provider's `POST /dev/token`: an access token for a dev user without a browser,
// for scripts and tests (`airlock dev token --user alice`). It mints exactly what the provider's
// token endpoint issues to the CLI: an RFC 9068 JWT (`typ: at+jwt`, ES256, the provider's own
// signing key) with the same claims, so the gateway cannot tell the two apart. DEV ONLY like the
// rest of the provider: anyone who reaches the port gets a token for any dev user.
//
// The user travels in the body (form or JSON), never in the URL, so it and the request never sit in
// an access log or a shell history as a URL. Requests from a web page are refused: a foreign Origin
// (cross-site form posts) or a foreign Host (DNS rebinding, which could read the answer).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Logger } from '../../lib/log.ts';

/** Path of the endpoint on the development provider; advertised in its discovery document. */
export const DEV_TOKEN_PATH = '/dev/token';
/** Discovery metadata member that names the endpoint; only the embedded dev provider has it. */
export const DEV_TOKEN_METADATA = 'airlock_dev_token_endpoint';

const BODY_LIMIT = 4 * 1024; // bytes; the body carries one short field

export interface DevTokenUser { readonly sub: string; readonly name: string; readonly email: string; readonly groups: readonly string[] }

export interface DevTokenOptions {
  /** The provider's issuer (`iss`), e.g. http://127.0.0.1:8081. Requests must be addressed to its host. */
  readonly issuer: string;
  /** The gateway's audience (`aud`). */
  readonly audience: string;
  /** `client_id` claim: the CLI's client id, as for tokens from `airlock login`. */
  readonly clientId: string;
  /** `scope` claim, as the provider grants it for the gateway resource. */
  readonly scope: string;
  /** Token lifetime in seconds (the provider's accessTokenTtl). */
  readonly ttl: number;
  /** The provider's private ES256 signing key, with its `kid`. */
  readonly key: JWK;
  readonly users: readonly DevTokenUser[];
  readonly logger: Logger;
  /** Clock in milliseconds since the epoch. Default Date.now. */
  readonly now?: () => number;
}

class Refusal extends Error {
  readonly status: number;
  readonly error: string;
  constructor(status: number, error: string, description: string) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

/** The request handler for DEV_TOKEN_PATH. Never throws: every failure is an OAuth-style JSON error. */
export async function devTokenEndpoint(options: DevTokenOptions): Promise<(req: IncomingMessage, res: ServerResponse) => Promise<void>> {
  if (typeof options.key.kid !== 'string') throw new TypeError('the signing key needs a kid');
  const key = await importJWK(options.key, 'ES256');
  const now = options.now ?? Date.now;
  const origin = new URL(options.issuer);
  const known = options.users.map((u) => u.sub).join(' and ');

  const mint = async (user: DevTokenUser): Promise<string> => {
    const iat = Math.floor(now() / 1000);
    return new SignJWT({ groups: [...user.groups], email: user.email, name: user.name, scope: options.scope, client_id: options.clientId })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: options.key.kid! })
      .setIssuer(options.issuer)
      .setSubject(user.sub)
      .setAudience(options.audience)
      .setJti(randomBytes(32).toString('base64url'))
      .setIssuedAt(iat)
      .setExpirationTime(iat + options.ttl)
      .sign(key);
  };

  return async (req, res) => {
    try {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new Refusal(405, 'invalid_request', 'use POST with a form or JSON body {"user": "<name>"}');
      }
      if (req.headers.host !== origin.host) throw new Refusal(403, 'invalid_request', `requests must be addressed to ${origin.host}`);
      if (req.headers.origin !== undefined && req.headers.origin !== origin.origin) throw new Refusal(403, 'invalid_request', 'requests from web pages are refused');
      if ((req.url ?? '').includes('?')) throw new Refusal(400, 'invalid_request', 'parameters in the URL are refused; send the user in the body');
      const name = await readUser(req);
      const user = options.users.find((u) => u.sub === name);
      if (!user) throw new Refusal(400, 'invalid_request', `unknown user ${JSON.stringify(name.slice(0, 64))}: the development provider knows only ${known}`);
      const accessToken = await mint(user);
      options.logger.info('dev token issued through /dev/token', { user: user.sub });
      send(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: options.ttl, scope: options.scope });
    } catch (err) {
      if (err instanceof Refusal) {
        options.logger.info('development identity provider refused a /dev/token request', { error: err.error, description: err.message });
        send(res, err.status, { error: err.error, error_description: err.message });
        return;
      }
      options.logger.error('development identity provider: /dev/token failed', { err });
      send(res, 500, { error: 'server_error', error_description: 'the development provider failed; see its log' });
    }
  };
}

/** The `user` field of a form or JSON body, strictly: exactly one string field, nothing else. */
async function readUser(req: IncomingMessage): Promise<string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded' && type !== 'application/json') {
    throw new Refusal(400, 'invalid_request', 'send a form (application/x-www-form-urlencoded) or JSON body {"user": "<name>"}');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Refusal(413, 'invalid_request', `the body is larger than ${BODY_LIMIT} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let fields: [string, unknown][];
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v));
    } catch {
      throw new Refusal(400, 'invalid_request', 'the body is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Refusal(400, 'invalid_request', 'the body must be a JSON object {"user": "<name>"}');
    fields = Object.entries(parsed);
  } else {
    fields = [...new URLSearchParams(text)];
  }
  const [field, ...extra] = fields;
  if (field === undefined || field[0] !== 'user' || typeof field[1] !== 'string' || extra.length > 0) {
    throw new Refusal(400, 'invalid_request', 'the body must carry exactly one field, "user", a string');
  }
  return field[1];
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', pragma: 'no-cache', 'x-content-type-options': 'nosniff' });
  res.end(JSON.stringify(body));
}
