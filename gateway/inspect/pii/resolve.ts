// Overlapping candidates become one finding: the most specific recognizer wins (a vendor token
// over the generic "token=…" rule, a Luhn-valid card over a phone-shaped reading of the same
// digits, a JWT over the bearer value it sits in). Greedy by priority, then by length; accepted
// spans are kept sorted so each candidate is placed by binary search. One exception: a secret
// value that strictly contains a higher-ranked match ("secret=abc-4111-1111-1111-1111") is kept
// as well, so masking covers the whole value and not only the card inside it.
import type { Match } from './match.ts';
import { SECRET_ENTITIES } from '../types.ts';

const SECRETS: ReadonlySet<string> = new Set(SECRET_ENTITIES);

/** Higher wins an overlap. Validated and vendor-specific entities rank above shape-and-context ones. */
export const PRIORITY: Readonly<Record<string, number>> = Object.freeze({
  PRIVATE_KEY: 100,
  JWT: 95,
  API_KEY: 95,
  AWS_ACCESS_KEY: 95,
  AWS_SECRET_KEY: 90,
  CREDIT_CARD: 80,
  IBAN_CODE: 80,
  US_SSN: 75,
  EMAIL_ADDRESS: 70,
  IP_ADDRESS: 65,
  GENERIC_SECRET: 60,
  PHONE_NUMBER: 50,
});

export function resolveOverlaps(matches: readonly Match[]): Match[] {
  if (matches.length <= 1) return [...matches];
  const ranked = [...matches].sort((x, y) =>
    (PRIORITY[y.entity] ?? 0) - (PRIORITY[x.entity] ?? 0) || (y.end - y.start) - (x.end - x.start) || x.start - y.start);
  const kept: Match[] = []; // sorted by start, pairwise disjoint
  const containers: Match[] = [];
  for (const m of ranked) {
    let lo = 0, hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (kept[mid]!.start < m.start) lo = mid + 1;
      else hi = mid;
    }
    const before = kept[lo - 1];
    const after = kept[lo];
    const hitsBefore = before !== undefined && before.end > m.start;
    const hitsAfter = after !== undefined && after.start < m.end;
    if (!hitsBefore && !hitsAfter) {
      kept.splice(lo, 0, m);
      continue;
    }
    const inside = (k: Match) => k.start >= m.start && k.end <= m.end && k.end - k.start < m.end - m.start;
    if (SECRETS.has(m.entity) && (!hitsBefore || inside(before)) && (!hitsAfter || inside(after))) containers.push(m);
  }
  if (containers.length === 0) return kept;
  return [...kept, ...containers].sort((x, y) => x.start - y.start || y.end - x.end);
}
