// The PII inspector: detection quality on an external labelled data set, and scan throughput.
//
// Quality: presidio-research's synthetic data set (test/fixtures/corpus/external, MIT, 1,500
// texts with labelled spans), for the entity types airlock claims. Span matching counts overlap:
// a predicted span of type T is a true positive when it shares at least one character with a
// labelled span of type T; precision = true-positive predictions / predictions of T; recall =
// labelled spans of T overlapped by a prediction of T / labelled spans of T. "exact recall"
// counts only predictions with the labelled span's exact boundaries. Published reference points
// on this set: a regex library with Luhn, card precision 0.97 / recall 0.78; another, card
// 1.00 / 0.69 and phone 0.97 / 0.34.
//
// The same data set in other spellings (pii/normalise.ts): each labelled value rewritten in
// full-width characters, with no-break spaces and hyphens, as \uXXXX escapes, in Arabic-Indic
// digits, or with zero-width spaces between its characters (one of these per text, in turn);
// recall of the rewritten values and precision over all of them.
//
// Throughput: inspectJson over a parsed JSON document of customer records (names, e-mails,
// phone and card numbers, addresses, free-text notes, ids, dates), in MB of its JSON text per
// second; the same with maskJson after it; the same document with non-ASCII text in it (street
// names in German and Japanese, notes in Russian, every tenth card in full-width digits), which
// takes the normalised view; and inspectText over log-like text.
import { readFileSync } from 'node:fs';
import type { Metric, Scenario } from '../scenario.ts';
import { corpusFile } from '../../support/corpus.ts';
import { inspectJson, inspectText } from '../../../gateway/inspect/pii/index.ts';
import { maskJson } from '../../../gateway/inspect/mask.ts';

const DATASET = corpusFile('external/presidio-synth-v2.json');
const TYPES = ['CREDIT_CARD', 'PHONE_NUMBER', 'EMAIL_ADDRESS', 'IBAN_CODE', 'US_SSN', 'IP_ADDRESS'] as const;

interface Labelled {
  full_text: string;
  spans: Array<{ entity_type: string; start_position: number; end_position: number }>;
}

function quality(): Metric[] {
  const data = JSON.parse(readFileSync(DATASET, 'utf8')) as Labelled[];
  const stats = new Map(TYPES.map((t) => [t, { predicted: 0, truePredicted: 0, gold: 0, found: 0, exact: 0 }]));
  for (const d of data) {
    const findings = inspectText(d.full_text);
    for (const t of TYPES) {
      const s = stats.get(t)!;
      const gold = d.spans.filter((g) => g.entity_type === t);
      const pred = findings.filter((f) => f.kind === `pii.${t}` && f.span).map((f) => f.span!);
      const overlaps = (p: { start: number; end: number }, g: Labelled['spans'][number]) => p.start < g.end_position && g.start_position < p.end;
      s.predicted += pred.length;
      s.truePredicted += pred.filter((p) => gold.some((g) => overlaps(p, g))).length;
      s.gold += gold.length;
      s.found += gold.filter((g) => pred.some((p) => overlaps(p, g))).length;
      s.exact += gold.filter((g) => pred.some((p) => p.start === g.start_position && p.end === g.end_position)).length;
    }
  }
  const metrics: Metric[] = [];
  for (const t of TYPES) {
    const s = stats.get(t)!;
    metrics.push(
      { name: `${t} precision`, value: s.predicted === 0 ? 0 : s.truePredicted / s.predicted, unit: 'ratio', ...(t === 'CREDIT_CARD' ? { aim: '> 0.97' } : t === 'PHONE_NUMBER' ? { aim: '> 0.97' } : {}) },
      { name: `${t} recall`, value: s.gold === 0 ? 0 : s.found / s.gold, unit: 'ratio', ...(t === 'CREDIT_CARD' ? { aim: '> 0.78' } : t === 'PHONE_NUMBER' ? { aim: '> 0.34' } : {}) },
      { name: `${t} exact recall`, value: s.gold === 0 ? 0 : s.exact / s.gold, unit: 'ratio' },
    );
  }
  return metrics;
}

