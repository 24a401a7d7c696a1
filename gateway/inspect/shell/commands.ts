// Reads a parsed level into simple commands, each with its normalised argv and where its
// standard input comes from, plus the nodes other rules need (syntax errors, function
// definitions, output redirections, variable assignments). The walk is iterative, visits each
// node once in source order, and keeps the level's scope (scope.ts) as it goes: assignments,
// loop variables, `read`, `cd`/`pushd`, downloads. A subshell's changes end with it.
import type { SNode } from './parser.ts';
import { SPLIT, UNKNOWN, literalWord, type Cmd, type Level, type Stdin, type Word } from './model.ts';
import { parseOptions } from './options.ts';
import { alternativesValue, changeDir, expandAlternatives, exportVar, normalisePath, resetVars, setVar, stateAt, type Cwd, type Scope } from './scope.ts';
import { baseName, itemsFor } from './wrappers.ts';
import { expandBraces, joinWords, wordOf } from './word.ts';

export interface Collected {
  /** ERROR nodes and MISSING nodes. */
  readonly errors: SNode[];
  readonly functions: SNode[];
  /** file_redirect nodes, with their destination as it was when the redirection ran. */
  readonly redirects: Array<{ readonly node: SNode; readonly word: Word; readonly cwd: Cwd }>;
  /** Variable assignments (statement, prefix or declaration), with the value assigned. */
  readonly assignments: Array<{ readonly node: SNode; readonly name: string; readonly word: Word }>;
  /** The walk stopped at the deadline; what follows was not read. */
  timedOut: boolean;
}

/** Most function calls whose body is read again with the call's arguments, per level. */
export const MAX_FUNCTION_CALLS = 32;

/**
 * Walks the tree, appends every simple command to `level.cmds`, and returns the other nodes of
 * interest. A function's body is read where it is called, with `$1`, `$@`, … bound to the call's
 * arguments (at most MAX_FUNCTION_CALLS calls, never recursively); a body never called is read
 * once at the end with its parameters unknown.
 */
export function collect(root: SNode, level: Level, deadline: number): Collected {
  const out: Collected = { errors: [], functions: [], redirects: [], assignments: [], timedOut: false };
  const scope = level.scope;
  const bodies = new Map<string, SNode>();
  const read = new Set<SNode>();
  const active = new Set<string>();
  let calls = 0;
  let visited = 0;

  const walk = (start: SNode): void => {
    // A subshell's (and a command substitution's) changes to variables and cwd end with it.
    const stack: Array<SNode | (() => void)> = [start];
    while (stack.length > 0 && !out.timedOut) {
      if ((++visited & 255) === 0 && performance.now() > deadline) {
        out.timedOut = true;
        break;
      }
      const item = stack.pop()!;
      if (typeof item === 'function') { item(); continue; }
      const node = item;
      if (node.type === 'ERROR' || node.missing) out.errors.push(node);
      else if (node.type === 'command') {
        const cmd = commandOf(node, level);
        if (cmd) {
          level.cmds.push(cmd);
          effects(cmd, node, level);
          const body = bodies.get(cmd.argv[0]!.value);
          if (body && !active.has(cmd.argv[0]!.value) && calls < MAX_FUNCTION_CALLS) {
            calls++;
            call(cmd, body);
          }
        }
      } else if (node.type === 'function_definition') {
        out.functions.push(node);
        const name = node.children.find((c) => c.field === 'name');
        const body = node.children.find((c) => c.field === 'body');
        if (name && body) {
          bodies.set(level.text.slice(name.start, name.end), body);
          continue;
        }
      } else if (node.type === 'file_redirect') {
        const dest = node.children.find((c) => c.field === 'destination');
        if (dest) out.redirects.push({ node, word: wordOf(dest, level.text, scope), cwd: scope.cwd });
      } else if (node.type === 'variable_assignment') assignment(node, level, out);
      else if (node.type === 'declaration_command') declaration(node, level);
      else if (node.type === 'unset_command') {
        for (const c of node.children) if (c.type === 'variable_name' || c.type === 'word') setVar(scope, level.text.slice(c.start, c.end), literalWord('', c.start, c.end));
      } else if (node.type === 'for_statement') loopVariable(node, level);
      else if (node.type === 'subshell' || node.type === 'command_substitution' || node.type === 'process_substitution') {
        const saved = { vars: new Map(scope.vars), cwd: scope.cwd };
        stack.push(() => {
          resetVars(scope, saved.vars);
          scope.cwd = saved.cwd;
        });
      }
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
    }
  };

  // The body runs in this shell (its assignments and cd stay); only the positional parameters are the call's.
  const call = (cmd: Cmd, body: SNode): void => {
    const name = cmd.argv[0]!.value;
    const args = cmd.argv.slice(1);
    const saved = new Map([...scope.vars].filter(([k]) => POSITIONAL.test(k)));
    for (const k of saved.keys()) setVar(scope, k, undefined);
    args.forEach((w, i) => setVar(scope, String(i + 1), w));
    if (args.length > 0) {
      const all: Word = { ...args[0]!, value: args.map((w) => w.value).join(SPLIT), end: args[args.length - 1]!.end, dynamic: args.some((w) => w.dynamic) };
      setVar(scope, '@', all);
      setVar(scope, '*', all);
    }
    setVar(scope, '#', literalWord(String(args.length), cmd.start, cmd.start));
    active.add(name);
    read.add(body);
    walk(body);
    active.delete(name);
    for (const k of [...scope.vars.keys()].filter((k) => POSITIONAL.test(k))) setVar(scope, k, undefined);
    for (const [k, v] of saved) setVar(scope, k, v);
  };

  walk(root);
  for (const [, body] of bodies) if (!read.has(body)) walk(body);
  return out;
}

