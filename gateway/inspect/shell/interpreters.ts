// Shells and language interpreters: where each one takes its program from. `bash -c CODE`
// and `python3 -c CODE` carry code inline (inspected); with no program operand, or `-`, or
// `/dev/stdin`, they read it from standard input (so a pipe into them is a pipe into an
// interpreter); a process substitution as the program (`bash <(curl …)`) is the same thing.
import { SPLIT, type Cmd, type Word } from './model.ts';
import { parseOptions } from './options.ts';

export type Lang = 'shell' | 'python' | 'perl' | 'ruby' | 'node' | 'php' | 'lua' | 'awk' | 'other';

export type Program =
  /** Inline code; for shells, `positional` holds $0, $1, … given after the code. */
  | { readonly mode: 'code'; readonly words: readonly Word[]; readonly positional?: ReadonlyMap<string, Word> }
  | { readonly mode: 'stdin' }
  | { readonly mode: 'script'; readonly word: Word }
  /** Neither reads a program nor runs code given here (`python3 -m http.server`, `node --version`). */
  | { readonly mode: 'none' };

export interface Interpreter {
  readonly lang: Lang;
  readonly program: Program;
}

/** Shells by base name: each runs `-c CODE`, a script file or standard input (also network.ts). */
export const SHELLS: ReadonlySet<string> = new Set(['sh', 'bash', 'rbash', 'dash', 'zsh', 'ksh', 'mksh', 'pdksh', 'ash', 'yash', 'posh', 'fish', 'csh', 'tcsh']);
const STDIN_NAMES = new Set(['-', '/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

/** How `name` (a base name) takes its program, or undefined when it is not an interpreter. */
export function interpreterOf(cmd: Cmd, name: string): Interpreter | undefined {
  const args = cmd.argv.slice(1);
  if (SHELLS.has(name)) return { lang: 'shell', program: shellProgram(args) };
  if (name === 'source' || name === '.') {
    const file = args[0];
    return { lang: 'shell', program: file ? scriptOrStdin(file) : { mode: 'none' } };
  }
  if (/^(python[0-9.]*|pypy[0-9.]*)$/.test(name)) return { lang: 'python', program: pythonProgram(args) };
  if (name === 'perl') return { lang: 'perl', program: clusterProgram(args, PERL) };
  if (name === 'ruby') return { lang: 'ruby', program: clusterProgram(args, RUBY) };
  if (name === 'node' || name === 'nodejs' || name === 'bun') return { lang: 'node', program: nodeProgram(args) };
  if (name === 'deno') return { lang: 'node', program: args[0]?.value === 'eval' && args[1] ? { mode: 'code', words: [args[1]] } : { mode: 'none' } };
  if (name === 'php') return { lang: 'php', program: flagProgram(args, 'r', 'fcdzt') };
  if (name === 'lua' || name === 'luajit') return { lang: 'lua', program: flagProgram(args, 'e', 'l') };
  if (name === 'rscript' || name === 'osascript') return { lang: 'other', program: flagProgram(args, 'e', '') };
  if (/^[gmn]?awk$/.test(name)) return { lang: 'awk', program: awkProgram(args) };
  return undefined;
}

function scriptOrStdin(word: Word): Program {
  return STDIN_NAMES.has(word.value) ? { mode: 'stdin' } : { mode: 'script', word };
}

function shellProgram(args: readonly Word[]): Program {
  // `+o name` / `+O name` set options the other way round; the grammar of -o applies.
  const plusless = args.map((w) => (w.value === '+o' || w.value === '+O' ? { ...w, value: '-o' } : w));
  const p = parseOptions(plusless, { short: 'oO', long: ['rcfile', 'init-file'], stop: true });
  if (p.flags.has('c')) {
    const [code, ...rest] = p.operands;
    if (!code) return { mode: 'none' };
    const positional = new Map<string, Word>(rest.map((w, i) => [String(i), w] as const));
    // "$@" and $* are $1 … $n as separate words: joined by the split marker the argv builder honours.
    const params = rest.slice(1);
    if (params.length > 0) {
      const all: Word = { ...params[0]!, value: params.map((w) => w.value).join(SPLIT), end: params[params.length - 1]!.end, dynamic: params.some((w) => w.dynamic) };
      positional.set('@', all).set('*', all);
    }
    return { mode: 'code', words: [code], positional };
  }
  if (p.flags.has('s') || p.operands.length === 0) return p.flags.has('version') || p.flags.has('help') ? { mode: 'none' } : { mode: 'stdin' };
  return scriptOrStdin(p.operands[0]!);
}

function pythonProgram(args: readonly Word[]): Program {
  const p = parseOptions(args, { short: 'cmWX', stop: true });
  const code = p.values.get('c');
  if (code) return { mode: 'code', words: [code] };
  if (p.values.has('m') || p.flags.has('V') || p.flags.has('version') || p.flags.has('h') || p.flags.has('help')) return { mode: 'none' };
  const first = p.operands[0];
  return first ? scriptOrStdin(first) : { mode: 'stdin' };
}

interface ClusterSpec {
  /** Letters whose value is the code (`-e CODE`, `-eCODE`). */
  readonly code: string;
  /** Letters taking a value attached or as the next word. */
  readonly next: string;
  /** Letters taking the rest of the cluster, if any (`-i.bak`, `-MFile::Path`). */
  readonly rest: string;
  /** Letters taking trailing digits only (`-l`, `-0777`), so `-lne` is l, n, e. */
  readonly digits: string;
}

const PERL: ClusterSpec = { code: 'eE', next: '', rest: 'iMmxdIDV', digits: 'l0C' };
const RUBY: ClusterSpec = { code: 'e', next: 'rICEF', rest: 'xTWK0', digits: '' };

/** perl and ruby: `-e CODE` may end a cluster (`-lne CODE`) and may repeat (lines joined by newlines). */
function clusterProgram(args: readonly Word[], spec: ClusterSpec): Program {
  const code: Word[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const word = args[i]!;
    const v = word.value;
    if (v === '--') { i++; break; }
    if (!v.startsWith('-') || v === '-') break;
    for (let j = 1; j < v.length; j++) {
      const ch = v[j]!;
      if (spec.code.includes(ch) || spec.next.includes(ch)) {
        const value = j + 1 < v.length ? { ...word, value: v.slice(j + 1) } : args[++i];
        if (value && spec.code.includes(ch)) code.push(value);
        break;
      }
      if (spec.rest.includes(ch)) break;
      if (spec.digits.includes(ch)) while (j + 1 < v.length && /[0-9a-fA-FxX]/.test(v[j + 1]!)) j++;
    }
  }
  if (code.length > 0) return { mode: 'code', words: code.length === 1 ? code : [joinLines(code)] };
  if (args.some((w) => w.value === '-v' || w.value === '--version' || w.value === '-h' || w.value === '--help')) return { mode: 'none' };
  const first = args[i];
  return first ? scriptOrStdin(first) : { mode: 'stdin' };
}

function joinLines(words: readonly Word[]): Word {
  const first = words[0]!;
  return { ...first, value: words.map((w) => w.value).join('\n'), end: words[words.length - 1]!.end, dynamic: words.some((w) => w.dynamic) };
}

function nodeProgram(args: readonly Word[]): Program {
  const p = parseOptions(args, { short: 'eprC', long: ['eval', 'print', 'require', 'import', 'loader', 'conditions', 'input-type'], stop: true });
  const code = p.values.get('e') ?? p.values.get('eval') ?? p.values.get('p') ?? p.values.get('print');
  if (code) return { mode: 'code', words: [code] };
  if (p.flags.has('v') || p.flags.has('version') || p.flags.has('h') || p.flags.has('help')) return { mode: 'none' };
  const first = p.operands[0];
  if (!first) return { mode: 'stdin' };
  return first.value === 'run' || first.value === 'test' || first.value === 'install' || first.value === 'x' ? { mode: 'none' } : scriptOrStdin(first);
}

/** `php -r CODE`, `lua -e CODE`: `codeFlag` takes the code, `valued` letters take other values. */
function flagProgram(args: readonly Word[], codeFlag: string, valued: string): Program {
  const p = parseOptions(args, { short: codeFlag + valued, stop: true });
  const code = p.values.get(codeFlag);
  if (code) return { mode: 'code', words: [code] };
  const file = p.values.get('f');
  if (file) return scriptOrStdin(file);
  if (p.flags.has('v') || p.flags.has('version') || p.flags.has('h') || p.flags.has('help')) return { mode: 'none' };
  const first = p.operands[0];
  return first ? scriptOrStdin(first) : { mode: 'stdin' };
}

/** awk's program is its first operand unless -f names a file; its data comes from files or stdin. */
function awkProgram(args: readonly Word[]): Program {
  const p = parseOptions(args, { short: 'Fvf', long: ['field-separator', 'assign', 'file'], stop: true });
  const file = p.values.get('f') ?? p.values.get('file');
  if (file) return { mode: 'script', word: file };
  const code = p.operands[0];
  return code ? { mode: 'code', words: [code] } : { mode: 'none' };
}
