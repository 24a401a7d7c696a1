// A body in the one form that is both inspected and delivered. Whatever a target or a client
// would do to read the bytes (undo a content encoding, decode a charset, parse JSON) is done here
// first, and what leaves afterwards is that decoded form, not the original bytes:
//
//   content encoding  gzip, x-gzip, deflate, br and zstd are decoded (bounded: a small body cannot
//                     expand past the limit); the decoded bytes leave, without Content-Encoding.
//                     Any other coding cannot be read and is refused (GW_ENCODING_UNSUPPORTED).
//   charset           a byte-order mark first, else the declared charset, else UTF-8 (the WHATWG
//                     decode rule a browser applies); decoding is strict. Textual content (text/*,
//                     JSON, XML, forms, scripts) that does not decode is a finding
//                     (`inspect.charset`), refused. Other content is inspected as Latin-1 (one
//                     character per byte, as the streamed path does), so no byte is unseen.
//   hidden text       text with NUL or other control and format characters between its letters (UTF-16
//                     or UTF-32 without a BOM reads as such in UTF-8 or Latin-1) is inspected a
//                     second time without them; a value found only then is a finding
//                     (`inspect.hidden_text`), refused: it could be read by a client that
//                     guesses the charset, and cannot be masked in place.
//   JSON              every key kept and duplicates reported (`inspect.duplicate_key`), depth
//                     bounded (`inspect.limit`), integers exact (guard/json.ts).
//
// When masking rewrites a body, it leaves as UTF-8 (JSON re-serialised, text re-encoded) and the
// Content-Type's charset says so; an unmasked body leaves as the decoded bytes it was inspected as.
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync, zstdDecompressSync } from 'node:zlib';
import { GatewayError } from '../errors.ts';
import { HIDING, HIDING_ANY } from '../inspect/hidden.ts';
import { inspectText } from '../inspect/pii/index.ts';
import type { Finding } from '../inspect/types.ts';
import { groupPairs, parseForm, serialisePairs, ungroup, type Params } from './form.ts';
import { DEFAULT_MAX_DEPTH, parseScanned, scanJson, stringifyJson } from './json.ts';
import { multipartFindings } from './multipart.ts';

/** What a body gives the inspectors and what leaves unless masked. */
export interface NormalBody {
  /** The decoded bytes: what leaves when nothing is masked. */
  readonly bytes: Buffer;
  /** Parsed JSON (every key, exact integers), or undefined. */
  readonly json?: unknown;
  /** The text as inspected (decoded by its charset, or Latin-1), when not JSON. */
  readonly text?: string;
  /** Findings of the normalisation itself: duplicate keys, depth, charset, hidden text. */
  readonly findings: readonly Finding[];
  /** The Content-Encoding that was undone, if any (the header must not leave with it). */
  readonly decodedFrom?: string;
  /** The body is a form (`application/x-www-form-urlencoded`): `json` holds its fields, `bytes` its re-serialised text. */
  readonly form?: boolean;
  /** The charset the text was read in (`utf-8`, `utf-16le`, `latin1` for binary, …). */
  readonly charset: string;
  /** Bytes of a masked payload (JSON or text), always UTF-8. */
  reencode(masked: unknown): Buffer;
}

export interface NormaliseOptions {
  readonly contentType?: string;
  readonly contentEncoding?: string;
  /** Largest decoded body, in bytes; past it `tooLarge()` is thrown. */
  readonly maxBytes: number;
  readonly tooLarge: () => GatewayError;
  /** `request` or `response`: for the messages of refusals. */
  readonly direction: 'request' | 'response';
  /** How deep in multipart bodies this body is (0: the message's own). Default 0. */
  readonly depth?: number;
  /** Deepest JSON nesting parsed. Default 64. */
  readonly maxDepth?: number;
}

/** Content codings that can be read (RFC 9110 §8.4.1, RFC 8878). */
const DECODERS: Readonly<Record<string, (b: Buffer, o: { maxOutputLength: number }) => Buffer>> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: (b, o) => {
    // "deflate" is zlib-wrapped by the RFC, raw in some servers' practice: a reader accepts either.
    try { return inflateSync(b, o); } catch (err) { if (isTooLarge(err)) throw err; return inflateRawSync(b, o); }
  },
  br: brotliDecompressSync,
  zstd: zstdDecompressSync,
};

