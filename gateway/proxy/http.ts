// The HTTP data path: /proxy/<connection>/<path…> → the connection's agent → its target.
//
//   authenticate → resolve the connection (may this identity use it?) → confine the path →
//   read the body (bounded) → inspect + policy on the request → [record] → forward over a tunnel
//   stream (caller credentials stripped; the agent adds the target's) → read the answer
//   (bounded) → inspect + policy on the response (mask) → [record] → answer.
//
// Bodies are read whole, up to the connection's limits, because what is forwarded or returned
// must first be inspected: nothing uninspected passes (a body over `limits.inspectBytes` follows
// `limits.oversize`, deny or review). Targets are asked for identity encoding so answers can be
// inspected as sent.
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Authenticator } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import type { Config } from '../config/schema.ts';
import type { Connection, ConnectionRegistry } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { Finding } from '../inspect/types.ts';
import { decide, type Outcome } from '../policy/decide.ts';
import type { PolicyRequest } from '../policy/context.ts';
import type { PolicyManager } from '../policy/manager.ts';
import type { TunnelStream } from '../tunnel/index.ts';
import { parseJson } from '../../lib/json.ts';
import type { Logger } from '../../lib/log.ts';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.ts';
import { proxyTarget } from './path.ts';

/** What the data path hands the recorder at each step; a hook that throws refuses the request (fail closed). */
export interface ProxyHooks {
  onDecision?(event: { direction: 'request' | 'response'; identity: Identity; connection: Connection; outcome: Outcome; requestId: string }): Promise<void> | void;
}

export interface HttpProxyDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  readonly connections: ConnectionRegistry;
  readonly agents: { open(agent: string, header: Record<string, unknown>): TunnelStream };
  readonly policies: PolicyManager;
  /** Key of the `hash` masking strategy. */
  readonly maskKey: Uint8Array;
  readonly hooks?: ProxyHooks;
}

/** What the agent's `x-airlock-agent-error` codes mean to the caller (the WebSocket path maps them too). */
export const AGENT_ERRORS: Record<string, { code: 'GW_TARGET_UNREACHABLE' | 'GW_TARGET_TIMEOUT' | 'GW_TARGET_REFUSED'; what: string }> = {
  TARGET_UNREACHABLE: { code: 'GW_TARGET_UNREACHABLE', what: 'The agent cannot reach the target' },
  TARGET_FAILED: { code: 'GW_TARGET_UNREACHABLE', what: 'The agent failed to forward to the target' },
  TARGET_TIMEOUT: { code: 'GW_TARGET_TIMEOUT', what: 'The target did not answer in time' },
  TARGET_NOT_ALLOWED: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses to reach this target (its targets.allow)' },
  TARGET_INVALID: { code: 'GW_TARGET_REFUSED', what: 'The agent refuses this target' },
};

export function httpProxyRoutes(router: Router, deps: HttpProxyDeps): void {
  const handle = (req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }) => proxy(req, res, ctx, deps);
  router.addPrefix('/proxy', { GET: handle, HEAD: handle, POST: handle, PUT: handle, PATCH: handle, DELETE: handle });
}

