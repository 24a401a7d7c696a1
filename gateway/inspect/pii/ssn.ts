// US_SSN: AAA-GG-SSSS with the SSA rules of validators.ts (no area 000/666/9xx, no group 00,
// no serial 0000) and one separator throughout. The dashed form stands on its own; the spaced
// or dotted form and nine bare digits are too common as other numbers, so they need an SSN word
// before them ("SSN 123 45 6789") or a JSON member name that says so.
import type { Match, ScanInput } from './match.ts';
import { groupLength, windowDigits, windowSeparator, windowIsolated, SEPARATOR } from './digits.ts';
import { ssnValid } from './validators.ts';
import { contextBefore, SSN_BEFORE } from './context.ts';

export function recognizeSsns(input: ScanInput, out: Match[]): void {
  const { text, hints, runs } = input;
  for (let r = 0; r < runs.count; r++) {
    const last = runs.last[r]!;
    for (let a = runs.first[r]!; a <= last; a++) {
      if (out.length >= input.budget) return;
      const len = groupLength(runs, a);
      let b: number;
      if (len === 9) b = a;
      else if (len === 3 && a + 2 <= last && groupLength(runs, a + 1) === 2 && groupLength(runs, a + 2) === 4) b = a + 2;
      else continue;
      const sep = windowSeparator(runs, a, b);
      if (sep < 0 || !windowIsolated(runs, r, a, b, sep)) continue;
      const digits = windowDigits(text, runs, a, b);
      if (!ssnValid(digits)) continue;
      const start = runs.gs[a]!;
      if (sep !== SEPARATOR.DASH && !hints.ssn && !contextBefore(text, start, SSN_BEFORE)) continue;
      const why = hints.ssn ? 'under an SSN member name' : 'after an SSN word';
      const form = sep === SEPARATOR.DASH ? 'dashed' : `${sep === 0 ? 'nine digits' : 'grouped'}, ${why}`;
      out.push({ entity: 'US_SSN', start, end: runs.ge[b]!, detail: `US social security number (${form})` });
      a = b;
    }
  }
}
