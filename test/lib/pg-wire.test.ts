// The wire codec on its own: framing under hostile lengths, strict decoders, and a bounded fuzz of
// every decoder with random bytes (a WireError or a value, never another exception, never a hang).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  bindMessage, BodyReader, cstr, dataRow, FrameReader, i16, i32, message, notice, PROTOCOL_3, readBind, readCommandComplete, readDataRow, readNotice, readParse, readQuery,
  readRowDescription, readStartup, SSL_REQUEST, WireError,
} from '../../lib/pg-wire.ts';

test('frames split anywhere are put back together; the startup message has no type byte', () => {
  const body = Buffer.concat([i32(PROTOCOL_3), cstr('user'), cstr('bob'), Buffer.from([0])]);
  const first = Buffer.concat([i32(body.length + 4), body]);
  const q = message('Q', cstr('SELECT 1'));
  const all = Buffer.concat([first, q, q]);
  const r = new FrameReader({ maxBytes: 1024, startup: true });
  const got = [];
  for (const byte of all) {
    r.push(Buffer.from([byte]));
    for (let f = r.next(); f !== undefined; f = r.next()) got.push(f);
  }
  assert.equal(got.length, 3);
  assert.equal(got[0]!.type, 0);
  assert.deepEqual([...readStartup(got[0]!.body).params], [['user', 'bob']]);
  assert.equal(readQuery(got[1]!.body), 'SELECT 1');
  assert.deepEqual(got[2]!.raw, q);
});

test('a length under the header or over the limit is refused before its body is buffered', () => {
  const over = new FrameReader({ maxBytes: 100 });
  over.push(Buffer.concat([Buffer.from('Q'), i32(0x7fffffff)]));
  assert.throws(() => over.next(), (e: Error) => e instanceof WireError && e.message === 'a message of 2147483647 bytes is larger than the 104 bytes accepted');
  const under = new FrameReader({ maxBytes: 100 });
  under.push(Buffer.concat([Buffer.from('Q'), i32(3)]));
  assert.throws(() => under.next(), (e: Error) => e instanceof WireError && e.message === 'a message announces a length of 3 bytes, less than its own header');
  const startup = new FrameReader({ maxBytes: 100, startup: true });
  startup.push(i32(20_000));
  assert.throws(() => startup.next(), /larger than the 10000 bytes accepted/);
  // A TLS ClientHello sent without SSLRequest (direct SSL) reads as an absurd startup length.
  const hello = new FrameReader({ maxBytes: 100, startup: true });
  hello.push(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
  assert.throws(() => hello.next(), WireError);
});

test('decoders are strict: strings terminated, UTF-8, counts and lengths within the message, nothing after the last field', () => {
  assert.throws(() => readQuery(Buffer.from('SELECT 1')), /a Query message has a string without its terminator/);
  assert.throws(() => readQuery(Buffer.concat([cstr('SELECT 1'), Buffer.from('x')])), /a Query message has 1 bytes after its last field/);
  assert.throws(() => readQuery(Buffer.concat([Buffer.from([0x53, 0xff, 0x31]), Buffer.from([0])])), /a Query message carries text that is not UTF-8/);
  const parse = Buffer.concat([cstr('s1'), cstr('SELECT $1'), i16(1), i32(23)]);
  assert.deepEqual(readParse(parse), { name: 's1', sql: 'SELECT $1', types: [23] });
  assert.throws(() => readParse(Buffer.concat([cstr('s1'), cstr('SELECT $1'), i16(2), i32(23)])), /a Parse message ends before its fields do/);
  const bind = Buffer.concat([cstr(''), cstr('s1'), i16(1), i16(0), i16(2), i32(2), Buffer.from('42'), i32(-1), i16(0)]);
  assert.deepEqual(readBind(bind), { portal: '', statement: 's1', formats: [0, 0], values: [Buffer.from('42'), null], resultFormats: [] });
  assert.deepEqual(readBind(bindMessage(readBind(bind)).subarray(5)), readBind(bind));
  assert.throws(() => readBind(Buffer.concat([cstr(''), cstr('s1'), i16(1), i16(7), i16(0), i16(0)])), /format code 7 is neither text \(0\) nor binary \(1\)/);
  assert.throws(() => readBind(Buffer.concat([cstr(''), cstr('s1'), i16(2), i16(0), i16(0), i16(1), i32(-5)])), /a Bind message has a format count that is neither 0, 1 nor its parameter count|negative length/);
  const startup = Buffer.concat([i32(PROTOCOL_3), cstr('user'), cstr('a'), cstr('user'), cstr('b'), Buffer.from([0])]);
  assert.throws(() => readStartup(startup), /names parameter "user" twice/);
  assert.equal(readStartup(i32(SSL_REQUEST)).protocol, SSL_REQUEST);
  assert.deepEqual(readDataRow(dataRow([Buffer.from('a'), null]).subarray(5)), [Buffer.from('a'), null]);
  const err = notice('E', { S: 'ERROR', C: '42501', M: 'no\0pe' });
  assert.deepEqual(Object.fromEntries(readNotice(err.subarray(5))), { S: 'ERROR', C: '42501', M: 'nope' });
  assert.equal(readCommandComplete(cstr('SELECT 3')), 'SELECT 3');
});

test('fuzz: 4 000 random and mutated messages give a value or a WireError, nothing else', () => {
  const decoders = [readStartup, readQuery, readParse, readBind, readRowDescription, readDataRow, readCommandComplete, readNotice];
  const seeds = [
    Buffer.concat([cstr(''), cstr('s1'), i16(1), i16(0), i16(2), i32(2), Buffer.from('42'), i32(-1), i16(0)]),
    Buffer.concat([cstr('s1'), cstr('SELECT $1'), i16(1), i32(23)]),
    dataRow([Buffer.from('4111 1111 1111 1111'), null]).subarray(5),
    Buffer.concat([i32(PROTOCOL_3), cstr('user'), cstr('bob'), Buffer.from([0])]),
  ];
  for (let i = 0; i < 4000; i++) {
    let body: Buffer;
    if (i % 2 === 0) {
      body = randomBytes(i % 64);
    } else {
      body = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 0; k < 1 + (i % 4); k++) if (body.length > 0) body[(i * 7 + k * 13) % body.length] = randomBytes(1)[0]!;
    }
    for (const decode of decoders) {
      try {
        decode(body);
      } catch (err) {
        if (!(err instanceof WireError)) throw new Error(`${decode.name} threw ${(err as Error).name} on ${body.toString('hex')}: ${(err as Error).message}`);
      }
    }
    const frames = new FrameReader({ maxBytes: 256, startup: i % 3 === 0 });
    frames.push(body);
    try {
      for (let n = 0; n < 100 && frames.next() !== undefined; n++);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
    }
  }
  assert.ok(new BodyReader(Buffer.alloc(0), 'nothing').done);
});
