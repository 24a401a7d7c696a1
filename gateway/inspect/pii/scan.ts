// One string to findings: runs every wanted recognizer over the string's normalised view
// (normalise.ts: escapes decoded, NFKC, every digit ASCII, every space ' ', every dash '-'; digit
// runs tokenised once for the numeric recognizers), resolves overlaps, maps the spans back to the
// original string, and applies the limits. Limits fail closed: a string longer than `maxChars`
// is inspected up to the limit and gets an `inspect.limit` finding; so does a string with more
// than `maxFindings` candidates.
import type { Finding, Severity } from '../types.ts';
import { PII_ENTITIES, SECRET_ENTITIES } from '../types.ts';
import { type KeyHints, type Match, type ScanInput, NO_HINTS } from './match.ts';
import { digitRuns, NO_RUNS } from './digits.ts';
import { recognizeCards } from './cards.ts';
import { recognizeSsns } from './ssn.ts';
import { recognizeIpv4, recognizeIpv6 } from './ip.ts';
import { recognizePhones } from './phone.ts';
import { recognizeEmails } from './email.ts';
import { recognizeIbans } from './iban.ts';
import { recognizeTokens, TOKEN_GUARDS } from './tokens.ts';
import { recognizePrivateKeys } from './pem.ts';
import { recognizeJwts } from './jwt.ts';
import { recognizeGenericSecrets, GENERIC_WORDS } from './generic.ts';
import { resolveOverlaps } from './resolve.ts';
import { hintsForKey } from './hints.ts';
import { type PathRef, renderPath } from './path.ts';
import { type View, viewOf, originalSpan } from './normalise.ts';

export type PiiEntityName = (typeof PII_ENTITIES)[number] | (typeof SECRET_ENTITIES)[number];

/** Default longest string inspected, in UTF-16 code units (1 MiB); the rest is an `inspect.limit`. */
export const DEFAULT_MAX_CHARS = 1 << 20;
/** Default most findings per call before `inspect.limit`. */
export const DEFAULT_MAX_FINDINGS = 10_000;

/** Cheap facts about a string, from one pass, that rule recognizers in or out. */
interface Features {
  digits: number;
  dots: number;
  at: boolean;
  colon: boolean;
  assign: boolean; // '=' somewhere
  length: number;
  /** A non-ASCII code unit or a `\u`: the string may differ from its view (normalise.ts needsView). */
  special: boolean;
}

/** The shortest vendor token any rule of tokens.ts matches ("xoxb-1-abcdefgh"); also the shortest IBAN (NO, 15). */
const MIN_TOKEN = 15;

/**
 * One pass that rules out every secret recognizer at once: a vendor prefix, a PEM or JWT start,
 * or a secret word. Case-insensitive, so it matches a superset of what the recognizers look for.
 */
const SECRET_PREFILTER = new RegExp([...TOKEN_GUARDS, 'PRIVATE KEY', 'eyJ', GENERIC_WORDS.source].join('|'), 'i');

// Reused for every string (scanText never runs re-entrantly): no allocation on the hot path.
const F: Features = { digits: 0, dots: 0, at: false, colon: false, assign: false, length: 0, special: false };

function features(text: string): Features {
  let digits = 0, dots = 0, at = false, colon = false, assign = false, special = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 64) {
      if (c > 127 || (c === 92 && text.charCodeAt(i + 1) === 117)) special = true;
      continue;
    }
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46) dots++;
    else if (c === 64) at = true;
    else if (c === 58) colon = true;
    else if (c === 61) assign = true;
  }
  F.digits = digits; F.dots = dots; F.at = at; F.colon = colon; F.assign = assign; F.length = text.length; F.special = special;
  return F;
}

/** Which recognizers a call runs, worked out once per call rather than per string. */
export interface Plan {
  readonly wanted: ReadonlySet<string>;
  readonly cards: boolean;
  readonly ssns: boolean;
  readonly ips: boolean;
  readonly phones: boolean;
  readonly emails: boolean;
  readonly ibans: boolean;
  readonly tokens: boolean;
  readonly privateKeys: boolean;
  readonly jwts: boolean;
  readonly generic: boolean;
}

