// The window scanner of streamed bodies: windows give back every byte once and in order, a value
// cut by a window boundary is still found whole (every labelled PII case of the shared corpus,
// placed across a boundary at every offset, is found exactly as in one scan of the whole text),
// context words before a cut still count, UTF-8 characters are never split, binary bodies are
// scanned byte for byte, and what the scanner holds stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inspectText } from '../../../gateway/inspect/pii/index.ts';
import { WindowScanner, type ScanWindow } from '../../../gateway/inspect/stream.ts';
import { corpusFile } from '../../support/corpus.ts';

const WINDOW = 1024;
const OVERLAP = 256;

/** Every window of `body` pushed in chunks of `chunk` bytes. */
function scan(body: Buffer, chunk: number, options = { windowBytes: WINDOW, overlapBytes: OVERLAP }): { windows: ScanWindow[]; scanner: WindowScanner } {
  const scanner = new WindowScanner(options);
  const windows: ScanWindow[] = [];
  for (let i = 0; i < body.length; i += chunk) windows.push(...scanner.push(body.subarray(i, i + chunk)));
  windows.push(...scanner.end());
  return { windows, scanner };
}

/** Findings as `kind@start-end` in characters of the whole text (UTF-8 bodies). */
function absolute(windows: ScanWindow[]): string[] {
  const out: string[] = [];
  let chars = 0;
  for (const w of windows) {
    for (const f of w.findings) if (f.span) out.push(`${f.kind}@${chars + f.span.start}-${chars + f.span.end}`);
    chars += w.text.length;
  }
  return out.sort();
}

function filler(bytes: number): string {
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ';
  return words.repeat(Math.ceil(bytes / words.length)).slice(0, bytes);
}

test('windows give back every byte once, in order, with offsets, and only the last is final', () => {
  const body = Buffer.from(filler(10_000) + ' mail ada@example.com ' + filler(5_000));
  for (const chunk of [1, 7, 300, 1024, 1280, 4096, 20_000]) {
    const { windows } = scan(body, chunk);
    assert.deepEqual(Buffer.concat(windows.map((w) => w.bytes)), body, `chunk ${chunk}`);
    let offset = 0;
    windows.forEach((w, i) => {
      assert.equal(w.index, i);
      assert.equal(w.offset, offset);
      assert.equal(w.final, i === windows.length - 1);
      assert.equal(Buffer.from(w.text, 'utf8').length, w.bytes.length);
      offset += w.bytes.length;
    });
    assert.ok(windows.length >= 10, `chunk ${chunk}: ${windows.length} windows`);
    assert.deepEqual(absolute(windows).filter((f) => f.startsWith('pii.EMAIL')), [`pii.EMAIL_ADDRESS@10006-10021`]);
  }
});