async function proxy(req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }, deps: HttpProxyDeps): Promise<void> {
  const identity = await deps.authenticator.authenticate(req, ctx.url);
  const name = /^\/proxy\/([^/?]*)/.exec(req.url ?? '')?.[1] ?? '';
  const connection = deps.connections.resolve(identity, name);
  if (connection.kind !== 'http') {
    throw new GatewayError('GW_BAD_REQUEST', `Connection ${connection.name} is a ${connection.kind} connection; /proxy serves http connections (use ${connection.kind === 'mcp' ? `/mcp/${connection.name}` : 'the Postgres listener'}).`);
  }
  const target = new URL(connection.target as string);
  const { path } = proxyTarget(req.url ?? '/', target.pathname);
  const method = (req.method ?? 'GET').toUpperCase();
  const limits = connection.limits;

  const raw = await readLimited(req, limits.maxRequestBytes, 'GW_BODY_TOO_LARGE', `The request body is larger than connection ${connection.name} accepts (${limits.maxRequestBytes} bytes).`);
  // One step of the pipeline, the same for the request and the answer: inspect + decide (or the
  // oversize rule), hand the outcome to the recorder, refuse unless allowed, and give back the
  // bytes that may leave (masked when the decision is mask).
  const check = async (direction: 'request' | 'response', raw: Buffer, contentType: string | undefined): Promise<Buffer> => {
    const payload = payloadOf(raw, contentType, limits.inspectBytes);
    const outcome = payload.oversize
      ? oversize(limits.oversize, payload.size, limits.inspectBytes)
      : decideFor(deps, identity, connection, { kind: 'http', direction, method, path, ...payload.fields } as PolicyRequest);
    await deps.hooks?.onDecision?.({ direction, identity, connection, outcome, requestId: ctx.requestId });
    refuseUnlessAllowed(outcome, connection, direction);
    return outcome.decision === 'mask' && outcome.masked !== undefined ? reencode(outcome.masked) : raw;
  };

  const body = await check('request', raw, req.headers['content-type']);

  // ---- forward through the agent ---------------------------------------------------------------
  const stream = deps.agents.open(connection.agent, { kind: 'http', connection: connection.name, target: target.origin, caller: identity.sub, requestId: ctx.requestId });
  const headers = forwardRequestHeaders(req.headers);
  headers.host = target.host; // HTTP/1.1 requires one; the agent sets the same
  headers['accept-encoding'] = 'identity';
  headers['x-request-id'] = ctx.requestId;
  headers.connection = 'close'; // one exchange per tunnel stream: both ends close it cleanly (END frames, no reset)
  if (body.length > 0 || method === 'POST' || method === 'PUT' || method === 'PATCH') headers['content-length'] = String(body.length);
  else delete headers['content-length'];
  const answer = await exchange(stream, { method, path, headers, body }, limits.timeouts);

  const agentError = answer.headers['x-airlock-agent-error'];
  if (typeof agentError === 'string') {
    answer.resume();
    const mapped = AGENT_ERRORS[agentError] ?? { code: 'GW_TARGET_UNREACHABLE' as const, what: 'The agent failed' };
    throw new GatewayError(mapped.code, `${mapped.what} for connection ${connection.name} (${agentError}); check the target and the agent's log.`);
  }

  // ---- the response ------------------------------------------------------------------------------
  const returned = await readLimited(answer, limits.maxResponseBytes, 'GW_RESPONSE_TOO_LARGE', `The target's answer is larger than connection ${connection.name} returns (${limits.maxResponseBytes} bytes).`);
  const out = await check('response', returned, answer.headers['content-type']);

  const responseHeaders = forwardResponseHeaders(answer.headers);
  delete responseHeaders['content-length'];
  if (out !== returned) responseHeaders['x-airlock-masked'] = 'true';
  res.writeHead(answer.statusCode ?? 502, { ...responseHeaders, 'content-length': String(out.length) });
  res.end(method === 'HEAD' ? undefined : out);
}

/** What a body gives the inspectors: parsed JSON, or text; or that it is too large to inspect. */
function payloadOf(raw: Buffer, contentType: string | undefined, inspectBytes: number): { oversize: boolean; size: number; fields: Partial<PolicyRequest> } {
  if (raw.length === 0) return { oversize: false, size: 0, fields: {} };
  if (raw.length > inspectBytes) return { oversize: true, size: raw.length, fields: {} };
  const text = raw.toString('utf8');
  if (/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(contentType ?? '')) {
    try {
      return { oversize: false, size: raw.length, fields: { body: parseJson(text) } };
    } catch {
      // Declared JSON that is not: inspected as text, so nothing in it passes unseen.
    }
  }
  return { oversize: false, size: raw.length, fields: { text } };
}

