// The web console at /console: server-rendered pages over the same internal functions the API
// uses (reviewAccess, sessionAccess, the connection registry, verifySession, the policy engine).
// Every request passes the same frame, in order:
//
//   1. static      /console/static/*: the one script and stylesheet (no sign-in needed)
//   2. sign-in     /console/login, /console/callback (./login.ts)
//   3. identify    cookie → row → tokens → the API's authenticator (./web-session.ts);
//                  none: a GET goes to the sign-in and back, anything else is 401
//   4. CSRF        every POST: Origin must be the gateway's, and the form's token the sign-in's
//   5. page        the route's handler; roles are checked by the shared functions, not here
//   6. errors      a GatewayError is an HTML page with its code, message and request id
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authn } from '../authn/index.ts';
import { audienceOf, publicUrlOf } from '../authn/index.ts';
import type { Config } from '../config/schema.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { readBody } from '../http/respond.ts';
import type { RequestContext, Router } from '../http/router.ts';
import type { Logger } from '../../lib/log.ts';
import type { AgentHub } from '../agents/hub.ts';
import type { PolicyManager } from '../policy/manager.ts';
import type { RecordingSystem } from '../recorder/index.ts';
import type { Store } from '../store/index.ts';
import { reviewAccess, type ReviewAccess } from '../api/reviews.ts';
import { sessionAccess, type SessionAccess } from '../api/sessions.ts';
import { html, page, sendHtml } from './html.ts';
import { CALLBACK_PATH, consoleLogin } from './login.ts';
import { connectionPages } from './pages/connections.ts';
import { explainPages } from './pages/explain.ts';
import { reviewPages } from './pages/reviews.ts';
import { sessionPages } from './pages/sessions.ts';
import { serveStatic } from './static.ts';
import { SESSION_COOKIE, csrfMatches, csrfToken, setCookie, WebSessions, type SignedIn } from './web-session.ts';

export const CONSOLE_PATH = '/console';
/** Largest form the console reads, in bytes (a connection definition with its OpenAPI document). */
const MAX_FORM_BYTES = 2 * 1024 * 1024;

export interface ConsoleDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly authn: Authn;
  readonly connections: ConnectionRegistry;
  readonly recording: Pick<RecordingSystem, 'keys' | 'reviews'>;
  readonly hub: AgentHub;
  /** What the explain panel decides with: the policies in force, and the mask key (policy.maskKey). */
  readonly policies: PolicyManager;
  readonly maskKey: Uint8Array;
}

/** What pages use: the deps, and the API's own access functions. */
export type Shared = ConsoleDeps & { readonly reviews: ReviewAccess; readonly sessions: SessionAccess };

/** One console request, signed in. */
export interface ConsoleRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly me: SignedIn;
  /** The route's captured path segments. */
  readonly params: readonly string[];
  /** A POST's form fields (each once). */
  readonly form: URLSearchParams;
  /** The sign-in's CSRF token, for forms on the page. */
  readonly csrf: string;
}

export type ConsoleHandler = (c: ConsoleRequest) => Promise<void>;
export interface ConsoleRoute { readonly method: 'GET' | 'POST'; readonly path: RegExp; readonly handler: ConsoleHandler }

