// JWT: three base64url parts joined by dots whose first part decodes to a JSON object with a
// string "alg" (RFC 7515/7519). Candidates start only at a boundary, so the runs they read never
// overlap; the header is decoded only up to a bounded size.
import type { Match, ScanInput } from './match.ts';

const CANDIDATE = /(?<![A-Za-z0-9_.-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const MAX_HEADER = 4096;

/** The header's alg when `segment` is a base64url JSON object with a string alg, else null. */
function jwtAlg(segment: string): string | null {
  if (segment.length > MAX_HEADER) return null;
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    if (header === null || typeof header !== 'object' || Array.isArray(header)) return null;
    const alg = (header as { alg?: unknown }).alg;
    return typeof alg === 'string' ? alg : null;
  } catch {
    return null;
  }
}

export function recognizeJwts(input: ScanInput, out: Match[]): void {
  const { text } = input;
  if (!text.includes('eyJ')) return;
  CANDIDATE.lastIndex = 0;
  for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
    if (out.length >= input.budget) return;
    const alg = jwtAlg(m[0].slice(0, m[0].indexOf('.')));
    if (alg === null) continue;
    // The alg is attacker-chosen text: show it only when it looks like an algorithm name.
    const shown = /^[A-Za-z0-9+_-]{1,16}$/.test(alg) ? alg : 'unrecognised';
    out.push({ entity: 'JWT', start: m.index, end: m.index + m[0].length, detail: `JWT (alg ${shown})` });
  }
}
