// A gateway process killed with SIGKILL while 100 requests are in flight: after a restart on the
// same store, every session it was recording is marked incomplete, sealed (a session.incomplete
// event and a final signed checkpoint) and verifies up to its last event (the hash chain holds;
// nothing half-written); the dead process's ledger chain is sealed and the ledger verifies.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AIRLOCK, start } from '../../support/process.ts';
import { eventually, startTestGateway } from '../../support/gateway.ts';
import { verifySession, type VerifiableCheckpoint, type VerifiableEvent } from '../../../gateway/recorder/verify.ts';
import { verifyLedger } from '../../../gateway/recorder/ledger-verify.ts';

test('SIGKILL during 100 concurrent requests: every session is incomplete and verifies up to its last event', async () => {
  // The harness gives the identity provider, tokens and a directory; its own gateway stops so the
  // child process owns the store.
  const t = await startTestGateway({ config: { recording: { heartbeat: 0.2 } } });
  try {
    await t.gw.stop();
    const admin = await t.token('alice', ['admins']);
    const config = join(t.dir, 'child.yaml');
    writeFileSync(config, [
      'server: { host: 127.0.0.1, port: 0, publicUrl: "http://airlock.test" }',
      `store: { url: "sqlite:${join(t.dir, 'gw.db')}" }`,
      `auth: { issuer: "${t.idp.issuer}", audience: "http://airlock.test" }`,
      `recording: { keyFile: "${join(t.dir, 'recording-key.pem')}", heartbeat: 0.2, checkpointEvery: 2 }`,
      'log: { level: info }',
    ].join('\n'));
    const child = start(AIRLOCK, ['gateway', 'start', '--config', config], { cwd: t.dir });
    after(() => child.stop('SIGKILL'));
    const url = (await child.waitFor(/"msg":"gateway listening","url":"(http:\/\/127\.0\.0\.1:\d+)"/, 20_000))[1]!;
    await eventually(async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 20_000, 'the child gateway ready (identity provider discovered)');
    const created = await fetch(`${url}/api/v1/connections`, {
      method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'demo', kind: 'http', agent: 'nowhere', target: 'http://127.0.0.1:9/api', groups: ['*'] }),
    });
    assert.equal(created.status, 201);

    // 100 requests, each in its own labelled session; the agent is offline, so each records its
    // request and decision and fails fast — and keeps coming until the kill.
    const bob = await t.token('bob', ['developers']);
    let stop = false;
    let sent = 0;
    const load = Array.from({ length: 100 }, async (_, i) => {
      for (let n = 0; n < 200 && !stop; n++) {
        sent++;
        await fetch(`${url}/proxy/demo/items/${i}`, { headers: { authorization: `Bearer ${bob}`, 'x-airlock-session': `load-${i}` } }).then((r) => r.arrayBuffer()).catch(() => {});
      }
    });
    try {
      await eventually(() => (sent > 300 ? true : undefined), 20_000, 'load under way');
    } finally {
      stop ||= child.child.exitCode !== null;
    }
    child.child.kill('SIGKILL');
    stop = true;
    await Promise.all(load);
    await child.stop('SIGKILL');

    const gw = await t.restart(); // same store; its heartbeat sweep finds the dead process's sessions
    const ids = await eventually(async () => {
      const all = await gw.store.sessions.list({ connection: 'demo', limit: 1000 });
      return all.length > 0 && all.every((s) => s.state === 'incomplete') ? all.map((s) => s.id) : undefined;
    }, 10_000, 'every session marked incomplete');
    assert.ok(ids.length >= 50, `${ids.length} sessions`);
    const keys = [gw.recording.key.publicJwk];
    for (const id of ids) {
      const session = (await gw.store.sessions.get(id))!;
      assert.equal(session.endReason, 'the gateway recording it stopped without ending it');
      const events = await gw.store.events.list(id, { limit: 10_000 }) as VerifiableEvent[];
      const checkpoints = await gw.store.checkpoints.list(id) as VerifiableCheckpoint[];
      const result = verifySession({ sessionId: id, state: session.state, events, checkpoints, keys });
      assert.equal(result.ok, true, `${id}: ${JSON.stringify(result.firstBad)}`);
      assert.equal(result.events, session.lastSeq, 'every stored event is covered by the chain');
      assert.match(result.notes[0]!, /^the session is incomplete/);
      assert.equal(result.signedState, 'incomplete', 'sealed by the restarted gateway');
      assert.equal(events.at(-1)!.type, 'session.incomplete');
    }

    // The killed process's ledger chain is sealed by the one that found it dead; the ledger knows
    // every session and agrees with each one's newest checkpoint.
    const heads = await gw.store.ledger.heads();
    const dead = heads.filter((h) => h.chain !== gw.recording.recorder.instance);
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.final, true);
    const chains = await Promise.all((await gw.store.ledger.chains()).map(async (c) => ({ ...c, entries: await gw.store.ledger.entries(c.chain, { limit: 10_000 }) })));
    const sessions = new Map(await Promise.all(ids.map(async (id) => [id, { state: 'incomplete', checkpoints: await gw.store.checkpoints.list(id) }] as const)));
    const ledger = verifyLedger({ chains, heads, sessions, mustBeKnown: ids, keys });
    assert.deepEqual(ledger.problems, []);
  } finally {
    await t.close();
  }
});