export function consoleRoutes(router: Router, deps: ConsoleDeps): void {
  const publicUrl = publicUrlOf(deps.config);
  const origin = new URL(publicUrl).origin;
  let sessions: WebSessions;
  const login = consoleLogin({ config: deps.config, authn: deps.authn, sessions: () => sessions, publicUrl, resource: audienceOf(deps.config), logger: deps.logger.child({ component: 'console' }) });
  sessions = new WebSessions({ store: deps.store, authenticator: deps.authn.authenticator, refresh: login.refresh, ttlS: deps.config.console.sessionTtl });
  const shared: Shared = { ...deps, reviews: reviewAccess(deps.store, deps.recording.reviews), sessions: sessionAccess(deps.store) };
  const routes: ConsoleRoute[] = [
    { method: 'GET', path: /^\/console\/?$/, handler: async (c) => { c.res.writeHead(303, { location: '/console/reviews' }).end(); } },
    ...reviewPages(shared),
    ...sessionPages(shared),
    ...connectionPages(shared),
    ...explainPages(shared),
    {
      method: 'POST', path: /^\/console\/logout$/, handler: async (c) => {
        await login.revoke(c.me.tokens.refreshToken);
        await sessions.end(c.me.id);
        sendHtml(c.res, 200, page({ title: 'Signed out' }, html`<h1>Signed out</h1><p>Your console sign-in has ended on every gateway replica. <a href="/console/login">Sign in again</a>.</p>`),
          { 'set-cookie': setCookie(SESSION_COOKIE, '', 0) });
      },
    },
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> => {
    try {
      if (ctx.path.startsWith('/console/static/')) return serveStatic(res, ctx.path);
      if (ctx.path === '/console/login') return await login.start(req, res, ctx.url);
      if (ctx.path === CALLBACK_PATH) return await login.callback(req, res, ctx.url);
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      let params: string[] | undefined;
      const route = routes.find((r) => r.method === method && (params = r.path.exec(ctx.path)?.slice(1)) !== undefined);
      if (!route) throw new GatewayError('GW_NOT_FOUND', `The console has no page ${req.method} ${ctx.path.slice(0, 200)}.`);
      const me = await sessions.identify(req, ctx.url);
      if (!me) {
        if (method === 'GET') {
          res.writeHead(303, { location: `/console/login?return=${encodeURIComponent(ctx.path + ctx.url.search)}`, 'cache-control': 'no-store' }).end();
          return;
        }
        throw new GatewayError('GW_AUTH_REQUIRED', 'You are not signed in to the console (or your sign-in ended); sign in at /console and try again.');
      }
      let form = new URLSearchParams();
      if (method === 'POST') {
        if (req.headers.origin !== origin) throw new GatewayError('GW_CONSOLE_CSRF', `This change came from ${req.headers.origin === undefined ? 'a request without an Origin header' : JSON.stringify(String(req.headers.origin).slice(0, 100))}, not from the console at ${origin}; use the console's own pages.`);
        form = await readForm(req);
        if (!csrfMatches(me.secret, form.get('csrf') ?? undefined)) throw new GatewayError('GW_CONSOLE_CSRF', "This change came without the page's form token; reload the page and try again.");
      }
      await route.handler({ req, res, url: ctx.url, me, params: params ?? [], form, csrf: csrfToken(me.secret) });
    } catch (err) {
      if (!(err instanceof GatewayError) || res.headersSent) throw err;
      if (err.status >= 500) deps.logger.error(err.message, { code: err.code, cause: err.cause });
      // A body left unread (a POST refused before its form was read): close after the answer, as sendError does.
      const unread = !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
      sendHtml(res, err.status, page({ title: 'Error' }, html`<h1>${statusText(err.status)}</h1><p class="error"><code>${err.code}</code> ${err.message}</p><p class="muted">Request id ${ctx.requestId}. <a href="/console">Back to the console</a></p>`),
        { ...err.headers, ...(unread ? { connection: 'close' } : {}) });
    }
  };
  router.addPrefix(CONSOLE_PATH, { GET: handle, POST: handle }); // /console itself and everything under it
}

/** An application/x-www-form-urlencoded body; a field given twice is refused (no guessing which counts). */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new GatewayError('GW_BAD_REQUEST', 'The console takes forms (application/x-www-form-urlencoded) only.');
  const form = new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString('utf8'));
  const names = [...form.keys()];
  if (new Set(names).size !== names.length) throw new GatewayError('GW_BAD_REQUEST', 'A form field came twice; send each once.');
  return form;
}

function statusText(status: number): string {
  return status === 401 ? 'Not signed in' : status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : status >= 500 ? 'Something failed' : 'Not accepted';
}
