// The frame codec on its own: round trips, and every kind of malformed input with its code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TunnelError } from '../../../gateway/tunnel/errors.ts';
import {
  decodeFrame, encodeFrame, encodeHello, encodeOpen, encodeReset, encodeWindow, FrameType, FRAME_HEADER_BYTES,
  MAX_OPEN_HEADER_BYTES, MAX_PAYLOAD_BYTES, parseHello, parseOpenHeader, parseReset, parseWindow,
} from '../../../gateway/tunnel/frames.ts';

function throwsCode(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TunnelError, `a TunnelError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

test('the header layout is type, stream id, length, big-endian', () => {
  const frame = encodeFrame(FrameType.DATA, 0x01020304, Buffer.from('abc'));
  assert.deepEqual([...frame], [0x03, 1, 2, 3, 4, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
  const decoded = decodeFrame(frame);
  assert.equal(decoded.type, FrameType.DATA);
  assert.equal(decoded.streamId, 0x01020304);
  assert.equal(decoded.payload.toString(), 'abc');
});

test('every frame type round-trips', () => {
  const hello = decodeFrame(encodeHello({ versions: [1, 2], window: 65536 }));
  assert.deepEqual(parseHello(hello.payload), { versions: [1, 2], window: 65536 });
  const open = decodeFrame(encodeOpen(7, { kind: 'http', connection: 'crm' }));
  assert.deepEqual(parseOpenHeader(open.payload), { kind: 'http', connection: 'crm' });
  const reset = decodeFrame(encodeReset(9, 'TARGET_UNREACHABLE', 'connect refused'));
  assert.deepEqual(parseReset(reset.payload), { code: 'TARGET_UNREACHABLE', message: 'connect refused' });
  assert.equal(parseWindow(decodeFrame(encodeWindow(3, 0xffff_ffff)).payload), 0xffff_ffff);
  assert.equal(decodeFrame(encodeFrame(FrameType.END, 3)).payload.length, 0);
  assert.equal(decodeFrame(encodeFrame(FrameType.PING, 0, Buffer.alloc(8, 1))).type, FrameType.PING);
  assert.equal(decodeFrame(encodeFrame(FrameType.DATA, 1, Buffer.alloc(MAX_PAYLOAD_BYTES))).payload.length, MAX_PAYLOAD_BYTES);
});

test('malformed frames throw coded errors', () => {
  throwsCode(() => decodeFrame(Buffer.from([0x03, 0, 0])), 'TUNNEL_FRAME_MALFORMED', /shorter than the 9-byte frame header/);
  throwsCode(() => decodeFrame(encodeFrame(0x7f as FrameType, 0)), 'TUNNEL_UNKNOWN_FRAME', /Unknown tunnel frame type 0x7f/);
  throwsCode(() => decodeFrame(encodeFrame(0x00 as FrameType, 0)), 'TUNNEL_UNKNOWN_FRAME', /0x00/);
  const big = Buffer.alloc(FRAME_HEADER_BYTES);
  big.writeUInt8(FrameType.DATA, 0);
  big.writeUInt32BE(1, 1);
  big.writeUInt32BE(MAX_PAYLOAD_BYTES + 1, 5);
  throwsCode(() => decodeFrame(big), 'TUNNEL_FRAME_TOO_LARGE', /declares 65537 payload bytes; the cap is 65536/);
  const truncated = encodeFrame(FrameType.DATA, 1, Buffer.from('abcdef')).subarray(0, 12);
  throwsCode(() => decodeFrame(truncated), 'TUNNEL_FRAME_MALFORMED', /declares 6 payload bytes but carries 3 \(truncated\)/);
  const trailing = Buffer.concat([encodeFrame(FrameType.END, 1), Buffer.from('x')]);
  throwsCode(() => decodeFrame(trailing), 'TUNNEL_FRAME_MALFORMED', /declares 0 payload bytes but carries 1 \(trailing bytes\)/);
  throwsCode(() => decodeFrame(encodeFrame(FrameType.DATA, 1)), 'TUNNEL_FRAME_MALFORMED', /DATA frame must carry 1–65536 payload bytes, not 0/);
  throwsCode(() => decodeFrame(encodeFrame(FrameType.PING, 0, Buffer.alloc(4))), 'TUNNEL_FRAME_MALFORMED', /PING frame must carry 8 payload bytes/);
  throwsCode(() => decodeFrame(encodeFrame(FrameType.DATA, 0, Buffer.from('x'))), 'TUNNEL_FRAME_MALFORMED', /needs a non-zero stream id/);
  throwsCode(() => decodeFrame(encodeFrame(FrameType.PING, 5, Buffer.alloc(8))), 'TUNNEL_FRAME_MALFORMED', /belongs to stream 0, not stream 5/);
  throwsCode(() => parseWindow(Buffer.alloc(4)), 'TUNNEL_FRAME_MALFORMED', /zero increment/);
});

test('payload JSON is checked: hello, reset and open header', () => {
  throwsCode(() => parseHello(Buffer.from('{"versions":[]}')), 'TUNNEL_FRAME_MALFORMED', /"versions" list/);
  throwsCode(() => parseHello(Buffer.from('{"versions":[1.5]}')), 'TUNNEL_FRAME_MALFORMED', /"versions" list/);
  throwsCode(() => parseHello(Buffer.from('[1]')), 'TUNNEL_FRAME_MALFORMED', /"versions" list/);
  throwsCode(() => parseHello(Buffer.from('{"versions":[1],"window":0}')), 'TUNNEL_FRAME_MALFORMED', /"window"/);
  assert.deepEqual(parseHello(Buffer.from('{"versions":[9],"future":true}')), { versions: [9], window: undefined }, 'unknown keys are ignored');
  throwsCode(() => parseReset(Buffer.from('{"code":"lower"}')), 'TUNNEL_FRAME_MALFORMED', /valid "code"/);
  throwsCode(() => parseReset(Buffer.from(JSON.stringify({ code: 'X_Y', message: 'm'.repeat(300) }))), 'TUNNEL_FRAME_MALFORMED', /short "message"/);
  throwsCode(() => parseOpenHeader(Buffer.from('null')), 'TUNNEL_HEADER_INVALID', /not a UTF-8 JSON object/);
  throwsCode(() => parseOpenHeader(Buffer.from([0x7b, 0xc3, 0x7d])), 'TUNNEL_HEADER_INVALID', /not a UTF-8 JSON object/);
  const poisoned = parseOpenHeader(Buffer.from('{"a":{"__proto__":{"x":1},"constructor":{"prototype":{"y":2}},"b":2}}'));
  assert.deepEqual(poisoned, { a: { b: 2 } });
});

test('encoding refuses what the peer would refuse', () => {
  throwsCode(() => encodeOpen(1, { big: 'x'.repeat(MAX_OPEN_HEADER_BYTES) }), 'TUNNEL_HEADER_INVALID', /the cap is 8192/);
  throwsCode(() => encodeOpen(1, [1, 2] as unknown as object), 'TUNNEL_HEADER_INVALID', /plain JSON object/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  throwsCode(() => encodeOpen(1, cyclic), 'TUNNEL_HEADER_INVALID', /cannot be serialised/);
  assert.throws(() => encodeReset(1, 'bad code'), TypeError);
  const long = parseReset(decodeFrame(encodeReset(1, 'APP_X', 'm'.repeat(1000))).payload);
  assert.equal(long.message?.length, 256, 'a long reset message is cut, not refused');
});
