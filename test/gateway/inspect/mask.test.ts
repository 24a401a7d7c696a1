// Masking: tokens per strategy, merged overlaps, stable keyed hashes, JSON structure and types
// kept, and the shared corpus (every labelled value gone, every unlabelled text unchanged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inspectText, inspectJson } from '../../../gateway/inspect/pii/index.ts';
import { maskText, maskJson, maskToken, type MaskStrategy } from '../../../gateway/inspect/mask.ts';
import type { Finding } from '../../../gateway/inspect/types.ts';
import { corpusFile } from '../../support/corpus.ts';

const KEY = new Uint8Array(32).fill(7);
const OTHER_KEY = new Uint8Array(32).fill(9);
const all = (s: MaskStrategy) => () => s;
const mask = (text: string, s: MaskStrategy, key = KEY) => maskText(text, inspectText(text), all(s), key);

test('redact replaces each value by its entity name, keeping the text around it (unicode included)', () => {
  assert.equal(mask('☃ Kärtchen 4577 4637 0643 3047 — Mail: bob@example.com ✓', 'redact'), '☃ Kärtchen [CREDIT_CARD] — Mail: [EMAIL_ADDRESS] ✓');
  assert.equal(mask('日本語 SSN 447-77-3678 です', 'redact'), '日本語 SSN [US_SSN] です');
  assert.equal(mask('token ghp_1NBPBTrbEpvpDbnIIAp00zKLMcyKHKi7M07Q', 'redact'), 'token [API_KEY]');
});

test('partial keeps the last four characters of the normalised value, and nothing of short values or keys', () => {
  assert.equal(mask('card 4577-4637-0643-3047', 'partial'), 'card [CREDIT_CARD …3047]');
  assert.equal(mask('ssn 447-77-3678', 'partial'), 'ssn [US_SSN …3678]');
  assert.equal(mask('IBAN DE89 3704 0044 0532 0130 00', 'partial'), 'IBAN [IBAN_CODE …3000]');
  assert.equal(mask('at 1.2.3.4', 'partial'), 'at [IP_ADDRESS]'); // under 8 characters: nothing kept
  assert.equal(mask('at 10.0.0.1', 'partial'), 'at [IP_ADDRESS ….0.1]');
  assert.equal(mask('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----', 'partial'), '[PRIVATE_KEY]');
  // The token has one size whatever the value's length.
  assert.equal(mask('501885288487', 'partial').length, mask('4081836584929414653', 'partial').length);
});

test('hash gives one stable token per value under a key, another under another key', () => {
  const a = mask('card 4577 4637 0643 3047', 'hash');
  assert.match(a, /^card \[CREDIT_CARD:[0-9a-f]{12}\]$/);
  // The same card written differently is the same value: joinable.
  assert.equal(mask('card 4577-4637-0643-3047', 'hash'), a);
  assert.equal(mask('card 4577463706433047', 'hash'), a);
  assert.notEqual(mask('card 3528719680343219', 'hash'), a);
  assert.notEqual(mask('card 4577 4637 0643 3047', 'hash', OTHER_KEY), a);
  // Email addresses compare without case; the kind is part of the hash.
  assert.equal(mask('Bob@Example.COM', 'hash'), mask('bob@example.com', 'hash'));
  assert.notEqual(maskToken('pii.PHONE_NUMBER', '4577463706433047', all('hash'), KEY).slice(-13), maskToken('pii.CREDIT_CARD', '4577463706433047', all('hash'), KEY).slice(-13));
});

test('strategy is chosen per kind', () => {
  const strategy = (kind: string): MaskStrategy => (kind === 'pii.CREDIT_CARD' ? 'partial' : kind.startsWith('secret.') ? 'redact' : 'hash');
  const text = 'card 4577463706433047 key AKIAQW3E5R6T7Y2U4I5O mail bob@example.com';
  assert.match(maskText(text, inspectText(text), strategy, KEY), /^card \[CREDIT_CARD …3047\] key \[AWS_ACCESS_KEY\] mail \[EMAIL_ADDRESS:[0-9a-f]{12}\]$/);
});

