// The listener's transport: with postgres.tls, `sslmode=require` negotiates TLS and the token
// travels inside it; without TLS, a client off loopback is refused before the password is asked
// for (GW_PG_TLS_REQUIRED), so no token crosses in the clear. A real certificate made by
// `openssl`, the real `pg` driver, no agent needed (the login stops at the connection).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { cstr, FrameReader, i32, PROTOCOL_3, readNotice } from '../../../lib/pg-wire.ts';
import { isLoopbackAddress } from '../../../gateway/postgres/listener.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';

let t: TestGateway;
let plain: Awaited<ReturnType<TestGateway['replica']>>;

before(async () => {
  t = await startTestGateway();
  const cert = join(t.dir, 'pg-cert.pem');
  const key = join(t.dir, 'pg-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  await t.gw.stop();
  t.gw = await t.replica({ postgres: { enabled: true, port: 0, host: '0.0.0.0', tls: { certFile: cert, keyFile: key } } });
  plain = await t.replica({ postgres: { enabled: true, port: 0, host: '0.0.0.0' } });
});

after(async () => {
  await t?.close();
});

async function login(options: pg.ClientConfig): Promise<pg.DatabaseError> {
  const c = new pg.Client({ database: 'shop', user: 'bob', password: 'not-a-token', connectionTimeoutMillis: 10_000, ...options });
  c.on('error', () => {});
  return c.connect().then(() => assert.fail('logged in'), (e: pg.DatabaseError) => e);
}

test('sslmode=require: TLS is negotiated and the login goes on inside it', async () => {
  const err = await login({ host: '127.0.0.1', port: t.gw.postgresPort!, ssl: { rejectUnauthorized: false } });
  assert.equal(err.code, '28P01'); // the token was read, through TLS
  assert.match(err.message, /\(GW_TOKEN_INVALID\)$/);
  const token = await t.token('bob', ['developers']);
  const unknown = await login({ host: '127.0.0.1', port: t.gw.postgresPort!, password: token, ssl: { rejectUnauthorized: false } });
  assert.equal(unknown.code, '3D000');
});

test('without TLS, a client off loopback is refused before any password is asked for', async () => {
  assert.ok(isLoopbackAddress('127.0.0.1') && isLoopbackAddress('::1') && isLoopbackAddress('::ffff:127.0.0.9'));
  assert.ok(!isLoopbackAddress('192.0.2.2') && !isLoopbackAddress('fd00::2') && !isLoopbackAddress('::ffff:10.0.0.1') && !isLoopbackAddress('128.0.0.1'));
  const address = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;
  assert.ok(address, 'this machine has an address off loopback to connect from');
  const got = await new Promise<Buffer>((resolve) => {
    const socket = connect({ host: address, port: plain.postgresPort! });
    const chunks: Buffer[] = [];
    socket.on('error', () => {});
    socket.on('connect', () => {
      const body = Buffer.concat([i32(PROTOCOL_3), cstr('user'), cstr('bob'), cstr('database'), cstr('shop'), Buffer.from([0])]);
      socket.write(Buffer.concat([i32(body.length + 4), body]));
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
  assert.equal(got[0], 0x45, 'an ErrorResponse, not an AuthenticationCleartextPassword request');
  const frames = new FrameReader({ maxBytes: 1 << 16 });
  frames.push(got);
  const fields = Object.fromEntries(readNotice(frames.next()!.body));
  assert.equal(fields.C, '28000');
  assert.equal(fields.M, `airlock: Your password is an airlock token, which is sent only over TLS from ${address}; connect with sslmode=require (an admin sets postgres.tls on the gateway). (GW_PG_TLS_REQUIRED)`);
  // With TLS configured, the same client may come in over TLS.
  const err = await login({ host: address, port: t.gw.postgresPort!, ssl: { rejectUnauthorized: false } });
  assert.equal(err.code, '28P01');
});
