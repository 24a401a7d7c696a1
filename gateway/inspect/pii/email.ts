// EMAIL_ADDRESS: anchored on '@'. From each '@' the local part is read leftwards and the domain
// rightwards over their character sets (neither contains '@', so no character is read by more
// than one left walk and one right walk), then checked by emailShapeValid (validators.ts).
import type { Match, ScanInput } from './match.ts';
import { emailShapeValid } from './validators.ts';

const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

function isLocalChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45; // . _ % + -
}

function isDomainChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 45;
}

export function recognizeEmails(input: ScanInput, out: Match[]): void {
  const { text } = input;
  const n = text.length;
  let at = text.indexOf('@');
  while (at >= 0) {
    if (out.length >= input.budget) return;
    let s = at;
    while (s > 0 && at - s <= MAX_LOCAL && isLocalChar(text.charCodeAt(s - 1))) s--;
    let e = at + 1;
    while (e < n && e - at <= MAX_DOMAIN + 1 && isDomainChar(text.charCodeAt(e))) e++;
    // A local part longer than allowed, or glued to more local characters, is not an address.
    const tooLong = at - s > MAX_LOCAL || e - at > MAX_DOMAIN + 1;
    while (s < at && text.charCodeAt(s) === 46) s++; // "...bob@" in prose
    let end = e;
    while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--; // sentence's full stop
    if (!tooLong) {
      const local = text.slice(s, at);
      const domain = text.slice(at + 1, end);
      // "icon@2x.png" is an image name, not an address.
      if (emailShapeValid(local, domain) && !/^\d+x\./i.test(domain)) {
        out.push({ entity: 'EMAIL_ADDRESS', start: s, end, detail: 'email address' });
      }
    }
    at = text.indexOf('@', at + 1);
  }
}
