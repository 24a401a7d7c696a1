// The pre-lexer: one pass over the text, before any parser, that separates code from string
// literals, quoted identifiers and comments the way the target dialect does, and refuses what
// a parser would not see or would read differently from the server:
//   - MySQL/MariaDB executable comments (`/*! … */`, `/*M! … */`): the server runs their content,
//     parsers skip it as a comment;
//   - look-alike or invisible characters in code, bidirectional controls anywhere;
//   - (MySQL family, Redshift) text that is a string with backslash escapes and SQL without
//     them, so its meaning depends on a server setting (NO_BACKSLASH_ESCAPES) we cannot see;
//   - parentheses nested deeper than the parsers survive (they recurse per level);
//   - long runs of operator characters (`/**/` repeated, `+-+-…`), which PostgreSQL's flex
//     scanner re-reads once per token: 40 kB of them took 2.5 s, 160 kB 26 s.
// It also splits the text into statements at top-level semicolons, for spans.
import type { Span, SqlDialect } from '../types.ts';
import { RISKY_ROUTINES, type Risk } from './functions.ts';
import { BIDI_CONTROLS, checkCode } from './lookalike.ts';

interface Profile {
  /** Backslash inside '…': never an escape, always one, or depends on a server setting (check both). */
  readonly backslash: 'never' | 'always' | 'both';
  /** PostgreSQL E'…' strings, where backslash escapes even when plain strings do not. */
  readonly eStrings?: boolean;
  /** `$tag$…$tag$` (tagged) or only `$$…$$` (plain). */
  readonly dollar?: 'tagged' | 'plain';
  readonly nestedComments?: boolean;
  readonly hashComments?: boolean;
  readonly slashComments?: boolean;
  /** MySQL: `--` starts a comment only when followed by a space or control character. */
  readonly dashNeedsSpace?: boolean;
  readonly backticks?: boolean;
  readonly brackets?: boolean;
  readonly tripleQuotes?: boolean;
}

// Where a dialect's rule is uncertain, the profile takes the reading that shows more code:
// a comment or literal we do not know about is inspected as code (a false alarm at worst), never
// the reverse (code hidden as a comment).
const PROFILES: Readonly<Record<SqlDialect, Profile>> = {
  postgresql: { backslash: 'never', eStrings: true, dollar: 'tagged', nestedComments: true },
  redshift: { backslash: 'both', eStrings: true, dollar: 'tagged' },
  mysql: { backslash: 'both', hashComments: true, dashNeedsSpace: true, backticks: true },
  mariadb: { backslash: 'both', hashComments: true, dashNeedsSpace: true, backticks: true },
  sqlite: { backslash: 'never', backticks: true, brackets: true },
  transactsql: { backslash: 'never', brackets: true, nestedComments: true },
  bigquery: { backslash: 'always', hashComments: true, backticks: true, tripleQuotes: true },
  snowflake: { backslash: 'always', dollar: 'plain', slashComments: true },
  db2: { backslash: 'never' },
  hive: { backslash: 'always', backticks: true },
  flinksql: { backslash: 'never', backticks: true },
  trino: { backslash: 'never' },
};

interface Reading {
  /** Code regions as flat [start, end) pairs. */
  readonly code: number[];
  readonly execComments: number[];
  readonly segments: Span[];
  maxDepth: number;
  /** Sum of squared lengths of operator-character runs outside literals and line comments. */
  opCost: number;
  complete: boolean;
}

const isIdent = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c > 127;
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
// PostgreSQL's op_chars: ~ ! @ # ^ & | ` ? + - * / % < > =
const OP_CHARS = new Uint8Array(128);
for (const ch of '~!@#^&|`?+-*/%<>=') OP_CHARS[ch.charCodeAt(0)] = 1;
const isOp = (c: number) => c < 128 && OP_CHARS[c] === 1;

