// The event hash as gateway/recorder/DESIGN.md defines it, SHA-256 over the previous hash, a newline and the event's
// canonical JSON, computed here the slow, obvious way, against the recorder's spelled-out fast
// form: every stored chain depends on the two agreeing byte for byte.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { canonicalJson } from '../../../lib/canonical-json.ts';
import { eventHash, eventHashWithPayloadText, GENESIS_HASH } from '../../../gateway/recorder/chain.ts';

function byDefinition(e: { sessionId: string; seq: number; type: string; at: number; offsetMs: number; payload: unknown; prevHash: string }): string {
  const event = { session: e.sessionId, seq: e.seq, type: e.type, at: e.at, offsetMs: e.offsetMs, payload: e.payload, prev: e.prevHash };
  return createHash('sha256').update(e.prevHash).update('\n').update(canonicalJson(event)).digest('hex');
}

const payloads: Array<[string, unknown]> = [
  ['a small summary', { direction: 'response', decision: 'allow', findings: 0, reasons: [] }],
  ['unicode and escapes', { body: 'é😀\u2028"\\', 10: 'index key', a: null }],
  ['a body past the one-shot size', { body: 'x"'.repeat(40_000), status: 200 }],
  ['a bare string', 'text'],
];

for (const [name, payload] of payloads) {
  test(`eventHash equals the definition: ${name}`, () => {
    const e = { sessionId: 'ses_0123456789abcdef', seq: 42, type: 'response', at: 1_700_000_000_123, offsetMs: 17, payload, prevHash: createHash('sha256').update(name).digest('hex') };
    assert.equal(eventHash(e), byDefinition(e));
    assert.equal(eventHashWithPayloadText(e, canonicalJson(payload)), byDefinition(e));
  });
}

test('the first event chains to the genesis hash', () => {
  const e = { sessionId: 'ses_a', seq: 1, type: 'session.start', at: 0, offsetMs: 0, payload: { connection: 'demo' }, prevHash: GENESIS_HASH };
  assert.equal(eventHash(e), byDefinition(e));
  assert.notEqual(eventHash(e), eventHash({ ...e, seq: 2 }), 'the seq is covered');
});
