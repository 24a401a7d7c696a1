// The manual holds together: every relative link in the repository's Markdown (README, docs/,
// each DESIGN.md, …) reaches a file that exists, and a #anchor a heading in it (GitHub's slugs);
// every `airlock …` / `airlock-agent …` command shown in a fenced sh block or in inline code names
// a subcommand that exists and only options that subcommand's --help lists. The command trees
// are the programs themselves (cli/airlock.ts and agent/main.ts export them and run only as the
// entry point), so a renamed option fails here naming the file and line that still uses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, Option } from 'commander';
import { program as airlock } from '../cli/airlock.ts';
import { program as airlockAgent } from '../agent/main.ts';
import { anchorsOf, codeSpans, linksOf, markdownFiles, parseMarkdown, slug } from './support/markdown.ts';
import { logicalLines, simpleCommands, stripComment } from './support/shell-words.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const FILES = markdownFiles(ROOT);
const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const PROGRAMS: Record<string, Command> = { airlock, 'airlock-agent': airlockAgent };

test('the manual is where the README says: README, docs/ by reader, every DESIGN.md', () => {
  for (const file of ['README.md', 'docs/getting-started.md', 'docs/security.md', 'docs/errors.md', 'docs/architecture.md', 'docs/reference/cli.md', 'docs/reference/config.md', 'docs/reference/api.md', 'docs/reference/policy.md']) {
    assert.ok(FILES.includes(file), `${file} is there`);
  }
  assert.ok(FILES.filter((f) => f.endsWith('/DESIGN.md')).length >= 10, 'the DESIGN.md files are read too');
});

test('every relative link in the Markdown reaches a file, and its #anchor a heading there', () => {
  const anchors = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    let set = anchors.get(file);
    if (!set) anchors.set(file, (set = anchorsOf(readFileSync(file, 'utf8'))));
    return set;
  };
  const broken: string[] = [];
  let checked = 0;
  for (const file of FILES) {
    const path = join(ROOT, file);
    for (const { line, target } of linksOf(readFileSync(path, 'utf8'))) {
      checked++;
      const [where, anchor] = target.split('#', 2) as [string, string | undefined];
      const to = where === '' ? path : resolve(dirname(path), decodeURIComponent(where));
      if (!to.startsWith(ROOT)) broken.push(`${file}:${line}: ${target} leaves the repository`);
      else if (!existsSync(to)) broken.push(`${file}:${line}: ${target}: no such file`);
      else if (anchor !== undefined && statSync(to).isFile() && to.endsWith('.md') && !anchorsIn(to).has(anchor)) {
        broken.push(`${file}:${line}: ${target}: no heading #${anchor} in ${to.slice(ROOT.length)}`);
      }
    }
  }
  assert.ok(checked > 100, `links were found (${checked})`);
  assert.deepEqual(broken, [], `broken links:\n${broken.join('\n')}`);
});

/** A command line shown in the docs, where it is. */
interface Shown { readonly where: string; readonly words: readonly string[] }

function shownCommands(): Shown[] {
  const out: Shown[] = [];
  const add = (where: string, text: string) => {
    for (const words of simpleCommands(text)) {
      const start = words.findIndex((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)); // past VAR=value
      if (start >= 0 && words[start]! in PROGRAMS) out.push({ where, words: words.slice(start) });
    }
  };
  for (const file of FILES) {
    const { prose, fences } = parseMarkdown(readFileSync(join(ROOT, file), 'utf8'));
    for (const fence of fences.filter((f) => SHELL.has(f.lang))) {
      for (const { line, text } of logicalLines(fence.lines, fence.line)) add(`${file}:${line}`, stripComment(text));
    }
    for (const { line, text } of prose) {
      for (const span of codeSpans(text)) {
        // A table cell escapes | as \|: `sessions list\|show` names alternatives, each a command.
        if (/^airlock(-agent)? /.test(span)) add(`${file}:${line}`, span.replace(/\\\|/g, '|'));
      }
    }
  }
  return out;
}

const takesValue = (o: Option) => o.required || o.optional;

