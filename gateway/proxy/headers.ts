// Which headers cross the proxy. Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection
// and never cross; the caller's credentials for airlock never leave the gateway.

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
]);

/** Request headers that carry the caller's credentials for the gateway (never forwarded). */
const CALLER_CREDENTIALS = new Set(['authorization', 'proxy-authorization']);

/** Headers airlock itself reads or sets on the way; a caller cannot smuggle them through. */
const AIRLOCK_PREFIX = 'x-airlock-';

type Headers = Record<string, string | string[] | undefined>;

/** Header names listed in Connection: (they are hop-by-hop for this message). */
function connectionListed(headers: Headers): Set<string> {
  const value = headers.connection;
  const list = Array.isArray(value) ? value.join(',') : value ?? '';
  return new Set(list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
}

/** What the target may see of the caller's request headers. */
export function forwardRequestHeaders(headers: Headers): Record<string, string | string[]> {
  const listed = connectionListed(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || listed.has(lower) || CALLER_CREDENTIALS.has(lower) || lower.startsWith(AIRLOCK_PREFIX) || lower === 'host') continue;
    out[lower] = value;
  }
  return out;
}

/** What the caller may see of the target's response headers. */
export function forwardResponseHeaders(headers: Headers): Record<string, string | string[]> {
  const listed = connectionListed(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}