/** A body too large to inspect: never allowed (limits.oversize is deny or review). */
function oversize(action: 'deny' | 'review', size: number, limit: number): Outcome {
  const finding: Finding = { kind: 'inspect.limit', path: '$', severity: 'high', detail: `body of ${size} bytes, over the inspection limit of ${limit}` };
  return { decision: action, reasons: [{ rule: '(oversize)', policy: '(connection)', action, reason: 'inspect.oversize', message: `The body (${size} bytes) is larger than the ${limit} bytes inspected (limits.inspectBytes).` }], findings: [finding] };
}

/** Throws GW_POLICY_DENIED (deny) or GW_REVIEW_REQUIRED (review); allow and mask pass. */
export function refuseUnlessAllowed(outcome: Outcome, connection: Connection, direction: 'request' | 'response'): void {
  if (outcome.decision === 'allow' || outcome.decision === 'mask') return;
  const first = outcome.reasons[0];
  const why = first?.message ?? `rule ${first?.rule} (${first?.reason})`;
  const detail = { reasons: outcome.reasons, findings: outcome.findings.map((f) => ({ kind: f.kind, path: f.path, detail: f.detail })) };
  if (outcome.decision === 'review') {
    throw new GatewayError('GW_REVIEW_REQUIRED', `The ${direction} on connection ${connection.name} needs a human review (${first?.reason}): ${why} Reviews are not available on this gateway yet, so it was refused.`, { detail });
  }
  throw new GatewayError('GW_POLICY_DENIED', `The ${direction} on connection ${connection.name} was refused by policy (${first?.reason}): ${why}`, { detail });
}

/** A masked payload back to bytes: JSON stays JSON, text stays text. */
function reencode(masked: unknown): Buffer {
  return Buffer.from(typeof masked === 'string' ? masked : JSON.stringify(masked), 'utf8');
}

async function readLimited(source: IncomingMessage, max: number, code: 'GW_BODY_TOO_LARGE' | 'GW_RESPONSE_TOO_LARGE', message: string): Promise<Buffer> {
  const declared = Number(source.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    source.destroy();
    throw new GatewayError(code, message);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      source.destroy();
      throw new GatewayError(code, message);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

interface Outgoing { method: string; path: string; headers: Record<string, string | string[]>; body: Buffer }

/** One HTTP exchange over a tunnel stream, with first-byte and idle deadlines. */
function exchange(stream: TunnelStream, out: Outgoing, timeouts: Connection['limits']['timeouts']): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ method: out.method, path: out.path, headers: out.headers, createConnection: () => stream as never, setHost: false });
    const firstByte = setTimeout(() => {
      req.destroy();
      reject(new GatewayError('GW_TARGET_TIMEOUT', `The target sent nothing within ${timeouts.firstByteMs} ms (limits.timeouts.firstByteMs).`));
    }, timeouts.firstByteMs);
    req.setTimeout(timeouts.idleMs, () => {
      req.destroy();
      reject(new GatewayError('GW_TARGET_TIMEOUT', `The exchange was idle for ${timeouts.idleMs} ms (limits.timeouts.idleMs).`));
    });
    req.once('response', (res) => {
      clearTimeout(firstByte);
      resolve(res);
    });
    req.once('error', (err: Error & { code?: string }) => {
      clearTimeout(firstByte);
      reject(new GatewayError('GW_UPSTREAM_FAILED', `The tunnel to the agent failed during the request (${err.code ?? err.message}); retry.`, { cause: err }));
    });
    req.end(out.body);
  });
}

/** The connection's policies (the gateway's baseline first) applied to one request or answer, with the caller as CEL sees it. */
export function decideFor(deps: HttpProxyDeps, identity: Identity, connection: Connection, request: PolicyRequest): Outcome {
  const policy = deps.policies.get({
    packs: [...new Set([...deps.config.policy.packs, ...connection.policy.packs])],
    files: [...new Set([...deps.config.policy.files, ...connection.policy.files])],
  });
  return decide(policy, {
    identity: { sub: identity.sub, email: identity.email, name: identity.name, groups: identity.groups, roles: identity.roles, via: identity.via },
    connection: { name: connection.name, kind: connection.kind, tags: connection.tags },
    request,
    now: Date.now(),
  }, { defaultAction: connection.policy.defaultAction, maskKey: deps.maskKey });
}
