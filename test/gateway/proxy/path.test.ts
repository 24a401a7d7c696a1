// The path under /proxy/<connection> can never leave the connection's base path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../../gateway/errors.ts';
import { proxyTarget } from '../../../gateway/proxy/path.ts';

test('ordinary paths and queries map under the base path', () => {
  assert.deepEqual(proxyTarget('/proxy/demo/customers/1?x=1&y=%20z', '/api/'), { connection: 'demo', path: '/api/customers/1?x=1&y=%20z' });
  assert.deepEqual(proxyTarget('/proxy/demo', '/'), { connection: 'demo', path: '/' });
  assert.deepEqual(proxyTarget('/proxy/demo/a%20b/caf%C3%A9', ''), { connection: 'demo', path: '/a%20b/caf%C3%A9' });
});

test('every escape attempt is refused with GW_BAD_REQUEST', () => {
  const attempts = [
    '/proxy/demo/../admin', '/proxy/demo/a/../../etc/passwd', '/proxy/demo/./x', '/proxy/demo/%2e%2e/admin', '/proxy/demo/%2E%2E/admin',
    '/proxy/demo/.%2e/admin', '/proxy/demo/%2e./admin', '/proxy/demo/a%2fb', '/proxy/demo/a%2F..%2Fb', '/proxy/demo/a%5c..%5cb',
    '/proxy/demo/%252e%252e/admin', '/proxy/demo/a\\..\\b', '/proxy/demo/a%00b', '/proxy/demo/%0d%0aHost:x', '/proxy/demo/x?y=%2500',
    '/proxy/demo/%zz',
  ];
  for (const url of attempts) {
    assert.throws(() => proxyTarget(url, '/api'), (err: GatewayError) => {
      assert.equal(err.code, 'GW_BAD_REQUEST', url);
      assert.match(err.message, /^The path is refused: .*; a request may not leave its connection\.$/);
      return true;
    }, url);
  }
});

test('a path that is not /proxy/<connection> is a 404', () => {
  for (const url of ['/proxy/', '/proxy/Bad_Name/x', '/proxyx/demo']) {
    assert.throws(() => proxyTarget(url, '/'), (err: GatewayError) => err.code === 'GW_NOT_FOUND', url);
  }
});
