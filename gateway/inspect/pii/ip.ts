// IP_ADDRESS: candidates shaped like addresses, validated by node:net's isIP (which rejects
// octets above 255 and leading zeros, and knows every IPv6 form, embedded IPv4 included).
// IPv4 comes from the digit runs: exactly four dot-joined groups, not part of a longer dotted
// run ("1.2.3.4.5" is a version) and not right after a version word. IPv6 is scanned as runs of
// hex digits, ':' and '.', each character read a bounded number of times.
import { isIP } from 'node:net';
import { type Match, type ScanInput, isWordChar, codeAt } from './match.ts';
import { windowIsolated, SEPARATOR } from './digits.ts';
import { contextBefore, VERSION_BEFORE } from './context.ts';

export function recognizeIpv4(input: ScanInput, out: Match[]): void {
  const { text, runs } = input;
  for (let r = 0; r < runs.count; r++) {
    const last = runs.last[r]!;
    let a = runs.first[r]!;
    while (a <= last) {
      // The dot-joined stretch starting at group a.
      let b = a;
      while (b < last && runs.sep[b] === SEPARATOR.DOT) b++;
      if (b - a === 3 && windowIsolated(runs, r, a, b, SEPARATOR.DOT)) {
        if (out.length >= input.budget) return;
        const start = runs.gs[a]!;
        const end = runs.ge[b]!;
        if (isIP(text.slice(start, end)) === 4 && !contextBefore(text, start, VERSION_BEFORE)) {
          out.push({ entity: 'IP_ADDRESS', start, end, detail: 'IPv4 address' });
        }
      }
      a = b + 1;
    }
  }
}

const MAX_IPV6 = 45; // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"

function isIpv6Char(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46; // 0-9 : A-F a-f .
}

export function recognizeIpv6(input: ScanInput, out: Match[]): void {
  const { text } = input;
  const n = text.length;
  let from = 0;
  for (;;) {
    const colon = text.indexOf(':', from);
    if (colon < 0) return;
    if (out.length >= input.budget) return;
    // The maximal run of hex digits, ':' and '.' around this colon. Runs never overlap: the next
    // search starts where this one ended, and the left walk stops at the previous run's end.
    let s = colon;
    while (s > from && isIpv6Char(text.charCodeAt(s - 1))) s--;
    let e = colon + 1;
    while (e < n && isIpv6Char(text.charCodeAt(e))) e++;
    from = e;
    let end = e;
    while (end > s && text.charCodeAt(end - 1) === 46) end--; // a sentence's full stop
    const len = end - s;
    if (len < 3 || len > MAX_IPV6) continue;
    if (isWordChar(codeAt(text, s - 1)) || isWordChar(codeAt(text, e))) continue;
    const candidate = text.slice(s, end);
    if (isIP(candidate) !== 6 || hexDigits(candidate) < 3) continue;
    out.push({ entity: 'IP_ADDRESS', start: s, end, detail: 'IPv6 address' });
  }
}

/** "::", "::1" and "a::b" are valid IPv6 but say nothing about anyone; require some substance. */
function hexDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 58 && c !== 46) n++;
  }
  return n;
}