test('every labelled PII case of the corpus, cut by a window boundary at every offset, is found as in one scan', () => {
  const cases = readFileSync(corpusFile('pii.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string });
  let checked = 0;
  let positives = 0;
  for (const { text } of cases) {
    // The first window holds WINDOW bytes when nothing crosses its end: put the case across that end.
    for (let at = 0; at <= text.length; at++) {
      const before = filler(WINDOW - Buffer.byteLength(text.slice(0, at)) - 2) + '\n\n';
      const whole = before + text + '\n\n' + filler(3000);
      const expected = inspectText(whole).filter((f) => f.span).map((f) => `${f.kind}@${f.span!.start}-${f.span!.end}`).sort();
      const { windows } = scan(Buffer.from(whole), 4096);
      assert.deepEqual(absolute(windows), expected, `case ${JSON.stringify(text)} cut at ${at}`);
      checked++;
      if (expected.length > 0) positives++;
    }
  }
  assert.ok(checked > 1000 && positives > 500, `${checked} placements, ${positives} with findings`);
});

test('values in other spellings (Unicode digits and spaces, escapes, other separators), cut at every offset, are found as in one scan', () => {
  // The cases of pii-cases.json that the normalised view exists for: non-ASCII, escapes, tabs, runs of spaces, '/', '_'.
  const cases = (JSON.parse(readFileSync(new URL('./pii-cases.json', import.meta.url), 'utf8')) as Array<{ text: string }>)
    .map((c) => c.text).filter((t) => /[^\x00-\x7f]|\\u|\t|  |[0-9][/_][0-9]/.test(t));
  assert.ok(cases.length >= 30, `${cases.length} cases`);
  let positives = 0;
  for (const text of cases) {
    for (let at = 0; at <= text.length; at++) {
      const before = filler(WINDOW - Buffer.byteLength(text.slice(0, at)) - 2) + '\n\n';
      const whole = before + text + '\n\n' + filler(3000);
      const expected = inspectText(whole).filter((f) => f.span).map((f) => `${f.kind}@${f.span!.start}-${f.span!.end}`).sort();
      for (const chunk of [7, 4096]) {
        const { windows } = scan(Buffer.from(whole), chunk);
        assert.deepEqual(absolute(windows), expected, `case ${JSON.stringify(text)} cut at ${at}, chunks of ${chunk}`);
      }
      if (expected.length > 0) positives++;
    }
  }
  assert.ok(positives > 500, `${positives} placements with findings`);
});

test('a context word before a cut still counts for the value after it', () => {
  // "Phone: 467 3395" is a phone number only with its word; the number starts the second window.
  const head = filler(WINDOW - 'Phone: '.length - 1) + ' Phone: ';
  const whole = Buffer.from(head + '467 3395 ' + filler(3000));
  assert.equal(Buffer.byteLength(head), WINDOW);
  const { windows } = scan(whole, whole.length);
  assert.equal(windows[0]!.bytes.length, WINDOW, 'the cut falls between the word and the number');
  assert.deepEqual(absolute(windows), [`pii.PHONE_NUMBER@${WINDOW}-${WINDOW + 8}`]);
  assert.deepEqual(windows[1]!.findings.map((f) => [f.kind, f.span]), [['pii.PHONE_NUMBER', { start: 0, end: 8 }]]);
});

test('a context word written long (escapes, full-width) before a cut still counts for the value after it', () => {
  // The context is read in the normalised view: 40 characters of it may be 480 of the original.
  const escaped = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  for (const word of [escaped('social security number: '), 'ｓｏｃｉａｌ\u00a0ｓｅｃｕｒｉｔｙ\u00a0ｎｕｍｂｅｒ: ']) {
    const head = filler(WINDOW - Buffer.byteLength(word) - 1) + ' ' + word;
    const whole = Buffer.from(head + '123 45 6789 ' + filler(3000));
    assert.equal(Buffer.byteLength(head), WINDOW);
    const { windows } = scan(whole, whole.length);
    assert.equal(windows[0]!.bytes.length, WINDOW, 'the cut falls between the word and the number');
    const at = head.length;
    assert.deepEqual(inspectText(whole.toString()).map((f) => [f.kind, f.span]), [['pii.US_SSN', { start: at, end: at + 11 }]]);
    assert.deepEqual(absolute(windows), [`pii.US_SSN@${at}-${at + 11}`], JSON.stringify(word));
  }
});

test('UTF-8 characters are never split, whatever the chunks', () => {
  const text = ('Grüße aus Köln — 東京 🚀 ' + filler(50)).repeat(200);
  const body = Buffer.from(text);
  for (const chunk of [1, 3, 1000, 1025]) {
    const { windows } = scan(body, chunk);
    const joined = windows.map((w) => w.text).join('');
    if (joined !== text) assert.fail(`chunk ${chunk}: the windows' texts differ from the body's from character ${[...joined].findIndex((c, i) => c !== text[i])}`);
    for (const w of windows) {
      assert.equal(w.encoding, 'utf8');
      assert.ok(!w.text.includes('\uFFFD'), `window ${w.index} holds a replacement character`);
    }
  }
});

test('a binary body is scanned byte for byte as Latin-1: values in it are found, bytes come back exactly', () => {
  const bytes = Buffer.alloc(40_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 3)) & 0xff;
  const value = Buffer.from(' card 4111 1111 1111 1111 ');
  value.copy(bytes, 20_000);
  const { windows } = scan(bytes, 333);
  assert.deepEqual(Buffer.concat(windows.map((w) => w.bytes)), bytes);
  assert.ok(windows.some((w) => w.encoding === 'latin1'));
  for (const w of windows) if (w.encoding === 'latin1') assert.deepEqual(Buffer.from(w.text, 'latin1'), w.bytes);
  const cards = windows.flatMap((w) => w.findings.filter((f) => f.kind === 'pii.CREDIT_CARD').map((f) => w.offset + f.span!.start));
  assert.deepEqual(cards, [20_006]);
});

test('what the scanner holds stays bounded, also when one value is longer than the overlap', () => {
  const body = Buffer.from(filler(5 * 1024 * 1024));
  const chunk = 64 * 1024;
  const big = scan(body, chunk, { windowBytes: 64 * 1024, overlapBytes: 8 * 1024 });
  assert.ok(big.scanner.peakHeld <= 64 * 1024 + 8 * 1024 + chunk, `held at most ${big.scanner.peakHeld} bytes`);
  assert.equal(big.scanner.offset, body.length);

  // A 6 KiB private key: longer than the overlap, so it may be judged in parts, but the scanner
  // neither stalls nor holds more than twice a window.
  const pem = `-----BEGIN PRIVATE KEY-----\n${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'.repeat(190)}\n-----END PRIVATE KEY-----`;
  const withKey = Buffer.from(filler(900) + pem + filler(900));
  const { windows, scanner } = scan(withKey, 100);
  assert.deepEqual(Buffer.concat(windows.map((w) => w.bytes)), withKey);
  assert.ok(scanner.peakHeld <= 2 * (WINDOW + OVERLAP) + 100, `held at most ${scanner.peakHeld} bytes`);
  assert.ok(windows.some((w) => w.findings.some((f) => f.kind === 'secret.PRIVATE_KEY')), 'the key is found');
});

test('options are checked, and a scanner is used once', () => {
  assert.throws(() => new WindowScanner({ windowBytes: 100 }), /windowBytes must be an integer of at least 1024, not 100/);
  assert.throws(() => new WindowScanner({ windowBytes: 2048, overlapBytes: 2048 }), /overlapBytes must be an integer from 64 to under windowBytes, not 2048/);
  const s = new WindowScanner();
  assert.deepEqual(s.end().map((w) => [w.bytes.length, w.final]), [[0, true]]);
  assert.throws(() => s.push(Buffer.from('x')), /push after end/);
  assert.throws(() => s.end(), /end twice/);
});
