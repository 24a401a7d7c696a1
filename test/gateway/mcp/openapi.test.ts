// OpenAPI documents → MCP tools, on real documents (the Petstore, a 3.1 catalogue with a
// circular schema, one with an external $ref), and the HTTP requests the tools' calls become.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { GatewayError } from '../../../gateway/errors.ts';
import { buildRequest, toolsFromOpenApi, type OpenApiTool, type OperationBinding, type SkippedOperation } from '../../../gateway/mcp/openapi.ts';
import { validateArguments } from '../../../gateway/mcp/arguments.ts';

const fixture = (name: string) => parseYaml(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Record<string, any>;
const byName = (tools: OpenApiTool[], name: string) => {
  const t = tools.find((x) => x.tool.name === name);
  assert.ok(t, `no tool ${name} in ${tools.map((x) => x.tool.name).join(', ')}`);
  return t;
};

async function refusedWith(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GatewayError, `not a GatewayError: ${String(err)}`);
    assert.equal(err.code, 'GW_OPENAPI_INVALID');
    assert.match(err.message, message);
    return true;
  });
}

function minimal(paths: Record<string, unknown>, components: Record<string, unknown> = {}): Record<string, unknown> {
  return { openapi: '3.1.0', info: { title: 't', version: '1' }, paths, components };
}

test('the Petstore (3.0) becomes one tool per callable operation, with sanitised names and the skipped upload reported', async () => {
  const skipped: SkippedOperation[] = [];
  const doc = fixture('petstore-3.0.yaml');
  const tools = await toolsFromOpenApi(doc, { onSkip: (s) => skipped.push(s) });
  assert.deepEqual(doc, fixture('petstore-3.0.yaml'), 'the document given is not changed');
  assert.deepEqual(tools.map((t) => t.tool.name), ['listPets', 'createPets', 'showPetById', 'update_pet_partial', 'delete_pets_petId']);
  assert.deepEqual(skipped, [{ operation: 'PUT /pets/{petId}/photo', reason: 'its request body is multipart/form-data, and tools send only JSON, form or text bodies' }]);
  for (const { tool } of tools) assert.match(tool.name, /^[a-zA-Z0-9_-]{1,64}$/);
});

test('listPets: query and header parameters become properties; Authorization and cookies are not offered', async () => {
  const { tool, binding } = byName(await toolsFromOpenApi(fixture('petstore-3.0.yaml')), 'listPets');
  assert.equal(tool.title, 'List all pets');
  assert.equal(tool.description, 'List all pets\n\nReturns the pets in the store, a page at a time.');
  assert.deepEqual(tool.inputSchema, {
    type: 'object',
    properties: {
      limit: { type: 'integer', maximum: 100, format: 'int32', description: 'How many items to return at one time (max 100)' },
      tags: { type: 'array', items: { type: 'string' }, description: 'Tags to filter by' },
      'X-Request-Id': { type: 'string' },
    },
    additionalProperties: false,
  });
  assert.deepEqual(tool.annotations, { title: 'List all pets', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false });
  assert.equal(binding.method, 'GET');
  assert.equal(binding.accept, 'application/json');
  assert.deepEqual(binding.parameters.map((p) => [p.arg, p.in, p.style, p.explode, p.required]), [
    ['limit', 'query', 'form', true, false],
    ['tags', 'query', 'form', true, false],
    ['X-Request-Id', 'header', 'simple', false, false],
  ]);
});

test('createPets: the JSON body is a required `body` property, with 3.0 keywords turned into JSON Schema', async () => {
  const { tool, binding } = byName(await toolsFromOpenApi(fixture('petstore-3.0.yaml')), 'createPets');
  assert.deepEqual(tool.inputSchema.required, ['body']);
  assert.deepEqual(tool.inputSchema.properties!.body, {
    type: 'object',
    required: ['name'],
    properties: {
      // id is readOnly: a request never sends it. `example` and the x-vendor extension are gone;
      // a property that happens to be called x-internal is a property, not an extension.
      name: { type: 'string' },
      tag: { type: ['string', 'null'] },
      age: { type: 'number', exclusiveMinimum: 0 },
      'x-internal': { type: 'string' },
    },
    description: 'The request body (application/json).',
  });
  assert.deepEqual(binding.body, { arg: 'body', required: true, contentType: 'application/json', encoding: 'json' });
  assert.equal(tool.annotations?.readOnlyHint, false);
});

