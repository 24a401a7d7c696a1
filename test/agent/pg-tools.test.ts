// Which postgres targets the agent reaches: the stream's target parsed strictly, and matched
// against targets.allow as `postgres://host:port` (or `postgres://host` on the default port).
// The tools themselves run end to end in test/gateway/mcp/postgres.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAgentConfig } from '../../agent/config.ts';
import { AgentError } from '../../agent/errors.ts';
import { allowlist, pgTargetOf } from '../../agent/pg-tools.ts';

const target = (raw: unknown, allow: readonly string[]) => pgTargetOf({ target: raw }, allowlist(allow));

test('a target is reached when postgres://host:port, or postgres://host on port 5432, matches targets.allow', () => {
  assert.deepEqual(target('postgres://db.internal:5432/shop', ['postgres://db.internal:5432']), { host: 'db.internal', port: 5432, database: 'shop', origin: 'postgres://db.internal:5432' });
  assert.deepEqual(target('postgres://db.internal/shop', ['postgres://db.internal']), { host: 'db.internal', port: 5432, database: 'shop', origin: 'postgres://db.internal:5432' });
  assert.deepEqual(target('postgresql://DB.internal:6432/my%20db', ['postgres://*.internal:6432']), { host: 'db.internal', port: 6432, database: 'my db', origin: 'postgres://db.internal:6432' });
  assert.deepEqual(target('postgres://[::1]:5432/x', ['postgres://[::1]:5432']), { host: '::1', port: 5432, database: 'x', origin: 'postgres://[::1]:5432' });
});

test('anything else in targets.allow does not let a postgres target through', () => {
  const refused = (raw: string, allow: readonly string[]) => {
    const r = target(raw, allow);
    assert.ok('code' in r, `${raw} with ${allow.join(',')} was let through`);
    return r;
  };
  assert.deepEqual(refused('postgres://db.internal:6432/shop', ['postgres://db.internal']), { code: 'AGENT_TARGET_NOT_ALLOWED', message: 'this agent does not reach postgres://db.internal:6432 (targets.allow)' });
  assert.equal(refused('postgres://db.internal:5432/shop', ['http://db.internal:5432', 'https://db.internal']).code, 'AGENT_TARGET_NOT_ALLOWED');
  assert.equal(refused('postgres://db.internal.evil:5432/shop', ['postgres://db.internal:5432']).code, 'AGENT_TARGET_NOT_ALLOWED');
  assert.equal(refused('postgres://10.0.0.12:5432/shop', ['postgres://10.0.0.1:5432']).code, 'AGENT_TARGET_NOT_ALLOWED');
  assert.equal(refused('postgres://db:5432/shop', []).code, 'AGENT_TARGET_NOT_ALLOWED');
});

test('a target that is not one postgres://host:port/database URL without credentials or options is invalid, whatever the allowlist', () => {
  const all = ['postgres://*', 'http://*', 'https://*'];
  for (const [raw, why] of [
    [undefined, 'is not a postgres://host:port/database URL'],
    [42, 'is not a postgres://host:port/database URL'],
    ['http://db:5432/shop', 'is not a postgres://host:port/database URL'],
    ['postgres://user:pw@db:5432/shop', 'must carry no credentials and no options'],
    ['postgres://db:5432/shop?sslmode=disable', 'must carry no credentials and no options'],
    ['postgres://db:5432/', 'must end with /<database>'],
    ['postgres://db:5432/a/b', 'must end with /<database>'],
    ['postgres://db:5432/%E0%A4%A', 'has a database name that is not valid percent-encoding'],
    ['postgres://db_under:5432/x', 'names no valid host and port'],
    ['postgres://db:0/x', 'names no valid host and port'],
  ] as const) {
    assert.deepEqual(target(raw, all), { code: 'AGENT_TARGET_INVALID', message: `the stream's target ${why}` }, String(raw));
  }
});

test('the agent configuration takes postgres:// patterns in targets.allow, and still no other scheme', () => {
  const load = (allow: string[]) => loadAgentConfig({ env: {}, overrides: { targets: { allow } } }).config.targets.allow;
  assert.deepEqual(load(['postgres://db.internal:5432', 'postgres://10.0.0.*', 'http://crm:8080']), ['postgres://db.internal:5432', 'postgres://10.0.0.*', 'http://crm:8080']);
  for (const bad of ['ftp://x', 'postgresql://db:5432', 'postgres://u:p@db']) {
    assert.throws(() => load([bad]), (err: AgentError) => err.code === 'AGENT_CONFIG_INVALID' && /targets\.allow/.test(err.message), bad);
  }
});
