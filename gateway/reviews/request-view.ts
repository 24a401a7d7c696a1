// A held request twice over: what the approval is bound to (hashed), and what reviewers see.
//
// Bound: everything that is forwarded — method, path with its query (or tool and arguments), the
// body as bytes, and every forwarded header except the volatile ones below, which change from one
// sending of the same request to the next and carry no instruction for the target. A retry that
// differs in anything else (a header, a query parameter, a byte of the body) needs its own review.
//
// Shown: the same request, with credentials in headers redacted (the value never reaches a
// reviewer, but the approval is still bound to it), and the body or arguments with every PII and
// secret finding redacted, as a held payload is recorded; SQL and shell arguments are shown in
// full, since a reviewer must read the statement they approve.
import { randomBytes } from 'node:crypto';
import { maskJson, maskText } from '../inspect/mask.ts';
import type { Finding } from '../inspect/types.ts';
import type { Json, JsonObject } from '../store/index.ts';

/**
 * Forwarded headers left out of the approval: set per sending by the gateway or the client's
 * transport (request id, framing, trace context). Every other forwarded header is bound,
 * user-agent included (it reaches the target).
 */
export const VOLATILE_HEADERS: ReadonlySet<string> = new Set(['x-request-id', 'content-length', 'transfer-encoding', 'traceparent', 'tracestate']);

/** Header names whose values are credentials: shown to reviewers as "[redacted]". */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'apikey', 'x-auth-token', 'x-access-token',
  'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token', 'x-goog-api-key', 'ocp-apim-subscription-key',
]);
/** Any other header named like a credential is redacted too (x-vendor-token, x-session-secret, …). */
const CREDENTIAL_NAME = /(^|[-_])(token|secret|password|passwd|api[-_]?key|auth|session|signature|credentials?)($|[-_])/;

/** Longest body or argument text shown, in characters of its JSON; past it, the start and a note. Default 256 KiB. */
export const MAX_SHOWN_CHARS = 256 * 1024;

export type HeaderMap = Readonly<Record<string, string | readonly string[]>>;

/** The headers an approval is bound to: lower-case names, sorted, volatile ones left out. */
export function boundHeaders(headers: HeaderMap): JsonObject {
  const entries = Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value] as const).filter(([name]) => !VOLATILE_HEADERS.has(name));
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out: JsonObject = {};
  for (const [name, value] of entries) out[name] = typeof value === 'string' ? value : [...value];
  return out;
}

/** The headers as reviewers see them: credentials redacted, volatile ones left out. */
export function shownHeaders(headers: HeaderMap): JsonObject {
  const bound = boundHeaders(headers);
  for (const name of Object.keys(bound)) {
    if (CREDENTIAL_HEADERS.has(name) || CREDENTIAL_NAME.test(name)) bound[name] = '[redacted]';
  }
  return bound;
}

/** Only `redact` is used here, which needs no key; maskJson/maskText want one all the same. */
const UNUSED_KEY = randomBytes(32);

/**
 * The body or arguments as reviewers see them: PII and secret findings redacted, except inside
 * `verbatim` paths (SQL and shell arguments, shown in full). Undefined payload: null.
 */
export function shownPayload(payload: unknown, findings: readonly Finding[], verbatim: readonly string[] = []): Json {
  if (payload === undefined) return null;
  const inside = (path: string) => verbatim.some((v) => path === v || path.startsWith(`${v}.`) || path.startsWith(`${v}[`));
  const sensitive = findings.filter((f) => (f.kind.startsWith('pii.') || f.kind.startsWith('secret.')) && !inside(f.path));
  const shown = (typeof payload === 'string'
    ? maskText(payload, sensitive, () => 'redact', UNUSED_KEY)
    : maskJson(payload, sensitive, () => 'redact', UNUSED_KEY)) as Json;
  const text = typeof shown === 'string' ? shown : JSON.stringify(shown);
  if (text.length <= MAX_SHOWN_CHARS) return shown;
  return { truncated: true, chars: text.length, start: text.slice(0, MAX_SHOWN_CHARS), note: 'Too long to show whole here; the recorded session holds it all.' };
}
