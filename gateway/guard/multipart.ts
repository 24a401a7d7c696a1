// A multipart body (`multipart/form-data`, `multipart/mixed`, …) is inspected whole, as text, so
// no byte of it is unseen, whatever boundary a reader splits it on. What the whole text does not
// show is what a reader does to a part before using it: undo a Content-Transfer-Encoding (base64,
// quoted-printable), decode another charset, decode an RFC 2231 parameter (`filename*=UTF-8''…`)
// or an RFC 2047 encoded word, parse a JSON part. So each part is read that way too, and a part
// whose reading shows a PII or secret value its text did not, or whose reading fails the guard's
// own checks (duplicate keys, charset, depth), is refused with a failure finding: it cannot be
// masked where it stands. A transfer encoding nobody can read is refused (RFC 7578 §4.7 has
// senders use none), and so is a Content-Type that names its boundary twice.
import type { Finding } from '../inspect/types.ts';
import { inspectText } from '../inspect/pii/index.ts';

/** Parts checked per body; past it the body is refused (`inspect.limit`). */
const MAX_PARTS = 1000;
/** Multipart bodies nested in a part, at most. */
export const MAX_MULTIPART_DEPTH = 4;

/** How one part is read: its body (decoded transfer encoding) under its own Content-Type. */
export type ReadPart = (body: Buffer, contentType: string | undefined, depth: number) => { text: string; findings: readonly Finding[] };

/** Failure findings (paths `$parts[i]`) of a multipart body's parts, each read as a reader reads it. */
export function multipartFindings(bytes: Buffer, contentType: string, depth: number, read: ReadPart): Finding[] {
  const fail = (kind: string, path: string, detail: string): Finding[] => [{ kind, path, severity: 'high', detail }];
  const boundaries = [...contentType.matchAll(/;\s*boundary\s*=\s*("([^"]*)"|[^;\s]+)/gi)].map((m) => m[2] ?? m[1]!);
  if (boundaries.length !== 1 || boundaries[0] === '') return fail('inspect.multipart', '$', boundaries.length === 0 ? 'a multipart body without a boundary' : 'a multipart Content-Type that names its boundary twice (readers disagree on which one splits it)');
  if (depth > MAX_MULTIPART_DEPTH) return fail('inspect.limit', '$', `multipart bodies nested deeper than ${MAX_MULTIPART_DEPTH}`);
  const text = bytes.toString('latin1'); // one character per byte: offsets are byte offsets
  const delimiter = `--${boundaries[0]}`;
  const findings: Finding[] = [];
  const starts: number[] = [];
  for (let at = text.indexOf(delimiter); at !== -1; at = text.indexOf(delimiter, at + delimiter.length)) {
    if (at === 0 || text[at - 1] === '\n') starts.push(at);
  }
  if (starts.length > MAX_PARTS) return fail('inspect.limit', '$', `more than ${MAX_PARTS} multipart parts`);
  for (let i = 0; i < starts.length; i++) {
    if (text.startsWith('--', starts[i]! + delimiter.length)) break; // the close delimiter: the epilogue is not a part
    const from = text.indexOf('\n', starts[i]!);
    if (from === -1) break;
    const to = i + 1 < starts.length ? starts[i + 1]! : text.length;
    const raw = text.slice(from + 1, to).replace(/\r?\n$/, '');
    const split = /\r?\n\r?\n/.exec(raw);
    const head = split === null ? raw : raw.slice(0, split.index);
    const bodyText = split === null ? '' : raw.slice(split.index + split[0].length);
    const path = `$parts[${i}]`;
    const headers = parseHeaders(head);
    const coding = (headers.get('content-transfer-encoding') ?? '7bit').trim().toLowerCase();
    let body = Buffer.from(bodyText, 'latin1');
    if (coding === 'base64') body = Buffer.from(bodyText.replace(/\s+/g, ''), 'base64');
    else if (coding === 'quoted-printable') body = Buffer.from(bodyText.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    else if (coding !== '7bit' && coding !== '8bit' && coding !== 'binary') {
      findings.push(...fail('inspect.encoding', path, `a part sent in transfer encoding ${JSON.stringify(coding.slice(0, 40))}, which airlock cannot read`));
      continue;
    }
    const reading = read(body, headers.get('content-type'), depth + 1);
    findings.push(...reading.findings.filter((f) => f.kind.startsWith('inspect.')).map((f) => ({ ...f, path: `${path}${f.path.slice(1)}` })));
    const shown = sensitiveCounts(`${head}\n${bodyText}`);
    for (const [kind, count] of sensitiveCounts(`${decodeHeaderText(head)}\n${reading.text}`)) {
      if (count > (shown.get(kind) ?? 0)) {
        findings.push(...fail('inspect.hidden_text', path, `a ${kind} value visible only once the part is decoded (transfer encoding, charset or encoded parameter), which cannot be masked where it stands`));
        break;
      }
    }
  }
  return findings;
}

/** A part's header fields, names lower-cased (a repeated field: the values joined, so none is unseen). */
function parseHeaders(head: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    out.set(name, out.has(name) ? `${out.get(name)!}, ${value}` : value);
  }
  return out;
}

/** Header text as a reader decodes it: RFC 2231 / 5987 parameters (`name*=utf-8''4111%20…`) and RFC 2047 encoded words. */
export function decodeHeaderText(head: string): string {
  return head
    .replace(/\*(?:\d+\*?)?\s*=\s*([A-Za-z0-9_-]*)'[^']*'([^;\r\n]*)/g, (_m, charset: string, value: string) => `=${percentDecode(value, charset)}`)
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, charset: string, how: string, data: string) => {
      const bytes = how.toUpperCase() === 'B' ? Buffer.from(data, 'base64')
        : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
      return decodeIn(bytes, charset);
    });
}

export function percentDecode(value: string, charset: string): string {
  const bytes = Buffer.from(value.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  return decodeIn(bytes, charset);
}

function decodeIn(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset || 'utf-8').decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

function sensitiveCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of inspectText(text)) if (f.kind.startsWith('pii.') || f.kind.startsWith('secret.')) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  return counts;
}
