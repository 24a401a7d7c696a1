// /healthz (the process is alive) and /readyz (every dependency answers: the store, and the
// identity provider once discovery is wired in). A check that takes longer than its timeout fails.
import type { ServerResponse } from 'node:http';
import { sendJson } from './http/respond.ts';
import type { RequestContext } from './http/router.ts';

export interface ReadinessCheck {
  readonly name: string;
  /** Resolves when ready; rejects (or throws) with a reason that is safe to show. */
  check(): Promise<void>;
}

/** Milliseconds a readiness check may take before it counts as failed. */
export const READINESS_TIMEOUT_MS = 2000;

export function healthz(_req: unknown, res: ServerResponse): void {
  sendJson(res, 200, { status: 'ok' });
}

export function readyz(checks: readonly ReadinessCheck[]) {
  return async (_req: unknown, res: ServerResponse, ctx: RequestContext): Promise<void> => {
    const results = await Promise.all(checks.map(async (c) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          c.check(),
          new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${READINESS_TIMEOUT_MS} ms`)), READINESS_TIMEOUT_MS); }),
        ]);
        return [c.name, 'ok'] as const;
      } catch (err) {
        return [c.name, err instanceof Error ? err.message : String(err)] as const;
      } finally {
        clearTimeout(timer);
      }
    }));
    const failed = results.filter(([, r]) => r !== 'ok');
    const detail = Object.fromEntries(results);
    if (failed.length === 0) {
      sendJson(res, 200, { status: 'ready', checks: detail });
    } else {
      sendJson(res, 503, {
        error: { code: 'GW_NOT_READY', message: `Not ready: ${failed.map(([n]) => n).join(', ')} failing; see checks and the gateway log.`, requestId: ctx.requestId },
        checks: detail,
      });
    }
  };
}
