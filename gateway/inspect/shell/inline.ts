// Inline interpreter code (`python3 -c`, `perl -e`, `node -e`, `ruby -e`, `php -r`, awk
// programs): there is no parser for every language here, so a small lexer finds what matters to
// a shell inspector — calls that run a command (`os.system('…')`, `subprocess.run([…])`,
// `execSync('…')`, backticks, `qx{…}`, `%x(…)`), calls that delete a tree (`shutil.rmtree('/')`,
// `fs.rmSync`, `FileUtils.rm_rf`), and code evaluated from a non-literal. Literal commands are
// handed back to be judged as shell; anything computed at run time is reported as dynamic.
import type { Lang } from './interpreters.ts';

export type InlineItem =
  /** A command string a shell will run. */
  | { readonly kind: 'shell'; readonly text: string; readonly via: string }
  /** An argv run without a shell. */
  | { readonly kind: 'argv'; readonly argv: readonly string[]; readonly via: string }
  /** A recursive delete of a literal path. */
  | { readonly kind: 'delete'; readonly path: string; readonly recursive: boolean; readonly via: string }
  /** A command or code computed at run time. */
  | { readonly kind: 'dynamic'; readonly via: string };

type Token =
  | { readonly t: 'id'; readonly v: string }
  | { readonly t: 'str'; readonly v: string; readonly interpolated: boolean }
  /** A string the language runs as a shell command (backticks, qx, %x). */
  | { readonly t: 'exec'; readonly v: string; readonly interpolated: boolean }
  | { readonly t: 'p'; readonly v: string };

/** Functions that run a shell command or an argv, per language; `weak` ones are only judged with literal arguments. */
const EXEC: Record<Lang, { strong: readonly string[]; weak: readonly string[]; code: readonly string[] }> = {
  python: {
    strong: ['system', 'popen', 'getoutput', 'getstatusoutput', 'check_output', 'check_call', 'Popen', 'spawnl', 'spawnlp', 'spawnv', 'spawnvp', 'execl', 'execlp', 'execv', 'execvp', 'execve', 'execvpe'],
    weak: ['run', 'call'],
    code: ['exec', 'eval', 'compile'],
  },
  perl: { strong: ['system', 'exec'], weak: [], code: ['eval'] },
  ruby: { strong: ['system', 'exec', 'spawn', 'popen', 'popen2', 'popen3', 'capture2', 'capture2e', 'capture3'], weak: [], code: ['eval', 'instance_eval'] },
  // `exec` is weak in JavaScript: RegExp.prototype.exec shares the name.
  node: { strong: ['execSync', 'execFile', 'execFileSync', 'spawn', 'spawnSync'], weak: ['exec'], code: ['eval', 'Function'] },
  php: { strong: ['system', 'exec', 'shell_exec', 'passthru', 'popen', 'proc_open', 'pcntl_exec'], weak: [], code: ['eval'] },
  lua: { strong: ['execute', 'popen'], weak: [], code: ['loadstring', 'load', 'dofile'] },
  awk: { strong: ['system'], weak: [], code: [] },
  other: { strong: ['system'], weak: [], code: [] },
  shell: { strong: [], weak: [], code: [] },
};

const DELETE: Record<string, boolean> = {
  rmtree: true, removedirs: true, rmSync: true, rm_rf: true, rm_r: true, remove_dir: true, remove_entry: true, remove_tree: true, rmdirSync: true,
  remove: false, unlink: false, unlinkSync: false,
};

