// Normalises a word node the way bash would see it before running the command: quotes removed
// (`r''m`, `"r"m` → rm), backslash escapes and line continuations removed (`\rm` → rm), ANSI-C
// strings decoded (`$'\x72\x6d'` → rm), `$HOME`/`${HOME}` → `~`, unquoted `$IFS` → a split
// point, positional parameters known from `sh -c` substituted; everything else that is only
// known at run time becomes UNKNOWN and marks the word dynamic.
import type { SNode } from './parser.ts';
import { SPLIT, UNKNOWN, type Word } from './model.ts';
import type { Scope } from './scope.ts';

interface Acc {
  value: string;
  dynamic: boolean;
  substitution: boolean;
  quoted: boolean;
  computed: boolean;
  tricks: string[];
}

function newAcc(): Acc {
  return { value: '', dynamic: false, substitution: false, quoted: false, computed: false, tricks: [] };
}

/** Normalises a word-like node (word, string, raw_string, ansi_c_string, concatenation, expansion, …). */
export function wordOf(node: SNode, text: string, scope: Scope): Word {
  const acc = newAcc();
  add(node, text, scope, acc, false);
  const process = node.type === 'process_substitution' ? (text.startsWith('>(', node.start) ? 'out' : 'in') : undefined;
  const wholeQuoted = node.type === 'raw_string' || node.type === 'ansi_c_string' || (node.type === 'string' && !text.slice(node.start, node.end).includes('\\'));
  return {
    value: acc.value, start: node.start, end: node.end, dynamic: acc.dynamic, substitution: acc.substitution,
    quoted: acc.quoted, wholeQuoted, tricks: acc.tricks, ...(process ? { process } : {}), ...(acc.computed ? { computed: true } : {}),
  };
}

/** Joins words separated in the tree only by a line continuation (`r\<newline>m` is one word to bash). */
export function joinWords(a: Word, b: Word): Word {
  return {
    value: a.value + b.value, start: a.start, end: b.end, dynamic: a.dynamic || b.dynamic,
    substitution: a.substitution || b.substitution, quoted: true, wholeQuoted: false,
    tricks: [...a.tricks, ...b.tricks, 'line continuation inside a word'],
    ...(a.computed || b.computed ? { computed: true } : {}),
  };
}

function add(node: SNode, text: string, scope: Scope, acc: Acc, inQuotes: boolean): void {
  const raw = text.slice(node.start, node.end);
  switch (node.type) {
    case 'word': {
      const value = unescapeWord(raw);
      if (value !== raw) acc.quoted = true;
      acc.value += value;
      return;
    }
    case 'raw_string':
      acc.quoted = true;
      acc.value += raw.slice(1, -1);
      return;
    case 'ansi_c_string': {
      acc.quoted = true;
      const { value, plain } = decodeAnsiC(raw.slice(2, -1));
      if (plain) acc.tricks.push('ANSI-C escapes encode plain characters');
      acc.value += value;
      return;
    }
    case 'string':
      acc.quoted = true;
      addChildren(node, text, scope, acc, true, node.start + 1, node.end - 1);
      return;
    case 'translated_string':
      // $"…": the leading $ asks for a locale translation; the text is the string's.
      for (const child of node.children) if (child.named) add(child, text, scope, acc, inQuotes);
      return;
    case 'concatenation':
    case 'number':
      addChildren(node, text, scope, acc, inQuotes, node.start, node.end);
      return;
    case 'simple_expansion':
    case 'expansion':
      addExpansion(node, text, scope, acc, inQuotes);
      return;
    case 'command_substitution': {
      acc.substitution = true;
      acc.computed = true;
      const output = substitutionOutput(node, text, scope);
      if (output === undefined) {
        acc.value += UNKNOWN;
        acc.dynamic = true;
      } else {
        acc.value += inQuotes ? output : splitUnquoted(output);
      }
      return;
    }
    case 'process_substitution':
    case 'arithmetic_expansion':
      acc.value += UNKNOWN;
      acc.dynamic = true;
      return;
    default:
      // brace_expression, extglob_pattern, regex, array, variable_name, ERROR…: their text.
      acc.value += raw;
  }
}

/** Children of a compound word; text between children (inside `"…"`) is literal content. */
function addChildren(node: SNode, text: string, scope: Scope, acc: Acc, inQuotes: boolean, from: number, to: number): void {
  let pos = from;
  for (const child of node.children) {
    if (!child.named) continue;
    if (child.start > pos) acc.value += inQuotes ? unescapeDouble(text.slice(pos, child.start)) : text.slice(pos, child.start);
    if (child.type === 'string_content') acc.value += unescapeDouble(text.slice(child.start, child.end));
    else add(child, text, scope, acc, inQuotes);
    pos = Math.max(pos, child.end);
  }
  if (to > pos) acc.value += inQuotes ? unescapeDouble(text.slice(pos, to)) : text.slice(pos, to);
}

