// The slow-client attack of issue 15 against a real `airlock gateway start` process with the
// default server.limits (but a 3 s headersTimeout, so the test sees it act): 200 connections that
// never finish their headers, 200 authenticated bodies trickled at 2 bytes a second, and 60
// uploads of 9 MiB from one user that stop 512 KiB short of their end. The gateway's resident
// memory (VmRSS of the child process) stays within its baseline plus 200 MiB (the issue saw it
// grow by 543 MB, linearly; without server.limits this test sees +518 MiB), every slow client is cut with its code, and another user gets every
// answer meanwhile. The bound is documented in docs/reference/config.md ("Limits that protect the gateway").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { AIRLOCK, start } from '../support/process.ts';
import { addConnections, eventually, startTestGateway } from '../support/gateway.ts';

const MiB = 1024 * 1024;
/**
 * What the gateway may grow by during the attack: the uploader's body budget (64 MiB, the
 * default maxInFlightBodyBytesPerIdentity), and room for 460 sockets and their requests, and for
 * V8's young generation, which grows to tens of MiB under this many allocations. Measured: 80 to
 * 135 MiB.
 */
const RSS_GROWTH_BOUND = 200 * MiB;

function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb[1]) * 1024;
}

/** A raw client; `code` resolves with the error code of the gateway's answer, or what came before the connection closed without one. */
function rawClient(port: number, first: string | Buffer): { socket: Socket; code: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('error', () => {}); // writes after the gateway closed fail: its answer is what counts
  const code = new Promise<string>((resolve) => {
    socket.on('data', (d: Buffer) => {
      if (received.length < 4096) received += d.toString('latin1');
      const m = /"code":"([A-Z_]+)"/.exec(received);
      if (m) resolve(m[1]!);
    });
    socket.on('close', () => resolve(received.slice(0, 200)));
  });
  socket.write(first);
  return { socket, code };
}