/** Scans inline code; `depth` bounds code-in-code (`exec("…")`) recursion. */
export function scanInline(code: string, lang: Lang, depth = 0): InlineItem[] {
  const tokens = lex(code, lang);
  const table = EXEC[lang];
  const out: InlineItem[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.t === 'exec') {
      out.push(tok.interpolated ? { kind: 'dynamic', via: 'backticks' } : { kind: 'shell', text: tok.v, via: 'backticks' });
      continue;
    }
    if (tok.t !== 'id') continue;
    const strong = table.strong.includes(tok.v);
    const weak = table.weak.includes(tok.v);
    const evaluates = table.code.includes(tok.v);
    const deletes = DELETE[tok.v];
    if (!strong && !weak && !evaluates && deletes === undefined) continue;
    const args = argsAfter(tokens, i + 1);
    if (!args) continue;
    const [first, second] = args;
    const literal = (a: Token[] | undefined) => (a && a.length === 1 && a[0]!.t === 'str' && !a[0]!.interpolated ? a[0]!.v : undefined);
    const list = (a: Token[] | undefined) => listOf(a);
    const via = tok.v;
    if (deletes !== undefined) {
      const path = literal(first);
      if (path !== undefined) out.push({ kind: 'delete', path, recursive: deletes, via });
    } else if (evaluates) {
      const inner = literal(first);
      if (inner !== undefined && depth < 4) out.push(...scanInline(inner, lang, depth + 1));
      else if (inner === undefined && first) out.push({ kind: 'dynamic', via });
    } else {
      const text = literal(first);
      const items = list(first);
      const rest = list(second);
      const allStrings = args.length > 1 && args.every((a) => literal(a) !== undefined);
      if (items) out.push({ kind: 'argv', argv: items, via });
      else if (text !== undefined && rest) out.push({ kind: 'argv', argv: [text, ...rest], via });
      else if (text !== undefined && allStrings && (lang === 'perl' || lang === 'ruby')) out.push({ kind: 'argv', argv: args.map((a) => literal(a)!), via });
      else if (text !== undefined) out.push({ kind: 'shell', text, via });
      else if (strong && first) out.push({ kind: 'dynamic', via });
    }
  }
  return out;
}

/** Arguments of a call: `f(a, b)` or, for perl/ruby style, `f a, b` up to `;` or a newline. Each is its tokens. */
function argsAfter(tokens: readonly Token[], from: number): Token[][] | undefined {
  const open = tokens[from];
  if (!open) return undefined;
  const parens = open.t === 'p' && open.v === '(';
  if (!parens && open.t !== 'str' && !(open.t === 'p' && open.v === '[')) return undefined;
  const args: Token[][] = [[]];
  let depth = 0;
  for (let i = parens ? from + 1 : from; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.t === 'p') {
      if ('([{'.includes(tok.v)) depth++;
      else if (')]}'.includes(tok.v)) {
        if (depth === 0) break;
        depth--;
      } else if (tok.v === '\n') {
        if (!parens && depth === 0) break;
        continue;
      } else if (depth === 0 && tok.v === ';') break;
      else if (depth === 0 && tok.v === ',') { args.push([]); continue; }
    }
    args[args.length - 1]!.push(tok);
  }
  return args[0]!.length > 0 ? args : undefined;
}

/** `['rm', '-rf', '/']` (or perl's `qw`-free `('rm', …)`) as strings, if every item is a literal. */
function listOf(arg: readonly Token[] | undefined): string[] | undefined {
  if (!arg || arg.length < 2) return undefined;
  const open = arg[0]!;
  const close = arg[arg.length - 1]!;
  if (open.t !== 'p' || close.t !== 'p' || !((open.v === '[' && close.v === ']') || (open.v === '(' && close.v === ')'))) return undefined;
  const items: string[] = [];
  for (const tok of arg.slice(1, -1)) {
    if (tok.t === 'p' && tok.v === ',') continue;
    if (tok.t !== 'str' || tok.interpolated) return undefined;
    items.push(tok.v);
  }
  return items;
}

const PY_PREFIX = /^(?:[rRbBuUfF]|[rR][bBfF]|[bBfF][rR])$/;