/** Undoes every content coding listed (last applied first); `identity` is none. Throws GW_ENCODING_UNSUPPORTED or tooLarge. */
export function decodeContent(raw: Buffer, contentEncoding: string | undefined, o: Pick<NormaliseOptions, 'maxBytes' | 'tooLarge' | 'direction'>): { bytes: Buffer; decodedFrom?: string } {
  const codings = (contentEncoding ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '' && s !== 'identity');
  if (codings.length === 0) return { bytes: raw };
  let bytes = raw;
  for (const coding of codings.reverse()) {
    const decoder = DECODERS[coding];
    if (decoder === undefined) {
      throw new GatewayError(o.direction === 'request' ? 'GW_ENCODING_UNSUPPORTED' : 'GW_RESPONSE_UNREADABLE', `The ${o.direction} body is encoded as ${JSON.stringify(coding.slice(0, 40))}, which airlock cannot decode to inspect (gzip, deflate, br and zstd can be), so it was refused.`);
    }
    try {
      bytes = decoder(bytes, { maxOutputLength: o.maxBytes });
    } catch (err) {
      if (isTooLarge(err)) throw o.tooLarge();
      throw new GatewayError(o.direction === 'request' ? 'GW_ENCODING_UNSUPPORTED' : 'GW_RESPONSE_UNREADABLE', `The ${o.direction} body says it is ${coding}-encoded but does not decode (${(err as NodeJS.ErrnoException).code ?? 'corrupt data'}), so it cannot be inspected and was refused.`);
    }
  }
  return { bytes, decodedFrom: codings.reverse().join(', ') };
}

function isTooLarge(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
}

/** Media types whose bodies are text and must decode in their charset. */
export function isTextual(contentType: string | undefined): boolean {
  const type = mediaType(contentType);
  return type.startsWith('text/') || /^application\/([a-z0-9.+-]*\+)?(json|xml)$/.test(type) || /\+(json|xml)$/.test(type)
    || type === 'application/x-www-form-urlencoded' || type === 'application/javascript' || type === 'application/ecmascript'
    || type === 'application/x-ndjson' || type === 'application/graphql' || type === 'application/sql' || type === 'application/yaml';
}

export function isJsonType(contentType: string | undefined): boolean {
  return /^application\/([a-z0-9.+-]*\+)?json$/.test(mediaType(contentType));
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The `charset` parameter of a Content-Type, lower-cased, or undefined. */
export function charsetOf(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*("?)([^";\s]+)\1/i.exec(contentType ?? '');
  return m?.[2]?.toLowerCase();
}

/** Decodes, parses and checks one body; see the head of this file. Throws GW_ENCODING_UNSUPPORTED or tooLarge(). */
export function normaliseBody(raw: Buffer, o: NormaliseOptions): NormalBody {
  const { bytes, decodedFrom } = decodeContent(raw, o.contentEncoding, o);
  const findings: Finding[] = [];
  const textual = isTextual(o.contentType) || o.contentType === undefined;
  const decoded = decodeText(bytes, charsetOf(o.contentType));
  let text: string;
  let charset: string;
  if (decoded.ok) {
    text = decoded.text;
    charset = decoded.charset;
  } else {
    text = bytes.toString('latin1');
    charset = 'latin1';
    if (textual && o.contentType !== undefined) {
      findings.push({ kind: 'inspect.charset', path: '$', severity: 'high', detail: decoded.why });
    } else if (looksLikeJson(text)) {
      // JSON that does not decode (RFC 8259 has it UTF-8): a lenient reader (Go's encoding/json)
      // still parses it, with U+FFFD, and its statements, while the guard would see only text.
      findings.push({ kind: 'inspect.charset', path: '$', severity: 'high', detail: `a JSON-looking body in ${decoded.why}` });
    }
  }
  const reencode = (masked: unknown) => Buffer.from(typeof masked === 'string' ? masked : stringifyJson(masked), 'utf8');
  const base = { bytes, findings, charset, reencode, ...(decodedFrom === undefined ? {} : { decodedFrom }) };
  if (bytes.length === 0) return { ...base };
  if (/;\s*charset\s*=[^]*;\s*charset\s*=/i.test(o.contentType ?? '')) {
    findings.push({ kind: 'inspect.charset', path: '$', severity: 'high', detail: 'a Content-Type that names its charset twice (readers disagree on which one counts)' });
  }
  if (mediaType(o.contentType).startsWith('multipart/')) {
    const depth = o.depth ?? 0;
    findings.push(...multipartFindings(bytes, o.contentType!, depth, (part, contentType, d) => {
      const n = normaliseBody(part, { ...o, contentType, contentEncoding: undefined, depth: d });
      return { text: n.text ?? stringsOf(n.json).join('\n'), findings: n.findings };
    }));
  }
  // An XML entity declaration: what `&name;` expands to is seen only by an XML parser.
  if (/<!ENTITY/i.test(text) && (/xml/.test(mediaType(o.contentType)) || /^\s*</.test(text))) {
    findings.push({ kind: 'inspect.hidden_text', path: '$', severity: 'high', detail: 'an XML entity declaration (<!ENTITY): the text it expands to is read only by an XML parser' });
  }
  if (isFormType(o.contentType) && decoded.ok) return normaliseForm(text, base);
  // JSON is read as JSON whatever the Content-Type says: many targets parse any body as JSON, and
  // a client's `fetch().json()` ignores the type, so a `text/plain` body with two equal keys or a
  // `\/`-escaped card must meet the same checks as `application/json`.
  if (decoded.ok && (isJsonType(o.contentType) || looksLikeJson(text))) {
    const scan = scanJson(text, o.maxDepth ?? DEFAULT_MAX_DEPTH);
    if (scan.tooDeep) {
      findings.push({ kind: 'inspect.limit', path: '$', severity: 'high', detail: `JSON nested deeper than ${o.maxDepth ?? DEFAULT_MAX_DEPTH} levels` });
      return { ...base, text };
    }
    try {
      const json = parseScanned(text, scan);
      for (const path of scan.duplicates) findings.push({ kind: 'inspect.duplicate_key', path, severity: 'high', detail: 'a key that appears twice in one object (readers disagree on which value counts)' });
      // Escapes (\u0000) put hiding characters in the parsed strings, not the text, and a string may
      // carry escapes its reader decodes again (HTML rendered from JSON): look there.
      if (text.includes('\\') || text.includes('&') || HIDING_ANY.test(text)) findings.push(...hiddenInValue(json));
      return { ...base, json };
    } catch {
      // Declared JSON that is not: inspected as text, so nothing in it passes unseen.
    }
  }
  // JSON Lines (NDJSON): one document a line, each read as JSON, whether declared or found.
  if (decoded.ok && (isLinesType(o.contentType) || looksLikeJson(text))) {
    const lines = normaliseLines(text, base, o.maxDepth ?? DEFAULT_MAX_DEPTH);
    if (lines !== undefined) return lines;
  }
  findings.push(...hiddenText(text));
  return { ...base, text };
}

