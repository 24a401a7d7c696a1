// Every error code is defined in one table per top-level folder and documented in docs/errors.md;
// this test fails when the two disagree (fastify's test/internals/errors.test.js habit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GATEWAY_ERRORS, GatewayError, errorBody } from '../../gateway/errors.ts';
import { CLI_ERRORS } from '../../cli/errors.ts';
import { AGENT_ERRORS } from '../../agent/errors.ts';
import { TUNNEL_ERRORS, type TunnelErrorSpec } from '../../gateway/tunnel/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map<string, { status: number | undefined; summary: string }>();
for (const m of doc.matchAll(/^\| `([A-Z_]+)` \| (\d+|-) \| (.+?) \|$/gm)) documented.set(m[1]!, { status: m[2] === '-' ? undefined : Number(m[2]), summary: m[3]! });

const defined = new Map<string, { status: number | undefined; summary: string }>([
  ...Object.entries(TUNNEL_ERRORS as Record<string, TunnelErrorSpec>).map(([k, v]) => [k, { status: v.closeCode, summary: v.summary }] as const),
  ...Object.entries(GATEWAY_ERRORS).map(([k, v]) => [k, { status: v.status, summary: v.summary }] as const),
  ...Object.entries(CLI_ERRORS).map(([k, v]) => [k, { status: v.exitCode, summary: v.summary }] as const),
  ...Object.entries(AGENT_ERRORS).map(([k, v]) => [k, { status: v.exitCode, summary: v.summary }] as const),
]);

test('every defined error code is documented with the same status and summary', () => {
  for (const [code, spec] of defined) {
    const row = documented.get(code);
    assert.ok(row, `${code} is missing from docs/errors.md`);
    assert.equal(row.status, spec.status, `${code}: status/exit in docs/errors.md`);
    assert.equal(row.summary, spec.summary, `${code}: summary in docs/errors.md`);
  }
});

test('every documented error code is defined', () => {
  for (const code of documented.keys()) assert.ok(defined.has(code), `docs/errors.md lists ${code}, which no errors.ts defines`);
});

test('codes carry their folder prefix', () => {
  for (const code of Object.keys(GATEWAY_ERRORS)) assert.match(code, /^GW_[A-Z0-9_]+$/);
  for (const code of Object.keys(CLI_ERRORS)) assert.match(code, /^CLI_[A-Z0-9_]+$/);
  for (const code of Object.keys(AGENT_ERRORS)) assert.match(code, /^AGENT_[A-Z0-9_]+$/);
  for (const code of Object.keys(TUNNEL_ERRORS)) assert.match(code, /^TUNNEL_[A-Z0-9_]+$/);
});

test('a GatewayError carries its status and serialises to the client shape', () => {
  const err = new GatewayError('GW_BODY_TOO_LARGE', 'too big; send less', { detail: { limit: 1 } });
  assert.equal(err.status, 413);
  assert.deepEqual(errorBody(err, 'rid-1'), { error: { code: 'GW_BODY_TOO_LARGE', message: 'too big; send less', requestId: 'rid-1' } });
});