test('the strategy is asked once per kind per call, however many findings there are', () => {
  const asked: string[] = [];
  const strategy = (kind: string): MaskStrategy => { asked.push(kind); return kind === 'pii.EMAIL_ADDRESS' ? 'hash' : 'partial'; };
  const doc = { rows: Array.from({ length: 50 }, (_, i) => ({ email: `user${i}@example.com`, card: '4577 4637 0643 3047', note: `mail user${i}@example.org` })) };
  const masked = maskJson(doc, inspectJson(doc), strategy, KEY);
  assert.deepEqual(asked.sort(), ['pii.CREDIT_CARD', 'pii.EMAIL_ADDRESS']);
  assert.equal(masked.rows[7]!.card, '[CREDIT_CARD …3047]');
  assert.match(masked.rows[7]!.email, /^\[EMAIL_ADDRESS:[0-9a-f]{12}\]$/);
  assert.match(masked.rows[7]!.note, /^mail \[EMAIL_ADDRESS:[0-9a-f]{12}\]$/);
  // An unknown strategy is still refused, on the first finding of its kind.
  assert.throws(() => maskJson(doc, inspectJson(doc), () => 'blur' as MaskStrategy, KEY), { name: 'TypeError', message: 'unknown mask strategy "blur" for pii.EMAIL_ADDRESS; expected redact, partial or hash' });
});

test('overlapping findings are merged and masked once, under the widest', () => {
  const text = 'xx 4577463706433047 yy';
  const findings: Finding[] = [
    { kind: 'pii.CREDIT_CARD', path: '$', span: { start: 3, end: 19 }, severity: 'high', detail: 'card' },
    { kind: 'pii.PHONE_NUMBER', path: '$', span: { start: 3, end: 13 }, severity: 'medium', detail: 'phone' },
    { kind: 'secret.GENERIC_SECRET', path: '$', span: { start: 15, end: 22 }, severity: 'high', detail: 'secret' },
    { kind: 'inspect.limit', path: '$', severity: 'high', detail: 'not masked: no span, not PII' },
  ];
  assert.equal(maskText(text, findings, all('redact'), KEY), 'xx [CREDIT_CARD]');
});

test('misuse is a TypeError: short key, unknown strategy, a span that does not fit the text', () => {
  const text = 'card 4577463706433047';
  const fs = inspectText(text);
  assert.throws(() => maskText(text, fs, all('redact'), new Uint8Array(8)), { name: 'TypeError', message: 'masking key must be a Uint8Array of at least 16 bytes' });
  assert.throws(() => maskText(text, fs, () => 'scramble' as MaskStrategy, KEY), { name: 'TypeError', message: 'unknown mask strategy "scramble" for pii.CREDIT_CARD; expected redact, partial or hash' });
  assert.throws(() => maskText('short', fs, all('redact'), KEY), { name: 'TypeError', message: /has span 5\.\.21, outside a string of length 5/ });
  assert.equal(maskText(text, [], all('redact'), KEY), text);
});