function isLinesType(contentType: string | undefined): boolean {
  return /^application\/(x-)?(ndjson|jsonl|jsonlines|json-lines)$/.test(mediaType(contentType));
}

/**
 * JSON Lines as an array of its documents (findings at `$[i]…`, counting the documents), or
 * undefined when a line is not JSON (then the body is text). Masked, it leaves one document a line.
 */
function normaliseLines(text: string, base: Omit<NormalBody, 'text' | 'json'> & { findings: Finding[] }, maxDepth: number): NormalBody | undefined {
  const docs: unknown[] = [];
  const found: Finding[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const scan = scanJson(line, maxDepth);
    if (scan.tooDeep) found.push({ kind: 'inspect.limit', path: `$[${docs.length}]`, severity: 'high', detail: `JSON nested deeper than ${maxDepth} levels` });
    let doc: unknown;
    try {
      doc = scan.tooDeep ? null : parseScanned(line, scan);
    } catch {
      return undefined;
    }
    for (const path of scan.duplicates) found.push({ kind: 'inspect.duplicate_key', path: `$[${docs.length}]${path.slice(1)}`, severity: 'high', detail: 'a key that appears twice in one object (readers disagree on which value counts)' });
    docs.push(doc);
  }
  if (docs.length === 0) return undefined;
  base.findings.push(...found);
  if (text.includes('\\') || text.includes('&') || HIDING_ANY.test(text)) base.findings.push(...hiddenInValue(docs));
  return { ...base, json: docs, reencode: (masked) => Buffer.from(`${(masked as unknown[]).map(stringifyJson).join('\n')}\n`, 'utf8') };
}

/** Text whose first character (after white space) opens a JSON object or array. */
function looksLikeJson(text: string): boolean {
  return /^[\t\n\r ]*[[{]/.test(text);
}

/**
 * Bodies that are read as more than their text (JSON, forms, multipart) and so are inspected whole,
 * never window by window (limits.oversize: stream): the kind, or undefined for one that may stream.
 */
export function readWholeKind(contentType: string | undefined): 'JSON' | 'form' | 'multipart' | undefined {
  if (isJsonType(contentType)) return 'JSON';
  if (isFormType(contentType)) return 'form';
  return mediaType(contentType).startsWith('multipart/') ? 'multipart' : undefined;
}

export function isFormType(contentType: string | undefined): boolean {
  return mediaType(contentType) === 'application/x-www-form-urlencoded';
}

/**
 * A form body is inspected as its decoded fields (grouped like the query: `{name: [values]}`),
 * and leaves re-serialised from them (guard/form.ts); masked, from the masked fields. A field that
 * is not valid percent-encoded UTF-8 cannot be read one way only: a finding, refused.
 */
function normaliseForm(text: string, base: Omit<NormalBody, 'text' | 'json'> & { findings: Finding[] }): NormalBody {
  let pairs: Array<[string, string]>;
  try {
    pairs = parseForm(text);
  } catch {
    base.findings.push({ kind: 'inspect.charset', path: '$', severity: 'high', detail: 'a form field that is not valid percent-encoded UTF-8' });
    return { ...base, text };
  }
  const fields = groupPairs(pairs);
  for (const [k, v] of pairs) base.findings.push(...hiddenText(`${k}\n${v}`));
  return {
    ...base, json: fields, form: true, bytes: Buffer.from(serialisePairs(pairs), 'utf8'),
    reencode: (masked) => Buffer.from(serialisePairs(ungroup(pairs, masked as Params)), 'utf8'),
  };
}

/** The hidden-text finding of a parsed value's keys and strings, if any. */
export function hiddenInValue(value: unknown): Finding[] {
  return hiddenText(stringsOf(value).join('\n'));
}

/** Every key and string of a parsed value (iterative: depth is bounded by the parsers). */
function stringsOf(value: unknown): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const child of v) stack.push(child);
    else if (v !== null && typeof v === 'object') for (const [k, child] of Object.entries(v)) { out.push(k); stack.push(child); }
  }
  return out;
}

