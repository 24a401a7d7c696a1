// The parts of a message other than its payload (HTTP headers, the query string, the path's
// segments) are inspected like JSON values of their own; their findings carry the part in front
// of the path, so one list of findings speaks for the whole message: `$headers['x-note']`,
// `$query.q[0]`, `$segments[2]`. Policy rules
// see them like any other finding; masking takes each part's findings back to `$…` paths.
import type { Finding } from './types.ts';

export const PARTS = ['headers', 'query', 'segments'] as const;
export type Part = (typeof PARTS)[number];

/** Findings of a part's own inspection (paths from `$`), with the part in front of each path. */
export function partFindings(part: Part, findings: readonly Finding[]): Finding[] {
  return findings.map((f) => ({ ...f, path: `$${part}${f.path.slice(1)}` }));
}

/** The findings that speak of `part`, with paths from `$` again (for masking the part). */
export function findingsOfPart(part: Part, findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => inPart(part, f.path)).map((f) => ({ ...f, path: `$${f.path.slice(part.length + 1)}` }));
}

/** Whether a finding's path is in one of the parts (else it is in the payload). */
export function inAPart(path: string): boolean {
  return PARTS.some((p) => inPart(p, path));
}

/** `$part` itself or a path under it (`$headers.x`, `$query[…]`), not `$headersX`. */
function inPart(part: Part, path: string): boolean {
  const end = part.length + 1;
  return path.startsWith(`$${part}`) && (path.length === end || path[end] === '.' || path[end] === '[');
}