const SEVERITY: Readonly<Record<PiiEntityName, Severity>> = {
  CREDIT_CARD: 'high', US_SSN: 'high', IBAN_CODE: 'high', EMAIL_ADDRESS: 'medium', PHONE_NUMBER: 'medium', IP_ADDRESS: 'low',
  AWS_ACCESS_KEY: 'high', AWS_SECRET_KEY: 'critical', API_KEY: 'critical', PRIVATE_KEY: 'critical', JWT: 'high', GENERIC_SECRET: 'high',
};

const PII_SET: ReadonlySet<string> = new Set(PII_ENTITIES);
const ALL: ReadonlySet<string> = new Set<string>([...PII_ENTITIES, ...SECRET_ENTITIES]);

const KINDS: ReadonlyMap<string, string> = new Map([...ALL].map((e) => [e, `${PII_SET.has(e) ? 'pii' : 'secret'}.${e}`]));

/** `pii.CREDIT_CARD`, `secret.API_KEY`, … */
export function kindOf(entity: string): string {
  return KINDS.get(entity) ?? `secret.${entity}`;
}

export function severityOf(entity: string): Severity {
  return SEVERITY[entity as PiiEntityName] ?? 'high';
}

function planFor(wanted: ReadonlySet<string>): Plan {
  return {
    wanted,
    cards: wanted.has('CREDIT_CARD'),
    ssns: wanted.has('US_SSN'),
    ips: wanted.has('IP_ADDRESS'),
    phones: wanted.has('PHONE_NUMBER'),
    emails: wanted.has('EMAIL_ADDRESS'),
    ibans: wanted.has('IBAN_CODE'),
    tokens: wanted.has('API_KEY') || wanted.has('AWS_ACCESS_KEY'),
    privateKeys: wanted.has('PRIVATE_KEY'),
    jwts: wanted.has('JWT'),
    generic: wanted.has('GENERIC_SECRET') || wanted.has('AWS_SECRET_KEY'),
  };
}

const ALL_PLAN = planFor(ALL);

/** Validates an `entities` option once; unknown names are a programming error. */
export function planOf(entities: readonly string[] | undefined): Plan {
  if (entities === undefined) return ALL_PLAN;
  for (const e of entities) if (!ALL.has(e)) throw new TypeError(`unknown PII/secret entity "${e}"; expected one of ${[...ALL].join(', ')}`);
  return planFor(new Set(entities));
}

export interface InspectTextOptions {
  /** JSONPath reported in findings. Default `$`. */
  readonly path?: string;
  /** Entity names to look for (PII_ENTITIES / SECRET_ENTITIES). Default: all. */
  readonly entities?: readonly string[];
  /** Name of the JSON member holding this string: context for phone, SSN and secret rules ("phone", "password"). Default none. */
  readonly key?: string;
  /** Longest text inspected, in UTF-16 code units. Default 1 MiB (DEFAULT_MAX_CHARS). */
  readonly maxChars?: number;
  /** Most findings before the rest becomes one `inspect.limit`. Default 10,000. */
  readonly maxFindings?: number;
}

