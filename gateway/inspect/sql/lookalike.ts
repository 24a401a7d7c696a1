// Look-alike and invisible characters in SQL code (outside literals, quoted identifiers and
// comments, which the pre-lexer has already set aside). A reviewer, a log reader or a naive
// filter reads `DELETE` where the server sees an identifier, or the reverse; identifiers in
// other scripts (`SELECT * FROM таблица`) and text inside literals (`SELECT 'Привет'`) are fine.
import { RISKY_ROUTINES } from './functions.ts';

export interface CodeFinding {
  readonly start: number;
  readonly end: number;
  readonly detail: string;
}

/** Bidirectional overrides and isolates ("Trojan Source"): they reorder what a reader sees. Checked everywhere. */
export const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

// Format characters (zero-width space/joiners, BOM, soft hyphen, ...), invisible fillers and
// every space that is not U+0020: none of them separates tokens in any of the dialects, so in
// code they only serve to make two different texts look the same.
const INVISIBLE = /[\p{Cf}\u034f\u115f\u1160\u2800\u3164\uffa0\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/gu;
const WORD = /[\p{L}\p{M}\p{N}_$]+/gu;
const LETTER_RUN = /[\p{L}\p{M}]+/gu;
const NON_LATIN = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}]/u;

// Letters drawn like ASCII ones (after NFKC, which already folds full-width and mathematical
// letters and the Kelvin sign). A subset of Unicode's confusables.txt: the letters SQL keywords use.
const CONFUSABLE: Readonly<Record<string, string>> = {
  // Cyrillic
  'А': 'A', 'В': 'B', 'Е': 'E', 'Ѕ': 'S', 'І': 'I', 'Ј': 'J', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P',
  'С': 'C', 'Т': 'T', 'Х': 'X', 'У': 'Y', 'Ү': 'Y', 'Ԛ': 'Q', 'Ԝ': 'W', 'Ӏ': 'I', 'Ԁ': 'D',
  'а': 'a', 'е': 'e', 'ѕ': 's', 'і': 'i', 'ј': 'j', 'к': 'k', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x',
  'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'һ': 'h', 'ӏ': 'l', 'ү': 'y', 'ɡ': 'g',
  // Greek
  'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O', 'Ρ': 'P',
  'Τ': 'T', 'Υ': 'Y', 'Χ': 'X', 'Ϲ': 'C', 'α': 'a', 'ο': 'o', 'ρ': 'p', 'ν': 'v', 'ι': 'i', 'κ': 'k', 'υ': 'u',
  'χ': 'x', 'ϲ': 'c', 'ε': 'e',
  // Armenian
  'Օ': 'O', 'օ': 'o', 'Ս': 'U', 'ս': 'u', 'ո': 'n', 'հ': 'h', 'ց': 'g',
  // Latin letters outside ASCII that NFKC keeps
  'ı': 'i', 'ſ': 's', 'ɑ': 'a', 'ℓ': 'l', 'ᴀ': 'a', 'ʙ': 'b', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e', 'ɢ': 'g', 'ʜ': 'h',
  'ɪ': 'i', 'ᴊ': 'j', 'ᴋ': 'k', 'ʟ': 'l', 'ᴍ': 'm', 'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ʀ': 'r', 'ꜱ': 's', 'ᴛ': 't',
  'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z',
};

/** Words that change what a statement does. A look-alike spelling of one of these is refused. */
const KEYWORDS: ReadonlySet<string> = new Set([
  'select', 'insert', 'update', 'delete', 'merge', 'replace', 'upsert', 'drop', 'truncate', 'create', 'alter',
  'rename', 'grant', 'revoke', 'from', 'where', 'into', 'values', 'set', 'table', 'database', 'schema', 'index',
  'view', 'function', 'procedure', 'trigger', 'role', 'user', 'union', 'all', 'and', 'or', 'not', 'null', 'true',
  'false', 'like', 'in', 'is', 'exists', 'exec', 'execute', 'call', 'do', 'begin', 'end', 'commit', 'rollback',
  'copy', 'program', 'load', 'data', 'infile', 'outfile', 'dumpfile', 'attach', 'detach', 'pragma', 'shutdown',
  'kill', 'with', 'as', 'on', 'join', 'having', 'group', 'order', 'by', 'limit', 'offset', 'returning', 'case',
  'when', 'then', 'else', 'show', 'describe', 'explain', 'analyze', 'vacuum', 'lock', 'prepare', 'declare',
  'cursor', 'fetch', 'open', 'close', 'sleep', 'benchmark', 'global', 'system', 'session', 'authorization',
  'superuser', 'password', 'owner', 'cascade', 'language', 'returns', 'security', 'definer', 'extension',
]);

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function skeleton(word: string): string {
  let out = '';
  for (const ch of word.normalize('NFKC')) out += CONFUSABLE[ch] ?? ch;
  return out;
}

function codePointLabel(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Checks the code regions `[start, end)` of `text` (pairs in `regions`) for invisible characters
 * and look-alike keywords. Call only when `text` has non-ASCII characters. At most `max` findings.
 */
export function checkCode(text: string, regions: readonly number[], max: number): CodeFinding[] {
  const out: CodeFinding[] = [];
  // SQL repeats its words; judging each distinct word once keeps large non-Latin texts cheap.
  const verdicts = new Map<string, string | null>();
  for (let r = 0; r + 1 < regions.length && out.length < max; r += 2) {
    const start = regions[r]!;
    const region = text.slice(start, regions[r + 1]!);
    if (isAscii(region)) continue;
    for (const m of region.matchAll(INVISIBLE)) {
      if (out.length >= max) break;
      out.push({ start: start + m.index, end: start + m.index + m[0].length, detail: `invisible or non-ASCII space character ${codePointLabel(m[0])} in SQL code at offset ${start + m.index}` });
    }
    for (const m of region.matchAll(WORD)) {
      if (out.length >= max) break;
      const word = m[0];
      if (isAscii(word)) continue;
      let verdict = verdicts.get(word);
      if (verdict === undefined) {
        verdict = judge(word);
        verdicts.set(word, verdict);
      }
      if (verdict === null) continue;
      const at = start + m.index;
      out.push({ start: at, end: at + word.length, detail: verdict.replace('{at}', String(at)) });
    }
  }
  return out;
}

/** Why a non-ASCII word in code is refused (with `{at}` for its offset), or null when it is fine. */
function judge(word: string): string | null {
  const folded = skeleton(word);
  const lower = folded.toLowerCase();
  if (isAscii(folded) && (KEYWORDS.has(lower) || RISKY_ROUTINES.has(lower))) {
    return `look-alike characters spell the keyword or routine "${lower.toUpperCase()}" at offset {at}`;
  }
  // Latin and a confusable script inside one run of letters (no _ or digit between):
  // `usеrs` with a Cyrillic е; `clients_клиенты` is two runs and passes.
  for (const run of word.matchAll(LETTER_RUN)) {
    if (/[A-Za-z]/.test(run[0]) && NON_LATIN.test(run[0]) && [...run[0]].some((ch) => CONFUSABLE[ch] !== undefined)) {
      return 'a word at offset {at} mixes Latin letters with look-alike letters from another script';
    }
  }
  return null;
}
