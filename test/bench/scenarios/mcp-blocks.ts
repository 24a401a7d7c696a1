// The MCP gateway's building blocks on the hot path of a tools/call and a tools/list: argument
// validation (cached compiled schema), search over a large aggregate tool list, the description
// scan and the fingerprint that tool pinning computes per listed tool, and turning the Petstore
// document into tools (once per connection change).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Metric, Scenario } from '../scenario.ts';
import { toolsFromOpenApi } from '../../../gateway/mcp/openapi.ts';
import { validateArguments } from '../../../gateway/mcp/arguments.ts';
import { buildSearchIndex, searchTools } from '../../../gateway/mcp/search.ts';
import { scanDescription, toolFingerprint } from '../../../gateway/mcp/integrity.ts';

const BUDGET_MS = 1_000;
const MAX_OPS = 1_000_000;

/** Ops per second of `fn` over at most BUDGET_MS and MAX_OPS calls. */
function rate(fn: (i: number) => unknown): number {
  for (let i = 0; i < 100; i++) fn(i);
  const started = performance.now();
  const stop = started + BUDGET_MS;
  let n = 0;
  while (n < MAX_OPS && performance.now() < stop) {
    for (let k = 0; k < 100; k++) fn(n + k);
    n += 100;
  }
  return n / ((performance.now() - started) / 1000);
}

const WORDS = ['list', 'create', 'update', 'delete', 'invoice', 'customer', 'order', 'pet', 'ticket', 'user', 'report', 'export', 'search', 'file', 'branch', 'deploy'];

const scenario: Scenario = {
  name: 'mcp-blocks',
  async run(): Promise<Metric[]> {
    const doc = parseYaml(readFileSync(new URL('../../gateway/mcp/fixtures/petstore-3.0.yaml', import.meta.url), 'utf8'));
    const t0 = performance.now();
    const tools = await toolsFromOpenApi(doc);
    const openapiMs = performance.now() - t0;

    const create = tools.find((t) => t.tool.name === 'createPets')!.tool;
    const args = [
      { body: { name: 'Rex', tag: 'dog', age: 3 }, _justification: 'the user asked to add Rex' },
      { body: { name: 'Tom', tag: null } },
      { body: { name: 'Bo', colour: 'brown' } }, // refused: unknown argument
    ];
    const validations = rate((i) => validateArguments(create, args[i % args.length]));

    const many: Tool[] = Array.from({ length: 500 }, (_, i) => {
      const a = WORDS[i % WORDS.length]!;
      const b = WORDS[(i * 7 + 3) % WORDS.length]!;
      return { name: `svc${i % 25}__${a}_${b}_${i}`, description: `${a} ${b}s for the account; returns ${b} records, newest first.`, inputSchema: { type: 'object', properties: { id: { type: 'string' }, limit: { type: 'integer' } } } };
    });
    const tb = performance.now();
    const index = buildSearchIndex(many);
    const indexMs = performance.now() - tb;
    const queries = ['list invoices', 'delete a customer order', 'export report', 'deploy branch', 'search files by user'];
    const searches = rate((i) => searchTools(index, queries[i % queries.length]!));

    const description = 'Search the knowledge base for articles matching a query. Returns titles, links and a short excerpt; use get_article for the full text. Results are ranked by relevance and limited to 20.';
    const scans = rate(() => scanDescription(description));
    const fingerprints = rate((i) => toolFingerprint(many[i % many.length]!));

    return [
      { name: 'mcp validateArguments', value: validations, unit: 'ops/s' },
      { name: 'mcp searchTools (500 tools)', value: searches, unit: 'ops/s' },
      { name: 'mcp search index build (500 tools)', value: indexMs, unit: 'ms' },
      { name: 'mcp scanDescription (200 chars)', value: scans, unit: 'ops/s' },
      { name: 'mcp toolFingerprint', value: fingerprints, unit: 'ops/s' },
      { name: 'mcp toolsFromOpenApi (petstore)', value: openapiMs, unit: 'ms' },
    ];
  },
};
export default scenario;
