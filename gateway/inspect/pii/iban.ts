// IBAN_CODE: two letters and two check digits at a word start, then the BBAN, either compact
// ("DE89370400440532013000") or printed in groups of four ("DE89 3704 0044 0532 0130 00").
// Candidates come from the digit runs (the check digits are a run glued to two letters), and the
// country's registered length (iban-lengths.ts) says exactly how many characters to read, so
// each candidate reads at most 34 characters plus its spaces; mod-97 decides.
import { type Match, type ScanInput, isAsciiLetter, isDigit, isWordChar, codeAt } from './match.ts';
import { IBAN_LENGTHS } from './iban-lengths.ts';
import { ibanValid } from './validators.ts';

function isAlnum(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c);
}

export function recognizeIbans(input: ScanInput, out: Match[]): void {
  const { text } = input;
  let from = 0; // candidates never overlap: skip past the last IBAN found
  const { runs } = input;
  for (let r = 0; r < runs.count; r++) {
    if (!runs.leftGlued[r]) continue;
    const g = runs.first[r]!;
    const digitsAt = runs.gs[g]!;
    const start = digitsAt - 2;
    if (start < from || runs.ge[g]! - digitsAt < 2) continue;
    if (!isAsciiLetter(codeAt(text, start)) || !isAsciiLetter(codeAt(text, start + 1)) || isWordChar(codeAt(text, start - 1))) continue;
    if (out.length >= input.budget) return;
    const length = IBAN_LENGTHS[text.slice(start, start + 2).toUpperCase()];
    if (length === undefined) continue;
    let compact = text.slice(start, start + 4);
    let p = start + 4;
    while (compact.length < length) {
      const c = codeAt(text, p);
      // A single space is allowed only where the printed form groups by four.
      if (c === 32 && compact.length % 4 === 0 && isAlnum(codeAt(text, p + 1))) { p++; continue; }
      if (!isAlnum(c)) break;
      compact += text[p];
      p++;
    }
    if (compact.length !== length || isWordChar(codeAt(text, p))) continue;
    // One case throughout: "gb82west…" is an IBAN typed in lower case; "Gb82WeSt…" is noise.
    if (compact !== compact.toUpperCase() && compact !== compact.toLowerCase()) continue;
    if (!ibanValid(compact)) continue;
    out.push({ entity: 'IBAN_CODE', start, end: p, detail: `IBAN (${compact.slice(0, 2).toUpperCase()}, ${length} characters, mod-97 valid)` });
    from = p;
  }
}
