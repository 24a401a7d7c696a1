// Which headers cross the proxy. Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection
// and never cross; the caller's credentials for airlock never leave the gateway; headers in which
// a proxy speaks for the caller (who they are, where they came from) are the gateway's to set, so
// a caller's own are dropped and the gateway writes its own; method overrides are refused unless
// the connection names them (policy then sees the overriding method); Range and If-Range are
// dropped unless the connection allows partial answers (a caller could otherwise fetch a masked
// value in pieces, none of which looks like the value).
import { GatewayError } from '../errors.ts';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
]);

/** Request headers that carry the caller's credentials for the gateway (never forwarded). */
const CALLER_CREDENTIALS = new Set(['authorization', 'proxy-authorization']);

/** Headers airlock itself reads or sets on the way; a caller cannot smuggle them through. */
const AIRLOCK_PREFIX = 'x-airlock-';

/**
 * Trace context (W3C, B3, Jaeger, Datadog, AWS, Google) and baggage. The gateway owns it: a caller
 * that could name the trace a target's spans join could splice its requests into another's trace,
 * force sampling, or hand the target's tracing vendor data (tracestate, baggage) nobody vouches
 * for. With tracing on, the gateway sends its own traceparent (gateway/telemetry/tracing.ts).
 */
const TRACE_CONTEXT = ['traceparent', 'tracestate', 'baggage', 'b3', 'uber-trace-id', 'x-amzn-trace-id', 'x-cloud-trace-context', 'grpc-trace-bin', 'sw8', 'sw8-correlation', 'elastic-apm-traceparent'];
const TRACE_CONTEXT_PREFIXES = ['x-b3-', 'x-datadog-', 'uberctx-', 'ot-baggage-'];

/**
 * Headers a proxy sets to tell the target who the caller is or where the request came from
 * (RFC 7239, the X-Forwarded-* family, and the identity headers of auth proxies such as oauth2-proxy,
 * Pomerium, Apache and Cloudflare). Never taken from a caller.
 */
const GATEWAY_OWNED = new Set([
  'forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'x-cluster-client-ip', 'fastly-client-ip',
  'x-remote-user', 'x-remote-addr', 'x-remote-ip', 'x-remote-group', 'x-remote-groups', 'remote-user', 'x-user', 'x-user-id',
  'x-email', 'x-auth-user', 'x-authenticated-user', 'x-original-url', 'x-original-uri', 'x-original-method', 'x-rewrite-url', 'via',
  ...TRACE_CONTEXT,
]);
const GATEWAY_OWNED_PREFIXES = ['x-forwarded-', 'x-auth-request-', 'x-pomerium-', 'x-goog-authenticated-', 'cf-access-', ...TRACE_CONTEXT_PREFIXES];

/** Headers that ask a server to treat a request as another method. */
const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-method-override', 'x-http-method'] as const;

/** Headers that ask for part of an answer. */
const RANGE_HEADERS = new Set(['range', 'if-range']);

function isGatewayOwned(lower: string): boolean {
  return GATEWAY_OWNED.has(lower) || GATEWAY_OWNED_PREFIXES.some((p) => lower.startsWith(p));
}

type Headers = Record<string, string | string[] | undefined>;

/** Header names listed in Connection: (they are hop-by-hop for this message). */
function connectionListed(headers: Headers): Set<string> {
  const value = headers.connection;
  const list = Array.isArray(value) ? value.join(',') : value ?? '';
  return new Set(list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
}

export interface ForwardOptions {
  /** Method-override headers the connection's target honours (they are forwarded). Default none. */
  readonly methodOverride?: readonly string[];
  /** Forward Range and If-Range. Default false. */
  readonly ranges?: boolean;
}

/** What the target may see of the caller's request headers (before the gateway adds its own). */
export function forwardRequestHeaders(headers: Headers, options: ForwardOptions = {}): Record<string, string | string[]> {
  const listed = connectionListed(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || listed.has(lower) || CALLER_CREDENTIALS.has(lower) || lower.startsWith(AIRLOCK_PREFIX) || lower === 'host') continue;
    if (isGatewayOwned(lower)) continue;
    if (RANGE_HEADERS.has(lower) && options.ranges !== true) continue;
    if ((METHOD_OVERRIDE_HEADERS as readonly string[]).includes(lower) && !(options.methodOverride ?? []).includes(lower)) continue;
    out[lower] = value;
  }
  return out;
}

/**
 * The method the target will act on: the request's, or the one a method-override header the
 * connection allows names. A method-override header the connection does not allow is refused
 * (GW_METHOD_OVERRIDE), as is an override that is not one method token.
 */
export function effectiveMethod(method: string, headers: Headers, allowed: readonly string[]): string {
  let effective = method;
  for (const name of METHOD_OVERRIDE_HEADERS) {
    const value = headers[name];
    if (value === undefined) continue;
    if (!allowed.includes(name)) {
      throw new GatewayError('GW_METHOD_OVERRIDE', `The request carries ${name}, which this connection does not allow (http.methodOverride): send the real method instead.`);
    }
    const values = Array.isArray(value) ? value : [value];
    if (values.length !== 1 || !/^[A-Za-z]{1,20}$/.test(values[0]!)) {
      throw new GatewayError('GW_METHOD_OVERRIDE', `The ${name} header must name one method (a word such as DELETE).`);
    }
    if (effective !== method && effective !== values[0]!.toUpperCase()) {
      throw new GatewayError('GW_METHOD_OVERRIDE', 'The request names two different override methods; send one.');
    }
    effective = values[0]!.toUpperCase();
  }
  return effective;
}

/** The headers in which the gateway speaks for the caller: where the request came from, as the gateway saw it. */
export function gatewayForwardedHeaders(clientAddress: string | undefined, publicUrl: URL): Record<string, string> {
  const proto = publicUrl.protocol.replace(':', '');
  const for_ = clientAddress === undefined ? 'unknown' : clientAddress.includes(':') ? `"[${clientAddress}]"` : clientAddress;
  return {
    forwarded: `for=${for_};proto=${proto};host="${publicUrl.host}"`,
    'x-forwarded-for': clientAddress ?? 'unknown',
    'x-forwarded-proto': proto,
    'x-forwarded-host': publicUrl.host,
  };
}

/** What the caller may see of the target's response headers: a target cannot speak for the gateway (`x-airlock-masked`, `x-airlock-inspection`). */
export function forwardResponseHeaders(headers: Headers): Record<string, string | string[]> {
  const listed = connectionListed(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || listed.has(lower) || lower.startsWith(AIRLOCK_PREFIX)) continue;
    out[lower] = value;
  }
  return out;
}
