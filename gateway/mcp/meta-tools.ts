// The three tools the aggregate endpoint (/mcp) shows instead of the full list when the caller
// may use more tools than fit a model's context: find a tool, read its schema, call it.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';

/** Longest search query read, in characters. */
export const SEARCH_MAX_QUERY = 500;
/** Most results a search returns. */
export const SEARCH_MAX_LIMIT = 50;

export const SEARCH_TOOLS = 'search_tools';
export const DESCRIBE_TOOL = 'describe_tool';
export const CALL_TOOL = 'call_tool';

/** A namespaced tool name, `<connection>__<tool>`, as the aggregate endpoint lists it. */
const toolName = { type: 'string', minLength: 1, maxLength: 200, description: 'The tool\'s full name, `<connection>__<tool>`, as search_tools returns it.' };

const TOOLS: Tool[] = [
  {
    name: SEARCH_TOOLS,
    title: 'Search tools',
    description: 'Find tools by what they do. Returns the best matching tool names with their descriptions, best first. Call describe_tool for a tool\'s arguments, then call_tool to run it.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', minLength: 1, maxLength: SEARCH_MAX_QUERY, description: 'Words describing the task, e.g. "list open invoices" or a tool name.' },
        limit: { type: 'integer', minimum: 1, maximum: SEARCH_MAX_LIMIT, default: 10, description: `How many tools to return (1–${SEARCH_MAX_LIMIT}, default 10).` },
      },
      required: ['query'],
      additionalProperties: false,
    },
    annotations: { title: 'Search tools', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: DESCRIBE_TOOL,
    title: 'Describe a tool',
    description: 'The full definition of one tool: its description and the JSON Schema of its arguments. Use it before call_tool.',
    inputSchema: {
      type: 'object',
      properties: { name: toolName },
      required: ['name'],
      additionalProperties: false,
    },
    annotations: { title: 'Describe a tool', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: CALL_TOOL,
    title: 'Call a tool',
    description: 'Run one tool with arguments that match its schema (see describe_tool). The call is checked by the same policies as a direct call; a refused call returns the reason.',
    inputSchema: {
      type: 'object',
      properties: {
        name: toolName,
        arguments: { type: 'object', description: 'The tool\'s arguments, as its input schema describes them. `_justification` (why the call is needed) may be added.' },
      },
      required: ['name'],
      additionalProperties: false,
    },
    annotations: { title: 'Call a tool', openWorldHint: true },
  },
];

/** The three meta-tools, frozen (copy one before changing it). */
export const META_TOOLS: readonly Tool[] = Object.freeze(TOOLS.map((t) => Object.freeze(t)));
