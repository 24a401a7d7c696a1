// One HTTP message (a request or an answer) as the guard judges it: every part that leaves is in
// the policy request, normalised, and what is returned is exactly what may leave.
//
//   body     decoded (content coding, charset), JSON parsed with every key (normalise.ts); over
//            the inspection limit it is not inspected and the connection's oversize rule decides
//   headers  as they would leave, inspected and masked in place like a JSON object
//   query    parsed into its parameters, inspected and masked like the headers, and always sent
//            re-serialised from what was inspected (so a target cannot decode it differently)
//
// A payload that carries the caller's own airlock credential (an API key or one of our tokens)
// in a header or the query is refused: the gateway's credentials never reach a target.
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import type { Finding } from '../inspect/types.ts';
import type { PolicyRequest } from '../policy/context.ts';
import type { Outcome } from '../policy/decide.ts';
import { decideFor, inspectFor, type GuardDeps } from './decide.ts';
import { noteDecision } from '../telemetry/context.ts';
import { inspectEmbedded } from './embedded.ts';
import { normaliseBody, readWholeKind, type NormalBody } from './normalise.ts';
import { withLimits } from './limits-hook.ts';
import type { Gate } from '../limits/limiter.ts';
import { groupPairs, serialisePairs, ungroup, type Params } from './form.ts';
import { redactFindings } from './record.ts';
import { headerReadings, valueReadings } from './header-readings.ts';
import { findingsOfPart } from '../inspect/parts.ts';

export type HeaderMap = Record<string, string | string[]>;

export interface HttpMessage {
  readonly direction: 'request' | 'response';
  /** The method the target acts on (after an allowed method override). */
  readonly method: string;
  /** The path on the target, without the query. */
  readonly pathname: string;
  /** The raw query string without `?` (requests only), or ''. */
  readonly query: string;
  /** Headers as they would leave (the gateway's own not yet added). */
  readonly headers: HeaderMap;
  readonly body: Buffer;
  /** The body is larger than the connection inspects: the oversize rule decides. */
  readonly oversize?: { readonly action: 'deny' | 'review'; readonly streaming: boolean };
  /** The limits' gate (limits-hook.ts): usage for CEL, and the limits this message is over. */
  readonly limits?: Gate;
}

export interface Judged {
  readonly outcome: Outcome;
  /** The path and query as they may leave (the query re-serialised from what was inspected, masked when the decision is mask). */
  readonly target: string;
  /** The path and query with every PII and secret value redacted: what a refused or held request is recorded with. */
  readonly redactedTarget: string;
  readonly headers: HeaderMap;
  /** The body as it may leave (decoded; masked when the decision is mask). */
  readonly body: Buffer;
  /** The normalised body, when it was inspected. */
  readonly normal?: NormalBody;
  /** Anything changed by masking (a header, the query or the body). */
  readonly masked: boolean;
}

/** Inspects and decides one HTTP message; throws the coded errors of normalisation (encoding, size). */
export function judgeHttp(deps: GuardDeps, identity: Identity, connection: Connection, msg: HttpMessage, tooLarge: () => GatewayError): Judged {
  const since = performance.now(); // the inspect stage: reading the message as its reader will, then the inspectors
  refuseOwnCredentials(msg, deps.config.auth.issuer);
  const parts = readParts(msg);
  const read = readBody(msg, connection.limits, tooLarge);
  const outcome = withLimits(decide(deps, identity, connection, msg, parts, read, since), msg.limits);
  noteDecision(connection.name, outcome.decision); // the oversize rule's and the limits' too
  return { outcome, ...leaving(msg, parts, read.normal, outcome), redactedTarget: redactedTarget(msg, parts, outcome, deps.maskKey) };
}

/** The query and the path as inspected: the query's pairs and parameters, the path's segments (requests), and the target they give. */
interface Parts {
  readonly pairs: ReadonlyArray<[string, string]>;
  readonly query?: Params;
  readonly segments?: string[];
  /** The path and the query re-serialised from its pairs. */
  readonly target: string;
}

function readParts(msg: HttpMessage): Parts {
  const pairs = [...new URLSearchParams(msg.query)];
  return {
    pairs, target: `${msg.pathname}${serialise(pairs)}`,
    ...(pairs.length === 0 ? {} : { query: groupPairs(pairs) }),
    // The path is part of what leaves (`/users/4111…`): its segments, decoded, are inspected too.
    ...(msg.direction === 'request' ? { segments: pathSegments(msg.pathname) } : {}),
  };
}

