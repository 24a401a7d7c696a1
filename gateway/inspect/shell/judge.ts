// Judges a level of shell text: parse it, report what the tree itself shows (syntax errors,
// fork bombs, output redirections), then judge each simple command. Judging a command:
//
//   1. obfuscation   ANSI-C escapes of plain characters, $IFS splitting, quote-split risky names
//   2. computed name a name from a variable or substitution → shell.dynamic_command; stop when
//                    its value is unknown, else judge the value too
//   3. wrappers      sudo/env/timeout/xargs/find -exec/eval/… and escapes (vim -c, git -c, …)
//                    → judge the inner command or code
//   4. interpreters  bash -c / python3 -c code → inspect it; a program read from a pipe, a
//                    here-string or a process substitution → shell.pipe_to_interpreter; a
//                    script downloaded earlier → shell.remote_code
//   5. rules         destructive, disk, permission and infrastructure rules for the name, on
//                    operands resolved against the command's working directory
//   6. network       reverse and bind shells (network.ts); running a downloaded file by path
//   7. otherwise     shell.command (info) naming it
//
// Assignments of variables that name a command (PAGER, GIT_SSH_COMMAND, …) are judged as that
// command.
//
// Code found in strings (`bash -c '…'`, `eval …`, `echo '…' | sh`) is parsed again as a nested
// level, bounded by depth, parse count and the inspection deadline.
import { Buffer } from 'node:buffer';
import { interpreterOf, type Lang, type Program } from './interpreters.ts';
import { scanInline } from './inline.ts';
import { collect } from './commands.ts';
import { infraRuleFor } from './infra.ts';
import { describeDynamic, limit, literalWord, report, show, viaText, type Cmd, type Ctx, type Level, type Stdin, type Word } from './model.ts';
import { MAX_TREE_DEPTH, MAX_TREE_NODES, parseBash, type SNode } from './parser.ts';
import { redirectHits, ruleFor, type Hit } from './rules.ts';
import { baseName, unwrap, type Unwrap } from './wrappers.ts';
import { commandVariable } from './escapes.ts';
import { inlineReverseShell, reverseShellHits } from './network.ts';
import { decodeAnsiC } from './word.ts';
import { childScope, expandAlternatives, normalisePath, type Cwd } from './scope.ts';

/** Parses and judges one level of shell text. */
export function inspectLevel(ctx: Ctx, level: Level): void {
  const whole = level.toOuter(0, level.text.length);
  if (level.depth > ctx.limits.maxDepth) return limit(ctx, 'depth', `code nested more than ${ctx.limits.maxDepth} levels deep was not inspected`, whole);
  if (ctx.parses >= ctx.limits.maxParses) return limit(ctx, 'parses', `more than ${ctx.limits.maxParses} nested code strings; the rest were not inspected`, whole);
  ctx.parses++;
  const parsed = parseBash(level.text, ctx.deadline);
  if (!parsed.ok) {
    if (parsed.reason === 'timeout') return limit(ctx, 'time', 'parsing exceeded the inspection time budget; the command was not fully inspected', whole);
    ctx.findings.push({ kind: 'inspect.error', path: ctx.path, span: whole, severity: 'high', detail: `the shell parser failed: ${parsed.detail}` });
    return;
  }
  if (parsed.truncated) limit(ctx, 'tree', `the syntax tree is deeper than ${MAX_TREE_DEPTH} levels or larger than ${MAX_TREE_NODES} nodes; the rest was not inspected`, whole);
  const found = collect(parsed.root, level, ctx.deadline);
  if (found.timedOut) limit(ctx, 'time', 'inspection exceeded its time budget; the rest was not inspected', whole);
  if (found.errors.length > 0) {
    const first = found.errors[0]!;
    const what = first.missing ? `a missing ${JSON.stringify(first.type)}` : 'a syntax error';
    const offset = level.toOuter(first.start, first.end).start;
    report(ctx, level, 'shell.unparsed', 'high', first.start, first.end, `the command does not parse as bash: ${what} at offset ${offset}${found.errors.length > 1 ? ` (${found.errors.length} error nodes)` : ''}${viaText(level.via)}`);
  }
  for (const fn of found.functions) forkBomb(ctx, level, fn);
  for (const r of found.redirects) redirect(ctx, level, r.node, r.word, r.cwd);
  for (const a of found.assignments) assignmentCommand(ctx, level, a);
  for (const cmd of level.cmds) judge(ctx, cmd);
}