function addExpansion(node: SNode, text: string, scope: Scope, acc: Acc, inQuotes: boolean): void {
  const named = node.children.filter((c) => c.named);
  const plain = named.length === 1 && (named[0]!.type === 'variable_name' || named[0]!.type === 'special_variable_name')
    && !node.children.some((c) => !c.named && !['$', '${', '}'].includes(c.type));
  if (plain) {
    const name = text.slice(named[0]!.start, named[0]!.end);
    const known = scope.vars.get(name);
    if (name === 'HOME' && !known) { acc.value += '~'; return; }
    if (known) {
      acc.value += inQuotes || name === '@' || name === '*' ? known.value : splitUnquoted(known.value);
      acc.dynamic ||= known.dynamic;
      acc.substitution ||= known.substitution;
      // Positional parameters given on the same command line (`sh -c '"$@"' _ ls`) hide nothing.
      acc.computed ||= !/^[0-9@*]$/.test(name) || known.computed === true;
      return;
    }
    if (name === 'IFS' && !inQuotes) {
      acc.value += SPLIT;
      acc.tricks.push('$IFS used as a word separator');
      return;
    }
  }
  // ${X:-default} / ${X-default} / ${X:=default}: the default is a value it may take.
  const operator = node.children.find((c) => c.field === 'operator');
  const op = operator ? text.slice(operator.start, operator.end) : '';
  const fallback = named.find((c) => c.start >= (operator?.end ?? Infinity));
  acc.dynamic = true;
  acc.computed = true;
  if ((op === ':-' || op === '-' || op === ':=' || op === '=') && fallback) {
    const inner = newAcc();
    add(fallback, text, scope, inner, inQuotes);
    acc.value += inner.dynamic ? UNKNOWN : inner.value;
    acc.substitution ||= inner.substitution;
    return;
  }
  acc.value += UNKNOWN;
}

/** Unquoted expansions are split on blanks (the default $IFS): the split points become SPLIT. */
function splitUnquoted(value: string): string {
  return /[ \t\n]/.test(value) ? value.trim().split(/[ \t\n]+/).join(SPLIT) : value;
}

/**
 * The output of a command substitution whose command is known here: `echo`/`printf` of literal
 * words, `pwd` in a known directory. Undefined for anything else (its output is run-time text).
 */
function substitutionOutput(node: SNode, text: string, scope: Scope): string | undefined {
  const inner = node.children.filter((c) => c.named && c.type !== 'comment');
  if (inner.length !== 1 || inner[0]!.type !== 'command') return undefined;
  const words: Word[] = [];
  for (const c of inner[0]!.children) {
    if (c.field === 'name') words.push(wordOf(c.children.find((x) => x.named) ?? c, text, scope));
    else if (c.field === 'argument') words.push(wordOf(c, text, scope));
    else if (c.named) return undefined;
  }
  if (words.length === 0 || words.some((w) => w.dynamic || w.value.includes(SPLIT))) return undefined;
  const [name, ...args] = words.map((w) => w.value);
  let out: string | undefined;
  if (name === 'echo') {
    const flags = args.filter((a, i) => /^-[neE]+$/.test(a) && args.slice(0, i).every((b) => /^-[neE]+$/.test(b)));
    const rest = args.slice(flags.length).join(' ');
    out = flags.some((f) => f.includes('e')) ? decodeAnsiC(rest).value : rest;
  } else if (name === 'printf' && args.length > 0) {
    const [format, ...rest] = args;
    if (format === '%s' || format === '%s\\n') out = rest.join('');
    else if (!format!.replaceAll('%%', '').includes('%')) out = decodeAnsiC(format!).value.replaceAll('%%', '%');
  } else if (name === 'pwd' && args.length === 0) {
    const cwd = scope.cwd;
    if (cwd !== null && (cwd.startsWith('/') || cwd.startsWith('~'))) out = cwd;
  }
  return out?.replace(/\n+$/, '');
}

/** An unquoted word: `\x` → x, backslash-newline removed. */
function unescapeWord(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch !== '\\') { out += ch; continue; }
    const next = raw[i + 1];
    if (next === undefined) { out += ch; break; }
    i++;
    if (next === '\n') continue;
    out += next;
  }
  return out;
}

/** Inside "…": backslash escapes only $ ` " \ and newline. */
function unescapeDouble(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    const next = raw[i + 1];
    if (ch === '\\' && next !== undefined && '$`"\\\n'.includes(next)) {
      i++;
      if (next !== '\n') out += next;
    } else {
      out += ch;
    }
  }
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };

/**
 * Decodes the body of `$'…'`. `plain` is true when a numeric escape encodes a printable ASCII
 * character other than a quote or backslash: nobody needs `\x72` to write "r" except to hide it.
 */
export function decodeAnsiC(body: string): { value: string; plain: boolean } {
  let out = '';
  let plain = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\' || i + 1 >= body.length) { out += ch; continue; }
    const e = body[i + 1]!;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) { out += simple; i++; continue; }
    let digits = '';
    let radix = 16;
    let max = 0;
    let skip = 1;
    if (e === 'x') max = 2;
    else if (e === 'u') max = 4;
    else if (e === 'U') max = 8;
    else if (e >= '0' && e <= '7') { radix = 8; max = 3; skip = 0; }
    else if (e === 'c' && i + 2 < body.length) {
      out += String.fromCharCode(body.charCodeAt(i + 2) & 0x1f);
      i += 2;
      continue;
    }
    if (max === 0) { out += ch; continue; }
    let j = i + 1 + skip;
    while (digits.length < max && j < body.length && isDigit(body[j]!, radix)) digits += body[j++];
    if (digits === '') { out += ch; continue; }
    const code = Number.parseInt(digits, radix);
    const decoded = code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
    if (code > 0x20 && code < 0x7f && !`'"\\`.includes(decoded)) plain = true;
    out += decoded;
    i = j - 1;
  }
  return { value: out, plain };
}

function isDigit(ch: string, radix: number): boolean {
  return radix === 8 ? ch >= '0' && ch <= '7' : /[0-9a-fA-F]/.test(ch);
}

/** Most words one brace expansion may produce before the word counts as not literal. */
export const MAX_BRACE_WORDS = 64;

/**
 * Bash brace expansion of an unquoted word: `r{m,}` → rm r, `/{etc,usr}` → /etc /usr,
 * `a{1..3}` → a1 a2 a3. Undefined when nothing expands; null when the result would exceed
 * MAX_BRACE_WORDS (the caller then treats the word as not literal).
 */
export function expandBraces(value: string): string[] | null | undefined {
  if (!value.includes('{')) return undefined;
  const out = expand(value, 0);
  if (out === null) return null;
  return out.length === 1 && out[0] === value ? undefined : out;
}

function expand(value: string, from: number): string[] | null {
  for (let i = from; i < value.length; i++) {
    if (value[i] !== '{' || value[i - 1] === '$') continue;
    let depth = 0;
    let close = -1;
    const commas: number[] = [];
    for (let j = i + 1; j < value.length && close < 0; j++) {
      const c = value[j];
      if (c === '{') depth++;
      else if (c === '}') { if (depth === 0) close = j; else depth--; }
      else if (c === ',' && depth === 0) commas.push(j);
    }
    if (close < 0) return [value];
    const alternatives = commas.length > 0 ? splitAt(value, i + 1, close, commas) : sequence(value.slice(i + 1, close));
    if (alternatives === undefined) continue;
    if (alternatives === null) return null;
    const out: string[] = [];
    for (const alt of alternatives) {
      // The prefix has no expandable brace left; only the alternative and the suffix may.
      const next = expand(value.slice(0, i) + alt + value.slice(close + 1), i);
      if (next === null || out.length + next.length > MAX_BRACE_WORDS) return null;
      out.push(...next);
    }
    return out;
  }
  return [value];
}

function splitAt(value: string, start: number, end: number, commas: readonly number[]): string[] {
  const out: string[] = [];
  let pos = start;
  for (const c of commas) { out.push(value.slice(pos, c)); pos = c + 1; }
  out.push(value.slice(pos, end));
  return out;
}

/** `{1..5}`, `{10..1..2}`, `{a..e}`; undefined when the body is not a sequence, null when too long. */
function sequence(body: string): string[] | null | undefined {
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(body);
  const chr = /^([a-zA-Z])\.\.([a-zA-Z])$/.exec(body);
  if (!num && !chr) return undefined;
  const a = num ? Number(num[1]) : chr![1]!.charCodeAt(0);
  const b = num ? Number(num[2]) : chr![2]!.charCodeAt(0);
  const step = Math.abs(num?.[3] ? Number(num[3]) : 1) || 1;
  if (Math.abs(b - a) / step >= MAX_BRACE_WORDS) return null;
  const out: string[] = [];
  for (let v = a; a <= b ? v <= b : v >= b; v += a <= b ? step : -step) out.push(num ? String(v) : String.fromCharCode(v));
  return out;
}