/** What is wrong with `words` (program name first) against the program's command tree, or undefined. */
function problemOf(words: readonly string[]): string | undefined {
  let cmd = PROGRAMS[words[0]!]!;
  let positional = false;
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!.replace(/^\[|\]$/g, ''); // [--device] in a synopsis
    if (word === '…' || word === '...' || word === '--') return undefined; // the rest is not ours to check
    if (/^-/.test(word) && word !== '-') {
      const name = word.split('=')[0]!;
      if (name === '-h' || name === '--help') continue;
      const option = cmd.options.find((o) => !o.hidden && (o.long === name || o.short === name)); // hidden ones are not in --help
      if (!option) return `\`${path(cmd)}\` has no option ${name} (its --help lists ${cmd.options.map((o) => o.long).join(', ') || 'none'})`;
      if (takesValue(option) && !word.includes('=') && (option.required || !/^-/.test(words[i + 1] ?? '-'))) i++;
      continue;
    }
    const sub = positional ? undefined : cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub) { cmd = sub; continue; }
    if (cmd.commands.length > 0 && cmd.registeredArguments.length === 0 && word !== 'help') {
      return `\`${path(cmd)}\` has no subcommand ${word} (it has ${cmd.commands.map((c) => c.name()).join(', ')})`;
    }
    positional = true;
  }
  return undefined;
}

function path(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

test('every airlock and airlock-agent command shown in the docs exists, with only options its --help lists', () => {
  const shown = shownCommands();
  assert.ok(shown.length > 80, `commands were found (${shown.length})`);
  const wrong = shown.flatMap((s) => {
    const problem = problemOf(s.words);
    return problem ? [`${s.where}: ${s.words.join(' ')}\n    ${problem}`] : [];
  });
  assert.deepEqual(wrong, [], `commands in the docs that the CLI does not take:\n${wrong.join('\n')}`);
});

test('the link checker reads headings and links as GitHub does', () => {
  assert.equal(slug('What else `airlock dev` serves'), 'what-else-airlock-dev-serves');
  assert.equal(slug('Limits that protect the gateway'), 'limits-that-protect-the-gateway');
  assert.equal(slug('[Reviews](x.md): held, approved — and denied'), 'reviews-held-approved--and-denied');
  assert.deepEqual([...anchorsOf('# A\n```sh\n# not a heading\n```\n## A\n<a id="here"></a>\n')], ['a', 'a-1', 'here']);
  assert.deepEqual(linksOf('see [x](a.md#b), `[not](c.md)`, [web](https://e.org) and ![img](i.png "t")\n```\n[no](d.md)\n```'), [{ line: 1, target: 'a.md#b' }, { line: 1, target: 'i.png' }]);
});

test('the checker itself catches a wrong subcommand, an unknown option and an option of another subcommand', () => {
  assert.equal(problemOf(['airlock', 'sessions', 'replay', 'ses_1', '--speed', '0']), undefined);
  assert.equal(problemOf(['airlock', 'reviews', 'approve', 'rev_1', '--reason=ok']), undefined);
  assert.equal(problemOf(['airlock', 'sesions', 'list']), '`airlock` has no subcommand sesions (it has ' + airlock.commands.map((c) => c.name()).join(', ') + ')');
  assert.match(problemOf(['airlock', 'sessions', 'verify', 'ses_1', '--chekpoint']) ?? '', /^`airlock sessions verify` has no option --chekpoint \(its --help lists --all, --since, --checkpoint, /);
  assert.match(problemOf(['airlock-agent', 'secrets', 'list', '--type', 'bearer']) ?? '', /^`airlock-agent secrets list` has no option --type/);
  // the words a line is made of: substitutions are commands of their own, quotes and comments go
  assert.deepEqual(simpleCommands(stripComment('X=$(airlock dev token --user bob) airlock whoami --json  # who')), [['airlock', 'dev', 'token', '--user', 'bob'], ['X=SUBSTITUTED', 'airlock', 'whoami', '--json']]);
  assert.deepEqual(simpleCommands('curl -H "Authorization: Bearer $(airlock token)" x | airlock policy eval -i - 2>&1'), [['airlock', 'token'], ['curl', '-H', 'Authorization: Bearer SUBSTITUTED', 'x'], ['airlock', 'policy', 'eval', '-i', '-', '2>&1']]);
});