/** The body as read: normalised (when it has one and it was not streamed), its policy fields and findings when within the inspection limit. */
interface ReadBody {
  readonly normal?: NormalBody;
  /** Over the inspection limit (as sent, or once decoded): the oversize rule decides. */
  readonly overLimit: boolean;
  readonly fields: Partial<PolicyRequest>;
  readonly findings: readonly Finding[];
}

function readBody(msg: HttpMessage, limits: Connection['limits'], tooLarge: () => GatewayError): ReadBody {
  if (msg.oversize !== undefined || msg.body.length === 0) return { overLimit: msg.oversize !== undefined, fields: {}, findings: [] };
  const normal = normaliseBody(msg.body, {
    contentType: firstValue(msg.headers['content-type']), contentEncoding: firstValue(msg.headers['content-encoding']),
    maxBytes: msg.direction === 'request' ? limits.maxRequestBytes : limits.maxResponseBytes, tooLarge, direction: msg.direction,
  });
  if (normal.bytes.length > limits.inspectBytes) return { normal, overLimit: true, fields: {}, findings: [] };
  const fields = normal.json !== undefined ? { body: normal.json } : normal.text !== undefined ? { text: normal.text } : {};
  return { normal, overLimit: false, fields, findings: normal.findings };
}

/** The oversize rule's outcome, or policy's on every part of the message with the findings of all its readings. */
function decide(deps: GuardDeps, identity: Identity, connection: Connection, msg: HttpMessage, parts: Parts, read: ReadBody, since: number): Outcome {
  const limits = connection.limits;
  if (read.overLimit) {
    const size = read.normal?.bytes.length ?? msg.body.length;
    const action = msg.oversize?.action ?? (limits.oversize === 'review' ? 'review' : 'deny');
    const streaming = msg.oversize?.streaming ?? limits.oversize === 'stream';
    return oversizeOutcome(action, size, limits.inspectBytes, streaming, readWholeKind(firstValue(msg.headers['content-type'])) ?? 'JSON');
  }
  const { query, segments } = parts;
  const extra: Finding[] = [...read.findings];
  if (msg.direction === 'request' && connection.kind === 'http') {
    // SQL and commands in the body, query or headers, judged like an MCP tool's (embedded.ts).
    extra.push(...inspectEmbedded({ json: read.fields.body, query, headers: msg.headers, rules: connection.inspect, dialect: connection.sql.dialect, form: read.normal?.form === true }));
  }
  extra.push(...headerReadings(msg.headers), ...valueReadings('query', query), ...valueReadings('segments', segments));
  const request: PolicyRequest = {
    kind: 'http', direction: msg.direction, method: msg.method, path: parts.target, headers: msg.headers,
    ...(query === undefined ? {} : { query }), ...(segments === undefined ? {} : { segments }), ...read.fields,
  };
  return decideFor(deps, identity, connection, request, extra, inspectFor(request, since), msg.limits?.usage);
}

/** What leaves: the body decoded (re-encoded when masked), the headers and the target with what was masked. */
function leaving(msg: HttpMessage, parts: Parts, normal: NormalBody | undefined, outcome: Outcome): Omit<Judged, 'outcome' | 'redactedTarget'> {
  const masking = outcome.decision === 'mask';
  const maskedBody = masking && normal !== undefined && outcome.masked !== undefined && outcome.masked !== normal.json && outcome.masked !== normal.text;
  const body = normal === undefined ? msg.body : maskedBody ? normal.reencode(outcome.masked) : normal.bytes;
  const maskedHeaders = masking ? outcome.maskedParts?.headers as HeaderMap | undefined : undefined;
  const maskedQuery = masking ? outcome.maskedParts?.query as Params | undefined : undefined;
  const maskedSegments = masking ? outcome.maskedParts?.segments as string[] | undefined : undefined;
  const headers = maskedHeaders === undefined || maskedHeaders === msg.headers ? { ...msg.headers } : headerSafe(maskedHeaders);
  if (normal !== undefined) {
    delete headers['content-encoding']; // the decoded body leaves, as inspected
    if (body !== normal.bytes && normal.charset !== 'utf-8' && headers['content-type'] !== undefined) headers['content-type'] = withUtf8(firstValue(headers['content-type'])!);
  }
  const path = maskedSegments !== undefined && maskedSegments !== parts.segments ? joinSegments(maskedSegments) : msg.pathname;
  const query = maskedQuery !== undefined && maskedQuery !== parts.query ? serialise(ungroup(parts.pairs, maskedQuery)) : serialise(parts.pairs);
  const target = `${path}${query}`;
  const masked = (normal !== undefined && body !== normal.bytes) || (maskedHeaders !== undefined && maskedHeaders !== msg.headers) || target !== parts.target;
  return { target, headers, body, ...(normal === undefined ? {} : { normal }), masked };
}

