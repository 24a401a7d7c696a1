// The tunnel's error table agrees with the close-code table in gateway/tunnel/DESIGN.md, and
// received close codes map back to the codes that sent them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { codeOfClose, closeCodeOf, TUNNEL_ERRORS, TunnelError, type TunnelErrorCode } from '../../../gateway/tunnel/errors.ts';

const design = readFileSync(new URL('../../../gateway/tunnel/DESIGN.md', import.meta.url), 'utf8');
const documented = new Map<number, string>();
for (const m of design.matchAll(/^\| (4\d{3}) \| `(TUNNEL_[A-Z_]+)`/gm)) documented.set(Number(m[1]), m[2]!);

test('every 4xxx close code in TUNNEL_ERRORS is in DESIGN.md with the same code, and back', () => {
  const defined = new Map<number, string>();
  for (const [code, spec] of Object.entries(TUNNEL_ERRORS) as Array<[TunnelErrorCode, { closeCode?: number }]>) {
    if (spec.closeCode !== undefined && spec.closeCode >= 4000) defined.set(spec.closeCode, code);
  }
  assert.ok(defined.size >= 8, 'the table is not empty');
  assert.deepEqual([...documented].sort(), [...defined].sort());
});

test('close codes map both ways; codes are unique and carry the TUNNEL_ prefix', () => {
  const seen = new Set<number>();
  for (const code of Object.keys(TUNNEL_ERRORS) as TunnelErrorCode[]) {
    assert.match(code, /^TUNNEL_[A-Z0-9_]+$/);
    const close = closeCodeOf(code);
    if (close === undefined || close < 4000) continue;
    assert.ok(close <= 4099, `${code}: the transport owns 4000–4099`);
    assert.ok(!seen.has(close), `${close} is used once`);
    seen.add(close);
    assert.equal(codeOfClose(close), code);
  }
  assert.equal(codeOfClose(1009), 'TUNNEL_FRAME_TOO_LARGE');
  assert.equal(codeOfClose(1006), 'TUNNEL_CONNECTION_LOST');
  assert.equal(codeOfClose(4100), undefined, 'codes above 4099 belong to other layers');
});

test('a TunnelError carries code, close code and reset code', () => {
  const err = new TunnelError('TUNNEL_PEER_DEAD', 'gone');
  assert.equal(err.closeCode, 4008);
  assert.equal(err.name, 'TunnelError');
  const reset = new TunnelError('TUNNEL_STREAM_RESET', 'reset', { resetCode: 'APP_X' });
  assert.equal(reset.resetCode, 'APP_X');
  assert.equal(reset.closeCode, undefined);
});
