// Digit runs: the shared tokenisation behind card numbers, SSNs, IPv4 addresses and IBAN check
// digits. A run is a sequence of digit groups joined by separators, e.g. "4111 1111 1111 1111",
// "447-77-3678", "10.0.0.1", "4111/1111/1111/1111". A separator is one '-', '.', '/' or '_', or
// a stretch of up to MAX_BLANKS spaces and tabs (one kind, SPACE, however many: "4111  1111" and
// "4111\t1111" are the same grouping). The text is the normalised view (normalise.ts), so every
// other space character is already ' ', every dash '-' and every digit ASCII. The text is
// tokenised once, in one left-to-right pass; recognizers then look at windows of consecutive
// groups, each window bounded by a digit count, so the work stays linear however long a run is.
//
// Groups of every run live in flat arrays refilled for each string (scanning is synchronous and
// not re-entrant): a JSON document has hundreds of thousands of short strings, and an object per
// run would make allocation the main cost.
import { isDigit, isWordChar, codeAt } from './match.ts';

export interface DigitRuns {
  /** Number of runs. */
  count: number;
  /** Group index range of run r: first[r]..last[r] inclusive. */
  readonly first: number[];
  readonly last: number[];
  /** The run's first group is glued to a letter, digit or '_' on its left ("ab123"), so no window may start there. */
  readonly leftGlued: boolean[];
  /** The run's last group is glued to a word character on its right. */
  readonly rightGlued: boolean[];
  /** Offsets of group g's digits: gs[g]..ge[g]. */
  readonly gs: number[];
  readonly ge: number[];
  /** sep[g]: char code of the separator after group g, when g is not the last of its run. */
  readonly sep: number[];
}

const SPACE = 32;
const TAB = 9;
const DASH = 45;
const DOT = 46;
const SLASH = 47;
const UNDERSCORE = 95;
/** Most spaces and tabs in a row that still join two digit groups. */
const MAX_BLANKS = 4;

export const SEPARATOR = { SPACE, DASH, DOT, SLASH, UNDERSCORE } as const;

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

/**
 * The length of the separator starting at `p` (0 when there is none, or no digit follows it);
 * its kind is left in `sepKind`. (Two results without allocating: this runs for every group.)
 */
let sepKind = 0;
function separatorAt(text: string, p: number): number {
  const c = codeAt(text, p);
  if (isBlank(c)) {
    let q = p + 1;
    while (q - p < MAX_BLANKS && isBlank(codeAt(text, q))) q++;
    sepKind = SPACE;
    return isDigit(codeAt(text, q)) ? q - p : 0;
  }
  sepKind = c;
  return (c === DASH || c === DOT || c === SLASH || c === UNDERSCORE) && isDigit(codeAt(text, p + 1)) ? 1 : 0;
}

const SCRATCH: DigitRuns = { count: 0, first: [], last: [], leftGlued: [], rightGlued: [], gs: [], ge: [], sep: [] };
export const NO_RUNS: DigitRuns = Object.freeze({ count: 0, first: [], last: [], leftGlued: [], rightGlued: [], gs: [], ge: [], sep: [] });

/**
 * The digit runs of `text`, in order. Linear: each character is read once. The result is valid
 * until the next call. Arrays are overwritten by index rather than emptied, so their storage is
 * kept from one string to the next.
 */
export function digitRuns(text: string): DigitRuns {
  const runs = SCRATCH;
  const { first, last, leftGlued, rightGlued, gs, ge, sep } = runs;
  let r = 0;
  let g = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isDigit(text.charCodeAt(i))) { i++; continue; }
    first[r] = g;
    leftGlued[r] = isWordChar(codeAt(text, i - 1));
    let p = i;
    for (;;) {
      gs[g] = p;
      while (p < n && isDigit(text.charCodeAt(p))) p++;
      ge[g] = p;
      const len = separatorAt(text, p);
      if (len > 0) {
        sep[g++] = sepKind;
        p += len;
        continue;
      }
      sep[g++] = 0;
      break;
    }
    last[r] = g - 1;
    rightGlued[r] = isWordChar(codeAt(text, p));
    r++;
    i = p;
  }
  runs.count = r;
  return runs;
}

/** Digits in group g. */
export function groupLength(runs: DigitRuns, g: number): number {
  return runs.ge[g]! - runs.gs[g]!;
}

/** The digits of groups a..b (inclusive), without separators. */
export function windowDigits(text: string, runs: DigitRuns, a: number, b: number): string {
  let s = '';
  for (let g = a; g <= b; g++) s += text.slice(runs.gs[g]!, runs.ge[g]!);
  return s;
}

/**
 * The one separator used inside groups a..b, 0 for a single group, or -1 when they are mixed
 * ("4111-1111 1111-1111" is not one number).
 */
export function windowSeparator(runs: DigitRuns, a: number, b: number): number {
  if (a === b) return 0;
  const first = runs.sep[a]!;
  for (let g = a + 1; g < b; g++) if (runs.sep[g] !== first) return -1;
  return first;
}

/**
 * Whether groups a..b of run r may be cut out as a value on their own: the window must not start
 * or end glued to a word character, and where it cuts the run, the cut must be a space or a '/',
 * or a separator other than the one the window itself uses ("1234-4111-1111-1111-1111" is one
 * 20-digit token, not a card number with a prefix; "ref 12 4111-1111-1111-1111" is a card). An
 * '_' is a word character, so it never cuts ("12_4111111111111111" is one identifier).
 */
export function windowIsolated(runs: DigitRuns, r: number, a: number, b: number, inner: number): boolean {
  const first = runs.first[r]!;
  const last = runs.last[r]!;
  if (a === first && runs.leftGlued[r]) return false;
  if (b === last && runs.rightGlued[r]) return false;
  if (a > first && !cutOk(runs.sep[a - 1]!, inner)) return false;
  if (b < last && !cutOk(runs.sep[b]!, inner)) return false;
  return true;
}

function cutOk(cut: number, inner: number): boolean {
  if (cut === SPACE || cut === SLASH) return true;
  if (cut === UNDERSCORE) return false;
  return inner > 0 && cut !== inner;
}
