// JSON inspection: walks a parsed value (what JSON.parse returns) string by string, iteratively
// (an explicit stack, so 10,000-deep nesting cannot overflow the call stack), and inspects:
//   - every string value, with the name of the member that holds it as context (KeyHints);
//   - every object key: maps keyed by e-mail address or IP are common. A member whose key holds
//     PII is written `[#i]` in paths (see path.ts) so no path carries the value in clear; the
//     key's own findings have the member's path with a trailing `~`;
//   - integers: a safe integer of 12–16 digits that passes the card rules is `pii.CREDIT_CARD`
//     (no span: the whole value); 9 digits under an SSN member name is `pii.US_SSN`; 7–15 digits
//     under a phone member name is `pii.PHONE_NUMBER`. A bigint (from a lossless parser) is read
//     the same way up to 19 digits. An integer between 2^53 and 10^20 has already lost digits
//     to JSON.parse and may be a card number that can no longer be checked: `inspect.limit`.
// Booleans, null and other numbers are not PII. Every limit breached adds one `inspect.limit`
// finding and the walk stops, so the caller can fail closed.
import type { Finding } from '../types.ts';
import { type KeyHints, NO_HINTS } from './match.ts';
import { type ScanSettings, DEFAULT_MAX_CHARS, DEFAULT_MAX_FINDINGS, planOf, scanText, kindOf, severityOf } from './scan.ts';
import { hintsForKey } from './hints.ts';
import { cardNumberValid, ssnValid } from './validators.ts';
import { type PathNode, ROOT, renderPath as render, nameSegment, indexSegment, ordinalSegment } from './path.ts';

export interface InspectJsonOptions {
  /** Deepest nesting of arrays/objects walked (the root container is depth 1). Default 64. */
  readonly maxDepth?: number;
  /** Most strings and object keys inspected. Default 1,000,000. */
  readonly maxStrings?: number;
  /** Most UTF-16 code units inspected across all strings and keys. Default 16 Mi (16,777,216). */
  readonly maxChars?: number;
  /** Longest single string inspected, in UTF-16 code units. Default 1 Mi. */
  readonly maxStringChars?: number;
  /** Most findings before `inspect.limit`. Default 10,000. */
  readonly maxFindings?: number;
  /** Entity names to look for. Default: all. */
  readonly entities?: readonly string[];
}

/** One value to visit. A frame is also the path node of its value (parent frame + segment), so a visit allocates one object. */
interface Frame extends PathNode {
  readonly value: unknown;
  readonly parent: Frame | null;
  readonly depth: number;
  readonly hints: KeyHints;
}

/** What a key name says, worked out once per distinct name. */
interface KeyInfo {
  readonly hints: KeyHints;
  readonly findings: readonly Finding[];
  /** `.name` / `['name']`, or null when the key holds PII and must be written by position. */
  readonly segment: string | null;
}

const TWO_53 = 2 ** 53;
/** Distinct key names remembered per call. */
const KEY_CACHE = 10_000;

function opt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/**
 * Findings for a parsed JSON value, in walk order: values in document order, an object's keys
 * when the object is reached. Never throws: cycles are cut short by the depth limit, and a value
 * that cannot be walked (a throwing getter or proxy, which JSON.parse never makes) ends the walk
 * with `inspect.error`.
 */
