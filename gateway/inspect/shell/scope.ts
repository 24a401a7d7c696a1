// The small symbolic evaluation that lets the rules see what a word holds when the command runs:
// shell variables assigned earlier in the same script (`d=/; rm -rf $d`), loop variables (`for f
// in /*`), variables `read` fills from a pipe, the working directory after `cd`/`pushd`, and
// files downloaded earlier (`curl -o x.sh …`). It follows the script in source order and keeps
// the last value assigned; it does not follow control flow, so `[ -d /x ] && d=/x || d=/` leaves
// `d=/` (the later branch), which errs towards judging the more dangerous value.
//
// A value that cannot be known here stays UNKNOWN (model.ts). A loop variable holds several
// values at once: they are written between ALT markers (model.ts) and each word that uses it expands to one
// word per value (`rm -rf "$f"` over `/*` and `a` judges `rm -rf /* a`), bounded like brace
// expansion.
import { ALT_CLOSE, ALT_OPEN, ALT_SEP, SPLIT, UNKNOWN, type Word } from './model.ts';

/** Most words one word may expand to through alternatives before it counts as unknown. */
const MAX_ALTERNATIVES = 64;
/** A whole set of alternatives, as written by `alternativesValue`. */
const ALT_SET = new RegExp(`${ALT_OPEN}[^${ALT_CLOSE}]*${ALT_CLOSE}`, 'g');

/**
 * Where relative paths point. A string is a directory (absolute, `~…`, or relative to where the
 * shell started, `''` being that place itself); null is a directory only known at run time.
 */
export type Cwd = string | null;

/** One change to the variables, in the order the script makes them (so a past state can be rebuilt). */
type Change =
  | { readonly name: string; readonly word: Word | undefined }
  | { readonly export: string }
  | { readonly reset: ReadonlyMap<string, Word> };

/** The shell state of one level (see the header). Nested levels get a child scope. */
export interface Scope {
  /** Known variables, positional parameters included (`1`, `@`). Change them with setVar/exportVar/resetVars. */
  readonly vars: Map<string, Word>;
  /** Names marked for export: what a child shell (`bash -c`) sees. */
  readonly exported: Set<string>;
  cwd: Cwd;
  /** Files downloaded so far (normalised path → the tool that fetched it); shared by every level. */
  readonly downloads: Map<string, string>;
  /** The variables the level started with, and every change since: `stateAt` rebuilds a past state from them. */
  readonly initial: ReadonlyMap<string, Word>;
  readonly initialExported: ReadonlySet<string>;
  readonly log: Change[];
}

export function newScope(): Scope {
  return { vars: new Map(), exported: new Set(), cwd: '', downloads: new Map(), initial: new Map(), initialExported: new Set(), log: [] };
}

/** Sets a variable; undefined removes it (it is then unknown again, not empty). */
export function setVar(scope: Scope, name: string, word: Word | undefined): void {
  if (word === undefined) scope.vars.delete(name);
  else scope.vars.set(name, word);
  scope.log.push({ name, word });
}

export function exportVar(scope: Scope, name: string): void {
  scope.exported.add(name);
  scope.log.push({ export: name });
}

/** Puts the variables back as they were (the end of a subshell). */
export function resetVars(scope: Scope, saved: ReadonlyMap<string, Word>): void {
  scope.vars.clear();
  for (const [k, v] of saved) scope.vars.set(k, v);
  scope.log.push({ reset: saved });
}

/**
 * The state as it is now, rebuilt only if asked for (code a command starts needs it; most
 * commands start none). Copying the variables for every command instead costs O(variables ×
 * commands), which a long script of assignments turns into seconds.
 */
export function stateAt(scope: Scope): () => Scope {
  const at = scope.log.length;
  const cwd = scope.cwd;
  let state: Scope | undefined;
  return () => {
    if (state) return state;
    const vars = new Map(scope.initial);
    const exported = new Set(scope.initialExported);
    for (const change of scope.log.slice(0, at)) {
      if ('reset' in change) { vars.clear(); for (const [k, v] of change.reset) vars.set(k, v); }
      else if ('export' in change) exported.add(change.export);
      else if (change.word === undefined) vars.delete(change.name);
      else vars.set(change.name, change.word);
    }
    state = { vars, exported, cwd, downloads: scope.downloads, initial: vars, initialExported: exported, log: [] };
    return state;
  };
}

