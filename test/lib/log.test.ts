import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, withRequestContext } from '../../lib/log.ts';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level, write: (l) => lines.push(JSON.parse(l)), now: () => new Date('2026-01-02T03:04:05Z') });
  return { logger, lines };
}

test('lines are JSON with time, level and message', () => {
  const { logger, lines } = capture();
  logger.info('hello', { n: 1 });
  assert.deepEqual(lines, [{ time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'hello', n: 1 }]);
});

test('every line inside a request carries its request id, even across awaits', async () => {
  const { logger, lines } = capture();
  await withRequestContext('req-12345678', async () => {
    logger.info('a');
    await new Promise((r) => setImmediate(r));
    logger.child({ component: 'store' }).warn('b');
  });
  logger.info('outside');
  assert.deepEqual(lines.map((l) => [l.msg, l.requestId, l.component]), [['a', 'req-12345678', undefined], ['b', 'req-12345678', 'store'], ['outside', undefined, undefined]]);
});

test('credential-looking fields are redacted at any depth', () => {
  const { logger, lines } = capture();
  logger.info('req', { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', accept: '*/*' }, password: 'hunter2', nested: [{ client_secret: 's3' }], apiKey: 'k' });
  const text = JSON.stringify(lines);
  for (const secret of ['abc.def.ghi', 'sid=1', 'hunter2', 's3']) assert.ok(!text.includes(secret), `${secret} must not be logged`);
  assert.equal((lines[0]!.headers as Record<string, string>).accept, '*/*');
  assert.equal(lines[0]!.apiKey, '[REDACTED]');
});

test('lines below the level are dropped', () => {
  const { logger, lines } = capture('warn');
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e', { err: new Error('boom') });
  assert.deepEqual(lines.map((l) => l.level), ['warn', 'error']);
  assert.equal((lines[1]!.err as { message: string }).message, 'boom');
});
