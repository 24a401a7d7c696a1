// CREDIT_CARD: 12–19 digits, either unbroken or in the printed groupings (4-4-4-4, 4-6-5,
// 4-6-4, 4-4-4-4-3, …) with one kind of separator (spaces, '-', '/', '_'; '.' only as
// 4.4.4.4, since dotted numbers are otherwise versions and amounts), Luhn-valid
// (see validators.ts). Windows of digit groups are tried so that a card is found inside a longer
// run ("ref 12 4111 1111 1111 1111"); each window holds at most 19 digits, so the work per group
// is bounded.
import type { Match, ScanInput } from './match.ts';
import { groupLength, windowDigits, windowIsolated, SEPARATOR } from './digits.ts';
import { cardNumberValid } from './validators.ts';

const MAX_DIGITS = 19;
const PLUS = 43;

// A separated window's groups: the first has 4 digits (every network prints it so), the rest 3–6.
const FIRST_GROUP = 4;
const MIN_GROUP = 3;
const MAX_GROUP = 6;

export function recognizeCards(input: ScanInput, out: Match[]): void {
  const { text, runs } = input;
  for (let r = 0; r < runs.count; r++) {
    const first = runs.first[r]!;
    const last = runs.last[r]!;
    let a = first;
    while (a <= last) {
      if (out.length >= input.budget) return;
      let best = -1;
      let digits = 0;
      let sep = 0; // the window's one separator, tracked as it widens
      let grouped = groupLength(runs, a) === FIRST_GROUP;
      for (let b = a; b <= last; b++) {
        const len = groupLength(runs, b);
        digits += len;
        if (digits > MAX_DIGITS) break;
        if (b > a) {
          const s = runs.sep[b - 1]!;
          if (b === a + 1) sep = s;
          else if (s !== sep) break; // mixed separators: no wider window is one number either
          if (len < MIN_GROUP || len > MAX_GROUP || (sep === SEPARATOR.DOT && len !== FIRST_GROUP)) grouped = false;
          if (!grouped) break;
        }
        if (digits < 12 || (sep === SEPARATOR.DOT && digits !== 16)) continue;
        if (!windowIsolated(runs, r, a, b, sep)) continue;
        // "+447700677662": a leading '+' makes digits a phone number, never a card.
        if (a === first && text.charCodeAt(runs.gs[a]! - 1) === PLUS) continue;
        if (cardNumberValid(windowDigits(text, runs, a, b))) best = b;
      }
      if (best < 0) { a++; continue; }
      let count = 0;
      for (let g = a; g <= best; g++) count += groupLength(runs, g);
      out.push({ entity: 'CREDIT_CARD', start: runs.gs[a]!, end: runs.ge[best]!, detail: `credit card number (Luhn-valid, ${count} digits${best > a ? ', grouped' : ''})` });
      a = best + 1;
    }
  }
}
