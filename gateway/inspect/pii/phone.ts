// PHONE_NUMBER without a phone-number library: a hand-written scanner reads a candidate (an
// optional '+', digit groups and parenthesised groups joined by single separators, an optional
// extension), then format rules decide.
//
// Stands alone (formats that ordinary numbers rarely take):
//   - international: '+' and 8–15 digits ("+44 7700 900123", "+41 (0)96 471 07 95"),
//     or a "00" prefix with 10+ digits in 3+ groups ("001-518-640-0854");
//   - North American: NXX-NXX-XXXX in any of the usual punctuations, optional 1/+1/001 and
//     extension ("(555) 234-5678", "555.234.5678x12");
//   - national with a trunk '0': 9–11 digits in 2+ groups ("020 7946 0958", "06 12 34 56 78");
//   - a parenthesised area code and 8+ digits in 3+ groups ("(08) 8747 6301").
// Needs a phone word within 40 characters before it ("Phone:", "call me on", "fax"), a label
// right after it ("416 60 039 office") or a JSON member name like "phone": any other 7–15 digit
// candidate. Never: dates (2024-01-31, 31.01.2024), dotted quads, more than 15 digits (E.164).
// libphonenumber would know every country's numbering plan; these rules trade that for no
// dependency and linear time, and err towards masking when a phone word is present.
import { type Match, type ScanInput, isAsciiLetter, isDigit, isWordChar, codeAt } from './match.ts';
import { contextBefore, contextAfter, PHONE_BEFORE, PHONE_AFTER, PHONE_WORD } from './context.ts';

const PLUS = 43, LPAREN = 40, RPAREN = 41, SPACE = 32, DASH = 45, DOT = 46, SLASH = 47;
/** Characters that, right before a digit, mean the digit belongs to something else (money, ids, mentions). */
const BLOCKED_BEFORE = new Set([36, 35, 37, 64, 38, 0x20ac, 0xa3, 0xa5]); // $ # % @ & € £ ¥
/** Most groups a phone number is written in ("+41 (0)96 471 07 95" has six). */
const MAX_WIDTH = 7;

interface PhoneRun {
  groups: number; // how many of the entries below are this run's
  readonly gs: number[]; // group digit starts
  readonly ge: number[]; // group digit ends
  readonly paren: boolean[];
  readonly seps: number[]; // between group i and i+1; 0 = none ("(555)234")
  plus: boolean;
  start: number; // at '+' or '(' or the first digit
  extEnd: number; // end including an extension
}

// One scratch run, overwritten for every candidate (the scanner is synchronous and not
// re-entrant): most candidates are rejected, and allocating for each would dominate the cost.
const RUN: PhoneRun = { groups: 0, gs: [], ge: [], paren: [], seps: [], plus: false, start: 0, extEnd: 0 };

function isSep(c: number): boolean {
  return c === SPACE || c === DASH || c === DOT || c === SLASH;
}

function startAllowed(text: string, i: number): boolean {
  const prev = codeAt(text, i - 1);
  if (prev < 0) return true;
  if (isWordChar(prev) || prev === PLUS || BLOCKED_BEFORE.has(prev)) return false;
  // Inside a dotted or dashed token ("12.345", uuid parts).
  if ((prev === DASH || prev === DOT || prev === SLASH) && isWordChar(codeAt(text, i - 2))) return false;
  // The next group of a printed code that mixes letters and digits ("DE89 3704 0044 …", a
  // mistyped IBAN): the digits just before the space are glued to a letter.
  if (prev === SPACE && isDigit(codeAt(text, i - 2))) {
    let j = i - 2;
    while (j > 0 && isDigit(text.charCodeAt(j - 1))) j--;
    if (isAsciiLetter(codeAt(text, j - 1))) return false;
  }
  return true;
}

const EXTENSION = /^ ?(?:x|ext\.?|extension) ?\d{1,6}/i;