/** Strict decoding: BOM, else the declared charset, else UTF-8. */
function decodeText(bytes: Buffer, declared: string | undefined): { ok: true; text: string; charset: string } | { ok: false; why: string } {
  let label = declared ?? 'utf-8';
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) { label = 'utf-8'; start = 3; }
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) { label = 'utf-16le'; start = 2; }
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) { label = 'utf-16be'; start = 2; }
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(label, { fatal: true, ignoreBOM: true });
  } catch {
    return { ok: false, why: `charset ${JSON.stringify(label.slice(0, 40))} is not one airlock can decode` };
  }
  // `utf-16` (and its aliases `unicode`, `ucs-2`) without a byte-order mark is little-endian to the
  // WHATWG decoder but big-endian to RFC 2781 readers: one text, two readings.
  if (start === 0 && decoder.encoding === 'utf-16le' && !/le$/i.test(label.trim())) {
    return { ok: false, why: `charset ${JSON.stringify(label.slice(0, 40))} without a byte-order mark (readers disagree on its byte order; name utf-16le or utf-16be)` };
  }
  try {
    return { ok: true, text: decoder.decode(bytes.subarray(start)), charset: decoder.encoding };
  } catch {
    return { ok: false, why: `bytes that are not valid ${decoder.encoding}` };
  }
}

/** Escapes a lenient reader decodes: backslash escapes (JSON5, JavaScript, YAML, Python) and XML/HTML character references. */
const ESCAPE = /\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[/"'\\bfnrt])|&#(?:[0-9]{1,7}|[xX][0-9a-fA-F]{1,6});|&(?:nbsp|amp|lt|gt|quot|apos);/g;
const ESCAPE_ANY = new RegExp(ESCAPE.source);
const UNESCAPED: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', nbsp: '\u00a0', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(text: string): string {
  return text.replace(ESCAPE, (e) => {
    if (e[0] === '&') {
      if (e[1] !== '#') return UNESCAPED[e.slice(1, -1)]!;
      const code = e[2] === 'x' || e[2] === 'X' ? parseInt(e.slice(3, -1), 16) : parseInt(e.slice(2, -1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : e;
    }
    return e[1] === 'u' || e[1] === 'x' ? String.fromCharCode(parseInt(e.slice(2), 16)) : UNESCAPED[e[1]!] ?? e[1]!;
  });
}

/**
 * A value that appears only once the hiding characters are removed (UTF-16 read as UTF-8 or
 * Latin-1 puts a NUL between digits), or once backslash escapes are decoded (`4111\/1111…` in a
 * body that a lenient JSON reader parses), cannot be masked where it stands: a finding, refused.
 */
export function hiddenText(text: string): Finding[] {
  const hiding = HIDING_ANY.test(text);
  const escaped = ESCAPE_ANY.test(text);
  if (!hiding && !escaped) return [];
  const shown = countSensitive(inspectText(text));
  const readings: Array<[string, string]> = [];
  if (hiding) readings.push(['control or format characters between its characters (another charset, or hidden on purpose)', text.replace(HIDING, '')]);
  if (escaped) readings.push(['escapes (backslash escapes or XML character references, as a lenient reader decodes them)', unescape(text).replace(HIDING, '')]);
  for (const [how, reading] of readings) {
    for (const [kind, count] of countSensitive(inspectText(reading))) {
      if (count > (shown.get(kind) ?? 0)) {
        return [{ kind: 'inspect.hidden_text', path: '$', severity: 'high', detail: `a ${kind} value written with ${how}` }];
      }
    }
  }
  return [];
}

/** How many PII and secret values of each kind the findings hold. */
export function countSensitive(findings: readonly Finding[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of findings) if (f.kind.startsWith('pii.') || f.kind.startsWith('secret.')) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  return counts;
}
