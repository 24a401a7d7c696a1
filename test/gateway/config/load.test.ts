import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, configVariables } from '../../../gateway/config/load.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { closest } from '../../../lib/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function configError(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected GatewayError, got ${String(err)}`);
    assert.equal(err.code, 'GW_CONFIG_INVALID');
    return err;
  }
  assert.fail('expected the config to be refused');
}

test('embedded defaults load with no file and no environment', () => {
  const { config, file: f, warnings } = loadConfig({ env: {}, cwd: dir });
  assert.equal(f, undefined);
  assert.equal(config.server.port, 8080);
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.store.url, 'sqlite:./data/airlock.db');
  assert.deepEqual(config.auth.algorithms, ['RS256', 'PS256', 'ES256', 'EdDSA']);
  assert.ok(warnings.some((w) => w.includes('auth.issuer')), 'missing issuer is warned about');
});

test('the result is frozen, deeply', () => {
  const { config } = loadConfig({ env: {}, cwd: dir });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.server));
  assert.ok(Object.isFrozen(config.auth.algorithms));
  assert.throws(() => { (config.server as { port: number }).port = 1; }, TypeError);
});

test('an unknown key is refused with file:line:column, key path and the closest known key', () => {
  const p = file('unknown.yaml', 'server:\n  port: 9000\n  prot: 1\n');
  const err = configError(() => loadConfig({ file: p, env: {} }));
  assert.equal(err.message, `invalid configuration: ${p}:3:3: server.prot: Unrecognized key: "prot"; did you mean "port"?`);
  const top = configError(() => loadConfig({ file: file('top.yaml', 'sever:\n  port: 1\n'), env: {} }));
  assert.match(top.message, /top\.yaml:1:1: sever: Unrecognized key: "sever"; did you mean "server"\?$/);
  // nothing close: the keys known there
  const far = configError(() => loadConfig({ file: file('far.yaml', 'log:\n  colour: red\n'), env: {} }));
  assert.match(far.message, /far\.yaml:2:3: log\.colour: Unrecognized key: "colour" \(known keys here: level\b.*\)$/);
});

test('closest: a slip of one or two edits (a swap counts one), case ignored; nothing far', () => {
  assert.equal(closest('prot', ['host', 'port']), 'port');
  assert.equal(closest('publicurl', ['publicUrl', 'port']), 'publicUrl');
  assert.equal(closest('shutdowngrace', ['shutdownGrace']), 'shutdownGrace');
  assert.equal(closest('maxBodyByts', ['maxBodyBytes', 'limits']), 'maxBodyBytes');
  assert.equal(closest('xyz', ['port', 'host']), undefined);
  assert.equal(closest('color', ['level', 'format']), undefined);
});

test('a value of the wrong type names its line and path', () => {
  const p = file('type.yaml', 'store:\n  url: sqlite:x\nserver:\n  port: "eighty"\n');
  const err = configError(() => loadConfig({ file: p, env: {} }));
  assert.match(err.message, /type\.yaml:4:3: server\.port: Invalid input: expected number/);
});

test('YAML syntax errors are refused at the line and column to fix, in plain words', () => {
  const message = (name: string, text: string) => configError(() => loadConfig({ file: file(name, text), env: {} })).message.replace(/^config file .*\//, '');
  assert.match(message('syntax.yaml', 'server:\n  port: [\n'), /^syntax\.yaml:\d+:\d+: /);
  assert.equal(message('dup.yaml', 'server:\n  port: 1\n  port: 2\n'), 'dup.yaml:3:3: the key "port" is given twice in the same mapping; keep one');
  // an over-indented line is read by the parser as part of the value above it; the error points at it
  assert.equal(message('indent.yaml', 'server:\n  port: 8080\n   host: x\nlog:\n  level: info\n'), 'indent.yaml:3:8: a second "key: value" where a value should be: indent a nested key on its own line, line up keys of one mapping at the same column, or quote a value that contains ": "');
  assert.equal(message('nested.yaml', 'server:\n  host: a: b\n'), 'nested.yaml:2:10: a second "key: value" where a value should be: indent a nested key on its own line, line up keys of one mapping at the same column, or quote a value that contains ": "');
  assert.equal(message('colon.yaml', 'server:\n  port 8080\n  host: x\n'), 'colon.yaml:2:3: a key runs over more than one line: a colon is missing after the key on this line, or the next line is indented wrongly');
  assert.equal(message('tab.yaml', 'server:\n\tport: 8080\n'), 'tab.yaml:2:1: a tab indents this line; YAML indents with spaces only');
  assert.equal(message('quote.yaml', 'server:\n  host: "abc\n  port: 1\nlog:\n  level: info\n'), 'quote.yaml:2:9: this double quote is never closed');
  assert.equal(message('column.yaml', 'log:\n    level: info\n  format: json\n'), 'column.yaml:3:1: this key is not lined up with the keys above it; keys of one mapping start at the same column');
  assert.doesNotMatch(message('jargon.yaml', 'server:\n  host: a: b\n'), /compact|implicit/i, 'no parser jargon');
});

test('a top level that is not a mapping is refused', () => {
  assert.match(configError(() => loadConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} })).message, /top level must be a mapping/);
});

test('a missing file is refused naming it', () => {
  const err = configError(() => loadConfig({ file: join(dir, 'nope.yaml'), env: {} }));
  assert.match(err.message, /cannot read config file .*nope\.yaml: ENOENT/);
});

test('AIRLOCK_CONFIG names the file; --config wins over it', () => {
  const a = file('a.yaml', 'server:\n  port: 1111\n');
  const b = file('b.yaml', 'server:\n  port: 2222\n');
  assert.equal(loadConfig({ env: { AIRLOCK_CONFIG: a } }).config.server.port, 1111);
  assert.equal(loadConfig({ file: b, env: { AIRLOCK_CONFIG: a } }).config.server.port, 2222);
});

test('AIRLOCK_* variables override the file, with types coerced', () => {
  const p = file('env.yaml', 'server:\n  port: 1111\n');
  const { config } = loadConfig({ file: p, env: { AIRLOCK_SERVER_PORT: '3333', AIRLOCK_SERVER_BEHIND_TLS: 'true', AIRLOCK_POLICY_PACKS: 'default, sql-safety', AIRLOCK_AUTH_ROLES_ADMIN: 'ops' } });
  assert.equal(config.server.port, 3333);
  assert.equal(config.server.behindTls, true);
  assert.deepEqual(config.policy.packs, ['default', 'sql-safety']);
  assert.deepEqual(config.auth.roles.admin, ['ops']);
});

test('a bad AIRLOCK_* value names the variable', () => {
  const err = configError(() => loadConfig({ env: { AIRLOCK_SERVER_PORT: 'abc' } }));
  assert.match(err.message, /^invalid configuration: AIRLOCK_SERVER_PORT \(server\.port\): /);
  const err2 = configError(() => loadConfig({ env: { AIRLOCK_AUTH_CLOCK_SKEW: '500' } }));
  assert.match(err2.message, /AIRLOCK_AUTH_CLOCK_SKEW \(auth\.clockSkew\): Too big/);
});

test('a misspelt AIRLOCK_* variable in a config section is warned about', () => {
  const { warnings } = loadConfig({ env: { AIRLOCK_SERVER_PROT: '1', AIRLOCK_AGENT_NAME: 'x' } });
  assert.ok(warnings.some((w) => w.includes('AIRLOCK_SERVER_PROT')));
  assert.ok(!warnings.some((w) => w.includes('AIRLOCK_AGENT_NAME')), 'agent variables are not the gateway\'s business');
});

test('insecure settings start with loud warnings', () => {
  const { warnings } = loadConfig({ env: { AIRLOCK_SERVER_HOST: '0.0.0.0', AIRLOCK_DEV_EMBEDDED_IDP: 'true' } });
  assert.ok(warnings.some((w) => w.startsWith('INSECURE: the gateway serves plain HTTP on 0.0.0.0')));
  assert.ok(warnings.some((w) => w.startsWith('DEV ONLY:')));
  const quiet = loadConfig({ env: { AIRLOCK_SERVER_HOST: '0.0.0.0', AIRLOCK_SERVER_BEHIND_TLS: 'true', AIRLOCK_AUTH_ISSUER: 'https://idp.example.test' } });
  assert.deepEqual(quiet.warnings, []);
});

test('deploy/airlock.example.yaml is valid and documents every option', () => {
  const path = new URL('../../../deploy/airlock.example.yaml', import.meta.url).pathname;
  const { config } = loadConfig({ file: path, env: {} });
  assert.equal(config.server.port, 8080);
  const text = readFileSync(path, 'utf8');
  const doc = parse(text) as Record<string, Record<string, unknown>>;
  for (const { path: key, variable } of configVariables()) {
    const parts = key.split('.');
    let node: unknown = doc;
    for (const p of parts) node = (node as Record<string, unknown> | undefined)?.[p];
    const leaf = parts[parts.length - 1]!;
    assert.ok(node !== undefined || text.includes(`# ${leaf}:`), `${key} is documented (set, or shown commented out) in the example`);
    assert.ok(text.includes(variable), `${variable} is named in the example`);
  }
});