test('path-level parameters are shared by the path\'s operations; a merge-patch body is JSON; DELETE is marked destructive', async () => {
  const tools = await toolsFromOpenApi(fixture('petstore-3.0.yaml'));
  const patch = byName(tools, 'update_pet_partial');
  assert.deepEqual(patch.tool.inputSchema.required, ['petId']);
  assert.deepEqual(Object.keys(patch.tool.inputSchema.properties!), ['petId', 'body']);
  assert.equal(patch.binding.body?.contentType, 'application/merge-patch+json');
  assert.equal(patch.tool.description, 'Changes some fields of a pet; a null tag removes it.');
  assert.equal(patch.tool.title, undefined);
  const del = byName(tools, 'delete_pets_petId');
  assert.equal(del.binding.operationId, null);
  assert.equal(del.tool.annotations?.destructiveHint, true);
  assert.equal(del.binding.accept, null);
});

test('names: valid operationIds are kept, others sanitised to ^[a-zA-Z0-9_-]{1,64}$, collisions get _2, _3 in document order', async () => {
  const op = (operationId?: string) => ({ get: { ...(operationId === undefined ? {} : { operationId }), responses: { 200: { description: 'ok' } } } });
  const long = 'x'.repeat(80);
  const doc = minimal({
    '/a': op('list pets'), // → list_pets, but the valid list_pets below keeps its name
    '/b': op('list_pets'),
    '/c': op('list-pets!'), // → list-pets
    '/d': op('list-pets'), // valid, keeps it; /c gets list-pets_2
    '/e': op(long),
    '/f': op(long),
    '/g/{id}': { get: { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: {} } },
    '/g/{id}/': { get: { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: {} } },
    '/h': op('¿¡'),
  });
  const names = (await toolsFromOpenApi(doc)).map((t) => t.tool.name);
  assert.deepEqual(names, ['list_pets_2', 'list_pets', 'list-pets_2', 'list-pets', 'x'.repeat(64), `${'x'.repeat(62)}_2`, 'get_g_id', 'get_g_id_2', 'get_h']);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(names, (await toolsFromOpenApi(doc)).map((t) => t.tool.name), 'the same document gives the same names');
});

test('3.1 with a circular schema: the recursive type lands in $defs once, and the tool validates nested arguments', async () => {
  const tools = await toolsFromOpenApi(fixture('categories-3.1.yaml'));
  const create = byName(tools, 'createCategory');
  const schema = create.tool.inputSchema as Record<string, any>;
  assert.deepEqual(schema.properties.body, { $ref: '#/$defs/Category', description: 'The request body (application/json).' });
  assert.deepEqual(Object.keys(schema.$defs), ['Category']);
  const category = schema.$defs.Category;
  assert.deepEqual(category.properties.parent, { $ref: '#/$defs/Category' });
  assert.deepEqual(category.properties.children, { type: 'array', items: { $ref: '#/$defs/Category' } });
  assert.deepEqual(category.properties.owner, { type: 'object', properties: { email: { type: 'string', format: 'email' } } });
  assert.deepEqual(category.properties.note, { type: ['string', 'null'] });
  assert.ok(JSON.stringify(create.tool).length < 2000, 'finite and small');

  const ok = validateArguments(create.tool, { body: { name: 'root', children: [{ name: 'leaf', parent: { name: 'root' } }] } });
  assert.equal(ok.ok, true);
  const deep = validateArguments(create.tool, { body: { name: 'root', children: [{ name: 'leaf', colour: 'red' }] } });
  assert.deepEqual(deep, { ok: false, errors: ['unknown argument "body.children[0].colour": "body.children[0]" accepts only children, name, note, owner, parent'] });
  const email = validateArguments(create.tool, { body: { name: 'x', owner: { email: 'not an address' } } });
  assert.deepEqual(email, { ok: false, errors: ['argument "body.owner.email" must be a valid email'] });
});