/** Judges one command given as words (an argv run without a shell), in `level` (its text is the words joined). */
export function judgeArgv(ctx: Ctx, level: Level, argv: readonly Word[]): void {
  const cmd: Cmd = { argv, start: 0, end: level.text.length, stdin: { kind: 'inherit' }, level, via: [], cwd: level.scope.cwd, env: () => level.scope };
  level.cmds.push(cmd);
  judge(ctx, cmd);
}

function judge(ctx: Ctx, cmd: Cmd): void {
  if (++ctx.commands > ctx.limits.maxCommands) return limit(ctx, 'commands', `more than ${ctx.limits.maxCommands} commands; the rest were not inspected`);
  if (performance.now() > ctx.deadline) return limit(ctx, 'time', 'inspection exceeded its time budget; the rest was not inspected');
  if (cmd.via.length > ctx.limits.maxDepth) return limit(ctx, 'depth', `commands wrapped more than ${ctx.limits.maxDepth} levels deep were not inspected`, cmd.level.toOuter(cmd.start, cmd.end));
  const name = cmd.argv[0]!;
  const hits: Hit[] = [];
  if (name.dynamic || name.computed) {
    // A name that comes from a variable or a command's output is refused even when its value is
    // known here (`X=rm; $X -rf /`): it is how a command is hidden. A known value is judged too.
    const raw = cmd.level.text.slice(name.start, name.end);
    hits.push({ kind: 'shell.dynamic_command', severity: 'high', detail: `command name is not a literal: ${describeDynamic(raw)}${name.dynamic ? '' : ` (it is ${show(name.value)})`}`, word: name });
    hits.push(...tricksOf(cmd, false), ...decodedIn(cmd.level, [name], 'a computed command name'));
    emit(ctx, cmd, hits);
    if (name.dynamic || cmd.node === undefined) return;
    return judge(ctx, { ...cmd, argv: [{ ...name, computed: false }, ...cmd.argv.slice(1)], via: [...cmd.via, show(raw)], node: undefined });
  }
  const base = baseName(name.value).toLowerCase();
  if (base === '') return;
  const unwrapped = unwrap(cmd, base);
  const interpreter = interpreterOf(cmd, base);
  const rules = [ruleFor(base), infraRuleFor(base)].filter((r) => r !== undefined);
  hits.push(...tricksOf(cmd, unwrapped !== undefined || interpreter !== undefined || rules.length > 0));
  for (const u of unwrapped ?? []) hits.push(...runUnwrap(ctx, cmd, u));
  if (interpreter) hits.push(...program(ctx, cmd, base, interpreter.lang, interpreter.program));
  for (const rule of rules) hits.push(...rule(cmd, base));
  hits.push(...reverseShellHits(cmd, base), ...downloadedRun(cmd, name));
  if (hits.length === 0) hits.push({ kind: 'shell.command', severity: 'info', detail: base });
  emit(ctx, cmd, hits);
}

function runUnwrap(ctx: Ctx, cmd: Cmd, u: Unwrap): Hit[] {
  switch (u.kind) {
    case 'argv': judge(ctx, { ...cmd, argv: u.argv, via: [...cmd.via, u.label], node: undefined }); return [];
    case 'code': return runCode(ctx, cmd, u.lang ?? 'shell', u.words, u.label);
    case 'dynamic': return [{ kind: 'shell.dynamic_command', severity: 'high', detail: u.detail, word: u.word }];
  }
}

/** `PAGER='…' git log`, `export GIT_SSH_COMMAND='…'`: a variable naming a command is judged as that command. */
function assignmentCommand(ctx: Ctx, level: Level, a: { node: SNode; name: string; word: Word }): void {
  const unwraps = commandVariable(a.name, a.word);
  if (unwraps.length === 0) return;
  const cmd: Cmd = { argv: [literalWord(a.name, a.node.start, a.node.end)], start: a.node.start, end: a.node.end, stdin: { kind: 'inherit' }, level, via: level.via, cwd: level.scope.cwd, env: () => level.scope };
  emit(ctx, cmd, unwraps.flatMap((u) => runUnwrap(ctx, cmd, u)));
}

function emit(ctx: Ctx, cmd: Cmd, hits: readonly Hit[]): void {
  for (const h of hits) report(ctx, cmd.level, h.kind, h.severity, h.word?.start ?? cmd.start, h.word?.end ?? cmd.end, h.detail + viaText(cmd.via));
}