test('metrics and tracing: defaults, AIRLOCK_* variables, an endpoint required to trace, OTLP headers strict, warnings', () => {
  const { config } = loadConfig({ env: {}, cwd: dir });
  assert.deepEqual(config.metrics, { enabled: true, host: '127.0.0.1', adminRoute: true });
  assert.equal(config.tracing.enabled, false);
  assert.equal(config.tracing.trustIncoming, false);

  const env = { AIRLOCK_TRACING_ENABLED: 'true', AIRLOCK_TRACING_OTLP_ENDPOINT: 'https://api.honeycomb.io/v1/traces', AIRLOCK_TRACING_OTLP_HEADERS: 'x-honeycomb-team=abc%2Cdef,x-dataset=airlock', AIRLOCK_METRICS_PORT: '9464' };
  const traced = loadConfig({ env, cwd: dir });
  assert.equal(traced.config.tracing.otlp.headers, 'x-honeycomb-team=abc%2Cdef,x-dataset=airlock');
  assert.equal(traced.config.metrics.port, 9464);

  const noEndpoint = configError(() => loadConfig({ env: { AIRLOCK_TRACING_ENABLED: 'true' }, cwd: dir }));
  assert.match(noEndpoint.message, /tracing\.otlp\.endpoint/);
  assert.match(noEndpoint.message, /required when tracing\.enabled is true/);
  for (const headers of ['x-key', 'x key=v', 'a=b\r\nInjected: 1', 'a=b,,c=d']) {
    const bad = configError(() => loadConfig({ env: { ...env, AIRLOCK_TRACING_OTLP_HEADERS: headers }, cwd: dir }));
    assert.match(bad.message, /AIRLOCK_TRACING_OTLP_HEADERS/);
    assert.match(bad.message, /name=value pairs separated by commas/);
  }
  const ftp = configError(() => loadConfig({ env: { ...env, AIRLOCK_TRACING_OTLP_ENDPOINT: 'ftp://collector/v1/traces' }, cwd: dir }));
  assert.match(ftp.message, /tracing\.otlp\.endpoint/);

  const { warnings } = loadConfig({ env: { ...env, AIRLOCK_METRICS_HOST: '0.0.0.0', AIRLOCK_TRACING_TRUST_INCOMING: 'true' }, cwd: dir });
  assert.ok(warnings.some((w) => w.includes('serves /metrics without authentication on 0.0.0.0')), 'an exposed metrics listener is warned about');
  assert.ok(warnings.some((w) => w.includes('tracing.trustIncoming is on')), 'trusting callers\' traceparent is warned about');
});
