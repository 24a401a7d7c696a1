// Header values are inspected and masked as the text they are, but many are read decoded: a
// `Location` or `Link` URL, a cookie, `Content-Disposition: attachment; filename*=UTF-8''…`, an
// RFC 2047 word. A value that shows a PII or secret value only once percent-escapes, `+`, RFC 2231
// parameters or encoded words are decoded cannot be masked where it stands (the mask would have to
// reach inside the escapes): such a header is refused (`inspect.hidden_text`, at `$headers['name']`).
// So is one whose Latin-1 text (as Node reads header bytes) shows a value only as UTF-8, or once
// control and format characters are dropped; and query values and path segments get the hidden
// text reading of bodies (normalise.ts).
import { inspectText } from '../inspect/pii/index.ts';
import type { Finding } from '../inspect/types.ts';
import { decodeHeaderText, percentDecode } from './multipart.ts';
import { HIDING, HIDING_ANY } from '../inspect/hidden.ts';
import { countSensitive, hiddenText } from './normalise.ts';

/** Values that could hide something when decoded: a percent-escape, an RFC 2231 parameter or an encoded word. */
const ENCODED = /%[0-9A-Fa-f]{2}|\*\s*=|=\?[^?]+\?[BbQq]\?/;

/** Findings for header values whose decoded reading shows a PII or secret value their text does not. */
export function headerReadings(headers: Readonly<Record<string, string | readonly string[]>>): Finding[] {
  const findings: Finding[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const values = Array.isArray(value) ? value : [value as string];
    values.forEach((v, i) => {
      const readings: string[] = [];
      if (ENCODED.test(v)) readings.push(percentDecode(decodeHeaderText(v), 'utf-8'), percentDecode(decodeHeaderText(v).replaceAll('+', ' '), 'utf-8'));
      // Node reads header bytes as Latin-1; a target reads them as UTF-8 (a zero-width space is 3 bytes).
      if (/[^\x00-\x7f]/.test(v)) readings.push(Buffer.from(v, 'latin1').toString('utf8'));
      if (HIDING_ANY.test(v) || /\\|&/.test(v)) readings.push(...readings.map((r) => r.replace(HIDING, '')), v.replace(HIDING, ''));
      if (readings.length === 0) return;
      const shown = sensitiveCounts(v);
      for (const reading of readings) {
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

/** Query values and path segments whose text hides a value (control or format characters, escapes): `inspect.hidden_text` at their path. */
export function valueReadings(part: 'query' | 'segments', value: Readonly<Record<string, readonly string[]>> | readonly string[] | undefined): Finding[] {
  if (value === undefined) return [];
  const entries: Array<[string, string]> = Array.isArray(value)
    ? (value as readonly string[]).map((v, i) => [`$${part}[${i}]`, v])
    : Object.entries(value).flatMap(([k, vs]) => (vs as readonly string[]).map((v, i): [string, string] => [`$${part}[${JSON.stringify(k)}][${i}]`, v]));
  return entries.flatMap(([path, v]) => hiddenText(v).map((f) => ({ ...f, path })));
}

function sensitiveCounts(text: string): Map<string, number> {
  return countSensitive(inspectText(text));
}