/** Reads a candidate at `i` (a '+', '(' or digit) into RUN. Linear in the characters it consumes. */
function readRun(text: string, i: number): PhoneRun | null {
  const n = text.length;
  const run = RUN;
  const { gs, ge, paren, seps } = run;
  let g = 0;
  let p = i;
  run.plus = text.charCodeAt(p) === PLUS;
  run.start = i;
  if (run.plus) p++;
  for (;;) {
    const c = codeAt(text, p);
    if (c === LPAREN) {
      let q = p + 1;
      while (q < n && q - p <= 6 && isDigit(text.charCodeAt(q))) q++;
      if (q === p + 1 || codeAt(text, q) !== RPAREN) break;
      gs[g] = p + 1; ge[g] = q; paren[g] = true;
      p = q + 1;
    } else if (isDigit(c)) {
      gs[g] = p;
      while (p < n && isDigit(text.charCodeAt(p))) p++;
      ge[g] = p; paren[g] = false;
    } else {
      break;
    }
    const lastParen = paren[g]!;
    g++;
    const sep = codeAt(text, p);
    const next = codeAt(text, p + 1);
    if (isSep(sep) && (isDigit(next) || next === LPAREN)) { seps[g - 1] = sep; p++; continue; }
    if (lastParen && isDigit(sep)) { seps[g - 1] = 0; continue; }
    if (sep === LPAREN && !lastParen) { seps[g - 1] = 0; continue; }
    break;
  }
  if (g === 0) return null;
  run.groups = g;
  let end = ge[g - 1]! + (paren[g - 1] ? 1 : 0);
  const c = codeAt(text, end);
  if (c === SPACE || c === 120 || c === 88 || c === 101 || c === 69) { // ' ', x, X, e, E
    const ext = EXTENSION.exec(text.slice(end, end + 20));
    if (ext && !isWordChar(codeAt(text, end + ext[0].length))) end += ext[0].length;
  }
  run.extEnd = end;
  return run;
}

function groupLen(run: PhoneRun, g: number): number {
  return run.ge[g]! - run.gs[g]!;
}

/** Digit k (0-based) of groups a.. as a char code. */
function digitAt(text: string, run: PhoneRun, a: number, k: number): number {
  for (let g = a; g < run.groups; g++) {
    const len = groupLen(run, g);
    if (k < len) return text.charCodeAt(run.gs[g]! + k);
    k -= len;
  }
  return -1;
}

const D0 = 48, D1 = 49, D2 = 50;

function isNanp(run: PhoneRun, text: string, a: number, b: number): boolean {
  let first = a;
  const leadLen = groupLen(run, a);
  if (b - a === 3 && !run.paren[a] && (leadLen === 1 || leadLen === 3)) {
    // A leading "1" or "001" country code.
    const s = run.gs[a]!;
    if (leadLen === 1 ? text.charCodeAt(s) === D1 : text.charCodeAt(s) === D0 && text.charCodeAt(s + 1) === D0 && text.charCodeAt(s + 2) === D1) first = a + 1;
  }
  if (b - first !== 2) return false;
  if (groupLen(run, first) !== 3 || groupLen(run, first + 1) !== 3 || groupLen(run, first + 2) !== 4) return false;
  if (run.paren[first + 1] || run.paren[first + 2]) return false;
  // Area code and exchange both start with 2-9.
  return text.charCodeAt(run.gs[first]!) >= D2 && text.charCodeAt(run.gs[first + 1]!) >= D2;
}

function isDateLike(run: PhoneRun, a: number, b: number): boolean {
  if (b - a < 2 || run.paren[a]) return false;
  const sep = run.seps[a]!;
  if (sep === SPACE || sep === 0 || run.seps[a + 1] !== sep) return false;
  const l0 = groupLen(run, a), l1 = groupLen(run, a + 1), l2 = groupLen(run, a + 2);
  return (l0 === 4 && l1 <= 2 && l2 <= 2) || (l0 <= 2 && l1 <= 2 && l2 === 4);
}

function isDottedQuad(run: PhoneRun, a: number, b: number): boolean {
  if (b - a !== 3) return false;
  for (let g = a; g <= b; g++) if (run.paren[g] || (g < b && run.seps[g] !== DOT)) return false;
  return true;
}

