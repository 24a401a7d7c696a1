// The simple commands of a shell line as the docs write them, enough to find each `airlock …` call
// and its words: comments dropped, `$(…)` substitutions taken out as commands of their own,
// split at | || && ; & ( ), quotes removed. Not a shell: no expansion, no here-documents.

/** Lines joined where they end in a backslash, each with the number of its first line (1-based, from `first`). */
export function logicalLines(lines: readonly string[], first: number): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let pending: { line: number; text: string } | undefined;
  lines.forEach((raw, i) => {
    const continued = /\\\s*$/.test(raw);
    const text = raw.replace(/\\\s*$/, ' ');
    if (pending) pending.text += text;
    else pending = { line: first + i, text };
    if (!continued) {
      out.push(pending);
      pending = undefined;
    }
  });
  if (pending) out.push(pending);
  return out;
}

/** The line without its comment (a # at the start of a word, outside quotes). */
export function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '\\') i++;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

/** `$(…)` bodies taken out (as commands of their own) and replaced by a placeholder word. */
function substitutions(line: string, found: string[]): string {
  let out = '';
  let single = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" ) single = !single;
    if (!single && c === '$' && line[i + 1] === '(') {
      let depth = 1;
      let j = i + 2;
      for (; j < line.length && depth > 0; j++) {
        if (line[j] === '(') depth++;
        else if (line[j] === ')') depth--;
      }
      found.push(substitutions(line.slice(i + 2, j - 1), found));
      out += 'SUBSTITUTED';
      i = j - 1;
      continue;
    }
    out += c;
  }
  return out;
}

/** Every simple command of `line` (comment already stripped), as words. */
export function simpleCommands(line: string): string[][] {
  const texts: string[] = [];
  texts.push(substitutions(line, texts));
  const commands: string[][] = [];
  for (const text of texts) {
    let words: string[] = [];
    let word: string | undefined;
    let quote: string | undefined;
    const endWord = () => { if (word !== undefined) words.push(word); word = undefined; };
    const endCommand = () => { endWord(); if (words.length) commands.push(words); words = []; };
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i]!;
        else word += c;
      } else if (c === "'" || c === '"') { word ??= ''; quote = c; }
      else if (c === '\\' && i + 1 < text.length) { word = (word ?? '') + text[++i]!; }
      else if (/\s/.test(c)) endWord();
      else if (c === '&' && (text[i - 1] === '>' || text[i + 1] === '>')) word = (word ?? '') + c; // 2>&1, &>
      else if ('|&;()'.includes(c)) endCommand();
      else word = (word ?? '') + c;
    }
    endCommand();
  }
  return commands;
}
