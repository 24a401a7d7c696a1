// Checks that turn a pattern-shaped candidate into a finding: checksums and format rules that a
// random look-alike fails. Pure functions over short strings (callers bound the lengths).
import { IBAN_LENGTHS } from './iban-lengths.ts';

/** Luhn (mod 10) over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/**
 * A plausible card number: 12–19 digits, Luhn-valid, not starting with 0 (ISO/IEC 7812 major
 * industry identifier 0 is not issued to card networks; zero-padded ids are common) and not one
 * digit repeated (placeholders like 0000… and 4444… pass Luhn).
 */
export function cardNumberValid(digits: string): boolean {
  if (digits.length < 12 || digits.length > 19) return false;
  const first = digits.charCodeAt(0);
  if (first === 48) return false;
  let same = true;
  for (let i = 1; i < digits.length && same; i++) same = digits.charCodeAt(i) === first;
  return !same && luhnValid(digits);
}

/**
 * SSA rules for a US social security number given as 9 digits: area not 000, 666 or 900–999,
 * group not 00, serial not 0000.
 */
export function ssnValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const area = digits.slice(0, 3);
  if (area === '000' || area === '666' || area[0] === '9') return false;
  if (digits.slice(3, 5) === '00') return false;
  return digits.slice(5) !== '0000';
}

/**
 * An IBAN without spaces: a known country, exactly that country's length, check digits,
 * alphanumeric BBAN, and ISO 7064 mod-97 remainder 1. Case-insensitive.
 */
export function ibanValid(iban: string): boolean {
  const s = iban.toUpperCase();
  const length = IBAN_LENGTHS[s.slice(0, 2)];
  if (length === undefined || s.length !== length) return false;
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(s)) return false;
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    // Letters count as two digits (A=10 … Z=35): fold both in.
    if (c >= 65) rem = (rem * 100 + (c - 55)) % 97;
    else rem = (rem * 10 + (c - 48)) % 97;
  }
  return rem === 1;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** How many of: lowercase, uppercase, digit, other, occur in `s`. */
export function charClasses(s: string): number {
  let lower = 0, upper = 0, digit = 0, other = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) lower = 1;
    else if (c >= 65 && c <= 90) upper = 1;
    else if (c >= 48 && c <= 57) digit = 1;
    else other = 1;
  }
  return lower + upper + digit + other;
}

const LOCAL_PART = /^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TLD = /^(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$/;

/**
 * The dot-atom subset of RFC 5322 that real addresses use: a local part of letters, digits and
 * `_ % + -` in dot-separated atoms (1–64 chars), and a domain of at least two LDH labels (1–63
 * chars, no leading/trailing hyphen, 253 chars in all) under an alphabetic or punycode TLD.
 * Quoted local parts, comments and address literals are left out on purpose: they are rare in
 * data and would make the boundaries of a match in running text ambiguous.
 */
export function emailShapeValid(local: string, domain: string): boolean {
  if (local.length < 1 || local.length > 64 || !LOCAL_PART.test(local)) return false;
  if (domain.length < 4 || domain.length > 253) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  for (const label of labels) if (!LABEL.test(label)) return false;
  return TLD.test(labels[labels.length - 1]!);
}
