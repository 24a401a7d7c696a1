// Reads a parsed level into simple commands, each with its normalised argv and where its
// standard input comes from, plus the nodes other rules need (syntax errors, function
// definitions, output redirections). The walk is iterative and visits each node once.
import type { SNode } from './parser.ts';
import { SPLIT, UNKNOWN, type Cmd, type Level, type Stdin, type Word } from './model.ts';
import { expandBraces, joinWords, wordOf } from './word.ts';

export interface Collected {
  /** ERROR nodes and MISSING nodes. */
  readonly errors: SNode[];
  readonly functions: SNode[];
  /** file_redirect nodes. */
  readonly redirects: SNode[];
}

/** Walks the tree, appends every simple command to `level.cmds`, and returns the other nodes of interest. */
export function collect(root: SNode, level: Level): Collected {
  const out: Collected = { errors: [], functions: [], redirects: [] };
  const stack: SNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.type === 'ERROR' || node.missing) out.errors.push(node);
    else if (node.type === 'command') {
      const cmd = commandOf(node, level);
      if (cmd) level.cmds.push(cmd);
    } else if (node.type === 'function_definition') out.functions.push(node);
    else if (node.type === 'file_redirect') out.redirects.push(node);
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return out;
}

function commandOf(node: SNode, level: Level): Cmd | undefined {
  const words: Word[] = [];
  let prev: Word | undefined;
  for (const child of node.children) {
    let target: SNode | undefined;
    if (child.field === 'name') target = child.children.find((c) => c.named) ?? child;
    else if (child.field === 'argument') target = child;
    if (!target) continue;
    const word = wordOf(target, level.text, level.positional);
    // bash removes backslash-newline before splitting words; the grammar treats it as a gap.
    if (prev && isContinuationGap(level.text, prev.end, word.start)) {
      prev = joinWords(prev, word);
      words[words.length - 1] = prev;
    } else {
      words.push(word);
      prev = word;
    }
  }
  const argv = words.flatMap(splitOnIfs).flatMap((w, i) => braces(w, i === 0));
  if (argv.length === 0) return undefined;
  return { argv, start: node.start, end: node.end, stdin: stdinOf(node, level), level, via: level.via, node };
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
      if (target) found = { kind: 'text', level, word: wordOf(target, level.text, level.positional) };
    } else if (r.type === 'heredoc_redirect') {
      found = { kind: 'text', level, word: heredocWord(r, level) };
    } else if (r.type === 'file_redirect' && r.children.some((c) => !c.named && c.type === '<')) {
      const dest = r.children.find((c) => c.field === 'destination');
      if (!dest) continue;
      const word = wordOf(dest, level.text, level.positional);
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