/** Obfuscation in the command's words; quote splitting counts only in a name the rules care about. */
function tricksOf(cmd: Cmd, riskyName: boolean): Hit[] {
  const tricks = new Set(cmd.argv.flatMap((w) => w.tricks));
  const name = cmd.argv[0]!;
  const raw = cmd.level.text.slice(name.start, name.end);
  const aliasBypass = raw === `\\${name.value}`;
  if (riskyName && name.quoted && !name.wholeQuoted && !aliasBypass) tricks.add('quotes or backslashes split the command name');
  if (tricks.size === 0) return [];
  return [{ kind: 'shell.obfuscation', severity: 'high', detail: `${[...tricks].join('; ')} (${name.dynamic ? describeDynamic(raw) : show(name.value)})` }];
}

const LABEL: Record<Lang, string> = { shell: '-c', python: '-c', perl: '-e', ruby: '-e', node: '-e', php: '-r', lua: '-e', awk: 'program', other: '-e' };

function program(ctx: Ctx, cmd: Cmd, base: string, lang: Lang, prog: Program): Hit[] {
  switch (prog.mode) {
    case 'code': return runCode(ctx, cmd, lang, prog.words, `${base} ${LABEL[lang]}`, prog.positional);
    case 'stdin': return fromStdin(ctx, cmd, base, lang);
    case 'script': {
      const w = prog.word;
      if (w.process) return [pipeHit(w, `a process substitution is run as a ${base} script`), ...decodedIn(cmd.level, [w], `the ${base} script`)];
      if (isNetworkPath(w.value)) return [pipeHit(w, `${base} runs a script read from the network (${show(w.value)})`)];
      return downloaded(cmd, w, `${base} runs`);
    }
    case 'none': return [];
  }
}

/** shell.remote_code when `file` was downloaded earlier in the command (`curl -o x.sh URL && sh x.sh`). */
function downloaded(cmd: Cmd, file: Word, what: string, anchor: Word | undefined = file): Hit[] {
  const key = normalisePath(cmd.cwd, file.value);
  const tool = key === undefined ? undefined : cmd.level.scope.downloads.get(key);
  return tool ? [{ kind: 'shell.remote_code', severity: 'critical', detail: `${what} ${show(file.value)}, which ${tool} downloaded`, ...(anchor ? { word: anchor } : {}) }] : [];
}

/** A command run by its path (`./x`, `/tmp/x`) that was downloaded earlier in the command. */
function downloadedRun(cmd: Cmd, name: Word): Hit[] {
  return name.value.includes('/') ? downloaded(cmd, name, 'it runs') : [];
}

function pipeHit(word: Word | undefined, detail: string): Hit {
  return { kind: 'shell.pipe_to_interpreter', severity: 'high', detail, ...(word ? { word } : {}) };
}

/** An interpreter reading its program from standard input. */
function fromStdin(ctx: Ctx, cmd: Cmd, base: string, lang: Lang): Hit[] {
  const stdin = cmd.stdin;
  const own = (s: { level: Level; word: Word }) => (s.level === cmd.level ? s.word : undefined);
  switch (stdin.kind) {
    case 'inherit': return [];
    // An inherited stdin's words belong to an outer level: their spans only mean something there.
    case 'file': return isNetworkPath(stdin.word.value) ? [pipeHit(own(stdin), `${base} runs a script read from the network (${show(stdin.word.value)})`)] : downloaded(cmd, stdin.word, `${base} reads`, own(stdin));
    case 'process': return [pipeHit(own(stdin), `a process substitution is fed to ${base}`), ...decodedIn(stdin.level, [stdin.word], `${base}'s input`, stdin.level === cmd.level)];
    case 'text': {
      const w = stdin.word;
      if (!w.dynamic) return runText(ctx, cmd, lang, w.value, `${base} <<`, w, stdin.level, { kind: 'inherit' });
      return w.substitution
        ? [pipeHit(own(stdin), `command output is fed to ${base} as a here-string`), ...decodedIn(stdin.level, [w], `${base}'s input`, stdin.level === cmd.level)]
        : [{ kind: 'shell.dynamic_command', severity: 'high', detail: `${base} runs a here-string that is not a literal`, ...(own(stdin) ? { word: w } : {}) }];
    }
    case 'pipe': {
      const from = cmdsIn(stdin.level, stdin.start, stdin.end);
      const names = [...new Set(from.map((c) => baseName(c.argv[0]!.value)))].slice(0, 4);
      const hits: Hit[] = [pipeHit(undefined, `output of ${names.map(show).join(' | ') || 'a command'} is piped into ${base}`)];
      const decoder = from.find(isDecoder);
      if (decoder) hits.push({ kind: 'shell.decoded_payload', severity: 'critical', detail: `a payload decoded by ${baseName(decoder.argv[0]!.value)} is piped into ${base}` });
      const source = literalSource(from);
      if (source !== undefined) {
        const anchor = literalWord(source.text, from[0]!.start, from[from.length - 1]!.end);
        hits.push(...runText(ctx, cmd, lang, source.text, `${source.label} | ${base}`, anchor, stdin.level, { kind: 'inherit' }));
      }
      return hits;
    }
  }
}

