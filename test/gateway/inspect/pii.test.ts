// The PII and secrets inspector: validator edge cases (pii-cases.json), the shared labelled
// corpus, JSON paths and numbers, limits that fail closed, and adversarial inputs that a
// backtracking pattern would take minutes on (each is about 1 MB: quadratic work would hang).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inspectText, inspectJson, inspectBytes } from '../../../gateway/inspect/pii/index.ts';
import type { Finding } from '../../../gateway/inspect/types.ts';
import { PII_ENTITIES, SECRET_ENTITIES } from '../../../gateway/inspect/types.ts';
import { corpusFile } from '../../support/corpus.ts';
import { viewOf, needsView, normaliseForMatch } from '../../../gateway/inspect/pii/normalise.ts';

interface Case { why: string; text: string; expect: Array<[string, string]> }
const cases = JSON.parse(readFileSync(new URL('./pii-cases.json', import.meta.url), 'utf8')) as Case[];
const corpus = readFileSync(corpusFile('pii.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as { text: string; entities: Array<{ type: string; value: string }> });

const KINDS = new Set([...PII_ENTITIES.map((e) => `pii.${e}`), ...SECRET_ENTITIES.map((e) => `secret.${e}`)]);
const found = (text: string, fs: readonly Finding[]) => fs.map((f) => [f.kind, f.span ? text.slice(f.span.start, f.span.end) : '']);

test('validator and format cases: exactly the expected findings, and nothing else', () => {
  assert.ok(cases.length >= 100);
  for (const c of cases) {
    assert.deepEqual(found(c.text, inspectText(c.text)), c.expect, c.why);
  }
});

test('findings are well formed and never carry the value in clear', () => {
  for (const text of [...cases.map((c) => c.text), ...corpus.map((c) => c.text)]) {
    for (const f of inspectText(text)) {
      assert.ok(KINDS.has(f.kind), f.kind);
      assert.equal(f.path, '$');
      assert.ok(f.span && f.span.start < f.span.end && f.span.end <= text.length);
      const value = text.slice(f.span.start, f.span.end);
      assert.ok(!f.detail.includes(value), `${f.kind} detail "${f.detail}" contains the value`);
      // Nor a long piece of it (a card's digits, a token's body).
      for (let i = 0; i + 8 <= value.length; i++) assert.ok(!f.detail.includes(value.slice(i, i + 8)), `${f.kind} detail leaks part of the value`);
      assert.ok(['info', 'low', 'medium', 'high', 'critical'].includes(f.severity));
    }
  }
});

test('details say what was found', () => {
  const [card] = inspectText('4577 4637 0643 3047');
  assert.equal(card?.detail, 'credit card number (Luhn-valid, 16 digits, grouped)');
  const [iban] = inspectText('GB29NWBK60161331926819');
  assert.equal(iban?.detail, 'IBAN (GB, 22 characters, mod-97 valid)');
  const [jwt] = inspectText('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2ln');
  assert.equal(jwt?.detail, 'JWT (alg HS256)');
  const [gh] = inspectText('ghp_1NBPBTrbEpvpDbnIIAp00zKLMcyKHKi7M07Q');
  assert.equal(gh?.detail, 'GitHub token (ghp_…)');
  assert.equal(gh?.severity, 'critical');
});

test('labelled corpus: every labelled value is found with its type; unlabelled texts have no findings', () => {
  for (const c of corpus) {
    const fs = inspectText(c.text);
    for (const e of c.entities) {
      const at = c.text.indexOf(e.value);
      assert.ok(at >= 0);
      const hit = fs.find((f) => f.span!.start <= at && f.span!.end >= at + e.value.length);
      assert.ok(hit, `${e.type} not found in ${JSON.stringify(c.text)}`);
      assert.equal(hit.kind.split('.')[1], e.type, c.text);
    }
    if (c.entities.length === 0) assert.deepEqual(fs, [], c.text);
  }
});

test('entities option: only the asked-for entities, and unknown names are a TypeError', () => {
  const text = 'bob@example.com 4577463706433047 10.0.0.1';
  assert.deepEqual(inspectText(text, { entities: ['EMAIL_ADDRESS'] }).map((f) => f.kind), ['pii.EMAIL_ADDRESS']);
  assert.deepEqual(inspectText(text, { entities: ['CREDIT_CARD', 'IP_ADDRESS'] }).map((f) => f.kind), ['pii.CREDIT_CARD', 'pii.IP_ADDRESS']);
  assert.throws(() => inspectText(text, { entities: ['SSN'] }), { name: 'TypeError', message: /unknown PII\/secret entity "SSN"/ });
  assert.throws(() => inspectText(text, { maxChars: 0 }), { name: 'TypeError', message: /maxChars must be a positive integer/ });
});

test('path and key options: the path is reported; a member name gives context', () => {
  assert.deepEqual(inspectText('467 3395', { path: '$.x' }), []);
  const [phone] = inspectText('467 3395', { path: '$.contact.phone', key: 'phone' });
  assert.equal(phone?.kind, 'pii.PHONE_NUMBER');
  assert.equal(phone?.path, '$.contact.phone');
  assert.equal(phone?.detail, 'phone number (under a phone member name)');
  assert.deepEqual(found('123456789', inspectText('123456789', { key: 'ssn' })), [['pii.US_SSN', '123456789']]);
  assert.deepEqual(found('hunter22', inspectText('hunter22', { key: 'password' })), [['secret.GENERIC_SECRET', 'hunter22']]);
  assert.deepEqual(inspectText('hunter22', { key: 'username' }), []);
  assert.deepEqual(found('9f8e7d6c5b4a3928', inspectText('9f8e7d6c5b4a3928', { key: 'apiKey' })), [['secret.GENERIC_SECRET', '9f8e7d6c5b4a3928']]);
  assert.deepEqual(inspectText('CAESEAbcd1234xyz', { key: 'nextPageToken' }), []);
  assert.deepEqual(inspectText('Bearer', { key: 'token' }), []);
  // Member names are read in their normalised view too.
  assert.deepEqual(found('467 3395', inspectText('467 3395', { key: 'ｐｈｏｎｅ' })), [['pii.PHONE_NUMBER', '467 3395']]);
  assert.deepEqual(found('123456789', inspectText('123456789', { key: '\\u0073sn' })), [['pii.US_SSN', '123456789']]);
  assert.deepEqual(found('hunter22', inspectText('hunter22', { key: 'pass\u200bword' })), [['secret.GENERIC_SECRET', 'hunter22']]);
  const [aws] = inspectText('wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKY', { key: 'SecretAccessKey' });
  assert.equal(aws?.kind, 'secret.AWS_SECRET_KEY');
});

test('JSON: strings are inspected one by one with JSONPaths; other values stay quiet', () => {
  const doc = JSON.parse(JSON.stringify({
    customers: [
      { name: 'Ana Souza', card: '4577 4637 0643 3047', active: true, balance: 12.5, tags: ['vip', null] },
      { name: 'Ben', email: 'ben@example.org', 'home address': 'call +44 20 7946 0958', "it's": '10.1.2.3' },
    ],
    page: { next: null, total: 2 },
  }));
  const fs = inspectJson(doc);
  assert.deepEqual(fs.map((f) => [f.kind, f.path]), [
    ['pii.CREDIT_CARD', '$.customers[0].card'],
    ['pii.EMAIL_ADDRESS', '$.customers[1].email'],
    ['pii.PHONE_NUMBER', "$.customers[1]['home address']"],
    ['pii.IP_ADDRESS', "$.customers[1]['it\\'s']"],
  ]);
  assert.deepEqual(fs[2]?.span, { start: 5, end: 21 });
  assert.deepEqual(inspectJson('bob@example.com').map((f) => f.path), ['$']);
  assert.deepEqual(inspectJson({ a: [1, 2.5, true, null, 'plain text', { b: 'more text' }] }), []);
});

test('JSON: member names are inspected, and a name holding PII never appears in a path', () => {
  const fs = inspectJson({ admins: { 'alice@example.com': { phone: '467 3395' }, 'bob': 'x' } });
  assert.deepEqual(fs.map((f) => [f.kind, f.path, f.span]), [
    ['pii.EMAIL_ADDRESS', '$.admins[#0]~', { start: 0, end: 17 }],
    ['pii.PHONE_NUMBER', '$.admins[#0].phone', { start: 0, end: 8 }],
  ]);
  for (const f of fs) assert.ok(!f.path.includes('alice'));
});

test('JSON numbers: a card number is PII, so is an SSN or phone under a telling name; lost precision fails closed', () => {
  const fs = inspectJson({ n: 4577463706433047, bad: 4577463706433048, ssn: 447773678, zip: 94105, phone: 4155552671, id: 4155552671, big: 2 ** 60, huge: 1e300, neg: -4577463706433047, b: 3528719680343219n });
  assert.deepEqual(fs.map((f) => [f.kind, f.path, f.span]), [
    ['pii.CREDIT_CARD', '$.n', undefined],
    ['pii.US_SSN', '$.ssn', undefined],
    ['pii.PHONE_NUMBER', '$.phone', undefined],
    ['inspect.limit', '$.big', undefined],
    ['pii.CREDIT_CARD', '$.b', undefined],
  ]);
  assert.match(fs[3]!.detail, /above 2\^53 lost digits/);
});

test('hostile input: a 10 MB string is inspected up to the limit and reported as inspect.limit', () => {
  const text = 'card 4577 4637 0643 3047 ' + 'x'.repeat(10 * 1024 * 1024);
  const fs = inspectText(text);
  assert.deepEqual(fs.map((f) => f.kind), ['inspect.limit', 'pii.CREDIT_CARD']);
  assert.match(fs[0]!.detail, /exceeds the inspection limit of 1048576; only the beginning was inspected/);
  const [inJson] = inspectJson({ blob: text });
  assert.equal(inJson?.kind, 'inspect.limit');
  assert.equal(inJson?.path, '$.blob');
});

test('hostile input: JSON nested 10,000 deep stops at maxDepth with inspect.limit, without recursion', () => {
  let source = '"4577463706433047"';
  for (let i = 0; i < 10_000; i++) source = `{"a":[${source}]}`;
  const doc: unknown = JSON.parse(source);
  const fs = inspectJson(doc);
  assert.equal(fs.length, 1);
  assert.equal(fs[0]!.kind, 'inspect.limit');
  assert.equal(fs[0]!.detail, 'nesting deeper than 64; the rest was not inspected');
  assert.equal(fs[0]!.path, '$' + '.a[0]'.repeat(32));
  // With the limit raised, the walk reaches the bottom (iteratively: no stack overflow).
  const deep = inspectJson(doc, { maxDepth: 20_001 });
  assert.deepEqual(deep.map((f) => f.kind), ['pii.CREDIT_CARD']);
  assert.equal(deep[0]!.path.length, 1 + 10_000 * 5);
});

test('hostile input: string count, total size and finding count limits each fail closed', () => {
  const many = Array.from({ length: 50 }, (_, i) => `user${i}@example.com`);
  const byStrings = inspectJson(many, { maxStrings: 10 });
  assert.equal(byStrings.at(-1)?.kind, 'inspect.limit');
  assert.match(byStrings.at(-1)!.detail, /more than 10 strings and keys/);
  assert.equal(byStrings.filter((f) => f.kind === 'pii.EMAIL_ADDRESS').length, 10);
  const byChars = inspectJson(many, { maxChars: 100 });
  assert.match(byChars.at(-1)!.detail, /more than 100 UTF-16 code units/);
  const byFindings = inspectJson(many, { maxFindings: 5 });
  assert.equal(byFindings.filter((f) => f.kind === 'pii.EMAIL_ADDRESS').length, 5);
  assert.match(byFindings.at(-1)!.detail, /more than 5 findings/);
  const inText = inspectText('a@b.co '.repeat(100), { maxFindings: 7 });
  assert.equal(inText.filter((f) => f.kind === 'pii.EMAIL_ADDRESS').length, 7);
  assert.match(inText[0]!.detail, /more than 7 PII\/secret candidates in one string/);
  assert.throws(() => inspectJson(many, { maxDepth: -1 }), { name: 'TypeError', message: /maxDepth must be a positive integer/ });
});

test('a value that cannot be walked ends the walk with inspect.error instead of throwing', () => {
  const hostile = { a: 'bob@example.com', get b(): string { throw new Error('boom'); } };
  const fs = inspectJson(hostile);
  assert.deepEqual(fs.map((f) => [f.kind, f.path]), [['inspect.error', '$']]);
  assert.match(fs[0]!.detail, /could not be walked/);
  const cyclic: Record<string, unknown> = { card: '4577463706433047' };
  cyclic['self'] = cyclic;
  assert.deepEqual(inspectJson(cyclic, { maxDepth: 5 }).map((f) => f.kind), ['pii.CREDIT_CARD', 'pii.CREDIT_CARD', 'pii.CREDIT_CARD', 'pii.CREDIT_CARD', 'pii.CREDIT_CARD', 'inspect.limit']);
});

test('hostile input: invalid UTF-8 is inspected with replacement characters and reported as inspect.error', () => {
  const bytes = Buffer.concat([Buffer.from('card 4577463706433047 '), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(' bob@example.com')]);
  const fs = inspectBytes(bytes);
  assert.deepEqual(fs.map((f) => f.kind), ['inspect.error', 'pii.CREDIT_CARD', 'pii.EMAIL_ADDRESS']);
  assert.equal(fs[0]!.detail, 'payload is not valid UTF-8; inspected with replacement characters');
  assert.deepEqual(inspectBytes(Buffer.from('café 4577463706433047')).map((f) => f.kind), ['pii.CREDIT_CARD']);
  // Lone surrogates (what JSON.parse makes of "\ud800") are just characters.
  assert.deepEqual(found('\ud800 4577463706433047 \udc00', inspectText('\ud800 4577463706433047 \udc00')), [['pii.CREDIT_CARD', '4577463706433047']]);
});

test('normalised view: each view character maps back to whole original characters that normalise to exactly it', () => {
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
  const PARTS = ['a', '4', ' ', '-', '\\', '\\u', '\\u0034', '\\uff14', '\\u{1d7d2}', '\\u{zz}', '\\ud83d\\ude80', '\\ud835\\udfd2', '\\ud835', '4\ufe0f\u20e3', '４', '٤', '𝟒', '①', '²', 'ﬁ', 'ﷺ', '\u00a0', '\u3000', '\u1680',
    '\u2013', '\u2212', '\u200b', '\u00ad', '\ufeff', 'e\u0301', '東', '🚀', '\ud800', '\udc00', 'Ａ', '＠', '．'];
  for (let i = 0; i < 2000; i++) {
    const text = Array.from({ length: 1 + rnd(12) }, () => PARTS[rnd(PARTS.length)]!).join('');
    const view = viewOf(text, 1 << 20);
    assert.equal(view.consumed, text.length);
    // The fast path (no view for ASCII without a \u) is exact: such text is its own view.
    if (!needsView(text)) assert.ok(view.from === null && view.text === text, JSON.stringify(text));
    if (view.from === null) { assert.equal(view.text, text); continue; }
    // Group view units by their original range: ranges tile the original in order, and each range
    // on its own normalises to exactly its view units (so a mapped span always covers whole escapes and pairs).
    let at = 0;
    let k = 0;
    while (k < view.text.length) {
      const from: number = view.from[k]!, to: number = view.to![k]!;
      let j = k;
      while (j < view.text.length && view.from[j] === from) { assert.equal(view.to![j], to); j++; }
      assert.ok(from >= at && to > from, `range ${from}..${to} after ${at} in ${JSON.stringify(text)}`);
      // What lies between two ranges was dropped: it normalises to nothing.
      assert.equal(normaliseForMatch(text.slice(at, from)), '', JSON.stringify(text));
      assert.equal(normaliseForMatch(text.slice(from, to)), view.text.slice(k, j), JSON.stringify(text));
      at = to;
      k = j;
    }
    assert.equal(normaliseForMatch(text.slice(at)), '', JSON.stringify(text));
  }
  for (let i = 0; i < 2000; i++) {
    const ascii = Array.from({ length: 1 + rnd(40) }, () => String.fromCharCode(rnd(128))).join('').replace(/\\u/g, '\\v');
    assert.equal(needsView(ascii), false);
    const view = viewOf(ascii, 1 << 20);
    assert.ok(view.from === null && view.text === ascii, JSON.stringify(ascii));
  }
  // Examples: what the view is.
  assert.equal(normaliseForMatch('４\u00a0٤\u2013𝟒\\u0034\u200b①ﬁ'), '4 4-441fi');
  assert.equal(viewOf('４４４４', 2).text, '44');
  assert.equal(viewOf('４４４４', 2).consumed, 2);
});

test('hostile input: a string that expands under NFKC is inspected up to twice the limit, then inspect.limit', () => {
  const fs = inspectText('card 4577463706433047 ' + '\ufdfa'.repeat(100), { maxChars: 200 });
  assert.deepEqual(fs.map((f) => f.kind), ['inspect.limit', 'pii.CREDIT_CARD']);
  assert.equal(fs[0]!.detail, 'string normalises to more than 400 UTF-16 code units; only the beginning was inspected');
});

// Each input is about 1 MB. Nothing is asserted about time (the bench measures it); a pattern
// that went quadratic would take hours here, so a regression shows as a hung test.
const N = 1_000_000;
const rep = (s: string) => s.repeat(Math.ceil(N / s.length)).slice(0, N);
const ADVERSARIAL: Record<string, string> = {
  'digits': '7'.repeat(N),
  'digits and spaces': rep('1 '),
  'digits and dashes': rep('12-'),
  'digits and dots': rep('1.'),
  'separators mixed': rep('4111 1111-1111.1111 '),
  'plus and parentheses': rep('+('),
  'parenthesised digits': rep('(1)'),
  'open parentheses': rep('(12 '),
  'a@': rep('a@'),
  '@a.': rep('@a.'),
  'long local part': 'a'.repeat(N - 6) + '@b.com',
  'long domain': 'a@' + 'b'.repeat(N - 2),
  'colons': rep('::'),
  'hex and colons': rep('abcd:1234:'),
  'dotted quads run together': rep('1.1.1.1.'),
  'eyJ and base64url': 'eyJ' + 'a'.repeat(N),
  'eyJ parts': rep('eyJa.'),
  'PEM BEGIN without END': rep('-----BEGIN PRIVATE KEY-----\n'),
  'token prefix then alphanumerics': 'ghp_' + 'a'.repeat(N),
  'sk- repeated': rep('sk-'),
  'random-looking after sk-': 'sk-' + rep('a1B'),
  'slack prefixes': rep('xoxb-1-'),
  'password= repeated': rep('password='),
  'Bearer repeated': rep('Bearer '),
  'IBAN heads': rep('GB82 '),
  'IBAN head then letters': 'GB82' + 'A'.repeat(N),
  'phone words and digits': rep('phone 1 '),
  'extensions': rep('555-1234x'),
  'full-width digits': rep('４'),
  'Unicode digits and spaces': rep('٤\u00a0'),
  'escapes': rep('\\u0034'),
  'broken escapes': rep('\\u00'),
  'backslashes': rep('\\'),
  'zero-width spaces between digits': rep('4\u200b'),
  'expanding characters': rep('\ufdfa'),
  'surrogate pairs': rep('𝟒'),
  'tabs and runs of spaces between digits': rep('1 \t  '),
};

for (const [name, input] of Object.entries(ADVERSARIAL)) {
  test(`adversarial, about 1 MB: ${name}`, () => {
    assert.ok(input.length >= N - 10);
    const fs = inspectText(input);
    assert.ok(Array.isArray(fs));
  });
}
