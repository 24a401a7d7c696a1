// The PII inspector: detection quality on an external labelled data set, and scan throughput.
//
// Quality: presidio-research's synthetic data set (../../../../shared/corpus/external, 1,500
// texts with labelled spans), for the entity types airlock claims. Span matching counts overlap:
// a predicted span of type T is a true positive when it shares at least one character with a
// labelled span of type T; precision = true-positive predictions / predictions of T; recall =
// labelled spans of T overlapped by a prediction of T / labelled spans of T. "exact recall"
// counts only predictions with the labelled span's exact boundaries. Published reference points
// on this set: a regex library with Luhn, card precision 0.97 / recall 0.78; another, card
// 1.00 / 0.69 and phone 0.97 / 0.34.
//
// Throughput: inspectJson over a parsed JSON document of customer records (names, e-mails,
// phone and card numbers, addresses, free-text notes, ids, dates), in MB of its JSON text per
// second; the same with maskJson after it; and inspectText over log-like text.
import { readFileSync } from 'node:fs';
import type { Metric, Scenario } from '../scenario.ts';
import { inspectJson, inspectText } from '../../../gateway/inspect/pii/index.ts';
import { maskJson } from '../../../gateway/inspect/mask.ts';

const DATASET = new URL('../../../../shared/corpus/external/presidio-synth-v2.json', import.meta.url);
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
    return [
      ...quality(),
      { name: 'PII scan, JSON document', value: throughput(docBytes, () => { inspectJson(doc, { maxFindings: 1e6 }); }), unit: 'MB/s', aim: '>= 50' },
      { name: 'PII scan + mask, JSON document', value: throughput(docBytes, () => { maskJson(doc, inspectJson(doc, { maxFindings: 1e6 }), () => 'hash', key); }), unit: 'MB/s' },
      { name: 'PII scan, log text', value: throughput(text.length, () => { inspectText(text, { maxFindings: 1e6 }); }), unit: 'MB/s' },
    ];
  },
};
export default scenario;