function read(text: string, p: Profile, escapes: boolean): Reading {
  const r: Reading = { code: [], execComments: [], segments: [], maxDepth: 0, opCost: 0, complete: true };
  const n = text.length;
  let run = 0;
  const flush = () => { r.opCost += run * run; run = 0; };
  let i = 0;
  let codeStart = 0;
  let depth = 0;
  let segStart = -1; // first non-blank offset of the current statement, -1 while blank
  // Every branch advances i by at least one, so the loop ends within n iterations.
  while (i < n) {
    const c = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    let end = -1; // end of a non-code token starting at i
    if (c === 39 || c === 34 || (c === 96 && p.backticks)) {
      const prev = text.charCodeAt(i - 1);
      const eString = p.eStrings === true && c === 39 && (prev === 69 || prev === 101) && !isIdent(text.charCodeAt(i - 2));
      const bs = c !== 96 && (escapes || eString);
      const triple = p.tripleQuotes === true && c !== 96 && next === c && text.charCodeAt(i + 2) === c;
      end = triple ? closeTriple(text, i, c, bs) : closeQuote(text, i, c, bs);
    } else if (c === 91 && p.brackets) {
      end = closeQuote(text, i, 93, false);
    } else if (c === 36 && p.dollar && !isIdent(text.charCodeAt(i - 1))) {
      const tag = p.dollar === 'plain' ? (next === 36 ? '$$' : null) : /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(text.slice(i, i + 66))?.[0] ?? null;
      if (tag !== null) {
        const close = text.indexOf(tag, i + tag.length);
        end = close < 0 ? n : close + tag.length;
        if (close < 0) r.complete = false;
      }
    } else if ((c === 45 && next === 45 && (!p.dashNeedsSpace || Number.isNaN(text.charCodeAt(i + 2)) || text.charCodeAt(i + 2) <= 32))
      || (c === 35 && p.hashComments) || (c === 47 && next === 47 && p.slashComments)) {
      end = lineEnd(text, i);
    } else if (c === 47 && next === 42) {
      const third = text.charCodeAt(i + 2);
      if (third === 33 || (third === 77 && text.charCodeAt(i + 3) === 33)) r.execComments.push(i);
      end = closeComment(text, i, p.nestedComments === true);
    }
    if (end >= 0) {
      if (end > n) { end = n; r.complete = false; }
      // A block comment's delimiters and content continue an operator run (`/**/**/`); a literal or line comment ends it.
      if (c === 47 && next === 42) {
        for (let k = i; k < end; k++) if (isOp(text.charCodeAt(k))) run++; else flush();
      } else flush();
      if (i > codeStart) r.code.push(codeStart, i);
      if (segStart < 0 && c !== 45 && c !== 35 && c !== 47) segStart = i;
      i = end;
      codeStart = i;
      continue;
    }
    if (isOp(c)) run++;
    else if (run > 0) flush();
    if (c === 40) { depth++; if (depth > r.maxDepth) r.maxDepth = depth; }
    else if (c === 41) { if (depth > 0) depth--; }
    else if (c === 59) {
      if (segStart >= 0) r.segments.push({ start: segStart, end: i });
      segStart = -1;
    } else if (segStart < 0 && !isSpace(c)) segStart = i;
    i++;
  }
  flush();
  if (n > codeStart) r.code.push(codeStart, n);
  if (segStart >= 0) r.segments.push({ start: segStart, end: trimEnd(text, n) });
  return r;
}

/** End (exclusive) of a quoted token opened at `i`; doubled quotes escape; `n + 1` when unterminated. */
function closeQuote(text: string, i: number, quote: number, backslash: boolean): number {
  const n = text.length;
  let j = i + 1;
  while (j < n) {
    const ch = text.charCodeAt(j);
    if (backslash && ch === 92) { j += 2; continue; }
    if (ch === quote) {
      if (text.charCodeAt(j + 1) === quote) { j += 2; continue; }
      return j + 1;
    }
    j++;
  }
  return n + 1;
}

function closeTriple(text: string, i: number, quote: number, backslash: boolean): number {
  const q = String.fromCharCode(quote).repeat(3);
  let j = i + 3;
  while (j < text.length) {
    if (backslash && text.charCodeAt(j) === 92) { j += 2; continue; }
    if (text.startsWith(q, j)) return j + 3;
    j++;
  }
  return text.length + 1;
}

function closeComment(text: string, i: number, nested: boolean): number {
  if (!nested) {
    const close = text.indexOf('*/', i + 2);
    return close < 0 ? text.length + 1 : close + 2;
  }
  let level = 1;
  let j = i + 2;
  while (j < text.length) {
    if (text.startsWith('/*', j)) { level++; j += 2; continue; }
    if (text.startsWith('*/', j)) { level--; j += 2; if (level === 0) return j; continue; }
    j++;
  }
  return text.length + 1;
}

/** Where a line comment starting at `i` ends: the first \n or \r (PostgreSQL stops at either; stopping early only shows more code). */
function lineEnd(text: string, i: number): number {
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === 10 || c === 13) return j;
    j++;
  }
  return j;
}

function trimEnd(text: string, end: number): number {
  let e = end;
  while (e > 0 && isSpace(text.charCodeAt(e - 1))) e--;
  return e;
}

export interface PrelexFinding {
  readonly kind: 'sql.obfuscation' | 'inspect.limit';
  readonly detail: string;
  readonly span: Span;
}

