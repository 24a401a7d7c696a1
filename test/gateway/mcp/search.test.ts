// search_tools ranking over a realistic aggregate tool list, and the meta-tool definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { buildSearchIndex, identifierTerms, searchTools, META_TOOLS } from '../../../gateway/mcp/search.ts';

const t = (name: string, description: string, props: string[] = []): Tool => ({ name, description, inputSchema: { type: 'object', properties: Object.fromEntries(props.map((p) => [p, { type: 'string' }])) } });

const TOOLS: Tool[] = [
  t('petstore__listPets', 'List all pets in the store, a page at a time.', ['limit', 'tags']),
  t('petstore__showPetById', 'Info for a specific pet.', ['petId']),
  t('petstore__createPets', 'Create a pet.', ['body']),
  t('crm__search_contacts', 'Find contacts by name, company or email address.', ['query']),
  t('crm__create_contact', 'Create a contact with a name and an email address.', ['name', 'email']),
  t('billing__list_invoices', 'List invoices for a customer, newest first.', ['customerId', 'status']),
  t('billing__refund_invoice', 'Refund a paid invoice in full or in part.', ['invoiceId', 'amount']),
  t('db__query', 'Run a read-only SQL query against the orders database.', ['sql']),
  t('db__execute', 'Run a SQL statement that writes to the orders database.', ['sql']),
  t('db__list_tables', 'List the tables of the orders database.'),
  t('github__createPullRequest', 'Open a pull request from a branch.', ['title', 'head', 'base']),
  t('github__getHTTPStatus', 'Status of the GitHub API.'),
  t('files__read_file', 'Read a text file from the workspace.', ['path']),
];
const index = buildSearchIndex(TOOLS);
const names = (query: string, limit?: number) => searchTools(index, query, limit).map((h) => h.tool.name);

test('identifiers split on _ - . and camelCase, with acronyms and light stemming', () => {
  assert.deepEqual(identifierTerms('github__getHTTPStatus'), ['github', 'get', 'http', 'status']);
  assert.deepEqual(identifierTerms('petstore__listPets'), ['petstore', 'list', 'pet']);
  assert.deepEqual(identifierTerms('refund-invoices.v2'), ['refund', 'invoice', 'v2']);
});

test('the best tool for a task comes first', () => {
  assert.equal(names('list pets')[0], 'petstore__listPets');
  assert.equal(names('refund an invoice')[0], 'billing__refund_invoice');
  assert.deepEqual(names('invoices').slice(0, 2).sort(), ['billing__list_invoices', 'billing__refund_invoice']);
  assert.equal(names('which tables are in the database')[0], 'db__list_tables');
  assert.equal(names('open a pull request')[0], 'github__createPullRequest');
  assert.equal(names('find a contact by email')[0], 'crm__search_contacts');
  assert.equal(names('http status')[0], 'github__getHTTPStatus');
  assert.deepEqual(names('sql').slice(0, 2).sort(), ['db__execute', 'db__query']);
});

test('an exact tool name (with or without its connection) ranks first', () => {
  assert.equal(names('db__query')[0], 'db__query');
  assert.equal(names('query')[0], 'db__query');
  assert.equal(names('read_file')[0], 'files__read_file');
});

test('ordering is deterministic: equal scores are ordered by name; limits are clamped', () => {
  const twins = buildSearchIndex([t('b__ping', 'Ping the server.'), t('a__ping', 'Ping the server.'), t('c__other', 'Something else.')]);
  assert.deepEqual(searchTools(twins, 'ping').map((h) => h.tool.name), ['a__ping', 'b__ping']);
  assert.deepEqual(names('list pets'), names('list pets'), 'same query, same order');
  assert.equal(names('a', 2).length, 2);
  assert.equal(searchTools(index, 'the', 10).length, 10, 'a query of stop words lists tools by name');
  assert.deepEqual(searchTools(index, '', 3).map((h) => h.tool.name), ['billing__list_invoices', 'billing__refund_invoice', 'crm__create_contact']);
  const many = buildSearchIndex(Array.from({ length: 120 }, (_, i) => t(`svc__pet_${String(i).padStart(3, '0')}`, 'Pet things.')));
  assert.equal(searchTools(many, 'pet', 500).length, 50);
  assert.equal(searchTools(many, 'pet').length, 10, 'default 10');
  assert.equal(searchTools(index, 'pet', 0).length, 1, 'at least one');
  assert.deepEqual(names('zebra unicorn'), [], 'nothing matches');
});

test('the meta-tools are well-formed MCP tools with closed input schemas', () => {
  assert.deepEqual(META_TOOLS.map((m) => m.name), ['search_tools', 'describe_tool', 'call_tool']);
  for (const m of META_TOOLS) {
    assert.equal(m.inputSchema.type, 'object');
    assert.equal(m.inputSchema.additionalProperties, false);
    assert.ok(m.description && m.description.length > 20);
    assert.ok(Object.isFrozen(m));
  }
  assert.deepEqual(META_TOOLS[0]!.inputSchema.required, ['query']);
  assert.deepEqual(META_TOOLS[2]!.inputSchema.required, ['name']);
  assert.equal(META_TOOLS[0]!.annotations?.readOnlyHint, true);
});