/**
 * The scope code run by a command of `outer` starts with: the same shell for eval-like code
 * (`same`), else a child shell that sees exported variables and the working directory. Both
 * see the positional parameters given (`sh -c CODE $0 $1 …`).
 */
export function childScope(outer: Scope, same: boolean, positional?: ReadonlyMap<string, Word>): Scope {
  const vars = new Map<string, Word>();
  for (const [name, value] of outer.vars) if (same || outer.exported.has(name)) vars.set(name, value);
  for (const [name, value] of positional ?? []) vars.set(name, value);
  const exported = new Set(outer.exported);
  return { vars, exported, cwd: outer.cwd, downloads: outer.downloads, initial: new Map(vars), initialExported: new Set(exported), log: [] };
}

/** A value made of several alternatives, each word's alternatives flattened first. */
export function alternativesValue(words: readonly Word[]): Word | undefined {
  const values = [...new Set(words.flatMap(expandAlternatives).map((w) => w.value))];
  const first = words[0];
  if (!first) return undefined;
  const dynamic = words.some((w) => w.dynamic);
  if (values.length > MAX_ALTERNATIVES) return { ...first, value: UNKNOWN, dynamic: true };
  const value = values.length === 1 ? values[0]! : `${ALT_OPEN}${values.join(ALT_SEP)}${ALT_CLOSE}`;
  return { ...first, value, dynamic, end: words[words.length - 1]!.end };
}

/** One word per combination of the alternatives a word holds (the word itself when it holds none). */
export function expandAlternatives(word: Word): Word[] {
  if (!word.value.includes(ALT_OPEN)) return [word];
  let values = [''];
  const text = word.value;
  let pos = 0;
  while (pos < text.length) {
    const open = text.indexOf(ALT_OPEN, pos);
    const close = open < 0 ? -1 : text.indexOf(ALT_CLOSE, open);
    if (open < 0 || close < 0) {
      values = values.map((v) => v + text.slice(pos));
      break;
    }
    const prefix = text.slice(pos, open);
    const options = text.slice(open + 1, close).split(ALT_SEP);
    // Too many combinations: each set of alternatives becomes unknown, the literal parts stay (`/$a$b` is still under /).
    if (values.length * options.length > MAX_ALTERNATIVES) return [{ ...word, value: text.replace(ALT_SET, UNKNOWN), dynamic: true }];
    values = values.flatMap((v) => options.map((o) => v + prefix + o));
    pos = close + 1;
  }
  return values.map((value) => ({ ...word, value }));
}

/** Joins a working directory and a path operand as bash would resolve it (lexically). */
export function resolveIn(cwd: Cwd, path: string): string | null {
  if (path.startsWith('/') || path.startsWith('~') || path.startsWith(UNKNOWN)) return path;
  if (cwd === null) return null;
  if (cwd === '') return path;
  return `${cwd.replace(/\/+$/, '')}/${path}`;
}

/** A path normalised for comparing downloaded files: cwd joined, `.` and empty parts dropped. */
export function normalisePath(cwd: Cwd, path: string): string | undefined {
  if (path.includes(UNKNOWN) || path.includes(SPLIT) || path.includes(ALT_OPEN)) return undefined;
  const joined = resolveIn(cwd, path);
  if (joined === null) return undefined;
  const absolute = joined.startsWith('/');
  const out: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else out.push(part);
  }
  return `${absolute ? '/' : ''}${out.join('/')}`;
}

/** `cd`/`pushd` to `target` from `cwd`: the new directory (`cd` alone and `cd ~` go home). */
export function changeDir(cwd: Cwd, target: Word | undefined): Cwd {
  if (!target) return '~';
  if (target.dynamic || target.value === '-' || target.value.includes(ALT_OPEN)) return null;
  return resolveIn(cwd, target.value);
}