export function inspectJson(value: unknown, options: InspectJsonOptions = {}): Finding[] {
  const maxDepth = opt('maxDepth', options.maxDepth, 64);
  const maxStrings = opt('maxStrings', options.maxStrings, 1_000_000);
  const maxChars = opt('maxChars', options.maxChars, 16 * DEFAULT_MAX_CHARS);
  const maxStringChars = opt('maxStringChars', options.maxStringChars, DEFAULT_MAX_CHARS);
  const maxFindings = opt('maxFindings', options.maxFindings, DEFAULT_MAX_FINDINGS);
  const plan = planOf(options.entities);
  const wanted = plan.wanted;

  const findings: Finding[] = [];
  let strings = 0;
  let chars = 0;
  let stopped = false;
  const limit = (path: string, detail: string): void => {
    findings.push({ kind: 'inspect.limit', path, severity: 'high', detail });
    stopped = true;
  };
  const settings: ScanSettings = { plan, maxChars: maxStringChars };
  /** The findings of one string or key, reported at `path`; [] once a limit has stopped the walk. */
  const scan = (text: string, path: PathNode | string, hints: KeyHints): readonly Finding[] => {
    strings++;
    chars += Math.min(text.length, maxStringChars);
    if (strings > maxStrings) { limit(render(path), `more than ${maxStrings} strings and keys; the rest was not inspected`); return []; }
    if (chars > maxChars) { limit(render(path), `more than ${maxChars} UTF-16 code units in strings and keys; the rest was not inspected`); return []; }
    return scanText(text, path, hints, settings, maxFindings - findings.length);
  };
  const add = (found: readonly Finding[]): void => {
    for (const f of found) findings.push(f);
    if (findings.length >= maxFindings && !stopped) limit(found[found.length - 1]?.path ?? '$', `more than ${maxFindings} findings; the rest was not inspected`);
  };
  // Records in an array repeat their keys: remember what each key name says (bounded, so a
  // document of unique keys cannot grow the cache without limit).
  const keyCache = new Map<string, KeyInfo>();
  const keyInfo = (k: string, object: Frame): KeyInfo => {
    let known = keyCache.get(k);
    if (known !== undefined) {
      strings++; // still counted, so maxStrings means the same with or without the cache
      return known;
    }
    // Scanned at the object's path: if the key holds anything, the caller re-paths the findings
    // by position, since the path must not name the key.
    const found = scan(k, object, NO_HINTS);
    known = { hints: hintsForKey(k), findings: found, segment: found.length > 0 ? null : nameSegment(k) };
    if (keyCache.size < KEY_CACHE) keyCache.set(k, known);
    return known;
  };

  const stack: Frame[] = [{ value, parent: null, segment: ROOT.segment, depth: 0, hints: NO_HINTS }];
  try {
    walk(stack);
  } catch {
    findings.push({ kind: 'inspect.error', path: '$', severity: 'high', detail: 'the value could not be walked (a getter or proxy threw); the rest was not inspected' });
  }
  return findings;

  function walk(stack: Frame[]): void {
    while (stack.length > 0 && !stopped) {
      const frame = stack.pop()!;
      const v = frame.value;
      if (typeof v === 'string') {
        add(scan(v, frame, frame.hints));
      } else if (typeof v === 'number' || typeof v === 'bigint') {
        const f = numberFinding(v, frame.hints, wanted);
        if (f) add([{ ...f, path: render(frame) }]);
      } else if (v !== null && typeof v === 'object') {
        const depth = frame.depth + 1;
        if (depth > maxDepth) { limit(render(frame), `nesting deeper than ${maxDepth}; the rest was not inspected`); break; }
        if (Array.isArray(v)) {
          for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], parent: frame, segment: indexSegment(i), depth, hints: frame.hints });
          continue;
        }
        // Members are pushed in document order, then that stretch of the stack is reversed so
        // they pop in document order too.
        const base = stack.length;
        const keys = Object.keys(v);
        for (let i = 0; i < keys.length && !stopped; i++) {
          const k = keys[i]!;
          const known = keyInfo(k, frame);
          let segment = known.segment;
          if (segment === null) {
            segment = ordinalSegment(i);
            const at = render({ parent: frame, segment }) + '~';
            add(known.findings.map((f) => ({ ...f, path: at })));
          }
          stack.push({ value: (v as Record<string, unknown>)[k], parent: frame, segment, depth, hints: known.hints });
        }
        for (let i = base, j = stack.length - 1; i < j; i++, j--) {
          const t = stack[i]!;
          stack[i] = stack[j]!;
          stack[j] = t;
        }
      }
    }
  }
}

/** PII carried by a JSON number itself (see the header comment). */
function numberFinding(v: number | bigint, hints: KeyHints, wanted: ReadonlySet<string>): Omit<Finding, 'path'> | null {
  if (typeof v === 'number') {
    // Below a million no entity fits: 7 digits for a phone, an SSN's area cannot be 000.
    if (v < 1e6 || !Number.isInteger(v)) return null;
    if (v >= TWO_53) {
      if (v < 1e20 && wanted.has('CREDIT_CARD')) return { kind: 'inspect.limit', severity: 'high', detail: 'an integer above 2^53 lost digits when parsed and cannot be checked for a card number' };
      return null;
    }
  } else if (v < 1_000_000n) {
    return null;
  }
  const digits = v.toString();
  const hit = (entity: string, detail: string) => (wanted.has(entity) ? { kind: kindOf(entity), severity: severityOf(entity), detail } : null);
  if (cardNumberValid(digits)) return hit('CREDIT_CARD', `credit card number as a JSON number (Luhn-valid, ${digits.length} digits)`);
  if (hints.ssn && digits.length <= 9 && ssnValid(digits.padStart(9, '0'))) return hit('US_SSN', 'US social security number as a JSON number (under an SSN member name)');
  if (hints.phone && digits.length >= 7 && digits.length <= 15) return hit('PHONE_NUMBER', 'phone number as a JSON number (under a phone member name)');
  return null;
}
