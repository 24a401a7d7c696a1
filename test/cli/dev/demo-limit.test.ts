// The limits example of docs/concepts/limits.md, on `airlock dev` (what `npm start` runs): bob pages through the demo's
// customers; GET /customers answers 4 records with PII, the budget of pack demo-limits is 20 an
// hour, so the first five pages pass (masked) and the sixth is held for a review; `airlock usage`
// shows bob over his budget.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AIRLOCK, run, start } from '../../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-dev-limit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('airlock dev: a scraper paging through /customers is held for review after 20 records', async () => {
  const dev = start(AIRLOCK, ['dev', '--port', '0', '--idp-port', '0', '--agent-port', '0', '--demo-port', '0', '--postgres-port', '0', '--data-dir', join(dir, 'state')], { cwd: dir });
  after(() => dev.stop('SIGKILL'));
  await dev.waitFor(/Ctrl-C stops everything\./, 30000);
  const gateway = dev.output().stdout.match(/^  gateway\s+(http:\/\/127\.0\.0\.1:\d+)\s/m)?.[1];
  assert.ok(gateway);
  const bob = (await run(AIRLOCK, ['dev', 'token', '--user', 'bob', '--gateway', gateway], { cwd: dir })).stdout.trim();
  const statuses: number[] = [];
  let held: Response | undefined;
  for (let page = 1; page <= 6; page++) {
    const res = await fetch(`${gateway}/proxy/demo/customers`, { headers: { authorization: `Bearer ${bob}` } });
    statuses.push(res.status);
    if (res.status !== 200) held = res;
    else assert.equal(((await res.json()) as { customers: unknown[] }).customers.length, 4);
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 409]);
  const body = await held!.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_REVIEW_PENDING');
  assert.ok(held!.headers.get('x-airlock-review'), 'the review is named');

  const alice = (await run(AIRLOCK, ['dev', 'token', '--user', 'alice', '--gateway', gateway], { cwd: dir })).stdout.trim();
  const usage = await run(AIRLOCK, ['usage', '--connection', 'demo', '--json'], { cwd: dir, env: { AIRLOCK_GATEWAY: gateway, AIRLOCK_TOKEN: alice, AIRLOCK_CONFIG_DIR: join(dir, 'cli') } });
  assert.equal(usage.code, 0, usage.stderr);
  assert.deepEqual((JSON.parse(usage.stdout) as Array<Record<string, any>>).map((u) => [u.limit, u.key.identity, u.used, u.max, u.state]), [['customer_records', 'bob', 20, 20, 'over']]);
});
