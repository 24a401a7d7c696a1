// `search_tools` for the aggregate endpoint: BM25 over three fields of each tool, its name (split
// on `_`, `-`, `.`, `/` and camelCase, weighted 3), its description (weight 1) and its top-level
// argument names (weight 0.5), with a light English plural/-ing/-ed folding so "list pets" finds
// `listPet`. An exact name (or the part after `<connection>__`) ranks first. The index is built
// once per tool list; ties are broken by name, so the same query always gives the same order.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { SEARCH_MAX_LIMIT, SEARCH_MAX_QUERY } from './meta-tools.ts';

/** BM25 term-frequency saturation and length normalisation (the usual defaults). */
const K1 = 1.2;
const B = 0.75;
const FIELDS = [
  { key: 'name', weight: 3 },
  { key: 'description', weight: 1 },
  { key: 'args', weight: 0.5 },
] as const;
type FieldKey = (typeof FIELDS)[number]['key'];

/** Most distinct terms used from a query. */
const MAX_QUERY_TERMS = 32;
const EXACT_BOOST = 1000;

const STOP = new Set(['a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'for', 'from', 'has', 'in', 'is', 'it', 'its', 'of', 'on', 'or', 'that', 'the', 'this', 'to', 'was', 'will', 'with', 'tool', 'tools']);

/** Folds the most common English inflections; both the index and the query go through it. */
function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 5 && word.endsWith('ing')) return word.slice(0, -3);
  if (word.length > 4 && word.endsWith('ed')) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !/(?:ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

/** Lower-case terms of free text, stop words dropped. */
function words(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOP.has(w)).map(stem);
}

/** Terms of an identifier: `getHTTPResponse_v2-items` → get, http, response, v2, item. */
export function identifierTerms(name: string): string[] {
  const spaced = name
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1 $2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1 $2');
  return words(spaced);
}

interface Doc {
  readonly tool: Tool;
  readonly exact: readonly string[];
  readonly tf: Readonly<Record<FieldKey, ReadonlyMap<string, number>>>;
  readonly len: Readonly<Record<FieldKey, number>>;
}

export interface SearchIndex {
  readonly docs: readonly Doc[];
  /** Indexes (into docs) of the documents containing each term, in any field; its length is the term's document frequency. */
  readonly postings: ReadonlyMap<string, readonly number[]>;
  readonly avgLen: Readonly<Record<FieldKey, number>>;
}

function counts(terms: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of terms) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

/** Builds the index for a tool list; O(total text). Rebuild it when the list changes. */
export function buildSearchIndex(tools: readonly Tool[]): SearchIndex {
  const postings = new Map<string, number[]>();
  const totals: Record<FieldKey, number> = { name: 0, description: 0, args: 0 };
  const docs = tools.map((tool, i): Doc => {
    const fields: Record<FieldKey, string[]> = {
      name: identifierTerms(tool.name),
      description: words(`${tool.title ?? ''} ${tool.description ?? ''}`),
      args: Object.keys(tool.inputSchema.properties ?? {}).flatMap(identifierTerms),
    };
    const tf = { name: counts(fields.name), description: counts(fields.description), args: counts(fields.args) };
    for (const term of new Set([...tf.name.keys(), ...tf.description.keys(), ...tf.args.keys()])) {
      const list = postings.get(term);
      if (list === undefined) postings.set(term, [i]);
      else list.push(i);
    }
    for (const { key } of FIELDS) totals[key] += fields[key].length;
    const lower = tool.name.toLowerCase();
    const exact = [lower, ...(lower.includes('__') ? [lower.slice(lower.indexOf('__') + 2)] : [])];
    return { tool, exact, tf, len: { name: fields.name.length, description: fields.description.length, args: fields.args.length } };
  });
  const n = Math.max(1, docs.length);
  return { docs, postings, avgLen: { name: totals.name / n || 1, description: totals.description / n || 1, args: totals.args / n || 1 } };
}

export interface SearchHit {
  readonly tool: Tool;
  readonly score: number;
}

/**
 * The best `limit` tools (default 10, at most SEARCH_MAX_LIMIT) for `query`, best first, ties by
 * name. A query with no usable terms lists tools by name. Tools that match no term are left out.
 */
export function searchTools(index: SearchIndex, query: string, limit = 10): SearchHit[] {
  const max = Math.max(1, Math.min(SEARCH_MAX_LIMIT, Math.floor(Number.isFinite(limit) ? limit : 10)));
  const q = String(query).slice(0, SEARCH_MAX_QUERY);
  const terms = [...new Set(identifierTerms(q))].slice(0, MAX_QUERY_TERMS);
  const byName = (a: SearchHit, b: SearchHit) => b.score - a.score || (a.tool.name < b.tool.name ? -1 : a.tool.name > b.tool.name ? 1 : 0);
  if (terms.length === 0) return index.docs.map((d) => ({ tool: d.tool, score: 0 })).sort(byName).slice(0, max);
  const n = index.docs.length;
  const exact = q.trim().toLowerCase();
  // Only documents that hold a query term are scored (terms in query order, so sums are reproducible).
  const scores = new Map<number, number>();
  for (const term of terms) {
    const list = index.postings.get(term);
    if (list === undefined) continue;
    const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5));
    for (const i of list) {
      const doc = index.docs[i]!;
      let s = 0;
      for (const { key, weight } of FIELDS) {
        const f = doc.tf[key].get(term);
        if (f !== undefined) s += weight * idf * ((f * (K1 + 1)) / (f + K1 * (1 - B + (B * doc.len[key]) / index.avgLen[key])));
      }
      scores.set(i, (scores.get(i) ?? 0) + s);
    }
  }
  index.docs.forEach((doc, i) => {
    if (doc.exact.includes(exact)) scores.set(i, (scores.get(i) ?? 0) + EXACT_BOOST);
  });
  const hits: SearchHit[] = [];
  for (const [i, score] of scores) if (score > 0) hits.push({ tool: index.docs[i]!.tool, score });
  return hits.sort(byName).slice(0, max);
}

export { META_TOOLS, SEARCH_TOOLS, DESCRIBE_TOOL, CALL_TOOL, SEARCH_MAX_LIMIT, SEARCH_MAX_QUERY } from './meta-tools.ts';