/** The labelled value rewritten in spelling `variant` (0–4). */
const SPELLINGS: ReadonlyArray<(v: string) => string> = [
  (v) => v.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).replace(/ /g, '\u3000'),
  (v) => v.replace(/ /g, '\u00a0').replace(/-/g, '\u2011'),
  (v) => [...v].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
  (v) => v.replace(/[0-9]/g, (d) => String.fromCharCode(0x660 + Number(d))),
  (v) => [...v].join('\u200b'),
];

function otherSpellings(): Metric[] {
  const data = JSON.parse(readFileSync(DATASET, 'utf8')) as Labelled[];
  const stats = new Map(TYPES.map((t) => [t, { gold: 0, found: 0 }]));
  let predicted = 0;
  let truePredicted = 0;
  data.forEach((d, n) => {
    // Rewrite every labelled value of our types, from the last to the first so offsets hold.
    const spelled = SPELLINGS[n % SPELLINGS.length]!;
    let text = d.full_text;
    const gold: Array<{ type: string; start: number; end: number }> = [];
    for (const g of [...d.spans].filter((g) => (TYPES as readonly string[]).includes(g.entity_type)).sort((a, b) => b.start_position - a.start_position)) {
      const value = spelled(text.slice(g.start_position, g.end_position));
      const grow = value.length - (g.end_position - g.start_position);
      for (const later of gold) { later.start += grow; later.end += grow; }
      text = text.slice(0, g.start_position) + value + text.slice(g.end_position);
      gold.push({ type: g.entity_type, start: g.start_position, end: g.start_position + value.length });
    }
    const findings = inspectText(text).filter((f) => f.span);
    for (const f of findings) {
      const type = f.kind.slice(f.kind.indexOf('.') + 1);
      if (!stats.has(type as (typeof TYPES)[number])) continue;
      predicted++;
      if (gold.some((g) => g.type === type && f.span!.start < g.end && g.start < f.span!.end)) truePredicted++;
    }
    for (const g of gold) {
      const s = stats.get(g.type as (typeof TYPES)[number])!;
      s.gold++;
      if (findings.some((f) => f.kind === `pii.${g.type}` && f.span!.start < g.end && g.start < f.span!.end)) s.found++;
    }
  });
  return [
    ...TYPES.map((t): Metric => ({ name: `${t} recall, other spellings`, value: stats.get(t)!.gold === 0 ? 0 : stats.get(t)!.found / stats.get(t)!.gold, unit: 'ratio' })),
    { name: 'precision, other spellings', value: predicted === 0 ? 0 : truePredicted / predicted, unit: 'ratio' },
  ];
}

/** The document with non-ASCII text: other scripts in addresses and notes, every tenth card in full-width digits. */
function unicodeDocument(doc: unknown): unknown {
  const { customers, page } = doc as { customers: Array<Record<string, unknown>>; page: unknown };
  const fullWidth = (s: string) => s.replace(/[0-9]/g, (c) => String.fromCharCode(0xff10 + Number(c)));
  return {
    page,
    customers: customers.map((c, i) => ({
      ...c,
      card: i % 10 === 0 ? fullWidth(c['card'] as string) : c['card'],
      address: { ...(c['address'] as object), street: i % 2 === 0 ? 'Hauptstraße 5, Köln' : '東京都千代田区丸の内1丁目' },
      notes: i % 3 === 0 ? 'Клиент просил перезвонить после обеда; заказ отправлен.' : c['notes'],
    })),
  };
}