/** Inline code: literal → inspected as shell or scanned as its language; computed → dynamic. */
function runCode(ctx: Ctx, cmd: Cmd, lang: Lang, words: readonly Word[], label: string, positional?: ReadonlyMap<string, Word>): Hit[] {
  if (words.length === 0) return [];
  const dynamic = words.find((w) => w.dynamic);
  if (dynamic) {
    return [
      { kind: 'shell.dynamic_command', severity: 'high', detail: `${label} runs code that is not a literal (${describeDynamic(cmd.level.text.slice(dynamic.start, dynamic.end))})`, word: dynamic },
      ...decodedIn(cmd.level, words, `${label} code`),
    ];
  }
  const first = words[0]!;
  const last = words[words.length - 1]!;
  const anchor: Word = words.length === 1 ? first : { ...first, value: words.map((w) => w.value).join(' '), end: last.end };
  return runText(ctx, cmd, lang, anchor.value, label, anchor, cmd.level, cmd.stdin, positional);
}

/**
 * Inspects `text`, code that `cmd` runs, found at `anchor` in `where` (the command's level, or
 * an outer one for an inherited stdin). `stdin` is what the code's own commands read.
 */
function runText(ctx: Ctx, cmd: Cmd, lang: Lang, text: string, label: string, anchor: Word, where: Level, stdin: Stdin, positional?: ReadonlyMap<string, Word>): Hit[] {
  const via = [...cmd.via, label];
  if (lang === 'shell') {
    const base = exactOffset(where.text, anchor, text);
    const outer = where;
    inspectLevel(ctx, {
      text,
      toOuter: base === undefined ? () => outer.toOuter(anchor.start, anchor.end) : (s, e) => outer.toOuter(base + s, base + e),
      depth: Math.max(outer.depth, cmd.level.depth) + 1, via, stdin, cmds: [],
      scope: childScope(cmd.env(), SAME_SHELL.has(label), positional),
    });
    return [];
  }
  const hits: Hit[] = [];
  const reverse = inlineReverseShell(lang, text);
  if (reverse) hits.push({ ...reverse, ...(where === cmd.level ? { word: anchor } : {}) });
  for (const item of scanInline(text, lang)) {
    const at = (value: string) => literalWord(value, anchor.start, anchor.end);
    const inner = (argv: readonly string[]) => judge(ctx, { argv: argv.map(at), start: anchor.start, end: anchor.end, stdin: { kind: 'inherit' }, level: where, via: [...via, item.via], cwd: cmd.cwd, env: cmd.env });
    if (item.kind === 'shell') hits.push(...runText(ctx, { ...cmd, via }, 'shell', item.text, item.via, anchor, where, { kind: 'inherit' }));
    else if (item.kind === 'argv') { if (item.argv.length > 0) inner(item.argv); }
    else if (item.kind === 'delete') inner(item.recursive ? ['rm', '-rf', item.path] : ['rm', item.path]);
    else hits.push({ kind: 'shell.dynamic_command', severity: 'high', detail: `${label} code runs ${item.via}() on a value computed at run time`, ...(where === cmd.level ? { word: anchor } : {}) });
  }
  return hits;
}

/** Code these run in the shell that runs them (its variables and directory); other code runs in a child. */
const SAME_SHELL = new Set(['eval', 'trap', 'alias', 'PROMPT_COMMAND=']);

/** Where `text` sits verbatim inside the word (between its quotes), so nested spans can be exact. */
function exactOffset(levelText: string, word: Word, text: string): number | undefined {
  if (text === '') return undefined;
  const at = levelText.indexOf(text, word.start);
  return at >= 0 && at + text.length <= word.end ? at : undefined;
}

function cmdsIn(level: Level, start: number, end: number): Cmd[] {
  return level.cmds.filter((c) => c.start >= start && c.end <= end);
}

/** shell.decoded_payload when a command substitution inside these words (of `level`) runs a decoder. */
function decodedIn(level: Level, words: readonly Word[], what: string, withSpan = true): Hit[] {
  for (const w of words) {
    const decoder = cmdsIn(level, w.start, w.end).find(isDecoder);
    if (decoder) return [{ kind: 'shell.decoded_payload', severity: 'critical', detail: `${what} comes from a payload decoded by ${baseName(decoder.argv[0]!.value)}`, ...(withSpan ? { word: w } : {}) }];
  }
  return [];
}