const POSITIONAL = /^([1-9][0-9]*|[@*#])$/;

/** `NAME=VALUE` (and `NAME+=VALUE`): a statement or declaration sets the variable; a prefix of a command only its environment. */
function assignment(node: SNode, level: Level, out: Collected): void {
  const nameNode = node.children.find((c) => c.type === 'variable_name');
  if (!nameNode) return;
  const name = level.text.slice(nameNode.start, nameNode.end);
  const valueNode = node.children.find((c) => c.named && c !== nameNode && c.start >= nameNode.end);
  let word = valueNode ? wordOf(valueNode, level.text, level.scope) : literalWord('', node.end, node.end);
  if (valueNode?.type === 'array') word = { ...word, value: UNKNOWN, dynamic: true };
  if (node.children.some((c) => !c.named && c.type === '+=')) {
    const before = level.scope.vars.get(name);
    word = { ...word, value: (before?.value ?? UNKNOWN) + word.value, dynamic: word.dynamic || !before || before.dynamic };
  }
  out.assignments.push({ node, name, word });
  if (node.parent?.type === 'command') return;
  setVar(level.scope, name, word);
  if (node.parent?.type === 'declaration_command' && isExport(node.parent, level)) exportVar(level.scope, name);
}

function isExport(node: SNode, level: Level): boolean {
  const text = level.text.slice(node.start, node.end);
  return /^export\b/.test(text) || node.children.some((c) => c.type === 'word' && /^-[a-zA-Z]*x/.test(level.text.slice(c.start, c.end)));
}

/** `export NAME` / `declare -x NAME` without a value marks a variable for export; `local NAME` makes it empty. */
function declaration(node: SNode, level: Level): void {
  const exporting = isExport(node, level);
  for (const c of node.children) {
    if (c.type !== 'variable_name') continue;
    const name = level.text.slice(c.start, c.end);
    if (exporting) exportVar(level.scope, name);
    else if (!level.scope.vars.has(name)) setVar(level.scope, name, literalWord('', c.start, c.end));
  }
}

/** `for NAME in WORDS` (and `select`): the variable takes each word in turn; without `in`, the positional parameters. */
function loopVariable(node: SNode, level: Level): void {
  const nameNode = node.children.find((c) => c.type === 'variable_name');
  if (!nameNode) return;
  const values: Word[] = [];
  let hasIn = false;
  for (const c of node.children) {
    if (c.type === 'do_group' || c.type === 'compound_statement') break;
    if (!c.named && c.type === 'in') hasIn = true;
    if (!c.named || c === nameNode) continue;
    values.push(...splitOnIfs(wordOf(c, level.text, level.scope)).flatMap((w) => braces(w, false)));
  }
  const name = level.text.slice(nameNode.start, nameNode.end);
  const positional = level.scope.vars.get('@');
  const value = hasIn ? alternativesValue(values) : positional ? alternativesValue(splitOnIfs(positional)) : undefined;
  setVar(level.scope, name, value ?? { ...literalWord(UNKNOWN, nameNode.start, nameNode.end), dynamic: true });
}

/** What a command changes in the scope: its working directory, variables it reads into, files it downloads. */
function effects(cmd: Cmd, node: SNode, level: Level): void {
  const scope = level.scope;
  const name = baseName(cmd.argv[0]!.value);
  const args = cmd.argv.slice(1);
  if (name === 'cd' || name === 'pushd') {
    const operands = parseOptions(args).operands.filter((w) => !/^[+-]\d+$/.test(w.value));
    scope.cwd = changeDir(scope.cwd, operands[0]);
  } else if (name === 'popd') scope.cwd = null;
  else if (name === 'read' || name === 'mapfile' || name === 'readarray') {
    const p = parseOptions(args, { short: name === 'read' ? 'adinNptu' : 'dnOsuCc' });
    const names = name === 'read' ? p.operands : p.operands.slice(0, 1);
    const into = [...(p.values.get('a') ? [p.values.get('a')!] : []), ...(names.length > 0 ? names : [literalWord(name === 'read' ? 'REPLY' : 'MAPFILE', cmd.start, cmd.start)])];
    // What `read` takes from a pipe from `find P` is a path below P; from anywhere else, unknown items.
    const items = name === 'read' ? itemsFor(cmd) : [];
    const value = items.length > 0 ? alternativesValue(items) : undefined;
    for (const w of into) setVar(scope, w.value, value ? { ...value, start: w.start, end: w.end } : { ...literalWord(UNKNOWN, w.start, w.end), dynamic: true });
  } else if (name === 'curl' || name === 'wget' || name === 'fetch' || name === 'aria2c') {
    for (const file of downloadedFiles(name, args, stdoutFile(node, level))) {
      const key = normalisePath(scope.cwd, file);
      if (key !== undefined) scope.downloads.set(key, name);
    }
  }
}

/** Where the command's standard output goes when it is redirected to a file (`curl URL > x`). */
function stdoutFile(node: SNode, level: Level): string | undefined {
  const redirects = [...node.children.filter((c) => c.field === 'redirect'), ...(node.parent?.type === 'redirected_statement' ? node.parent.children.filter((c) => c.field === 'redirect') : [])];
  for (const r of redirects) {
    const op = r.children.find((c) => !c.named)?.type ?? '';
    const dest = r.children.find((c) => c.field === 'destination');
    const fd = r.children.find((c) => c.type === 'file_descriptor');
    if (!dest || !(op === '>' || op === '>>' || op === '>|' || op === '&>') || (fd && level.text.slice(fd.start, fd.end) !== '1')) continue;
    const w = wordOf(dest, level.text, level.scope);
    if (!w.dynamic) return w.value;
  }
  return undefined;
}

/** The files a download tool writes: `-o FILE`, `-O` (the URL's last segment), stdout redirected to a file. */
function downloadedFiles(name: string, args: readonly Word[], stdout: string | undefined): string[] {
  const urls = args.filter((w) => /^[a-z][a-z0-9+.-]*:\/\//i.test(w.value)).map((w) => w.value);
  const remoteName = (url: string) => url.replace(/[?#].*$/, '').replace(/\/+$/, '').split('/').pop() ?? '';
  const out: string[] = [];
  if (name === 'curl') {
    const p = parseOptions(args, { short: 'oduHXAeEKrTxYyzbcCDFhmQtuUw', long: ['output', 'data', 'header', 'request', 'user-agent', 'referer', 'config', 'range', 'upload-file', 'proxy', 'cookie', 'cookie-jar', 'dump-header', 'form', 'max-time', 'user', 'write-out', 'output-dir', 'connect-timeout', 'retry'] });
    const o = p.values.get('o') ?? p.values.get('output');
    if (o && o.value !== '-') out.push(o.value);
    if (p.flags.has('O') || p.flags.has('remote-name') || p.flags.has('remote-name-all')) out.push(...urls.map(remoteName));
    if (!o && stdout) out.push(stdout);
  } else if (name === 'wget') {
    const p = parseOptions(args, { short: 'OoaPeUtTwQiBYlADRIX', long: ['output-document', 'output-file', 'directory-prefix', 'user-agent', 'header', 'tries', 'timeout', 'input-file', 'user', 'password'] });
    const o = p.values.get('O') ?? p.values.get('output-document');
    const prefix = p.values.get('P')?.value ?? p.values.get('directory-prefix')?.value;
    if (o && o.value === '-') { if (stdout) out.push(stdout); }
    else if (o) out.push(o.value);
    else out.push(...urls.map((u) => (prefix ? `${prefix}/${remoteName(u)}` : remoteName(u))));
  } else {
    const p = parseOptions(args, { short: 'od', long: ['output', 'dir', 'out'] });
    const o = p.values.get('o') ?? p.values.get('output') ?? p.values.get('out');
    if (o) out.push(o.value);
    else out.push(...urls.map(remoteName));
  }
  return out.filter((f) => f !== '' && !f.includes(UNKNOWN));
}

function commandOf(node: SNode, level: Level): Cmd | undefined {
  const words: Word[] = [];
  let prev: Word | undefined;
  for (const child of node.children) {
    let target: SNode | undefined;
    if (child.field === 'name') target = child.children.find((c) => c.named) ?? child;
    else if (child.field === 'argument') target = child;
    if (!target) continue;
    const word = wordOf(target, level.text, level.scope);
    // bash removes backslash-newline before splitting words; the grammar treats it as a gap.
    if (prev && isContinuationGap(level.text, prev.end, word.start)) {
      prev = joinWords(prev, word);
      words[words.length - 1] = prev;
    } else {
      words.push(word);
      prev = word;
    }
  }
  const argv = words.flatMap(splitOnIfs).flatMap((w, i) => braces(w, i === 0)).flatMap(expandAlternatives);
  if (argv.length === 0) return undefined;
  return { argv, start: node.start, end: node.end, stdin: stdinOf(node, level), level, via: level.via, node, cwd: level.scope.cwd, env: withPrefix(stateAt(level.scope), prefixAssignments(node, level)) };
}

/** `X=/ bash -c 'rm -rf $X'`: assignments before a command are exported to it (and to nothing else). */
function prefixAssignments(node: SNode, level: Level): Array<[string, Word]> {
  const out: Array<[string, Word]> = [];
  for (const c of node.children) {
    if (c.type !== 'variable_assignment') continue;
    const nameNode = c.children.find((x) => x.type === 'variable_name');
    const valueNode = c.children.find((x) => x.named && x !== nameNode && x.start >= (nameNode?.end ?? 0));
    if (nameNode) out.push([level.text.slice(nameNode.start, nameNode.end), valueNode ? wordOf(valueNode, level.text, level.scope) : literalWord('', c.end, c.end)]);
  }
  return out;
}

function withPrefix(state: () => Scope, prefix: ReadonlyArray<[string, Word]>): () => Scope {
  if (prefix.length === 0) return state;
  let cached: Scope | undefined;
  return () => {
    if (cached) return cached;
    const base = state();
    const vars = new Map(base.vars);
    const exported = new Set(base.exported);
    for (const [name, word] of prefix) { vars.set(name, word); exported.add(name); }
    cached = { ...base, vars, exported, initial: vars, initialExported: exported, log: [] };
    return cached;
  };
}

function isContinuationGap(text: string, from: number, to: number): boolean {
  const gap = text.slice(from, to);
  return gap === '\\\n' || gap === '\\\r\n';
}

/** An unquoted `$IFS` splits the word where it stands. */
function splitOnIfs(word: Word): Word[] {
  if (!word.value.includes(SPLIT)) return [word];
  return word.value.split(SPLIT).filter((v) => v !== '').map((value) => ({ ...word, value }));
}

/** Brace expansion of an unquoted word; in the command name it is obfuscation (`r{m,} -rf /` runs rm). */
function braces(word: Word, isName: boolean): Word[] {
  if (word.wholeQuoted) return [word];
  const expanded = expandBraces(word.value);
  if (expanded === undefined) return [word];
  if (expanded === null) return [{ ...word, dynamic: true }];
  return expanded.map((value, i) => ({ ...word, value, tricks: isName && i === 0 ? [...word.tricks, 'brace expansion builds the command name'] : word.tricks }));
}

/** Looks at the command's own input redirections, then outwards through redirected statements and pipelines. */
function stdinOf(node: SNode, level: Level): Stdin {
  const own = inputRedirect(node.children.filter((c) => c.field === 'redirect' || c.type === 'herestring_redirect'), level);
  if (own) return own;
  let child = node;
  for (let parent = node.parent; parent; child = parent, parent = parent.parent) {
    switch (parent.type) {
      case 'redirected_statement': {
        if (child.field !== 'body') break;
        const found = inputRedirect(parent.children.filter((c) => c !== child), level);
        if (found) return found;
        break;
      }
      case 'pipeline': {
        const stages = parent.children.filter((c) => c.named && c.type !== 'comment');
        const index = stages.indexOf(child);
        // `cat <<EOF | sh` parses as a pipeline inside the heredoc redirect, after the command.
        const heredocOwner = parent.parent?.type === 'heredoc_redirect' ? parent.parent.parent : null;
        if (heredocOwner) return { kind: 'pipe', level, start: heredocOwner.start, end: child.start };
        if (index > 0) return { kind: 'pipe', level, start: parent.start, end: child.start };
        break;
      }
      case 'process_substitution':
        // Inside >(…) a command reads what the outer command writes: piped input.
        return level.text.startsWith('>(', parent.start) ? { kind: 'pipe', level, start: parent.start, end: parent.start } : { kind: 'inherit' };
      case 'command_substitution':
      case 'function_definition':
        return { kind: 'inherit' };
      case 'program':
        return level.stdin;
    }
  }
  return level.stdin;
}

function inputRedirect(nodes: readonly SNode[], level: Level): Stdin | undefined {
  let found: Stdin | undefined;
  for (const r of nodes) {
    if (r.type === 'herestring_redirect') {
      const target = r.children.find((c) => c.named);
      if (target) found = { kind: 'text', level, word: wordOf(target, level.text, level.scope) };
    } else if (r.type === 'heredoc_redirect') {
      found = { kind: 'text', level, word: heredocWord(r, level) };
    } else if (r.type === 'file_redirect' && r.children.some((c) => !c.named && c.type === '<')) {
      const dest = r.children.find((c) => c.field === 'destination');
      if (!dest) continue;
      const word = wordOf(dest, level.text, level.scope);
      found = dest.type === 'process_substitution' ? { kind: 'process', level, word } : { kind: 'file', level, word };
    }
  }
  return found;
}

/** The body of a here-document: literal when the delimiter is quoted, else with its expansions unknown. */
function heredocWord(r: SNode, level: Level): Word {
  const body = r.children.find((c) => c.type === 'heredoc_body');
  const start = r.children.find((c) => c.type === 'heredoc_start');
  if (!body) return { value: '', start: r.start, end: r.end, dynamic: false, substitution: false, quoted: false, wholeQuoted: false, tricks: [] };
  const quotedDelimiter = start ? /['"\\]/.test(level.text.slice(start.start, start.end)) : false;
  let value = '';
  let dynamic = false;
  let substitution = false;
  let pos = body.start;
  if (!quotedDelimiter) {
    for (const c of body.children) {
      if (c.type === 'heredoc_content' || !c.named) continue;
      value += level.text.slice(pos, c.start) + UNKNOWN;
      dynamic = true;
      substitution ||= c.type === 'command_substitution';
      pos = c.end;
    }
  }
  value += level.text.slice(pos, body.end);
  return { value, start: body.start, end: body.end, dynamic, substitution, quoted: false, wholeQuoted: false, tricks: [] };
}
