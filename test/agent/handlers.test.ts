// The stream handler registry and the enrollment token input (file, standard input, argument).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerStreamHandler } from '../../agent/handlers.ts';
import { readEnrollmentToken, tokenAgentName } from '../../agent/enroll.ts';
import { AgentError } from '../../agent/errors.ts';

test('a kind is registered once, must be a lower-case word, and can be removed', () => {
  const remove = registerStreamHandler('unit-kind', () => {});
  assert.throws(() => registerStreamHandler('unit-kind', () => {}), /already registered/);
  remove();
  const again = registerStreamHandler('unit-kind', () => {});
  again();
  for (const bad of ['Upper', '', 'a b', 'x'.repeat(33), '1st']) assert.throws(() => registerStreamHandler(bad, () => {}), TypeError, bad);
});

test('the token comes from exactly one source: a file, standard input or the argument', async () => {
  const token = `aet_edge-1_${'A'.repeat(43)}`;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-token-'));
  try {
    writeFileSync(join(dir, 't'), `${token}\n`, { mode: 0o600 });
    assert.equal(await readEnrollmentToken({ tokenFile: join(dir, 't') }), token);
    assert.equal(await readEnrollmentToken({ token: '-' }, Readable.from([`  ${token}\n`])), token);
    assert.equal(await readEnrollmentToken({ tokenFile: '-' }, Readable.from([token])), token);
    assert.equal(await readEnrollmentToken({ token }), token);
    await assert.rejects(readEnrollmentToken({}), (err: AgentError) => err.code === 'AGENT_USAGE');
    await assert.rejects(readEnrollmentToken({ token, tokenFile: 'x' }), (err: AgentError) => err.code === 'AGENT_USAGE');
    await assert.rejects(readEnrollmentToken({ tokenFile: join(dir, 'missing') }), (err: AgentError) => err.code === 'AGENT_INPUT_INVALID' && /Cannot read the enrollment token file .*missing \(ENOENT\)/.test(err.message));
    await assert.rejects(readEnrollmentToken({ token: '-' }, Readable.from(['x'.repeat(5000)])), (err: AgentError) => err.code === 'AGENT_INPUT_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(tokenAgentName(token), 'edge-1');
  assert.throws(() => tokenAgentName('alk_abc'), (err: AgentError) => err.code === 'AGENT_INPUT_INVALID' && /not an enrollment token/.test(err.message));
});
