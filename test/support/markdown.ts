// Reading the repository's Markdown as GitHub renders it: the files of the manual, their headings'
// anchors (GitHub's slug rules), their relative links, and the `airlock` / `airlock-agent` command
// lines they show (fenced sh blocks and inline code). Used by test/docs.test.ts and the tour test.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every .md file of the repository at `root` (not node_modules, .git, or runtime state), relative paths. */
export function markdownFiles(root: string): string[] {
  const skip = new Set(['node_modules', '.git', 'data', '.airlock-dev']);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (skip.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) out.push(relative(root, path));
    }
  };
  walk(root);
  return out.sort();
}

/** One line of a Markdown file outside fenced code, with its 1-based number. */
export interface ProseLine { readonly line: number; readonly text: string }

/** A fenced code block: its info string (`sh`), its first content line (1-based) and its lines. */
export interface Fence { readonly lang: string; readonly line: number; readonly lines: string[]; readonly before: string }

/** Splits Markdown into prose lines and fenced blocks. `before` is the last non-blank prose line above a fence. */
export function parseMarkdown(text: string): { prose: ProseLine[]; fences: Fence[] } {
  const prose: ProseLine[] = [];
  const fences: Fence[] = [];
  let open: { marker: string; lang: string; line: number; lines: string[]; before: string } | undefined;
  let lastProse = '';
  text.split('\n').forEach((raw, i) => {
    const fence = /^\s*(`{3,}|~{3,})\s*([\w-]*)/.exec(raw);
    if (open) {
      if (fence && fence[1]!.startsWith(open.marker) && raw.trim() === fence[1]) {
        fences.push({ lang: open.lang, line: open.line, lines: open.lines, before: open.before });
        open = undefined;
      } else open.lines.push(raw);
      return;
    }
    if (fence) {
      open = { marker: fence[1]!, lang: fence[2] ?? '', line: i + 2, lines: [], before: lastProse };
      return;
    }
    prose.push({ line: i + 1, text: raw });
    if (raw.trim() !== '') lastProse = raw.trim();
  });
  return { prose, fences };
}

/** Inline code spans of a prose line, without their backticks. */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/(`+)(.+?)\1/g)].map((m) => m[2]!.trim());
}

/** A heading's anchor as GitHub makes it: the rendered text, lower-cased, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/`([^`]*)`/g, '$1')
    .replace(/<[^>]+>/g, '');
  return rendered.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors a Markdown file offers: each heading's slug (repeats get -1, -2, …) and explicit id/name attributes. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text: line } of parseMarkdown(text).prose) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** Relative links (`[text](target)`) in prose, outside inline code, with their line numbers. */
export function linksOf(text: string): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  for (const { line, text: prose } of parseMarkdown(text).prose) {
    const withoutCode = prose.replace(/(`+).+?\1/g, '');
    for (const m of withoutCode.matchAll(/!?\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      out.push({ line, target });
    }
  }
  return out;
}