export interface Prelexed {
  readonly findings: PrelexFinding[];
  /** Non-blank statements split at top-level semicolons, in the server's default reading. */
  readonly segments: Span[];
  /** Code regions (flat [start, end) pairs) in the server's default reading. */
  readonly code: readonly number[];
}

/** Most parentheses nested in code; past it the parsers are not called (they recurse per level). */
export const MAX_PAREN_DEPTH = 256;
/** Budget for Σ(operator run length)²: one run of ~4,500 characters, or an 80-character banner comment 3,000 times. */
export const MAX_OP_COST = 20_000_000;
const MAX_CODE_FINDINGS = 8;

export function prelex(text: string, dialect: SqlDialect): Prelexed {
  const p = PROFILES[dialect];
  // First reading = the server's default (backslash escapes on for the MySQL family).
  const readings = p.backslash === 'both' ? [read(text, p, true), read(text, p, false)] : [read(text, p, p.backslash === 'always')];
  const findings: PrelexFinding[] = [];
  const mysqlFamily = dialect === 'mysql' || dialect === 'mariadb';

  const execAt = new Set(readings.flatMap((r) => r.execComments));
  for (const at of [...execAt].sort((a, b) => a - b).slice(0, MAX_CODE_FINDINGS)) {
    findings.push({
      kind: 'sql.obfuscation',
      span: { start: at, end: at + 3 },
      detail: mysqlFamily
        ? `executable comment at offset ${at}: MySQL and MariaDB run the text inside /*! ... */ as SQL`
        : `executable-comment marker /*! at offset ${at}, which MySQL-family servers run as SQL`,
    });
  }

  const [first, second] = readings;
  if (first && second && first.complete && second.complete) {
    const k = firstDifference(first.code, second.code);
    if (k >= 0) {
      findings.push({
        kind: 'sql.obfuscation',
        span: { start: k, end: Math.min(text.length, k + 1) },
        detail: `the text reads as different statements with and without backslash escapes in strings (NO_BACKSLASH_ESCAPES); from offset ${k} it is SQL in one reading and a string in the other`,
      });
    }
  }

  if (/[^\x00-\x7f]/.test(text)) {
    for (const m of text.matchAll(BIDI_CONTROLS)) {
      findings.push({ kind: 'sql.obfuscation', span: { start: m.index, end: m.index + 1 }, detail: `bidirectional control character at offset ${m.index} reorders how the text is displayed` });
      break;
    }
    const seen = new Set<number>();
    for (const r of readings) {
      for (const f of checkCode(text, r.code, MAX_CODE_FINDINGS)) {
        if (seen.has(f.start)) continue;
        seen.add(f.start);
        findings.push({ kind: 'sql.obfuscation', span: { start: f.start, end: f.end }, detail: f.detail });
      }
    }
  }

  const depth = Math.max(...readings.map((r) => r.maxDepth));
  if (depth > MAX_PAREN_DEPTH) {
    findings.push({ kind: 'inspect.limit', span: { start: 0, end: text.length }, detail: `parentheses nest ${depth} deep, more than the ${MAX_PAREN_DEPTH} the inspector parses` });
  }
  if (readings.some((r) => r.opCost > MAX_OP_COST)) {
    findings.push({ kind: 'inspect.limit', span: { start: 0, end: text.length }, detail: 'runs of operator characters (such as /**/ repeated) too long to parse in bounded time' });
  }
  return { findings, segments: readings[0]?.segments ?? [], code: readings[0]?.code ?? [] };
}

/** First offset at which two region lists differ, or -1 when they are equal. */
function firstDifference(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return Math.min(a[i]!, b[i]!);
  if (a.length !== b.length) return (a.length > b.length ? a[n] : b[n]) ?? -1;
  return -1;
}

/** Risky routine names (functions.ts) written as words in the code regions of `text`; at most 8. */
export function riskyWords(text: string, code: readonly number[]): Array<{ name: string; risk: Risk; span: Span }> {
  const out: Array<{ name: string; risk: Risk; span: Span }> = [];
  for (let r = 0; r + 1 < code.length && out.length < 8; r += 2) {
    const start = code[r]!;
    for (const m of text.slice(start, code[r + 1]!).matchAll(/[A-Za-z_][\w$]*/g)) {
      const risk = RISKY_ROUTINES.get(m[0].toLowerCase());
      if (risk) out.push({ name: m[0].toLowerCase(), risk, span: { start: start + m.index, end: start + m.index + m[0].length } });
      if (out.length >= 8) break;
    }
  }
  return out;
}