/**
 * A refused or held request never left: its recording holds the path and query with every PII
 * and secret value redacted, as its body is (record.ts).
 */
function redactedTarget(msg: HttpMessage, parts: Parts, outcome: Outcome, maskKey: Uint8Array): string {
  const { pairs, query, segments } = parts;
  const redactedQuery = query === undefined ? '' : serialise(ungroup(pairs, redactFindings(query, findingsOfPart('query', outcome.findings), maskKey) as Params));
  const redactedPath = segments === undefined ? msg.pathname : joinSegments(redactFindings(segments, findingsOfPart('segments', outcome.findings), maskKey) as string[]);
  return `${redactedPath}${redactedQuery}`;
}

/** The path's segments, percent-decoded (the proxy refused any that do not decode; one that does not is kept as it is). */
function pathSegments(pathname: string): string[] {
  return pathname.split('/').slice(1).map((s) => {
    try { return decodeURIComponent(s); } catch { return s; }
  });
}

/** A path from (masked) segments, each percent-encoded: a masked segment cannot add a `/`. */
function joinSegments(segments: readonly string[]): string {
  return `/${segments.map((s) => encodeURIComponent(String(s))).join('/')}`;
}

/** Masked header values in the characters a header may carry (a mask token's `…` becomes `...`; anything else outside ASCII is percent-encoded). */
function headerSafe(headers: HeaderMap): HeaderMap {
  const safe = (v: string) => v.replaceAll('…', '...').replace(/[^\t\x20-\x7e]/gu, (c) => encodeURIComponent(c));
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => safe(String(x))) : safe(String(v))]));
}

/** A header's first value (Node gives a repeated header as an array), or undefined. */
export function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A masked body leaves as UTF-8: its Content-Type says so. */
function withUtf8(contentType: string): string {
  return /;\s*charset\s*=/i.test(contentType) ? contentType.replace(/(;\s*charset\s*=\s*)("?)[^";\s]+\2/i, '$1utf-8') : `${contentType}; charset=utf-8`;
}

function serialise(pairs: ReadonlyArray<[string, string]>): string {
  return pairs.length === 0 ? '' : `?${serialisePairs(pairs)}`;
}

/** An airlock API key, anywhere in a value. */
const API_KEY = /\balk_[A-Za-z0-9]{4,64}_[A-Za-z0-9_-]{16,}/;
/** A JWT, anywhere in a value. */
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;

/** Refuses a message that would carry an airlock credential (an API key, or a token our issuer signed) to the target. */
function refuseOwnCredentials(msg: HttpMessage, issuer: string | undefined): void {
  if (msg.direction !== 'request') return;
  const values: string[] = [msg.query];
  for (const v of Object.values(msg.headers)) values.push(...(Array.isArray(v) ? v : [v]));
  for (const value of values) {
    let decoded = value;
    try { decoded = decodeURIComponent(value); } catch { /* inspected as it is */ }
    if (API_KEY.test(decoded) || (issuer !== undefined && carriesOurToken(decoded, issuer))) {
      throw new GatewayError('GW_BAD_REQUEST', 'The request carries an airlock credential (an API key or an airlock access token) in a header or the query; the gateway\'s credentials never go to a target. Send it only in Authorization.');
    }
  }
}

function carriesOurToken(value: string, issuer: string): boolean {
  for (const m of value.matchAll(JWT)) {
    try {
      const claims = JSON.parse(Buffer.from(m[0].split('.')[1]!, 'base64url').toString('utf8')) as { iss?: unknown };
      if (claims.iss === issuer) return true;
    } catch { /* not a token of ours */ }
  }
  return false;
}

/** A body too large to inspect: never allowed (limits.oversize is deny or review). */
export function oversizeOutcome(action: 'deny' | 'review', size: number, limit: number, streaming: boolean, kind = 'JSON'): Outcome {
  const finding: Finding = { kind: 'inspect.limit', path: '$', severity: 'high', detail: `body of ${size} bytes, over the inspection limit of ${limit}` };
  const why = streaming ? ` A ${kind} body is inspected whole, so it is not streamed (limits.oversize: stream).` : '';
  return { decision: action, reasons: [{ rule: '(oversize)', policy: '(connection)', action, reason: 'inspect.oversize', message: `The body (${size} bytes) is larger than the ${limit} bytes inspected (limits.inspectBytes).${why}` }], findings: [finding] };
}
