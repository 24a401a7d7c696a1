// Credit-based flow control over a real WebSocket: a reader that does not read stops the writer
// after at most one window (plus the reader's high-water mark) is in flight; reading resumes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { TunnelStream } from '../../../gateway/tunnel/stream.ts';
import { MAX_PAYLOAD_BYTES } from '../../../gateway/tunnel/frames.ts';
import { connectPair } from './pair.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `value()` has not changed for `quietMs` (bounded: at most 100 polls). */
async function settle(value: () => number, quietMs = 60): Promise<number> {
  let last = value();
  let quiet = 0;
  for (let i = 0; i < 100 && quiet < quietMs; i++) {
    await sleep(10);
    const now = value();
    quiet = now === last ? quiet + 10 : 0;
    last = now;
  }
  return last;
}

for (const [label, window, highWaterMark] of [['small window', 64 * 1024, 16 * 1024], ['default window', 256 * 1024, 64 * 1024]] as const) {
  test(`${label}: a stalled reader bounds what the writer sends; reading resumes it (${window} B window)`, async (t) => {
    const options = { window, streamHighWaterMark: highWaterMark };
    const pair = await connectPair(options, options);
    t.after(() => pair.close());
    const accepted = new Promise<TunnelStream>((resolve) => pair.server.once('stream', resolve));
    const writer = pair.client.open({ kind: 'bulk' });

    // A writer that honours backpressure: write until false, wait for 'drain'.
    const total = 4 * 1024 * 1024;
    const sentHash = createHash('sha256');
    let drains = 0;
    const pump = (async () => {
      for (let offset = 0; offset < total; offset += 16 * 1024) {
        const chunk = randomBytes(16 * 1024);
        sentHash.update(chunk);
        if (!writer.write(chunk)) {
          await once(writer, 'drain');
          drains++;
        }
      }
      writer.end();
    })();

    const reader = await accepted; // not read from yet: nothing consumes its buffer
    const sent = await settle(() => writer.bytesWritten);
    const bound = window + highWaterMark + MAX_PAYLOAD_BYTES;
    assert.ok(sent > 0, 'some data flowed before the stall');
    assert.ok(sent <= bound, `the writer sent ${sent} bytes to a reader that reads nothing; bound ${bound}`);
    assert.ok(sent < total / 4, 'the writer really stalled');
    assert.equal(reader.bytesRead, sent, 'everything sent arrived (nothing sits in between)');
    assert.ok(reader.readableLength <= bound, `the reader holds ${reader.readableLength} bytes`);
    assert.equal(writer.sendCredit, 0, 'the writer is out of credit');
    assert.equal(writer.writableNeedDrain, true, 'the writer is told to wait');
    assert.ok(writer.writableLength <= highWaterMark + 16 * 1024, `the writer queues ${writer.writableLength} bytes`);

    // Reading starts: credit flows back and the whole transfer completes intact.
    const gotHash = createHash('sha256');
    let got = 0;
    reader.on('data', (chunk: Buffer) => { gotHash.update(chunk); got += chunk.length; });
    await once(reader, 'end');
    await pump;
    assert.equal(got, total);
    assert.equal(gotHash.digest('hex'), sentHash.digest('hex'));
    assert.ok(drains > 0, 'the writer waited for drain at least once');
    reader.end();
    await once(writer.resume(), 'end');
  });
}

test('a slow reader gets everything, with what it holds bounded throughout', async (t) => {
  const window = 32 * 1024;
  const highWaterMark = 8 * 1024;
  const pair = await connectPair({ window, streamHighWaterMark: highWaterMark }, { window, streamHighWaterMark: highWaterMark });
  t.after(() => pair.close());
  const accepted = new Promise<TunnelStream>((resolve) => pair.server.once('stream', resolve));
  const writer = pair.client.open();
  const body = randomBytes(512 * 1024);
  writer.end(body); // one big write: the stream slices it by credit
  const reader = await accepted;
  const parts: Buffer[] = [];
  let maxHeld = 0;
  for await (const chunk of reader) {
    parts.push(chunk as Buffer);
    maxHeld = Math.max(maxHeld, reader.readableLength);
    await new Promise((resolve) => setImmediate(resolve)); // a slow consumer: one chunk per turn of the loop
  }
  assert.ok(Buffer.concat(parts).equals(body));
  assert.ok(maxHeld <= window + highWaterMark + MAX_PAYLOAD_BYTES, `held at most ${maxHeld} bytes`);
  reader.end();
  await once(writer.resume(), 'end');
});
