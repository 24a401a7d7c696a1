// Which gateway URLs the agent may dial: wss:// always; ws:// only to loopback, or with the
// explicit insecure flag, which logs a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../lib/log.ts';
import { TunnelError } from '../../../gateway/tunnel/errors.ts';
import { checkTunnelUrl, isLoopbackHost } from '../../../gateway/tunnel/url.ts';

function rejects(url: string, code: string, message: RegExp, allowInsecure = false): void {
  assert.throws(() => checkTunnelUrl(url, { allowInsecure }), (err: unknown) => {
    assert.ok(err instanceof TunnelError);
    assert.equal(err.code, code, url);
    assert.match(err.message, message);
    return true;
  });
}

test('wss:// anywhere and ws:// to loopback are accepted without a warning', () => {
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l) });
  for (const url of ['wss://gw.example.com/tunnel', 'ws://127.0.0.1:8080/tunnel', 'ws://localhost/t', 'ws://[::1]:9/t', 'ws://127.8.9.10/t', 'ws://[::ffff:127.0.0.1]/t']) {
    assert.equal(checkTunnelUrl(url, { logger }).href, new URL(url).href);
  }
  assert.deepEqual(lines, []);
});

test('ws:// to another host is refused, or accepted with the insecure flag and a warning', () => {
  rejects('ws://gw.example.com/tunnel', 'TUNNEL_INSECURE_URL', /plain ws:\/\/ to gw\.example\.com, which is not loopback; use wss:\/\//);
  rejects('ws://10.0.0.1/tunnel', 'TUNNEL_INSECURE_URL', /not loopback/);
  rejects('ws://localhost.evil.com/tunnel', 'TUNNEL_INSECURE_URL', /not loopback/);
  const lines: string[] = [];
  const url = checkTunnelUrl('ws://10.0.0.1/tunnel', { allowInsecure: true, logger: createLogger({ write: (l) => lines.push(l) }) });
  assert.equal(url.hostname, '10.0.0.1');
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as { level: string; msg: string; host: string };
  assert.equal(line.level, 'warn');
  assert.match(line.msg, /^INSECURE: /);
  assert.equal(line.host, '10.0.0.1');
});

test('other schemes, bad URLs and credentials in the URL are refused', () => {
  rejects('https://gw.example.com/', 'TUNNEL_URL_INVALID', /scheme is https/);
  rejects('not a url', 'TUNNEL_URL_INVALID', /not a valid URL/);
  rejects('wss://agent:secret@gw.example.com/', 'TUNNEL_URL_INVALID', /user name or password/);
  assert.equal(isLoopbackHost('LOCALHOST'), true);
  assert.equal(isLoopbackHost('128.0.0.1'), false);
});
