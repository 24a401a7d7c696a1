// The shell inspector: a command string in, findings out (gateway/inspect/types.ts).
//
//   1. init        initShellInspector() loads web-tree-sitter and tree-sitter-bash's WASM once
//   2. limits      over SHELL_LIMITS.maxLength → inspect.limit, nothing parsed (the parser's
//                  cancel hook is not consulted inside one long token)
//   3. encoding    lone surrogates, U+FFFD (bytes that were not UTF-8) → shell.unparsed;
//                  NUL and other control, bidi or invisible characters → shell.obfuscation
//   4. judge       parse, normalise, unwrap, apply the rules (judge.ts), within a time budget
//
// Never throws: misuse, an uninitialised parser or an internal failure is an `inspect.error`
// finding, so the policy engine fails closed.
import type { Finding } from '../types.ts';
import { inspectLevel, judgeArgv } from './judge.ts';
import { literalWord, type Ctx, type Level, type Limits, type Word } from './model.ts';
import { bashLoaded, loadBash } from './parser.ts';
import { newScope } from './scope.ts';

export interface ShellInspectorLimits extends Limits {
  /** Longest command inspected, in UTF-16 code units. */
  readonly maxLength: number;
  /** Wall-clock budget of one inspection, in milliseconds (parsing is cancelled past it). */
  readonly timeBudgetMs: number;
}

/** The limits every inspection runs under; exceeding one yields an `inspect.limit` finding. */
export const SHELL_LIMITS: ShellInspectorLimits = Object.freeze({
  // The densest 32 Ki-character input (`ls;ls;…`, 43,000 nodes) parses and is read in ~150 ms
  // on one core; an agent's commands are far shorter. Heredoc bodies count towards it.
  maxLength: 32_768,
  timeBudgetMs: 500,
  maxDepth: 8,
  maxParses: 64,
  maxCommands: 2_000,
  maxFindings: 200,
});

export interface ShellInspectOptions {
  /** JSONPath of the inspected value, copied into every finding. Default `$`. */
  readonly path?: string;
  /** Tighter or looser limits than SHELL_LIMITS (tests, tuning). Default SHELL_LIMITS. */
  readonly limits?: Partial<ShellInspectorLimits>;
}

/** Loads the bash grammar (WASM) once; later calls resolve at once. Rejects if the WASM cannot be loaded. */
export async function initShellInspector(): Promise<void> {
  await loadBash();
}

/** Inspects one shell command line. Synchronous after `initShellInspector()`; never throws. */
export function inspectShell(command: string, options: ShellInspectOptions = {}): Finding[] {
  const path = typeof options?.path === 'string' ? options.path : '$';
  const error = (detail: string): Finding[] => [{ kind: 'inspect.error', path, severity: 'high', detail }];
  try {
    if (typeof command !== 'string') return error(`the shell inspector was given a ${typeof command}, not a string`);
    if (!bashLoaded()) return error('the shell inspector is not initialised (initShellInspector() was not awaited); treated as unparsed');
    const limits: ShellInspectorLimits = options?.limits ? { ...SHELL_LIMITS, ...options.limits } : SHELL_LIMITS;
    if (command.length > limits.maxLength) {
      return [{ kind: 'inspect.limit', path, span: { start: 0, end: command.length }, severity: 'high', detail: `the command is ${command.length} characters long; the limit is ${limits.maxLength}, so it was not inspected` }];
    }
    const ctx: Ctx = {
      path, limits, deadline: performance.now() + limits.timeBudgetMs,
      findings: [], parses: 0, commands: 0, limitsHit: new Set(),
    };
    encoding(ctx, command);
    const level: Level = {
      text: command, toOuter: (start, end) => ({ start, end }), depth: 0, via: [],
      scope: newScope(), stdin: { kind: 'inherit' }, cmds: [],
    };
    inspectLevel(ctx, level);
    return ctx.findings;
  } catch (err) {
    // The detail names the failure's type only: a message could quote the command.
    return error(`the shell inspector failed (${err instanceof Error ? err.name : typeof err}); treated as unparsed`);
  }
}

