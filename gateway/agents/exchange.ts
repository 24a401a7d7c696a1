// One HTTP exchange with an agent over the tunnel, and what the agent's own failures mean to a
// caller. The HTTP data path, its WebSocket upgrade and the MCP gateway's OpenAPI tools all reach
// targets this way; none of them decides anything here (the guard does, before and after).
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Connection } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { NOTHING_READ, readRest } from '../http/respond.ts';
import { isStaleStreamFailure, tunnelHttpPools, type TunnelStream } from '../tunnel/index.ts';
import { beginStage } from '../telemetry/context.ts';

/** Opens a tunnel stream to an agent (the hub; throws GW_AGENT_OFFLINE when it is not connected). */
/** `agent`: one name, or a pool's names (any online one serves). */
export interface AgentOpener { open(agent: string | readonly string[], header: Record<string, unknown>): TunnelStream }

/** What the agent's `x-airlock-agent-error` codes mean to the caller (the WebSocket path maps them too). */
export const AGENT_ERRORS: Record<string, { code: 'GW_TARGET_UNREACHABLE' | 'GW_TARGET_TIMEOUT' | 'GW_TARGET_REFUSED' | 'GW_CREDENTIAL_UNAVAILABLE'; what: string }> = {
  TARGET_UNREACHABLE: { code: 'GW_TARGET_UNREACHABLE', what: 'The agent cannot reach the target' },
  TARGET_FAILED: { code: 'GW_TARGET_UNREACHABLE', what: 'The agent failed to forward to the target' },
  TARGET_TIMEOUT: { code: 'GW_TARGET_TIMEOUT', what: 'The target did not answer in time' },
  TARGET_NOT_ALLOWED: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses to reach this target (its targets.allow)' },
  TARGET_INVALID: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses this target' },
  CREDENTIAL_UNAVAILABLE: { code: 'GW_CREDENTIAL_UNAVAILABLE', what: 'The agent cannot produce the credential (vault, KMS or token minting failed)' },
};


export async function readLimited(source: IncomingMessage, max: number, code: 'GW_BODY_TOO_LARGE' | 'GW_RESPONSE_TOO_LARGE', message: string): Promise<Buffer> {
  const tooLarge = () => new GatewayError(code, message);
  try {
    if (Number(source.headers['content-length']) > max) throw tooLarge();
    return await readRest(source[Symbol.asyncIterator](), NOTHING_READ, max, tooLarge,
      (err) => new GatewayError('GW_UPSTREAM_FAILED', `The body broke off (${(err as NodeJS.ErrnoException).code ?? err.message}); retry.`, { cause: err }));
  } catch (err) {
    source.destroy();
    throw err;
  }
}

/** A request for exchange(): a body in memory, or a streamed one that `start` writes and ends on the request once it is open (sent once: never retried). */
export interface Outgoing { method: string; path: string; headers: Record<string, string | string[]>; body: Buffer | { start(request: ClientRequest): void } }

/**
 * One HTTP exchange with `agent` over a kept-alive tunnel stream (gateway/tunnel/http-pool.ts),
 * with first-byte and idle deadlines. Opening a stream can fail at once (the hub's GW_AGENT_OFFLINE,
 * passed on as it is). An idempotent request that fails on a reused stream before any answer,
 * because the agent closed that idle stream as the request went out (the keep-alive race), is
 * sent once more on another stream (RFC 9110 §9.2.2 allows it for idempotent methods only);
 * every other failure is GW_UPSTREAM_FAILED.
 */
export function exchange(opener: AgentOpener, agent: string | readonly string[], open: Record<string, unknown>, out: Outgoing, timeouts: Connection['limits']['timeouts']): Promise<IncomingMessage> {
  const pool = tunnelHttpPools(opener).agentFor(agent, open);
  const idempotent = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].includes(out.method);
  // The forward stage: until the answer's headers. A traced request tells the target its trace
  // (the gateway's traceparent, naming this stage's span; the caller's never crosses: ../proxy/headers.ts).
  const forward = beginStage('forward');
  const headers = forward?.traceparent === undefined ? out.headers : { ...out.headers, traceparent: forward.traceparent };
  return new Promise((resolve, reject) => {
    let settled = false;
    let current: ReturnType<typeof request> | undefined;
    const settle = (err: Error | undefined, res?: IncomingMessage) => {
      if (settled) return;
      settled = true;
      forward?.end(err);
      clearTimeout(firstByte);
      firstByte = undefined;
      if (err !== undefined) reject(err);
      else resolve(res!);
    };
    // The target's first byte is awaited from the start, or for a streamed body from its end (a
    // target answers an upload once it has it all; the idle timeout covers the upload itself).
    let firstByte: NodeJS.Timeout | undefined;
    const awaitFirstByte = () => {
      if (settled || firstByte !== undefined) return;
      firstByte = setTimeout(() => {
        current?.destroy();
        settle(new GatewayError('GW_TARGET_TIMEOUT', `The target sent nothing within ${timeouts.firstByteMs} ms (limits.timeouts.firstByteMs).`));
      }, timeouts.firstByteMs);
    };
    if (Buffer.isBuffer(out.body)) awaitFirstByte();
    const send = (mayRetry: boolean) => {
      let req: ReturnType<typeof request>;
      try {
        req = request({ method: out.method, path: out.path, headers, agent: pool, setHost: false });
      } catch (err) {
        settle(err as Error); // no stream could be opened
        return;
      }
      current = req;
      req.setTimeout(timeouts.idleMs, () => {
        req.destroy();
        settle(new GatewayError('GW_TARGET_TIMEOUT', `The exchange was idle for ${timeouts.idleMs} ms (limits.timeouts.idleMs).`));
      });
      req.once('response', (res) => settle(undefined, res));
      req.on('error', (err: Error & { code?: string }) => {
        if (settled) return;
        if (mayRetry && idempotent && isStaleStreamFailure(req, err)) {
          send(false);
          return;
        }
        settle(new GatewayError('GW_UPSTREAM_FAILED', `The tunnel to the agent failed during the request (${err.code ?? err.message}); retry.`, { cause: err }));
      });
      if (Buffer.isBuffer(out.body)) {
        req.end(out.body);
      } else {
        req.once('finish', awaitFirstByte);
        out.body.start(req);
      }
    };
    send(Buffer.isBuffer(out.body));
  });
}