test('maskJson keeps structure, member order and types; only strings with findings change', () => {
  const input = JSON.parse(JSON.stringify({
    customers: [
      { id: 7, name: 'Ana', card: '4577 4637 0643 3047', active: true, score: 1.5, note: null, tags: ['vip', ['nested', 'call +44 20 7946 0958']] },
      { id: 8, name: 'Ben', email: 'ben@example.org' },
    ],
    meta: { total: 2, next: null },
  }));
  const before = JSON.stringify(input);
  const out = maskJson(input, inspectJson(input), all('redact'), KEY);
  const first = out.customers[0];
  assert.deepEqual(out, {
    customers: [
      { id: 7, name: 'Ana', card: '[CREDIT_CARD]', active: true, score: 1.5, note: null, tags: ['vip', ['nested', 'call [PHONE_NUMBER]']] },
      { id: 8, name: 'Ben', email: '[EMAIL_ADDRESS]' },
    ],
    meta: { total: 2, next: null },
  });
  assert.deepEqual(Object.keys(first), ['id', 'name', 'card', 'active', 'score', 'note', 'tags']);
  // The input is untouched; subtrees without findings are shared, not copied.
  assert.equal(JSON.stringify(input), before);
  assert.notEqual(out, input);
  assert.equal(out.meta, input.meta);
  assert.equal(first.tags[0], input.customers[0].tags[0]);
  assert.notEqual(first.tags[1], input.customers[0].tags[1]);
});

test('maskJson: a number that is PII becomes its token; other numbers stay numbers', () => {
  const input = { n: 4577463706433047, ssn: 447773678, count: 4577463706433048, small: 3 };
  const out = maskJson(input, inspectJson(input), all('partial'), KEY);
  assert.deepEqual(out, { n: '[CREDIT_CARD …3047]', ssn: '[US_SSN …3678]', count: 4577463706433048, small: 3 });
  const hashed = maskJson(input, inspectJson(input), all('hash'), KEY);
  assert.equal(hashed.n, mask('4577 4637 0643 3047', 'hash'), 'a card as a number hashes like the same card as text');
});

test('maskJson: a key holding PII is renamed in place, order kept, collisions made unique', () => {
  const input = JSON.parse('{"first":1,"alice@example.com":{"phone":"467 3395"},"bob@example.com":2,"[EMAIL_ADDRESS]":3,"last":4}');
  const out = maskJson(input, inspectJson(input), all('redact'), KEY);
  assert.deepEqual(Object.entries(out), [
    ['first', 1],
    ['[EMAIL_ADDRESS] (2)', { phone: '[PHONE_NUMBER]' }],
    ['[EMAIL_ADDRESS] (3)', 2],
    ['[EMAIL_ADDRESS]', 3],
    ['last', 4],
  ]);
  const hashed = maskJson(input, inspectJson(input), all('hash'), KEY) as Record<string, unknown>;
  assert.equal(Object.keys(hashed).length, 5);
  assert.ok(Object.keys(hashed)[1]!.startsWith('[EMAIL_ADDRESS:'));
});

test('maskJson: a "__proto__" member stays a plain member of the copy', () => {
  const input = JSON.parse('{"__proto__":{"card":"4577463706433047"},"x":"ok"}');
  const out = maskJson(input, inspectJson(input), all('redact'), KEY);
  assert.ok(Object.hasOwn(out, '__proto__'));
  assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { card: '[CREDIT_CARD]' });
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.equal(({} as Record<string, unknown>)['card'], undefined);
});

test('maskJson: a bare string or number root, no findings, and findings that do not fit', () => {
  assert.equal(maskJson('mail bob@example.com', inspectJson('mail bob@example.com'), all('redact'), KEY), 'mail [EMAIL_ADDRESS]');
  assert.equal(maskJson(4577463706433047, inspectJson(4577463706433047), all('redact'), KEY), '[CREDIT_CARD]');
  const clean = { a: [1, 'x'] };
  assert.equal(maskJson(clean, inspectJson(clean), all('redact'), KEY), clean);
  const fs = inspectJson({ a: { b: 'bob@example.com' } });
  assert.throws(() => maskJson({ a: { c: 'x' } }, fs, all('redact'), KEY), { name: 'TypeError', message: 'finding path $.a.b does not match the value: a member is missing' });
  assert.throws(() => maskJson({ a: ['x'] }, fs, all('redact'), KEY), { name: 'TypeError', message: /an array where an object was expected/ });
  assert.throws(() => maskJson({ a: { b: true } }, fs, all('redact'), KEY), { name: 'TypeError', message: /a boolean cannot hold PII/ });
  assert.throws(() => maskJson({}, [{ kind: 'pii.EMAIL_ADDRESS', path: '$..x', severity: 'medium', detail: '' }], all('redact'), KEY), { name: 'TypeError', message: /not a path inspectJson writes/ });
});

