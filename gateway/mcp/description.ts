// Scanning a tool description (or any text an upstream MCP server hands the model) for what a
// person reviewing it would not see or would not expect: invisible characters (zero-width,
// bidi controls, Unicode tag characters that spell hidden ASCII, variation-selector runs, other
// format characters) and text that addresses the model rather than describing the tool
// ("ignore previous instructions", "<IMPORTANT>", "do not tell the user", "read ~/.ssh/id_rsa",
// steering other tools, sending data elsewhere). Findings have the inspectors' shape; policy
// decides whether to strip, hide or block.
//
// Legitimate uses are left alone: a ZWJ inside an emoji sequence or between letters of a script
// that needs it, one variation selector after an emoji or an ideograph, and the tag characters
// of a subdivision flag (🏴 + tags + cancel tag).
import type { Finding, Severity } from '../inspect/types.ts';

export const HIDDEN_UNICODE_KIND = 'mcp.hidden_unicode';
export const INSTRUCTION_TEXT_KIND = 'mcp.instruction_text';

/** Most UTF-16 code units scanned; the rest is reported as `inspect.limit`. Default 100 000. */
export const DESCRIPTION_SCAN_MAX_CHARS = 100_000;

type HiddenClass = 'zero-width' | 'bidi' | 'tag' | 'variation-selector' | 'format';

const CLASS_SEVERITY: Readonly<Record<HiddenClass, Severity>> = {
  'zero-width': 'medium',
  bidi: 'high',
  tag: 'high',
  'variation-selector': 'high',
  format: 'medium',
};

const CLASS_LABEL: Readonly<Record<HiddenClass, string>> = {
  'zero-width': 'zero-width',
  bidi: 'bidirectional control',
  tag: 'Unicode tag',
  'variation-selector': 'variation selector',
  format: 'invisible format (Cf)',
};

const FORMAT = /^\p{Cf}$/u;
const PICTOGRAPHIC = /^[\p{Extended_Pictographic}\p{Emoji_Modifier}\u{FE0F}]$/u;
const JOINING_LETTER = /^[\p{L}\p{M}]$/u;
const LATIN = /^\p{Script=Latin}$/u;
const IDEOGRAPH = /^\p{Ideographic}$/u;

function baseClass(cp: number): HiddenClass | undefined {
  if ((cp >= 0x200b && cp <= 0x200d) || (cp >= 0x2060 && cp <= 0x2064) || cp === 0xfeff || cp === 0x180e) return 'zero-width';
  if (cp === 0x200e || cp === 0x200f || cp === 0x061c || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return 'bidi';
  if (cp >= 0xe0000 && cp <= 0xe007f) return 'tag';
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) return 'variation-selector';
  if (cp > 0x7f && FORMAT.test(String.fromCodePoint(cp))) return 'format';
  return undefined;
}

interface CodePoint {
  readonly cp: number;
  /** Offset in UTF-16 code units. */
  readonly at: number;
  readonly ch: string;
}

function codePoints(text: string): CodePoint[] {
  const out: CodePoint[] = [];
  let at = 0;
  for (const ch of text) {
    out.push({ cp: ch.codePointAt(0)!, at, ch });
    at += ch.length;
  }
  return out;
}

const isVs = (cp: number | undefined) => cp !== undefined && ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef));

/** The class of the code point at `i` if it is hidden in this context, else undefined. */
function hiddenAt(cps: readonly CodePoint[], i: number): HiddenClass | undefined {
  const c = cps[i]!;
  const cls = baseClass(c.cp);
  if (cls === undefined) return undefined;
  const prev = cps[i - 1];
  const next = cps[i + 1];
  if (cls === 'zero-width' && (c.cp === 0x200d || c.cp === 0x200c) && prev) {
    // ZWJ joins emoji into one picture (👨‍👩‍👧); ZWJ/ZWNJ shape letters in Arabic and Indic
    // scripts, also at the end of a word (Malayalam chillu). Never two in a row, never next to Latin.
    if (c.cp === 0x200d && next && PICTOGRAPHIC.test(prev.ch) && PICTOGRAPHIC.test(next.ch)) return undefined;
    if (JOINING_LETTER.test(prev.ch) && !LATIN.test(prev.ch) && (!next || (!LATIN.test(next.ch) && baseClass(next.cp) === undefined))) return undefined;
  }
  if (cls === 'variation-selector' && prev && !isVs(prev.cp) && !isVs(next?.cp)) {
    // One selector picks a glyph: text/emoji style after any character, an ideographic variant after a CJK ideograph.
    if (c.cp <= 0xfe0f || IDEOGRAPH.test(prev.ch)) return undefined;
  }
  return cls;
}