test('400 slow clients and 60 unfinished 9 MiB uploads: the gateway stays within baseline + 200 MiB and answers others', async () => {
  const t = await startTestGateway();
  const sockets: Socket[] = [];
  try {
    await t.gw.stop(); // the harness gives the identity provider and tokens; the child owns the store
    const config = join(t.dir, 'child.yaml');
    writeFileSync(config, [
      'server: { host: 127.0.0.1, port: 0, publicUrl: "http://airlock.test", headersTimeout: 3 }',
      `store: { url: "sqlite:${join(t.dir, 'gw.db')}" }`,
      `auth: { issuer: "${t.idp.issuer}", audience: "http://airlock.test" }`,
      `recording: { keyFile: "${join(t.dir, 'recording-key.pem')}" }`,
      'log: { level: info }',
    ].join('\n'));
    const child = start(AIRLOCK, ['gateway', 'start', '--config', config], { cwd: t.dir });
    try {
      const url = (await child.waitFor(/"msg":"gateway listening","url":"(http:\/\/127\.0\.0\.1:\d+)"/, 20_000))[1]!;
      const port = Number(new URL(url).port);
      await eventually(async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 20_000, 'the child gateway ready');
      t.gw = { ...t.gw, url }; // t.call and addConnections talk to the child
      await addConnections(t, await t.token('alice', ['admins']), [{ name: 'demo', kind: 'http', agent: 'nowhere', target: 'http://127.0.0.1:9/api', groups: ['*'] }]);
      const [mallory, carol, ...eves] = await Promise.all(['mallory', 'carol', 'eve1', 'eve2', 'eve3', 'eve4'].map((u) => t.token(u, ['developers'])));
      // The baseline: after the paths the attack takes have run once each.
      for (let i = 0; i < 20; i++) assert.equal((await t.call('GET', '/api/v1/me', carol)).status, 200);
      const warm = rawClient(port, `POST /proxy/demo/upload HTTP/1.1\r\nhost: airlock.test\r\nauthorization: Bearer ${carol}\r\ncontent-type: application/octet-stream\r\ncontent-length: ${MiB + 1024}\r\n\r\n`);
      warm.socket.write(Buffer.alloc(MiB + 1024, 0x61));
      assert.equal(await warm.code, 'GW_POLICY_DENIED'); // over inspectBytes: read whole, then refused (oversize: deny)
      warm.socket.destroy();
      const pid = child.child.pid!;
      const baseline = rssOf(pid);
      let peak = baseline;
      const sampler = setInterval(() => { peak = Math.max(peak, rssOf(pid)); }, 50);

      // 200 slowloris connections: a header line every 500 ms, never the blank line.
      const headers = Array.from({ length: 200 }, () => rawClient(port, 'GET /api/v1/me HTTP/1.1\r\nhost: airlock.test\r\n'));
      // 200 authenticated bodies at 2 bytes a second, 50 for each of four users.
      const bodies = eves.flatMap((eve) => Array.from({ length: 50 }, () => rawClient(port, `POST /mcp HTTP/1.1\r\nhost: airlock.test\r\nauthorization: Bearer ${eve}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n`)));
      const trickle = setInterval(() => {
        for (const c of headers) if (!c.socket.destroyed) c.socket.write('x-slow: y\r\n');
        for (const c of bodies) if (!c.socket.destroyed) c.socket.write('x');
      }, 500);
      // 60 uploads of 9 MiB from one user, each sent 512 KiB short of its end, as fast as the gateway reads.
      const payload = Buffer.alloc(9 * MiB - 512 * 1024, 0x62);
      const uploads = Array.from({ length: 60 }, () => {
        const c = rawClient(port, `POST /proxy/demo/upload HTTP/1.1\r\nhost: airlock.test\r\nauthorization: Bearer ${mallory}\r\ncontent-type: application/octet-stream\r\ncontent-length: ${9 * MiB}\r\n\r\n`);
        c.socket.write(payload);
        return c;
      });
      sockets.push(...[...headers, ...bodies, ...uploads].map((c) => c.socket));

      // Meanwhile another user keeps getting answers, until every slow client was cut and every
      // upload past the uploader's 64 MiB budget refused (at least 52 of 60: 64 MiB holds 7 of
      // them; those stay held until bodyIdleTimeout, 30 s, after this test).
      const uploadCodes: string[] = [];
      for (const c of uploads) void c.code.then((code) => uploadCodes.push(code));
      const tooMany = () => uploadCodes.filter((c) => c === 'GW_TOO_MANY_REQUESTS').length;
      const cut = Promise.all([...headers, ...bodies].map((c) => c.code));
      let slowDone = false;
      void cut.then(() => { slowDone = true; });
      let answered = 0;
      const deadline = Date.now() + 25_000;
      while (!(slowDone && tooMany() >= 52)) {
        assert.ok(Date.now() < deadline, `within 25 s: slow clients all cut (${slowDone}), uploads refused ${tooMany()} (${uploadCodes.join(' ')})`);
        const r = await t.call('GET', '/api/v1/me', carol);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        answered++;
        await new Promise((r) => setTimeout(r, 100));
      }
      clearInterval(trickle);
      clearInterval(sampler);
      const codes = await cut;
      assert.deepEqual(new Set(codes.slice(0, 200)), new Set(['GW_REQUEST_TIMEOUT']), 'every slowloris connection answered 408 and closed');
      assert.deepEqual(new Set(codes.slice(200)), new Set(['GW_BODY_TIMEOUT']), 'every slow body cut with 408');
      assert.ok(answered >= 10, `the other user got ${answered} answers`);
      assert.deepEqual(new Set(uploadCodes), new Set(['GW_TOO_MANY_REQUESTS']), 'an upload is refused for the budget, or still held');
      const growth = peak - baseline;
      assert.ok(growth < RSS_GROWTH_BOUND, `the gateway grew by ${Math.round(growth / MiB)} MiB (baseline ${Math.round(baseline / MiB)} MiB), over the ${RSS_GROWTH_BOUND / MiB} MiB bound`);
      console.log(`# slow clients: RSS baseline ${Math.round(baseline / MiB)} MiB, peak ${Math.round(peak / MiB)} MiB (+${Math.round(growth / MiB)}); ${tooMany()}/60 uploads refused; ${answered} answers to another user`);
    } finally {
      for (const s of sockets) s.destroy();
      await child.stop('SIGKILL');
    }
  } finally {
    await t.close().catch(() => {});
  }
});
