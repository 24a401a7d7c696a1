// The demo service's OpenAPI document: `airlock dev` gives it to connection `demo`, so its
// operations are MCP tools at /mcp/demo (listCustomers, getCustomer, createCustomer,
// deleteCustomer) right after `npm start`.
export const DEMO_OPENAPI = {
  openapi: '3.0.3',
  info: { title: 'airlock demo service', version: '1.0.0', description: 'Customer records with fake cards, emails and SSNs.' },
  paths: {
    '/customers': {
      get: {
        operationId: 'listCustomers', summary: 'List every customer record',
        responses: { 200: { description: 'The customers', content: { 'application/json': { schema: { type: 'object', properties: { customers: { type: 'array', items: { $ref: '#/components/schemas/Customer' } } } } } } } },
      },
      post: {
        operationId: 'createCustomer', summary: 'Create a customer record',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['name', 'email'], properties: { name: { type: 'string' }, email: { type: 'string' }, plan: { type: 'string', enum: ['free', 'team', 'enterprise'] } } } } } },
        responses: { 201: { description: 'Created' } },
      },
    },
    '/customers/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, description: 'The customer id (a number)', schema: { type: 'integer', minimum: 1 } }],
      get: { operationId: 'getCustomer', summary: 'One customer record by id', responses: { 200: { description: 'The customer' }, 404: { description: 'No such customer' } } },
      delete: { operationId: 'deleteCustomer', summary: 'Delete a customer record (held for a human review)', responses: { 204: { description: 'Deleted' } } },
    },
  },
  components: {
    schemas: {
      Customer: {
        type: 'object',
        properties: { id: { type: 'integer' }, name: { type: 'string' }, email: { type: 'string' }, phone: { type: 'string' }, ssn: { type: 'string' }, card: { type: 'string' }, plan: { type: 'string' } },
      },
    },
  },
} as const;