/** Indexes of the tag characters of subdivision flags (🏴 + 2–6 tag letters/digits + cancel tag), which are not hidden text. */
function flagTags(cps: readonly CodePoint[]): Set<number> {
  const keep = new Set<number>();
  for (let i = 0; i < cps.length; i++) {
    if (cps[i]!.cp !== 0x1f3f4) continue;
    let j = i + 1;
    while (j < cps.length && j - i <= 7 && ((cps[j]!.cp >= 0xe0030 && cps[j]!.cp <= 0xe0039) || (cps[j]!.cp >= 0xe0061 && cps[j]!.cp <= 0xe007a))) j++;
    const letters = j - i - 1;
    if (letters >= 2 && letters <= 6 && cps[j]?.cp === 0xe007f) for (let k = i + 1; k <= j; k++) keep.add(k);
  }
  return keep;
}

interface HiddenRun {
  readonly cls: HiddenClass;
  readonly start: number;
  readonly end: number;
  readonly cps: number[];
}

/** Runs of hidden characters in order; `hiddenOffsets` (if given) receives the offset of each hidden code point. */
function hiddenRuns(cps: readonly CodePoint[], hiddenOffsets?: Set<number>): HiddenRun[] {
  const flags = flagTags(cps);
  const runs: HiddenRun[] = [];
  let current: { cls: HiddenClass; start: number; end: number; cps: number[] } | undefined;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    const cls = flags.has(i) ? undefined : hiddenAt(cps, i);
    if (cls !== undefined) hiddenOffsets?.add(c.at);
    if (cls !== undefined && current?.cls === cls && current.end === c.at) {
      current.end = c.at + c.ch.length;
      current.cps.push(c.cp);
      continue;
    }
    if (current) runs.push(current);
    current = cls === undefined ? undefined : { cls, start: c.at, end: c.at + c.ch.length, cps: [c.cp] };
  }
  if (current) runs.push(current);
  return runs;
}

const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** The ASCII a run of tag characters spells (tag U+E0020–E007E mirror ASCII 0x20–0x7E). */
function decodeTags(cps: readonly number[]): string {
  return cps.map((cp) => (cp >= 0xe0020 && cp <= 0xe007e ? String.fromCharCode(cp - 0xe0000) : '')).join('');
}

function quote(text: string, max = 120): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

interface Phrase {
  readonly category: string;
  readonly severity: Severity;
  readonly pattern: RegExp;
}

