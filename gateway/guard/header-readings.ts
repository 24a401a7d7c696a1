// Header values are inspected and masked as the text they are, but many are read decoded: a
// `Location` or `Link` URL, a cookie, `Content-Disposition: attachment; filename*=UTF-8''…`, an
// RFC 2047 word. A value that shows a PII or secret value only once percent-escapes, `+`, RFC 2231
// parameters or encoded words are decoded cannot be masked where it stands (the mask would have to
// reach inside the escapes): such a header is refused (`inspect.hidden_text`, at `$headers['name']`).
import { inspectText } from '../inspect/pii/index.ts';
import type { Finding } from '../inspect/types.ts';
import { decodeHeaderText, percentDecode } from './multipart.ts';

/** Values that could hide something when decoded: a percent-escape, an RFC 2231 parameter or an encoded word. */
const ENCODED = /%[0-9A-Fa-f]{2}|\*\s*=|=\?[^?]+\?[BbQq]\?/;

/** Findings for header values whose decoded reading shows a PII or secret value their text does not. */
export function headerReadings(headers: Readonly<Record<string, string | readonly string[]>>): Finding[] {
  const findings: Finding[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const values = Array.isArray(value) ? value : [value as string];
    values.forEach((v, i) => {
      if (!ENCODED.test(v)) return;
      const shown = sensitiveCounts(v);
      const decoded = percentDecode(decodeHeaderText(v), 'utf-8');
      for (const reading of [decoded, percentDecode(decodeHeaderText(v).replaceAll('+', ' '), 'utf-8')]) {
        const hidden = [...sensitiveCounts(reading)].find(([kind, count]) => count > (shown.get(kind) ?? 0));
        if (hidden !== undefined) {
          const path = `$headers[${JSON.stringify(name)}]${Array.isArray(value) ? `[${i}]` : ''}`;
          findings.push({ kind: 'inspect.hidden_text', path, severity: 'high', detail: `a ${hidden[0]} value visible only once the header is decoded (percent-escapes, RFC 2231 or RFC 2047), which cannot be masked where it stands` });
          return;
        }
      }
    });
  }
  return findings;
}

function sensitiveCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of inspectText(text)) if (f.kind.startsWith('pii.') || f.kind.startsWith('secret.')) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  return counts;
}
