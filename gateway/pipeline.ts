// How the gateway handles one HTTP request, in order. Data paths add their own stages
// (authenticate → route to connection → inspect → policy → review → forward → inspect
// response → mask → record) inside their handlers; this is the frame every request passes.
//
//   1. request id      accept a safe X-Request-Id or mint one; echo it; attach it to every log line
//   2. drain           refuse new work while shutting down (503 GW_SHUTTING_DOWN)
//   3. limits          a ticket for the request: 503 GW_OVERLOADED past server.limits.maxConcurrent
//                      (the probes /healthz and /readyz pass); the authenticator admits the identity
//                      on it (429 GW_TOO_MANY_REQUESTS), body readers count its bytes; it is given
//                      back once the response closed and the handler returned (http/budget.ts)
//   4. route           exact or prefix route, by method (404 / 405)
//   5. handle          the route's handler
//   6. errors          GatewayError → its status and JSON body; anything else → 500 GW_INTERNAL,
//                      with the detail in the log only
//   7. telemetry       (metrics or tracing on) the request's data path, span and stage timings ride
//                      along (gateway/telemetry/); counted and its span ended when the response closes
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from './errors.ts';
import { withTicket, type ServerBudget, type RequestTicket } from './http/budget.ts';
import { sendError } from './http/respond.ts';
import type { Router } from './http/router.ts';
import { withRequestContext, type Logger } from '../lib/log.ts';
import { withTelemetry, type RequestTelemetry } from './telemetry/context.ts';
import { dataPathOf, type Telemetry } from './telemetry/telemetry.ts';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

export interface PipelineState {
  draining: boolean;
  inFlight: number;
}

/** Paths a load balancer probes: never refused for load, so an overloaded replica is not restarted for it. */
const PROBES = new Set(['/healthz', '/readyz']);

export function createPipeline(router: Router, logger: Logger, state: PipelineState, budget: ServerBudget, telemetry?: Telemetry) {
  const observed = telemetry?.active === true ? telemetry : undefined;
  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const offered = req.headers['x-request-id'];
    const requestId = typeof offered === 'string' && SAFE_REQUEST_ID.test(offered) ? offered : randomUUID();
    res.setHeader('x-request-id', requestId);
    state.inFlight++;
    const started = performance.now();
    res.once('close', () => {
      state.inFlight--;
      logger.debug('request done', { method: req.method, path: pathOf(req), status: res.statusCode, ms: Math.round(performance.now() - started), requestId });
    });

    let rt: RequestTelemetry | undefined;
    if (observed !== undefined) {
      const t = rt = observed.begin(dataPathOf(pathOf(req)), req.method ?? 'GET', requestId, req.headers.traceparent);
      res.once('close', () => observed.end(t, res.headersSent ? res.statusCode : 499)); // 499: the client left before an answer (nginx's code)
    }
    const handleRequest = async () => {
      let ticket: RequestTicket | undefined;
      try {
        if (state.draining) {
          res.setHeader('connection', 'close');
          throw new GatewayError('GW_SHUTTING_DOWN', 'The gateway is shutting down; retry in a moment (another replica will answer).');
        }
        const url = new URL(req.url ?? '/', 'http://gateway.invalid');
        if (!PROBES.has(url.pathname)) {
          const t = ticket = budget.enter();
          t.hold(); // one hold for the response, one for the handler
          res.once('close', () => t.release());
        }
        const handler = router.resolve(req.method ?? 'GET', url.pathname);
        const run = () => handler(req, res, { requestId, path: url.pathname, url });
        await (ticket === undefined ? run() : withTicket(ticket, run));
      } catch (err) {
        if (rt !== undefined) rt.code = err instanceof GatewayError ? err.code : 'GW_INTERNAL';
        if (err instanceof GatewayError) {
          if (err.code === 'GW_OVERLOADED') logger.debug(err.message, { code: err.code }); // one line per refusal would flood the log under load
          else if (err.status >= 500) logger.error(err.message, { code: err.code, detail: err.detail, cause: err.cause });
          sendError(res, err, requestId);
        } else {
          logger.error('unhandled error', { err });
          sendError(res, new GatewayError('GW_INTERNAL', `The gateway failed to handle this request; report request id ${requestId} to your administrator.`), requestId);
        }
      } finally {
        ticket?.release();
      }
    };
    const observing = rt;
    withRequestContext(requestId, observing === undefined ? handleRequest : () => withTelemetry(observing, handleRequest));
  };
}

function pathOf(req: IncomingMessage): string {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q); // never log the query: it may carry a token someone misplaced
}
