// What the shell rules work on: words after normalisation, simple commands with where their
// standard input comes from, and the "level" (a piece of shell text: the command itself, or a
// string found inside it, such as the argument of `bash -c`) each command was found in.
import type { Finding, Severity, Span } from '../types.ts';
import type { SNode } from './parser.ts';
import type { Cwd, Scope } from './scope.ts';

/** Stands for text only known when the command runs ($VAR, $(cmd), <(cmd), …). A private-use code point. */
export const UNKNOWN = '\uE000';
/** Marks where bash splits an unquoted word on `$IFS`. */
export const SPLIT = '\uE001';
/** Stands for the list of paths xargs reads from standard input (paths.ts, wrappers.ts). */
export const STDIN_ITEMS = '\uE002';
/** Open, separate and close a set of alternative values: a loop variable's values (scope.ts). */
export const ALT_OPEN = '\uE003';
export const ALT_SEP = '\uE004';
export const ALT_CLOSE = '\uE005';

/** One shell word after quote removal, escape decoding and the expansions that are known. */
export interface Word {
  /** Normalised value: quotes removed, escapes decoded, `$HOME` → `~`, UNKNOWN where run-time text goes. */
  readonly value: string;
  /** Span in the level's text. */
  readonly start: number;
  readonly end: number;
  /** Holds an expansion or substitution that cannot be resolved here. */
  readonly dynamic: boolean;
  /** Holds a command substitution (`$(…)` or backticks). */
  readonly substitution: boolean;
  /** The whole word is a process substitution. */
  readonly process?: 'in' | 'out';
  /** Quote or escape characters were removed from it. */
  readonly quoted: boolean;
  /** The word's node is a single quoted string (`'…'`, `"…"` without escapes): quoting, not splitting. */
  readonly wholeQuoted: boolean;
  /** Obfuscation seen while normalising (ANSI-C escapes of plain characters, $IFS splitting). */
  readonly tricks: readonly string[];
  /** Part of it came from a variable or a command substitution, even if its value is known (scope.ts). */
  readonly computed?: boolean;
}

/** Where a command's standard input comes from; `level` is the level whose offsets the span uses. */
export type Stdin =
  | { readonly kind: 'inherit' }
  /** Output of earlier pipeline stages: the commands of the level inside [start, end). */
  | { readonly kind: 'pipe'; readonly level: Level; readonly start: number; readonly end: number }
  /** A here-string or here-document; `word` carries its normalised text. */
  | { readonly kind: 'text'; readonly level: Level; readonly word: Word }
  | { readonly kind: 'process'; readonly level: Level; readonly word: Word }
  | { readonly kind: 'file'; readonly level: Level; readonly word: Word };

/** A simple command, possibly produced by unwrapping another (`sudo rm …` → `rm …`). */
export interface Cmd {
  /** argv[0] is the command name. */
  readonly argv: readonly Word[];
  /** Span of the whole command in the level's text. */
  readonly start: number;
  readonly end: number;
  readonly stdin: Stdin;
  readonly level: Level;
  /** Wrappers unwrapped to reach this command, outermost first (`sudo`, `bash -c`, …). */
  readonly via: readonly string[];
  /** The syntax node, for commands read from the tree (absent for synthesised ones). */
  readonly node?: SNode;
  /** The working directory it runs in (scope.ts). */
  readonly cwd: Cwd;
  /** The shell state when it runs, rebuilt on demand: what code it starts (`bash -c`, `eval`) inherits. */
  readonly env: () => Scope;
}

/** A piece of shell text being inspected, and how its offsets map back to the original command. */
export interface Level {
  readonly text: string;
  /** Maps a span of `text` to a span of the original command. */
  readonly toOuter: (start: number, end: number) => Span;
  /** Nesting depth: 0 for the command itself. */
  readonly depth: number;
  readonly via: readonly string[];
  /** Variables, positional parameters, working directory and downloads as the script runs (scope.ts). */
  readonly scope: Scope;
  /** Standard input of the level's top-level commands (what `bash -c` itself reads). */
  readonly stdin: Stdin;
  /** Every simple command read from this level's tree, in source order. */
  readonly cmds: Cmd[];
}

/** Limits of one inspection; defaults in index.ts. */
export interface Limits {
  /** Deepest nesting of wrappers and code strings. */
  readonly maxDepth: number;
  /** Most nested texts parsed per inspection. */
  readonly maxParses: number;
  /** Most commands judged per inspection. */
  readonly maxCommands: number;
  /** Most findings returned per inspection. */
  readonly maxFindings: number;
}

/** State of one `inspectShell` call. */
export interface Ctx {
  readonly path: string;
  readonly limits: Limits;
  /** `performance.now()` value after which parsing and walking stop. */
  readonly deadline: number;
  readonly findings: Finding[];
  parses: number;
  commands: number;
  /** Kinds of inspect.limit already reported, so each is reported once. */
  readonly limitsHit: Set<string>;
}

/** Adds a finding, mapping the span to the original command; past the cap, one `inspect.limit`. */
export function report(ctx: Ctx, level: Level, kind: string, severity: Severity, start: number, end: number, detail: string): void {
  if (ctx.findings.length >= ctx.limits.maxFindings) {
    limit(ctx, 'findings', `more than ${ctx.limits.maxFindings} findings; the rest were not reported`);
    return;
  }
  ctx.findings.push({ kind, path: ctx.path, span: level.toOuter(start, end), severity, detail });
}

/** Reports an inspection limit once per reason (not counted against the findings cap). */
export function limit(ctx: Ctx, reason: string, detail: string, span?: Span): void {
  if (ctx.limitsHit.has(reason)) return;
  ctx.limitsHit.add(reason);
  ctx.findings.push({ kind: 'inspect.limit', path: ctx.path, ...(span ? { span } : {}), severity: 'high', detail });
}

/** " (after unwrapping sudo, bash -c)" or "". */
export function viaText(via: readonly string[]): string {
  return via.length === 0 ? '' : ` (after unwrapping ${via.join(', ')})`;
}

/** A literal word over the given span (used when unwrapping builds argv from other text). */
export function literalWord(value: string, start: number, end: number): Word {
  return { value, start, end, dynamic: false, substitution: false, quoted: false, wholeQuoted: false, tricks: [] };
}

/** The value shown in a detail: UNKNOWN as `…`, cut to 60 characters. */
export function show(value: string): string {
  const text = value.replaceAll(UNKNOWN, '…').replaceAll(SPLIT, ' ').replaceAll(ALT_OPEN, '{').replaceAll(ALT_SEP, ',').replaceAll(ALT_CLOSE, '}').replaceAll(STDIN_ITEMS, '(stdin)');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Describes run-time text for a detail without quoting it (it could hold a token): a plain
 * variable is named (`$CMD`), anything else is described by what it is.
 */
export function describeDynamic(raw: string): string {
  if (/^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])$/.test(raw)) return raw;
  if (raw.includes('$(') || raw.includes('`')) return 'a command substitution';
  if (raw.includes('<(') || raw.includes('>(')) return 'a process substitution';
  return 'an expansion';
}
