// What a recognizer produces before overlap resolution, and the character classes every
// recognizer shares. A recognizer is a plain function that appends matches to `out`; it must be
// linear in the length of `text` (no pattern may backtrack over more than a bounded window) and
// must stop once `out` holds `budget` matches, so hostile input cannot grow memory without bound.
import type { DigitRuns } from './digits.ts';

/** A candidate finding within one string, before overlapping candidates are resolved. */
export interface Match {
  /** `<ENTITY>` from PII_ENTITIES or SECRET_ENTITIES. */
  readonly entity: string;
  /** UTF-16 offsets into the scanned string, end exclusive. */
  readonly start: number;
  readonly end: number;
  /** Never contains the matched value. */
  readonly detail: string;
}

/** Hints taken from the JSON member name that owns a string (`{"phone": "…"}`), computed once per member. */
export interface KeyHints {
  readonly phone: boolean;
  readonly ssn: boolean;
  /** The key names a password-like value: any non-placeholder value is a secret. */
  readonly password: boolean;
  /** The key names a token or secret: a high-entropy value is a secret. */
  readonly secret: boolean;
  readonly awsSecret: boolean;
}

export const NO_HINTS: KeyHints = Object.freeze({ phone: false, ssn: false, password: false, secret: false, awsSecret: false });

export interface ScanInput {
  readonly text: string;
  readonly hints: KeyHints;
  /** The digit runs of `text` (see digits.ts), tokenised once for the numeric recognizers. */
  readonly runs: DigitRuns;
  /** Stop appending once `out.length` reaches this. */
  readonly budget: number;
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** ASCII letter, digit or underscore: what a value must not be glued to on either side. */
export function isWordChar(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c) || c === 95;
}

/** Character code at `i`, or -1 outside the string (so boundary tests need no range checks). */
export function codeAt(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : -1;
}