function lex(code: string, lang: Lang): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = code.length;
  const hashComments = lang !== 'node';
  const slashComments = lang === 'node' || lang === 'php';
  while (i < n) {
    const ch = code[i]!;
    if (ch === '\n') { out.push({ t: 'p', v: '\n' }); i++; continue; }
    if (/\s/.test(ch)) { i++; continue; }
    if ((hashComments && ch === '#' && !(lang === 'ruby' && code[i + 1] === '{')) || (slashComments && ch === '/' && code[i + 1] === '/')) {
      while (i < n && code[i] !== '\n') i++;
      continue;
    }
    if (slashComments && ch === '/' && code[i + 1] === '*') {
      const end = code.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (/[A-Za-z_$]/.test(ch)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(code[j]!)) j++;
      const word = code.slice(i, j);
      const next = code[j];
      if (lang === 'python' && PY_PREFIX.test(word) && (next === '"' || next === "'")) {
        const s = readString(code, j, lang, /[rR]/.test(word));
        out.push({ t: 'str', v: s.value, interpolated: /[fF]/.test(word) && s.value.includes('{') });
        i = s.end;
        continue;
      }
      const quoteOp = quoteLike(word, next, lang);
      if (quoteOp && next !== undefined) {
        const s = readDelimited(code, j);
        const interpolated = quoteOp !== 'q' && /[$@]|#\{/.test(s.value);
        out.push(quoteOp === 'x' ? { t: 'exec', v: s.value, interpolated } : { t: 'str', v: s.value, interpolated });
        i = s.end;
        continue;
      }
      out.push({ t: 'id', v: word });
      i = j;
      continue;
    }
    if (ch === '%' && lang === 'ruby' && /[xqQw]/.test(code[i + 1] ?? '') && /[([{<|!/]/.test(code[i + 2] ?? '')) {
      const kind = code[i + 1]!;
      const s = readDelimited(code, i + 2);
      const interpolated = kind !== 'q' && /#\{/.test(s.value);
      out.push(kind === 'x' ? { t: 'exec', v: s.value, interpolated } : { t: 'str', v: s.value, interpolated });
      i = s.end;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      const s = readString(code, i, lang, false);
      const interpolated = isInterpolated(s.value, ch, lang);
      if (ch === '`' && (lang === 'perl' || lang === 'ruby' || lang === 'php')) out.push({ t: 'exec', v: s.value, interpolated });
      else out.push({ t: 'str', v: s.value, interpolated });
      i = s.end;
      continue;
    }
    out.push({ t: 'p', v: ch });
    i++;
  }
  return out;
}

/** perl's q/qq/qx/qw operators; 'q' is literal, 's' interpolating, 'x' runs a command. */
function quoteLike(word: string, next: string | undefined, lang: Lang): 'q' | 's' | 'x' | undefined {
  if (lang !== 'perl' || next === undefined || !/[([{<|!/#]/.test(next)) return undefined;
  if (word === 'q' || word === 'qw') return 'q';
  if (word === 'qq') return 's';
  if (word === 'qx') return 'x';
  return undefined;
}

function isInterpolated(value: string, quote: string, lang: Lang): boolean {
  if (quote === "'") return false;
  if (lang === 'node') return quote === '`' && value.includes('${');
  if (lang === 'perl' || lang === 'php') return /[$@]/.test(value);
  if (lang === 'ruby') return value.includes('#{');
  return false;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v', e: '\x1b' };

/** A quoted string (triple quotes in python), with the common escapes decoded unless raw. */
function readString(code: string, at: number, lang: Lang, raw: boolean): { value: string; end: number } {
  const q = code[at]!;
  const triple = lang === 'python' && code.startsWith(q.repeat(3), at);
  const close = triple ? q.repeat(3) : q;
  let i = at + close.length;
  let value = '';
  // Single quotes in perl, ruby and php decode only \\ and \'.
  const literalish = raw || (q === "'" && (lang === 'perl' || lang === 'ruby' || lang === 'php'));
  while (i < code.length && !code.startsWith(close, i)) {
    const ch = code[i]!;
    if (ch === '\\' && i + 1 < code.length) {
      const e = code[i + 1]!;
      if (literalish) {
        value += e === q || e === '\\' ? (raw ? ch + e : e) : ch + e;
        i += 2;
        continue;
      }
      const hex = e === 'x' ? code.slice(i + 2, i + 4) : e === 'u' ? code.slice(i + 2, i + 6) : '';
      if (hex && /^[0-9a-fA-F]+$/.test(hex) && hex.length === (e === 'x' ? 2 : 4)) {
        value += String.fromCharCode(Number.parseInt(hex, 16));
        i += 2 + hex.length;
        continue;
      }
      value += ESCAPES[e] ?? e;
      i += 2;
      continue;
    }
    value += ch;
    i++;
  }
  return { value, end: Math.min(code.length, i + close.length) };
}

const PAIRS: Record<string, string> = { '(': ')', '[': ']', '{': '}', '<': '>' };

/** A perl/ruby quote-like body: bracket delimiters nest, others end at the same character. */
function readDelimited(code: string, at: number): { value: string; end: number } {
  const open = code[at]!;
  const close = PAIRS[open] ?? open;
  let depth = 0;
  let i = at + 1;
  for (; i < code.length; i++) {
    const ch = code[i]!;
    if (ch === '\\') { i++; continue; }
    if (ch === open && close !== open) depth++;
    else if (ch === close) {
      if (depth === 0) break;
      depth--;
    }
  }
  return { value: code.slice(at + 1, i), end: Math.min(code.length, i + 1) };
}
