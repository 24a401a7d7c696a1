// A route table: exact paths and path prefixes, each with its handlers by method.
// Kept tiny on purpose: the gateway has few routes and each is listed where it is declared.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';

export interface RequestContext {
  readonly requestId: string;
  /** Path without the query string, as received (not yet decoded). */
  readonly path: string;
  readonly url: URL;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<void> | void;
export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Route {
  readonly pattern: string;
  /** A prefix route matches `pattern` itself and anything under `pattern/`. */
  readonly prefix: boolean;
  readonly handlers: Partial<Record<Method, Handler>>;
}

export class Router {
  readonly #routes: Route[] = [];

  /** Adds an exact-path route. */
  add(pattern: string, handlers: Partial<Record<Method, Handler>>): this {
    this.#routes.push({ pattern, prefix: false, handlers });
    return this;
  }

  /** Adds a prefix route (e.g. `/proxy`, which owns `/proxy/...`). */
  addPrefix(pattern: string, handlers: Partial<Record<Method, Handler>>): this {
    this.#routes.push({ pattern, prefix: true, handlers });
    return this;
  }

  /** The handler for a request, or a GW_NOT_FOUND / GW_METHOD_NOT_ALLOWED error. */
  resolve(method: string, path: string): Handler {
    const route = this.#routes.find((r) => r.pattern === path || (r.prefix && path.startsWith(r.pattern + '/')));
    if (!route) throw new GatewayError('GW_NOT_FOUND', `No route for ${path}; see docs/reference/api.md for the gateway's endpoints.`);
    const handler = route.handlers[method as Method] ?? (method === 'HEAD' ? route.handlers.GET : undefined);
    if (!handler) {
      const allowed = Object.keys(route.handlers).join(', ');
      throw new GatewayError('GW_METHOD_NOT_ALLOWED', `${method} is not allowed on ${route.pattern}; use ${allowed}.`, { detail: { allowed } });
    }
    return handler;
  }
}
