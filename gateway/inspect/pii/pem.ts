// PRIVATE_KEY: PEM blocks ("-----BEGIN RSA PRIVATE KEY-----" … "-----END RSA PRIVATE KEY-----",
// OpenSSH, PKCS#8, encrypted, EC, DSA, PGP). The span runs from BEGIN to the matching END line;
// without an END line it runs over the base64 body that follows (a truncated key is still a key).
// The END search is remembered per label, so many BEGIN lines without an END cost one scan.
import type { Match, ScanInput } from './match.ts';

const BEGIN = /-----BEGIN ((?:[A-Z0-9]{1,16} ){0,3})PRIVATE KEY( BLOCK)?-----/g;

/** Base64 body characters, line breaks (real or escaped as "\n" in a JSON-ish string) and PEM headers. */
function isBodyChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) ||
    c === 43 || c === 47 || c === 61 || c === 10 || c === 13 || c === 32 || c === 9 || c === 92 || c === 58 || c === 44 || c === 45;
}

export function recognizePrivateKeys(input: ScanInput, out: Match[]): void {
  const { text } = input;
  if (!text.includes('PRIVATE KEY')) return;
  const nextEnd = new Map<string, number>(); // END marker -> its next position (-1: none left)
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m !== null; m = BEGIN.exec(text)) {
    if (out.length >= input.budget) return;
    const label = `${m[1] ?? ''}PRIVATE KEY${m[2] ?? ''}`;
    const marker = `-----END ${label}-----`;
    const bodyStart = m.index + m[0].length;
    let at = nextEnd.get(marker);
    if (at === undefined || (at >= 0 && at < bodyStart)) {
      at = text.indexOf(marker, bodyStart);
      nextEnd.set(marker, at);
    }
    let end: number;
    let closed = false;
    if (at >= 0) {
      end = at + marker.length;
      closed = true;
    } else {
      end = bodyStart;
      while (end < text.length && isBodyChar(text.charCodeAt(end))) end++;
    }
    const kind = (m[1] ?? '').trim() || 'PKCS#8';
    out.push({ entity: 'PRIVATE_KEY', start: m.index, end, detail: `PEM private key block (${kind}${m[2] ? ' BLOCK' : ''}${closed ? '' : ', no END line'})` });
    BEGIN.lastIndex = end;
  }
}