const ALWAYS_DECODES = new Set(['uudecode', 'gunzip', 'zcat', 'bzcat', 'bunzip2', 'unxz', 'xzcat', 'zstdcat', 'unzstd', 'lzcat', 'unlzma']);

function isDecoder(c: Cmd): boolean {
  const name = baseName(c.argv[0]!.value).toLowerCase();
  const args = c.argv.slice(1).map((w) => w.value);
  const cluster = (letters: RegExp) => args.some((a) => /^-[a-zA-Z]+$/.test(a) && letters.test(a));
  if (ALWAYS_DECODES.has(name)) return true;
  if (['base64', 'base32', 'basenc', 'gbase64'].includes(name)) return args.includes('--decode') || cluster(/[dD]/);
  if (name === 'xxd') return args.includes('--revert') || cluster(/r/);
  if (name === 'openssl') return (args.includes('base64') || args.includes('enc')) && args.includes('-d');
  if (['gzip', 'bzip2', 'xz', 'zstd', 'lzma'].includes(name)) return args.includes('--decompress') || cluster(/d/);
  return false;
}

/** `echo TEXT`, `printf TEXT`, `cat <<'EOF'…`, optionally through `base64 -d`: the text an interpreter receives. */
function literalSource(from: readonly Cmd[]): { text: string; label: string } | undefined {
  const [head, ...rest] = from;
  if (!head || rest.length > 1) return undefined;
  const name = baseName(head.argv[0]!.value);
  const args = head.argv.slice(1);
  let text: string | undefined;
  if (name === 'echo' && args.every((w) => !w.dynamic)) {
    const flags = args.filter((w) => /^-[neE]+$/.test(w.value));
    const words = args.slice(flags.length).map((w) => w.value).join(' ');
    text = flags.some((w) => w.value.includes('e')) ? decodeAnsiC(words).value : words;
  } else if (name === 'printf' && args.length > 0 && args.every((w) => !w.dynamic)) {
    // `printf '%s' TEXT` prints TEXT; any other format is taken as the text itself. printf
    // decodes backslash escapes in its format (and %b arguments) much as $'…' does.
    const [format, ...rest] = args.map((w) => w.value);
    if (format === '%s' || format === '%s\\n') text = rest.join(' ');
    else if (format === '%b') text = decodeAnsiC(rest.join(' ')).value;
    else text = decodeAnsiC(format!).value;
  }
  else if (name === 'cat' && args.length === 0 && head.stdin.kind === 'text' && !head.stdin.word.dynamic) text = head.stdin.word.value;
  if (text === undefined) return undefined;
  const next = rest[0];
  if (!next) return { text, label: name };
  const nextName = baseName(next.argv[0]!.value);
  if (nextName !== 'base64' || !isDecoder(next)) return undefined;
  const decoded = Buffer.from(text.trim(), 'base64').toString('utf8');
  return decoded === '' ? undefined : { text: decoded, label: `${name} | base64 -d` };
}

function isNetworkPath(value: string): boolean {
  return value.startsWith('/dev/tcp/') || value.startsWith('/dev/udp/');
}

/** A function that calls itself in a pipeline or in the background multiplies processes until the machine falls over. */
function forkBomb(ctx: Ctx, level: Level, fn: SNode): void {
  const nameNode = fn.children.find((c) => c.field === 'name');
  const body = fn.children.find((c) => c.field === 'body');
  if (!nameNode || !body) return;
  const name = level.text.slice(nameNode.start, nameNode.end);
  for (const call of level.cmds) {
    if (call.start < body.start || call.end > body.end || call.argv[0]!.value !== name || !call.node) continue;
    let parallel = false;
    for (let n: SNode | null = call.node; n && n !== body && !parallel; n = n.parent) {
      const parent: SNode | null = n.parent;
      if (!parent) break;
      if (parent.type === 'pipeline') parallel = true;
      const next = parent.children[parent.children.indexOf(n) + 1];
      if (next && !next.named && next.type === '&') parallel = true;
    }
    if (parallel) {
      report(ctx, level, 'shell.fork_bomb', 'critical', fn.start, fn.end, `function ${show(name)} starts copies of itself in parallel (a fork bomb)${viaText(level.via)}`);
      return;
    }
  }
}

function redirect(ctx: Ctx, level: Level, node: SNode, dest: Word, cwd: Cwd): void {
  const operator = node.children.find((c) => !c.named);
  if (!operator) return;
  for (const word of expandAlternatives(dest)) {
    for (const h of redirectHits(operator.type, word, cwd)) report(ctx, level, h.kind, h.severity, node.start, node.end, h.detail + viaText(level.via));
  }
}
