// How the gateway handles one HTTP request, in order. Data paths add their own stages
// (authenticate → route to connection → inspect → policy → review → forward → inspect
// response → mask → record) inside their handlers; this is the frame every request passes.
//
//   1. request id      accept a safe X-Request-Id or mint one; echo it; attach it to every log line
//   2. drain           refuse new work while shutting down (503 GW_SHUTTING_DOWN)
//   3. route           exact or prefix route, by method (404 / 405)
//   4. handle          the route's handler
//   5. errors          GatewayError → its status and JSON body; anything else → 500 GW_INTERNAL,
//                      with the detail in the log only
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from './errors.ts';
import { sendError } from './http/respond.ts';
import type { Router } from './http/router.ts';
import { withRequestContext, type Logger } from '../lib/log.ts';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

export interface PipelineState {
  draining: boolean;
  inFlight: number;
}

export function createPipeline(router: Router, logger: Logger, state: PipelineState) {
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

    withRequestContext(requestId, async () => {
      try {
        if (state.draining) {
          res.setHeader('connection', 'close');
          throw new GatewayError('GW_SHUTTING_DOWN', 'The gateway is shutting down; retry in a moment (another replica will answer).');
        }
        const url = new URL(req.url ?? '/', 'http://gateway.invalid');
        const handler = router.resolve(req.method ?? 'GET', url.pathname);
        await handler(req, res, { requestId, path: url.pathname, url });
      } catch (err) {
        if (err instanceof GatewayError) {
          if (err.status >= 500) logger.error(err.message, { code: err.code, detail: err.detail, cause: err.cause });
          sendError(res, err, requestId);
        } else {
          logger.error('unhandled error', { err });
          sendError(res, new GatewayError('GW_INTERNAL', `The gateway failed to handle this request; report request id ${requestId} to your administrator.`), requestId);
        }
      }
    });
  };
}

function pathOf(req: IncomingMessage): string {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q); // never log the query: it may carry a token someone misplaced
}