test('3.1: shared parameters resolve; deepObject query parameters are bound with their style', async () => {
  const tools = await toolsFromOpenApi(fixture('categories-3.1.yaml'));
  const search = byName(tools, 'searchCategories');
  assert.deepEqual(search.tool.inputSchema.properties, {
    page: { type: 'integer', minimum: 1 },
    filter: { type: 'object', properties: { name: { type: 'string' }, depth: { type: 'integer' } } },
  });
  const req = buildRequest(search.binding, { page: 2, filter: { name: 'shoes & socks', depth: 1 } });
  assert.equal(req.path, '/categories?page=2&filter%5Bname%5D=shoes%20%26%20socks&filter%5Bdepth%5D=1');
});

test('an external $ref is refused, naming where it is, and nothing is fetched', async (t) => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ type: 'object', properties: { id: { type: 'string' } } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}/schemas/order.json`;

  const doc = fixture('external-ref.yaml');
  doc.paths['/orders'].post.requestBody.content['application/json'].schema.$ref = url;
  await refusedWith(toolsFromOpenApi(doc), new RegExp(String.raw`^The OpenAPI document is refused at paths\["/orders"\]\.post\.requestBody\.content\["application/json"\]\.schema\.\$ref: the external reference "${url.replace(/[.]/g, '\\.')}" is refused: airlock never fetches`));

  const dir = mkdtempSync(join(tmpdir(), 'airlock-openapi-'));
  const file = join(dir, 'order.json');
  writeFileSync(file, JSON.stringify({ type: 'object' }));
  for (const ref of [file, `file://${file}`, 'order.json#/Order', `${url}#/definitions/Order`]) {
    doc.paths['/orders'].post.requestBody.content['application/json'].schema.$ref = ref;
    await refusedWith(toolsFromOpenApi(doc), /the external reference .* is refused/);
  }
  assert.equal(requests, 0, 'the server was never asked');
});