/**
 * Inspects a command given as an argv (`["rm", "-rf", "/"]`), as a program would run it with
 * execve: each element is one word, taken literally — never re-split, re-quoted or expanded
 * (`$HOME` in an element is those five characters). The command is judged like a parsed one:
 * wrappers, interpreters (`["bash", "-c", CODE]` parses CODE) and rules. Spans index into the
 * elements joined by single spaces. Same limits and guarantees as inspectShell; never throws.
 */
export function inspectArgv(argv: readonly string[], options: ShellInspectOptions = {}): Finding[] {
  const path = typeof options?.path === 'string' ? options.path : '$';
  const error = (detail: string): Finding[] => [{ kind: 'inspect.error', path, severity: 'high', detail }];
  try {
    if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string')) return error('the shell inspector was given an argv that is not an array of strings');
    if (argv.length === 0 || argv[0] === '') return [{ kind: 'shell.unparsed', path, severity: 'high', detail: 'the argv has no command name' }];
    if (!bashLoaded()) return error('the shell inspector is not initialised (initShellInspector() was not awaited); treated as unparsed');
    const limits: ShellInspectorLimits = options?.limits ? { ...SHELL_LIMITS, ...options.limits } : SHELL_LIMITS;
    const text = argv.join(' ');
    if (text.length > limits.maxLength) {
      return [{ kind: 'inspect.limit', path, span: { start: 0, end: text.length }, severity: 'high', detail: `the argv is ${text.length} characters long; the limit is ${limits.maxLength}, so it was not inspected` }];
    }
    const ctx: Ctx = { path, limits, deadline: performance.now() + limits.timeBudgetMs, findings: [], parses: 0, commands: 0, limitsHit: new Set() };
    encoding(ctx, text);
    const words: Word[] = [];
    let at = 0;
    for (const a of argv) {
      words.push(literalWord(a, at, at + a.length));
      at += a.length + 1;
    }
    const level: Level = { text, toOuter: (start, end) => ({ start, end }), depth: 0, via: [], scope: newScope(), stdin: { kind: 'inherit' }, cmds: [] };
    judgeArgv(ctx, level, words);
    return ctx.findings;
  } catch (err) {
    return error(`the shell inspector failed (${err instanceof Error ? err.name : typeof err}); treated as unparsed`);
  }
}

// C0 controls other than tab, newline and carriage return; DEL; C1 controls; bidi controls and
// invisible characters: what a reviewer reads is not what bash runs. The inspector's own
// markers (U+E000–U+E005, model.ts and scope.ts) are not refused when they appear in input (icon
// fonts use those code points in ordinary text): read as markers they only make a judgement
// stricter — an unknown part, a split, alternatives that are each judged.
const HIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

function encoding(ctx: Ctx, command: string): void {
  if (!command.isWellFormed()) {
    const at = firstLoneSurrogate(command);
    ctx.findings.push({ kind: 'shell.unparsed', path: ctx.path, span: { start: at, end: at + 1 }, severity: 'high', detail: `the command is not well-formed Unicode (a lone surrogate at offset ${at})` });
  }
  const replacement = command.indexOf('\ufffd');
  if (replacement >= 0) {
    ctx.findings.push({ kind: 'shell.unparsed', path: ctx.path, span: { start: replacement, end: replacement + 1 }, severity: 'high', detail: `the command contains U+FFFD at offset ${replacement}: its original bytes were not valid UTF-8` });
  }
  const hidden = HIDDEN.exec(command);
  if (hidden) {
    const code = hidden[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    ctx.findings.push({ kind: 'shell.obfuscation', path: ctx.path, span: { start: hidden.index, end: hidden.index + 1 }, severity: 'high', detail: `the command contains the control or invisible character U+${code} at offset ${hidden.index}` });
  }
}

function firstLoneSurrogate(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) { i++; continue; }
      return i;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return 0;
}