test('maskJson: paths with quoted names round-trip', () => {
  const input = { "it's": { 'a b': ['x', 'mail bob@example.com'], 'back\\slash\n': 'ssn 447-77-3678' } };
  const fs = inspectJson(input);
  assert.deepEqual(fs.map((f) => f.path), ["$['it\\'s']['a b'][1]", "$['it\\'s']['back\\\\slash\\n']"]);
  assert.deepEqual(maskJson(input, fs, all('redact'), KEY), { "it's": { 'a b': ['x', 'mail [EMAIL_ADDRESS]'], 'back\\slash\n': 'ssn [US_SSN]' } });
});

test('corpus: with redact, every labelled value is gone; texts without labels come back unchanged', () => {
  const corpus = readFileSync(corpusFile('pii.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { text: string; entities: Array<{ type: string; value: string }> });
  let negatives = 0;
  for (const c of corpus) {
    const out = mask(c.text, 'redact');
    for (const e of c.entities) {
      assert.ok(!out.includes(e.value), `${e.type} left in ${out}`);
      assert.ok(out.includes(`[${e.type}]`), `${e.type} token missing in ${out}`);
    }
    if (c.entities.length === 0) {
      negatives++;
      assert.equal(out, c.text);
    }
    // A JSON text keeps being JSON after masking.
    if (c.text.startsWith('{')) assert.doesNotThrow(() => JSON.parse(out));
  }
  assert.ok(negatives >= 20);
});

// One card and one SSN in every spelling the inspector normalises (see pii/normalise.ts).
const fullWidth = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));
const inScript = (s: string, zero: number) => s.replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));
const escaped = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
const CARD_FORMS = [
  '4577 4637 0643 3047', '4577\u00a04637\u00a00643\u00a03047', '4577\t4637\t0643\t3047', '4577  4637  0643  3047', '4577/4637/0643/3047',
  '4577_4637_0643_3047', '4577.4637.0643.3047', '4577\u20134637\u20130643\u20133047', fullWidth('4577 4637 0643 3047'),
  inScript('4577463706433047', 0x660), inScript('4577 4637 0643 3047', 0x966), inScript('4577463706433047', 0x1d7ce),
  '4577\u200b4637\u200b0643\u200b3047', escaped('4577463706433047'), `4577${escaped(' 4637 ')}0643 3047`,
];
const SSN_FORMS = ['447-77-3678', '447\u201377\u20133678', '447\u201177\u20113678', fullWidth('447') + '\uff0d' + fullWidth('77') + '\uff0d' + fullWidth('3678'), escaped('447-77-3678')];

test('a value in any spelling is masked where it stands: the original characters replaced, every other byte kept', () => {
  const hashCard = mask('card 4577463706433047', 'hash').slice(5);
  const hashSsn = mask('ssn 447-77-3678', 'hash').slice(4);
  for (const form of CARD_FORMS) {
    const text = `☃ card ${form} — ok\u00a0✓`;
    assert.equal(mask(text, 'redact'), '☃ card [CREDIT_CARD] — ok\u00a0✓', JSON.stringify(form));
    assert.equal(mask(text, 'partial'), '☃ card [CREDIT_CARD …3047] — ok\u00a0✓', JSON.stringify(form));
    // The same card is the same value: one hash token whatever the spelling.
    assert.equal(mask(text, 'hash'), `☃ card ${hashCard} — ok\u00a0✓`, JSON.stringify(form));
  }
  for (const form of SSN_FORMS) {
    assert.equal(mask(`ref ${form}.`, 'redact'), 'ref [US_SSN].', JSON.stringify(form));
    assert.equal(mask(`ref ${form}.`, 'hash'), `ref ${hashSsn}.`, JSON.stringify(form));
  }
});