/** A deterministic document of `records` customer records, parsed back so its strings are flat like a request body's. */
function customerDocument(records: number): unknown {
  let seed = 1;
  const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const names = ['Priya Nair', 'Tomasz Wrona', 'Lena Sato', 'Ana Souza', 'John Smith', 'Chen Wei', 'Amara Okafor', 'Jonas Berg'];
  const cards = ['4577 4637 0643 3047', '6011719680343216', '3528-7196-8034-3219', '378490934066215'];
  const notes = [
    'Prefers email contact. Called support twice about billing; resolved.',
    'VIP. Do not call before 9am local time; ticket 48213 closed on 2024-03-02.',
    'Asked to update the shipping address, order #100234 delayed by the carrier.',
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.',
  ];
  const customers = [];
  for (let i = 0; i < records; i++) {
    customers.push({
      id: i,
      uuid: `${digits(8)}-e803-4e10-a333-${digits(12)}`,
      name: pick(names),
      email: `customer.${i}@example.com`,
      phone: `+1 (${200 + (i % 700)}) 555-${digits(4)}`,
      card: pick(cards),
      created: '2024-01-31T10:30:00Z',
      active: i % 3 !== 0,
      balance: Math.round(rnd() * 1e6) / 100,
      address: { street: `${1 + (i % 999)} Main Street`, city: 'Springfield', zip: digits(5), country: 'US' },
      tags: ['customer', pick(['gold', 'silver', 'bronze'])],
      notes: pick(notes),
      orders: [{ sku: `SKU-${digits(6)}`, qty: 1 + (i % 4), price: 19.99 }],
    });
  }
  return JSON.parse(JSON.stringify({ customers, page: { next: null, total: records } }));
}

function logText(bytes: number): string {
  const lines = [
    '2024-01-31T10:30:00.123Z INFO request id=7f3a9c user=alice@example.com path=/api/v1/orders status=200 ms=12',
    '2024-01-31T10:30:00.456Z WARN payment declined card=4577 4637 0643 3047 amount=19.99 currency=EUR',
    '2024-01-31T10:30:01.002Z INFO GET /healthz from 10.0.3.17 took 1ms (build 1.4.2, commit f3b30ad)',
    '2024-01-31T10:30:01.870Z DEBUG cache miss key=orders:48213 size=2048 ttl=300 region=eu-west-1',
  ];
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += lines[i % lines.length] + '\n';
  return out;
}

/** MB of `bytes` per second over repeated `work`, bounded by count and by time. */
function throughput(bytes: number, work: () => void): number {
  work(); // warm up the JIT
  const started = performance.now();
  let runs = 0;
  while (runs < 50 && performance.now() - started < 1500) {
    work();
    runs++;
  }
  return (bytes * runs) / 1e6 / ((performance.now() - started) / 1000);
}

const scenario: Scenario = {
  name: 'pii',
  async run() {
    const doc = customerDocument(5000);
    const docBytes = Buffer.byteLength(JSON.stringify(doc));
    const key = new Uint8Array(32).fill(1);
    const text = logText(1 << 20);
    const unicode = unicodeDocument(doc);
    const unicodeBytes = Buffer.byteLength(JSON.stringify(unicode));
    return [
      ...quality(),
      ...otherSpellings(),
      { name: 'PII scan, JSON document', value: throughput(docBytes, () => { inspectJson(doc, { maxFindings: 1e6 }); }), unit: 'MB/s', aim: '>= 50' },
      { name: 'PII scan, JSON document with non-ASCII text', value: throughput(unicodeBytes, () => { inspectJson(unicode, { maxFindings: 1e6 }); }), unit: 'MB/s' },
      { name: 'PII scan + mask, JSON document', value: throughput(docBytes, () => { maskJson(doc, inspectJson(doc, { maxFindings: 1e6 }), () => 'hash', key); }), unit: 'MB/s' },
      { name: 'PII scan, log text', value: throughput(text.length, () => { inspectText(text, { maxFindings: 1e6 }); }), unit: 'MB/s' },
    ];
  },
};
export default scenario;