// Phrases that address the model. Matched case-insensitively, on the text with hidden characters
// removed and compatibility forms folded (NFKC), with word boundaries so that "designore" or
// "reignore" do not count. Each list errs towards phrases an honest description does not use.
const NOT_PATH = String.raw`(?<![\w.~/-])`;
const PHRASES: readonly Phrase[] = [
  { category: 'override', severity: 'high', pattern: /\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|the|your|my|of|these|those)\s+)*(?:previous|prior|above|earlier|preceding|original|system|safety|other)\s+(?:instructions?|prompts?|rules|directions|guidelines|messages|context)\b/gi },
  { category: 'override', severity: 'high', pattern: /\b(?:new|updated|real|actual|hidden|secret|additional)\s+(?:system\s+)?instructions?\s*:/gi },
  { category: 'override', severity: 'high', pattern: /\b(?:you\s+are\s+now\b|from\s+now\s+on,?\s+you\b|system\s+prompt\b)/gi },
  { category: 'secrecy', severity: 'high', pattern: /\b(?:do\s+not|don['’]t|never|must\s+not|should\s+not)\s+(?:tell|inform|mention|reveal|show|notify|alert|disclose|say)\s+(?:(?:this|it|that|anything|about\s+(?:this|it))\s+)?(?:to\s+)?(?:the\s+)?user\b/gi },
  { category: 'secrecy', severity: 'high', pattern: /\bwithout\s+(?:telling|informing|notifying|alerting|asking)\s+(?:the\s+)?user\b/gi },
  { category: 'secrecy', severity: 'high', pattern: /\b(?:do\s+not|don['’]t|never)\s+(?:mention|reveal|disclose)\s+(?:that|this\s+instruction|these\s+instructions)\b/gi },
  { category: 'secrecy', severity: 'high', pattern: /\b(?:keep|hide)\s+(?:this|it|that)\s+(?:(?:secret|hidden|confidential)\s+)?from\s+(?:the\s+)?user\b/gi },
  { category: 'secrecy', severity: 'high', pattern: /\bthe\s+user\s+(?:must|should|need|needs)\s+(?:not|never)\s+(?:to\s+)?(?:know|see|notice|be\s+told)\b/gi },
  { category: 'markup', severity: 'medium', pattern: /<\s*\/?\s*(?:important|system|instructions?|secret|hidden|admin)\s*>|\[\/?INST\]|<\|im_(?:start|end)\|>/gi },
  { category: 'pre-step', severity: 'medium', pattern: /\b(?:before|prior\s+to)\s+(?:using|calling|invoking|running)\s+(?:this|the|any)\s+tool\b[^.!?\n]{0,80}?\b(?:read|cat|open|send|upload|include|pass|fetch)\b/gi },
  { category: 'sensitive-file', severity: 'high', pattern: new RegExp(`${NOT_PATH}(?:~\\/\\.ssh|\\.ssh\\/|~\\/\\.aws|\\.aws\\/credentials|\\/etc\\/(?:passwd|shadow|sudoers)|\\.kube\\/config|\\.docker\\/config\\.json|~\\/\\.netrc|\\.git-credentials|\\.pgpass)|\\bid_(?:rsa|dsa|ecdsa|ed25519)\\b|\\bmcp\\.json\\b`, 'gi') },
  { category: 'other-tools', severity: 'high', pattern: /\b(?:when|whenever|if)\s+(?:(?:the|any|another|other)\s+)?(?:`?[\w.-]+`?\s+)?tool\s+is\s+(?:called|used|invoked|available|present)\b/gi },
  { category: 'other-tools', severity: 'high', pattern: /\b(?:all|any|every)\s+other\s+tools?\b|\bchange\s+(?:the\s+)?behaviou?r\s+of\b|\b(?:overrides?|shadows?)\s+(?:the\s+)?(?:`?[\w.-]+`?\s+)?tools?\b/gi },
  { category: 'other-tools', severity: 'high', pattern: /\b(?:must|should)\s+(?:always\s+)?be\s+(?:called|used|invoked)\s+(?:before|after)\s+(?:any|every|all|each)\b/gi },
  { category: 'exfiltration', severity: 'high', pattern: /\bexfiltrat\w*/gi },
  { category: 'exfiltration', severity: 'high', pattern: /\b(?:send|forward|upload|post|transmit|copy|leak|e-?mail|bcc|cc)\s+(?:it|them|this|that|everything|all\s+(?:data|files|messages|e-?mails)|(?:the|its|their|your)\s+(?:full\s+|entire\s+)?(?:contents?|data|files?|results?|output|conversation|chat|history|tokens?|keys?|passwords?|credentials|secrets?|messages|e-?mails))\b[^.!?\n]{0,60}?\bto\s+(?:https?:\/\/|[\w.+-]+@[\w-]+\.|the\s+following\b|this\s+(?:address|url|endpoint)\b)/gi },
  { category: 'exfiltration', severity: 'high', pattern: /\b(?:include|pass|put|embed|append|add)\s+(?:(?:the|its|their|your|full|entire|complete)\s+)*(?:contents?|conversation|chat\s+history|api\s+keys?|tokens?|passwords?|credentials|secrets?|private\s+keys?|environment\s+variables)\b[^.!?\n]{0,60}?\b(?:as|in|into)\s+(?:the\s+)?(?:[`'"]?[\w.-]+[`'"]?\s+)?[`'"]?(?:parameter|argument|field|sidenote)\b/gi },
];

export interface ScanOptions {
  /** JSONPath reported in each finding. Default `$`. */
  readonly path?: string;
  /** Most UTF-16 code units scanned. Default DESCRIPTION_SCAN_MAX_CHARS. */
  readonly maxChars?: number;
}

/** The text with every hidden character removed and the rest folded with NFKC, and where each unit came from. */
function visibleText(cps: readonly CodePoint[], hidden: ReadonlySet<number>): { text: string; origin: number[] } {
  let text = '';
  const origin: number[] = [];
  for (const c of cps) {
    if (hidden.has(c.at)) continue;
    const folded = c.cp < 0x80 ? c.ch : c.ch.normalize('NFKC');
    text += folded;
    for (let k = 0; k < folded.length; k++) origin.push(c.at);
  }
  return { text, origin };
}

function instructionFindings(text: string, path: string, spanOf: (start: number, end: number) => { start: number; end: number }, prefix: string): Finding[] {
  const out: Finding[] = [];
  for (const phrase of PHRASES) {
    for (const m of text.matchAll(phrase.pattern)) {
      const span = spanOf(m.index, m.index + m[0].length);
      out.push({ kind: INSTRUCTION_TEXT_KIND, path, span, severity: phrase.severity, detail: `${prefix}instruction-like text (${phrase.category}): ${quote(m[0].replace(/\s+/g, ' '))}` });
    }
  }
  return out;
}

/**
 * Findings for hidden Unicode (`mcp.hidden_unicode`, one per run of the same class) and
 * instruction-like text (`mcp.instruction_text`) in `text`, ordered by position. Spans are UTF-16
 * offsets into `text`. Text hidden in tag characters is decoded and scanned for instructions too.
 */
export function scanDescription(text: string, options: ScanOptions = {}): Finding[] {
  const path = options.path ?? '$';
  const max = options.maxChars ?? DESCRIPTION_SCAN_MAX_CHARS;
  const findings: Finding[] = [];
  let scanned = text;
  if (text.length > max) {
    scanned = text.slice(0, max);
    findings.push({ kind: 'inspect.limit', path, span: { start: max, end: text.length }, severity: 'medium', detail: `the text is ${text.length} characters; only the first ${max} were scanned` });
  }
  if (!NON_ASCII.test(scanned)) {
    // Plain ASCII (most descriptions) hides nothing and folds to itself.
    findings.push(...instructionFindings(scanned, path, (start, end) => ({ start, end }), ''));
    return findings.sort(byPosition);
  }
  const cps = codePoints(scanned);
  const hidden = new Set<number>();
  const runs = hiddenRuns(cps, hidden);
  for (const run of runs) {
    const distinct = [...new Set(run.cps)].slice(0, 5).map(hex).join(', ');
    const count = run.cps.length;
    let detail = `${count} ${CLASS_LABEL[run.cls]} character${count === 1 ? '' : 's'} (${distinct}${new Set(run.cps).size > 5 ? ', …' : ''})`;
    if (run.cls === 'tag') {
      const decoded = decodeTags(run.cps);
      if (decoded.length > 0) {
        detail += ` spelling ${quote(decoded)}`;
        findings.push(...instructionFindings(decoded, path, () => ({ start: run.start, end: run.end }), 'hidden in tag characters: '));
      }
    }
    findings.push({ kind: HIDDEN_UNICODE_KIND, path, span: { start: run.start, end: run.end }, severity: CLASS_SEVERITY[run.cls], detail });
  }
  const visible = visibleText(cps, hidden);
  const spanOf = (start: number, end: number) => {
    const last = visible.origin[end - 1]!;
    return { start: visible.origin[start]!, end: last + (scanned.codePointAt(last)! > 0xffff ? 2 : 1) };
  };
  findings.push(...instructionFindings(visible.text, path, spanOf, ''));
  return findings.sort(byPosition);
}

const NON_ASCII = /[^\x00-\x7f]/;
const byPosition = (a: Finding, b: Finding) => (a.span?.start ?? 0) - (b.span?.start ?? 0) || a.kind.localeCompare(b.kind);

/** `text` without the characters scanDescription reports as hidden Unicode (legitimate emoji and flag sequences kept). */
export function stripHidden(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  const cps = codePoints(text);
  const runs = hiddenRuns(cps);
  if (runs.length === 0) return text;
  let out = '';
  let from = 0;
  for (const run of runs) {
    out += text.slice(from, run.start);
    from = run.end;
  }
  return out + text.slice(from);
}