test('maskJson masks values in any spelling, in strings and keys', () => {
  const doc = { note: `paid with ${fullWidth('4577 4637 0643 3047')} ok`, [`${escaped('447-77-3678')}`]: 'x', list: [inScript('4577463706433047', 0x660)] };
  const out = maskJson(doc, inspectJson(doc), all('redact'), KEY);
  assert.deepEqual(out, { note: 'paid with [CREDIT_CARD] ok', '[US_SSN]': 'x', list: ['[CREDIT_CARD]'] });
});

test('what is masked cannot be read back in any form: the masked text has nothing left to find', () => {
  const mixed = CARD_FORMS.join('\n') + '\n' + SSN_FORMS.join(' ; ');
  const out = mask(mixed, 'redact');
  assert.deepEqual(inspectText(out), []);
  assert.equal((out.match(/\[CREDIT_CARD\]/g) ?? []).length, CARD_FORMS.length);
  assert.equal((out.match(/\[US_SSN\]/g) ?? []).length, SSN_FORMS.length);
  // No digit survives, in whatever script or escape it was written.
  assert.ok(!/[\p{Nd}\p{No}]|\\u/u.test(out.normalize('NFKC')), out);
});

test('property: a card or SSN planted in random spellings among random Unicode text is masked exactly where it stands', () => {
  let seed = 42;
  const rnd = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
  const pick = <T,>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  // Noise that holds no digit in any spelling, so it cannot join the planted value.
  const NOISE = ['lorem', 'ipsum', 'café', '東京', '🚀', 'naïve', 'ｆｕｌｌ', 'مرحبا', 'नमस्ते', 'x\\y', '\\u00e9t\\u00e9', '\u200b', '\u00a0', '\t', ' ', '\n', '\ud800', 'ﬁn', '€', '—'];
  const DIGIT: Array<(d: number) => string> = [
    (d) => String(d), (d) => String.fromCharCode(0xff10 + d), (d) => String.fromCharCode(0x660 + d), (d) => String.fromCharCode(0x966 + d),
    (d) => String.fromCodePoint(0x1d7ce + d), (d) => `\\u${(0x30 + d).toString(16).padStart(4, '0')}`, (d) => `\\u{${(0xff10 + d).toString(16)}}`, (d) => `${d}\ufe0f\u20e3`,
  ];
  const SPACES = [' ', '\u00a0', '\t', '  ', '\u3000', '\u2007', '\u202f', '\\u00a0'];
  const DASHES = ['-', '\u2013', '\u2011', '\uff0d', '\u2212', '\\u002d'];
  // One separator kind per value, each written in any of its spellings; invisible characters inside.
  const spell = (groups: number[][], seps: readonly string[]): string =>
    groups.map((g) => g.map((d) => pick(DIGIT)(d)).join(rnd(8) === 0 ? '\u200b' : '')).reduce((out, g) => out + pick(seps) + g);
  const noise = () => Array.from({ length: rnd(6) }, () => pick(NOISE)).join('');
  for (let i = 0; i < 400; i++) {
    const card = rnd(2) === 0;
    const sepKinds = card ? [SPACES, DASHES, ['/'], ['_'], ['.']] : [DASHES];
    const groups = card ? [[4, 5, 7, 7], [4, 6, 3, 7], [0, 6, 4, 3], [3, 0, 4, 7]] : [[4, 4, 7], [7, 7], [3, 6, 7, 8]];
    const value = spell(groups, pick(sepKinds));
    const before = noise() + ' ';
    const after = ' ' + noise();
    const text = before + value + after;
    const expected = before + (card ? '[CREDIT_CARD]' : '[US_SSN]') + after;
    assert.equal(mask(text, 'redact'), expected, JSON.stringify(text));
  }
});