test('a $ref to nothing, a non-OpenAPI document and malformed operations are refused with the place named', async () => {
  await refusedWith(toolsFromOpenApi(minimal({ '/x': { post: { requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Missing' } } } }, responses: {} } } })), /at a \$ref: .*Missing.*every \$ref must point at something in the document/);
  await refusedWith(toolsFromOpenApi({ swagger: '2.0', info: {}, paths: {} }), /at swagger: Swagger 2\.0 is not supported; convert the document to OpenAPI 3/);
  await refusedWith(toolsFromOpenApi({ openapi: '3.2.0', paths: {} }), /at openapi: must be "3\.0\.x" or "3\.1\.x", not "3\.2\.0"/);
  await refusedWith(toolsFromOpenApi('openapi: 3.0.0'), /at the top level: an OpenAPI document is a JSON object/);
  await refusedWith(toolsFromOpenApi(minimal({ '/pets/{id}': { get: { responses: {} } } })), /at paths\["\/pets\/\{id\}"\]\.get: the path names \{id\} but the operation has no path parameter "id"/);
  await refusedWith(toolsFromOpenApi(minimal({ '/pets': { get: { parameters: [{ name: 'q', in: 'body' }], responses: {} } } })), /at paths\["\/pets"\]\.get\.parameters\[0\]: "in" must be path, query, header or cookie, not "body"/);
  await refusedWith(toolsFromOpenApi(minimal({ '/pets': { get: { parameters: [{ name: 'q', in: 'query', style: 'matrix' }], responses: {} } } })), /style "matrix" is not supported for query parameters/);
  await refusedWith(toolsFromOpenApi(minimal({ '/a/../b': { get: { responses: {} } } })), /at paths\["\/a\/\.\.\/b"\]: a path may not hold \. or \.\. segments/);
  await refusedWith(toolsFromOpenApi(minimal({ 'pets': { get: { responses: {} } } })), /at paths\.pets: a path must start with \//);
});

test('limits: operation count, schema expansion (shared subschemas cannot blow up) and document size', async () => {
  const op = { get: { responses: {} } };
  await refusedWith(toolsFromOpenApi(minimal({ '/a': op, '/b': op, '/c': op }), { maxOperations: 2 }), /at paths: the document has more than 2 operations/);

  // L0 = string; Ln = {a: Ln-1, b: Ln-1}: 2^n nodes when inlined.
  const layered = (n: number) => {
    const schemas: Record<string, unknown> = { L0: { type: 'string' } };
    for (let i = 1; i <= n; i++) schemas[`L${i}`] = { type: 'object', properties: { a: { $ref: `#/components/schemas/L${i - 1}` }, b: { $ref: `#/components/schemas/L${i - 1}` } } };
    return minimal({ '/x': { post: { requestBody: { content: { 'application/json': { schema: { $ref: `#/components/schemas/L${n}` } } } }, responses: {} } } }, { schemas });
  };
  const started = performance.now();
  await refusedWith(toolsFromOpenApi(layered(40)), /at \$ref "#\/components\/schemas\/L\d+": the document expands to more than 500000 nodes once its \$refs are inlined/);
  assert.ok(performance.now() - started < 1000, 'refused before the dereferencer starts');
  // Small enough for the document, too big for one tool.
  await refusedWith(toolsFromOpenApi(layered(12)), /at paths\["\/x"\]\.post\.requestBody\.content\["application\/json"\]\.schema: the schema expands to more than 10000 nodes; simplify it or split the operation/);

  const big = minimal({ '/x': { get: { description: 'x'.repeat(2000), responses: {} } } });
  await refusedWith(toolsFromOpenApi(big, { maxBytes: 1000 }), /at the top level: the document is \d+ bytes as JSON, more than the 1000 allowed/);
});

test('a parameter named like the body or the justification gets a distinct argument name', async () => {
  const doc = minimal({
    '/x/{body}': {
      post: {
        parameters: [
          { name: 'body', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'body', in: 'query', schema: { type: 'string' } },
          { name: '_justification', in: 'query', schema: { type: 'string' } },
        ],
        requestBody: { content: { 'text/plain': { schema: { type: 'string' } } } },
        responses: {},
      },
    },
  });
  const [t] = await toolsFromOpenApi(doc);
  assert.deepEqual(Object.keys(t!.tool.inputSchema.properties!), ['body', 'body_query', '_justification_query', 'body_request']);
  const req = buildRequest(t!.binding, { body: 'p', body_query: 'q', _justification_query: 'j', body_request: 'hello' });
  assert.equal(req.path, '/x/p?body=q&_justification=j');
  assert.equal(req.contentType, 'text/plain');
  assert.equal(req.body?.toString(), 'hello');
});

const binding = (over: Partial<OperationBinding> = {}): OperationBinding => ({
  operationId: 'getFile',
  method: 'GET',
  pathTemplate: '/files/{name}/versions/{version}',
  parameters: [
    { arg: 'name', name: 'name', in: 'path', required: true, style: 'simple', explode: false, json: false },
    { arg: 'version', name: 'version', in: 'path', required: true, style: 'simple', explode: false, json: false },
    { arg: 'tags', name: 'tag', in: 'query', required: false, style: 'form', explode: true, json: false },
    { arg: 'trace', name: 'X-Trace', in: 'header', required: false, style: 'simple', explode: false, json: false },
  ],
  body: null,
  accept: 'application/json',
  ...over,
});

test('buildRequest: a path argument cannot escape its segment; `..` and `.` are refused', () => {
  const req = buildRequest(binding(), { name: '../../admin', version: 3 });
  assert.equal(req.path, '/files/..%2F..%2Fadmin/versions/3');
  assert.deepEqual(req.headers, { accept: 'application/json' });
  assert.equal(buildRequest(binding(), { name: 'a b?c#d%2F/é', version: "1'(*)!" }).path, '/files/a%20b%3Fc%23d%252F%2F%C3%A9/versions/1%27%28%2A%29%21');
  for (const bad of ['..', '.']) {
    assert.throws(() => buildRequest(binding(), { name: bad, version: 1 }), (err: GatewayError) => err.code === 'GW_TOOL_ARGUMENTS_INVALID' && /a path argument is "\." or "\.\.", which would leave the operation's path/.test(err.message));
  }
  assert.throws(() => buildRequest(binding(), { name: '', version: 1 }), /argument "name" is empty, and a path parameter needs a value/);
  assert.throws(() => buildRequest(binding(), { version: 1 }), { code: 'GW_TOOL_ARGUMENTS_INVALID', message: 'The arguments cannot be sent: missing required argument "name".' });
  assert.throws(() => buildRequest(binding(), { name: 'a', version: 1, owner: 'x' }), /the operation has no argument "owner"/);
});

test('buildRequest: query styles, header checks and bodies', () => {
  assert.equal(buildRequest(binding(), { name: 'a', version: 1, tags: ['x y', 'z&w'] }).path, '/files/a/versions/1?tag=x%20y&tag=z%26w');
  const noExplode = binding({ parameters: [{ arg: 'tags', name: 'tag', in: 'query', required: false, style: 'form', explode: false, json: false }], pathTemplate: '/f' });
  assert.equal(buildRequest(noExplode, { tags: ['a', 'b,c'] }).path, '/f?tag=a,b%2Cc');
  const piped = binding({ parameters: [{ arg: 't', name: 't', in: 'query', required: false, style: 'pipeDelimited', explode: false, json: false }], pathTemplate: '/f' });
  assert.equal(buildRequest(piped, { t: ['a', 'b'] }).path, '/f?t=a%7Cb');
  const label = binding({ parameters: [{ arg: 'id', name: 'id', in: 'path', required: true, style: 'matrix', explode: true, json: false }], pathTemplate: '/f/{id}' });
  assert.equal(buildRequest(label, { id: [1, 2] }).path, '/f/;id=1;id=2');

  assert.deepEqual(buildRequest(binding(), { name: 'a', version: 1, trace: 'abc-123' }).headers, { 'x-trace': 'abc-123', accept: 'application/json' });
  assert.throws(() => buildRequest(binding(), { name: 'a', version: 1, trace: 'x\r\nX-Admin: 1' }), /argument "trace" \(header X-Trace\) holds control characters or characters outside Latin-1/);

  const post = binding({ method: 'POST', pathTemplate: '/pets', parameters: [], body: { arg: 'body', required: true, contentType: 'application/json', encoding: 'json' } });
  const req = buildRequest(post, { body: { name: 'Rex', tags: ['good'] } });
  assert.equal(req.method, 'POST');
  assert.equal(req.contentType, 'application/json');
  assert.deepEqual(JSON.parse(req.body!.toString('utf8')), { name: 'Rex', tags: ['good'] });
  assert.throws(() => buildRequest(post, {}), /missing required argument "body" \(the request body\)/);
  const form = binding({ method: 'POST', pathTemplate: '/login', parameters: [], body: { arg: 'body', required: true, contentType: 'application/x-www-form-urlencoded', encoding: 'form' } });
  assert.equal(buildRequest(form, { body: { user: 'a b', scope: ['x', 'y'] } }).body!.toString(), 'user=a+b&scope=x&scope=y');
  assert.throws(() => buildRequest(form, { body: 'user=a' }), /argument "body" must be an object for a form body/);
});

test('a generated tool\'s call goes end to end: validate, then build', async () => {
  const { tool, binding: b } = byName(await toolsFromOpenApi(fixture('petstore-3.0.yaml')), 'showPetById');
  const v = validateArguments(tool, { petId: '../7', _justification: 'the user asked for pet 7' });
  assert.ok(v.ok);
  assert.equal(v.justification, 'the user asked for pet 7');
  assert.deepEqual(buildRequest(b, v.args), { method: 'GET', path: '/pets/..%2F7', headers: { accept: 'application/json' } });
  assert.deepEqual(validateArguments(tool, { petId: 7 }), { ok: false, errors: ['argument "petId" must be string, not integer'] });
});