/** Settings shared by every string of one inspectText/inspectJson call. */
export interface ScanSettings {
  readonly plan: Plan;
  /** Longest string inspected, in UTF-16 code units. */
  readonly maxChars: number;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/**
 * Findings for one string: `pii.<ENTITY>` / `secret.<ENTITY>` with `span` in UTF-16 code units,
 * sorted by start, overlaps resolved (see resolve.ts). Never throws on any string.
 */
export function inspectText(text: string, options: InspectTextOptions = {}): Finding[] {
  const settings: ScanSettings = { plan: planOf(options.entities), maxChars: positiveInt('maxChars', options.maxChars, DEFAULT_MAX_CHARS) };
  const hints = options.key === undefined ? NO_HINTS : hintsForKey(options.key);
  return [...scanText(text, options.path ?? '$', hints, settings, positiveInt('maxFindings', options.maxFindings, DEFAULT_MAX_FINDINGS))];
}

const NONE: readonly Finding[] = Object.freeze([]);

/**
 * inspectText's core, for one string at `path` (rendered only if something is found). Returns a
 * shared empty array when nothing is found: do not mutate the result.
 */
export function scanText(text: string, path: PathRef, hints: KeyHints, settings: ScanSettings, maxFindings: number): readonly Finding[] {
  let limited: Finding | null = null;
  let scanned = text;
  if (text.length > settings.maxChars) {
    scanned = text.slice(0, settings.maxChars);
    limited = { kind: 'inspect.limit', path: renderPath(path), severity: 'high', detail: `string of ${text.length} UTF-16 code units exceeds the inspection limit of ${settings.maxChars}; only the beginning was inspected` };
  }
  let f = features(scanned);
  // ASCII without a `\u` is its own view (normalise.ts), so only other strings build one. The
  // view may be longer than the string (NFKC expands some characters); it is capped at twice
  // the limit, and a string whose view reaches the cap is inspected up to it, as over-long.
  let view: View | null = null;
  if (f.special) {
    const v = viewOf(scanned, 2 * settings.maxChars);
    if (v.consumed < scanned.length) {
      limited ??= { kind: 'inspect.limit', path: renderPath(path), severity: 'high', detail: `string normalises to more than ${2 * settings.maxChars} UTF-16 code units; only the beginning was inspected` };
    }
    if (v.from !== null) {
      view = v;
      f = features(v.text);
    }
  }
  const matched = view === null ? scanned : view.text;
  // Candidates may outnumber findings (overlaps); allow some slack before calling it a limit.
  const budget = maxFindings * 4;
  const p = settings.plan;
  // Each recognizer runs only if the string has what its entity needs: the fewest digits (a
  // 12-digit card, 9-digit SSN, 7-digit local phone number, 4 digits and 3 dots for a dotted
  // quad, 2 IBAN check digits), an '@', a ':', or the length of the shortest token. Most JSON
  // strings fail them all.
  const long = f.length >= MIN_TOKEN;
  const ipv4 = p.ips && f.dots >= 3;
  const numeric = f.digits >= 4 && (p.cards || p.ssns || ipv4 || p.phones || (p.ibans && long));
  const secretWords = (long || f.colon || f.assign) && (p.tokens || p.privateKeys || p.jwts || p.generic) && SECRET_PREFILTER.test(matched);
  const secretish = p.generic && (hints !== NO_HINTS || secretWords);
  if (!numeric && !(p.emails && f.at) && !(p.ips && f.colon) && !(long && secretWords) && !secretish) {
    return limited ? [limited] : NONE;
  }
  const needRuns = (p.cards && f.digits >= 12) || (p.ssns && f.digits >= 9) || ipv4 || (p.ibans && long);
  const input: ScanInput = { text: matched, hints, runs: numeric && needRuns ? digitRuns(matched) : NO_RUNS, budget };
  const matches: Match[] = [];
  if (numeric) {
    if (p.cards && f.digits >= 12) recognizeCards(input, matches);
    if (p.ssns && f.digits >= 9) recognizeSsns(input, matches);
    if (ipv4) recognizeIpv4(input, matches);
    if (p.phones && f.digits >= 7) recognizePhones(input, matches);
    if (p.ibans && long) recognizeIbans(input, matches);
  }
  if (p.ips && f.colon) recognizeIpv6(input, matches);
  if (p.emails && f.at) recognizeEmails(input, matches);
  if (long && secretWords) {
    if (p.tokens) recognizeTokens(input, matches);
    if (p.privateKeys) recognizePrivateKeys(input, matches);
    if (p.jwts) recognizeJwts(input, matches);
  }
  if (secretish) recognizeGenericSecrets(input, matches);
  if (matches.length === 0) return limited ? [limited] : NONE;
  const { wanted } = settings.plan;
  let resolved = resolveOverlaps(wanted === ALL ? matches : matches.filter((m) => wanted.has(m.entity)));
  const findings: Finding[] = limited ? [limited] : [];
  const at = renderPath(path);
  if (matches.length >= budget || resolved.length > maxFindings) {
    resolved = resolved.slice(0, maxFindings);
    findings.push({ kind: 'inspect.limit', path: at, severity: 'high', detail: `more than ${maxFindings} PII/secret candidates in one string; the rest was not inspected` });
  }
  for (const m of resolved) {
    const span = view === null ? { start: m.start, end: m.end } : originalSpan(view, m.start, m.end);
    findings.push({ kind: kindOf(m.entity), path: at, span, severity: severityOf(m.entity), detail: m.detail });
  }
  return findings;
}