/**
 * Why groups a..b (holding `count` digits) are a phone number, or null. `context` says whether a
 * phone word is anywhere in the text.
 */
function classify(input: ScanInput, run: PhoneRun, a: number, b: number, count: number, end: number, context: boolean): string | null {
  const { text } = input;
  if (count < 7 || count > 15) return null;
  if (isDateLike(run, a, b) || isDottedQuad(run, a, b)) return null;
  const first = digitAt(text, run, a, 0);
  const second = digitAt(text, run, a, 1);
  const groups = b - a + 1;
  const plus = run.plus && a === 0;
  if (plus && first !== D0 && count >= 8) return 'international format';
  if (isNanp(run, text, a, b)) return 'North American format';
  // "00" then a country code, which never starts with 0.
  if (!plus && first === D0 && second === D0 && digitAt(text, run, a, 2) !== D0 && count >= 10 && groups >= 3) return 'international format';
  if (!plus && first === D0 && second !== D0 && count >= 9 && count <= 11 && groups >= 2 && groupLen(run, a) <= 5) return 'national format';
  if (run.paren[a] && groupLen(run, a) >= 2 && count >= 8 && groups >= 3) return 'national format with area code';
  if (input.hints.phone) return 'under a phone member name';
  if (!context) return null;
  const start = a === 0 ? run.start : (run.paren[a] ? run.gs[a]! - 1 : run.gs[a]!);
  if (contextBefore(text, start, PHONE_BEFORE) || contextAfter(text, end, PHONE_AFTER)) return 'next to a phone word';
  return null;
}

/**
 * Leftmost-longest windows of the run that classify as a phone number. A window may only be cut
 * out of the run at a space, and holds at most MAX_WIDTH groups, so the work per group is bounded.
 */
function tryRun(input: ScanInput, run: PhoneRun, rightGlued: boolean, context: boolean, out: Match[]): void {
  const last = run.groups - 1;
  let total = 0;
  for (let g = 0; g <= last; g++) total += groupLen(run, g);
  if (total < 7) return;
  let a = 0;
  while (a <= last) {
    if (out.length >= input.budget) return;
    if (a > 0 && run.seps[a - 1] !== SPACE) { a++; continue; }
    let found = -1;
    const widest = Math.min(last, a + MAX_WIDTH - 1);
    let count = 0;
    for (let g = a; g <= widest; g++) count += groupLen(run, g);
    for (let b = widest; b >= a && count >= 7; count -= groupLen(run, b), b--) {
      if (b < last && run.seps[b] !== SPACE) continue;
      if (b === last && rightGlued) continue;
      const start = a === 0 ? run.start : (run.paren[a] ? run.gs[a]! - 1 : run.gs[a]!);
      const end = b === last ? run.extEnd : run.ge[b]! + (run.paren[b] ? 1 : 0);
      const why = classify(input, run, a, b, count, end, context);
      if (why !== null) {
        out.push({ entity: 'PHONE_NUMBER', start, end, detail: `phone number (${why})` });
        found = b;
        break;
      }
    }
    a = found >= 0 ? found + 1 : a + 1;
  }
}

export function recognizePhones(input: ScanInput, out: Match[]): void {
  const { text } = input;
  const n = text.length;
  // Whether any phone word occurs at all: when none does, no weak candidate needs its context read.
  let context: boolean | undefined;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (!(isDigit(c) || c === PLUS || c === LPAREN)) { i++; continue; }
    if (out.length >= input.budget) return;
    const allowed = startAllowed(text, i);
    const run = readRun(text, i);
    if (run === null) { i++; continue; }
    // A run that starts glued to something else is part of that token, all of it.
    if (!allowed) { i = Math.max(i + 1, run.extEnd); continue; }
    context ??= PHONE_WORD.test(text);
    tryRun(input, run, isWordChar(codeAt(text, run.extEnd)), context, out);
    i = Math.max(i + 1, run.extEnd);
  }
}
