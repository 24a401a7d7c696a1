// JSONPath for findings, in the normalized style of RFC 9535 with dot shorthand for plain
// names: `$`, `$.customers[0].card`, `$['a b']`, `$['it\'s']`. Two additions of our own:
//   - `[#3]` names the member at position 3 (0-based, in Object.keys order) of an object whose
//     key itself holds PII, so a path never carries a PII value in clear;
//   - a trailing `~` (as in JSONPath-Plus) means the member's key rather than its value.
// parsePath reads back exactly what formatSegment writes; masking uses it to find the value.

/** A path under construction: each node adds one formatted segment to its parent's path. */
export interface PathNode {
  readonly parent: PathNode | null;
  readonly segment: string;
}

export const ROOT: PathNode = { parent: null, segment: '$' };

/** A rendered JSONPath, or a node that renders to one only when a finding needs it. */
export type PathRef = string | PathNode;

export function renderPath(path: PathRef): string {
  if (typeof path === 'string') return path;
  let out = '';
  for (let n: PathNode | null = path; n !== null; n = n.parent) out = n.segment + out;
  return out;
}

export type Segment =
  | { readonly type: 'index'; readonly index: number }
  | { readonly type: 'name'; readonly name: string }
  | { readonly type: 'ordinal'; readonly index: number };

export interface ParsedPath {
  readonly segments: readonly Segment[];
  /** The path ends in `~`: the last segment's key, not its value. */
  readonly key: boolean;
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLAIN_AT = /[A-Za-z_][A-Za-z0-9_]*/y;

export function nameSegment(name: string): string {
  if (PLAIN.test(name)) return `.${name}`;
  let out = "['";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x27) out += "\\'";
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) out += c === 10 ? '\\n' : c === 13 ? '\\r' : c === 9 ? '\\t' : c === 8 ? '\\b' : c === 12 ? '\\f' : `\\u${c.toString(16).padStart(4, '0')}`;
    else out += name[i];
  }
  return out + "']";
}

const SMALL_INDEXES: readonly string[] = Array.from({ length: 1024 }, (_, i) => `[${i}]`);

export function indexSegment(index: number): string {
  return SMALL_INDEXES[index] ?? `[${index}]`;
}

export function ordinalSegment(index: number): string {
  return `[#${index}]`;
}

/** The inverse of the formatters above; null when `path` is not in that form. */
export function parsePath(path: string): ParsedPath | null {
  if (path[0] !== '$') return null;
  const segments: Segment[] = [];
  let i = 1;
  let key = false;
  while (i < path.length) {
    const c = path[i];
    if (c === '~' && i === path.length - 1 && segments.length > 0) { key = true; i++; break; }
    if (c === '.') {
      PLAIN_AT.lastIndex = i + 1;
      const m = PLAIN_AT.exec(path);
      if (!m) return null;
      segments.push({ type: 'name', name: m[0] });
      i += 1 + m[0].length;
    } else if (c === '[' && path[i + 1] === "'") {
      let j = i + 2;
      let name = '';
      for (;;) {
        if (j >= path.length) return null;
        const d = path[j]!;
        if (d === "'") break;
        if (d === '\\') {
          const e = path[j + 1];
          if (e === 'u') {
            const hex = path.slice(j + 2, j + 6);
            if (!/^[0-9a-f]{4}$/i.test(hex)) return null;
            name += String.fromCharCode(parseInt(hex, 16));
            j += 6;
            continue;
          }
          const simple: Record<string, string> = { "'": "'", '\\': '\\', n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };
          if (e === undefined || simple[e] === undefined) return null;
          name += simple[e];
          j += 2;
          continue;
        }
        name += d;
        j++;
      }
      if (path[j + 1] !== ']') return null;
      segments.push({ type: 'name', name });
      i = j + 2;
    } else if (c === '[') {
      // [123] or [#123]: 1–15 digits, read in place (masking parses a path per finding).
      const ordinal = path.charCodeAt(i + 1) === 0x23;
      let j = ordinal ? i + 2 : i + 1;
      let index = 0;
      const from = j;
      for (let d = path.charCodeAt(j); d >= 0x30 && d <= 0x39 && j - from < 15; d = path.charCodeAt(++j)) index = index * 10 + (d - 0x30);
      if (j === from || path.charCodeAt(j) !== 0x5d) return null;
      segments.push(ordinal ? { type: 'ordinal', index } : { type: 'index', index });
      i = j + 1;
    } else {
      return null;
    }
  }
  return { segments, key };
}
