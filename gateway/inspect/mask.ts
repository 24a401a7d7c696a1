// Masking: replaces what the PII/secret inspector found with tokens, in place, so a payload keeps
// its shape. Only findings of kind `pii.*` and `secret.*` are applied; others are ignored.
//
// Strategies, chosen per finding kind:
//   redact   `[CREDIT_CARD]`
//   partial  `[CREDIT_CARD …1111]`: the last four characters of the normalised value (the value
//            as the inspector matched it, see pii/normalise.ts: "４５…" and "\u0034\u0035…" are
//            "45…"; then the digits of a card, SSN or phone; an IBAN without spaces, upper
//            case). The token is the same size whatever the value's length, so the length is
//            not revealed; values under 8 characters, and private keys, fall back to redact
//            (four characters would be half of them, or a PEM footer).
//   hash     `[CREDIT_CARD:3f9a1c2b7d4e]`: HMAC-SHA-256 under the caller's key over the kind and
//            the normalised value, 48 bits in hex. Equal values give equal tokens under one key
//            (so masked data stays joinable: "4111 1111 1111 1111", "4111-1111-1111-1111" and
//            "４１１１…" are one card) and unrelated tokens under another key; without the key a
//            token cannot be checked against a guessed value.
// Overlapping spans are merged and masked once, under the kind of the longest of them.
//
// JSON (maskJson): a new value; containers on the way to a finding are copied, every other
// subtree is shared with the input, which is never modified. Strings with findings are masked
// as text; a number that is itself PII (a card number as a JSON number) becomes the token string
// (the one place a type changes: keeping a number would keep the value); an object key with PII
// is renamed to its masked form, with " (2)", " (3)", … added if two masked keys collide.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { Finding } from './types.ts';
import { type Segment, parsePath } from './pii/path.ts';
import { normaliseForMatch } from './pii/normalise.ts';

/** The masking strategies: the one list that policies and masking share. */
export const MASK_STRATEGIES = ['redact', 'partial', 'hash'] as const;
export type MaskStrategy = (typeof MASK_STRATEGIES)[number];

/** Chooses the strategy for a finding kind (`pii.CREDIT_CARD`, `secret.API_KEY`, …); asked once per kind per masking call. */
export type StrategyFor = (kind: string) => MaskStrategy;

/** Shortest HMAC key accepted, in bytes. */
export const MIN_KEY_BYTES = 16;
/** Hex characters of the HMAC kept in a hash token (48 bits). */
const HASH_HEX = 12;
/** Values shorter than this keep nothing under `partial`. */
const PARTIAL_MIN = 8;

const STRATEGIES: ReadonlySet<string> = new Set(MASK_STRATEGIES);

function isMaskable(f: Finding): boolean {
  return f.kind.startsWith('pii.') || f.kind.startsWith('secret.');
}

/** Validates the key and prepares it once per call (preparing a raw key for every HMAC costs more than the HMAC). */
function keyObject(key: Uint8Array): KeyObject {
  if (!(key instanceof Uint8Array) || key.byteLength < MIN_KEY_BYTES) {
    throw new TypeError(`masking key must be a Uint8Array of at least ${MIN_KEY_BYTES} bytes`);
  }
  return createSecretKey(key);
}

function normalise(entity: string, original: string): string {
  const value = normaliseForMatch(original);
  switch (entity) {
    case 'CREDIT_CARD':
    case 'US_SSN':
    case 'PHONE_NUMBER':
      return value.replace(/\D/g, '');
    case 'IBAN_CODE':
      return value.replace(/\s/g, '').toUpperCase();
    case 'EMAIL_ADDRESS':
    case 'IP_ADDRESS':
      return value.toLowerCase();
    default:
      return value;
  }
}

/** What one maskText/maskJson call masks with: the strategy, the prepared key, and the tokens made so far. */
interface Masker {
  readonly strategy: StrategyFor;
  readonly key: KeyObject;
  /** Hash tokens by kind and normalised value: records repeat values, and an HMAC costs microseconds. */
  readonly hashes: Map<string, string>;
  /** The strategy and entity of each kind met so far (a payload has a handful of kinds and thousands of findings). */
  readonly kinds: Map<string, { readonly chosen: MaskStrategy; readonly entity: string }>;
}

function masker(strategy: StrategyFor, key: Uint8Array): Masker {
  return { strategy, key: keyObject(key), hashes: new Map(), kinds: new Map() };
}

/** The token that replaces `value`, found as `kind`. `key`: at least 16 bytes, as for maskText. */
export function maskToken(kind: string, value: string, strategy: StrategyFor, key: Uint8Array): string {
  return tokenFor(masker(strategy, key), kind, value);
}

function tokenFor(m: Masker, kind: string, value: string): string {
  let known = m.kinds.get(kind);
  if (known === undefined) {
    const chosen = m.strategy(kind);
    if (!STRATEGIES.has(chosen)) throw new TypeError(`unknown mask strategy "${String(chosen)}" for ${kind}; expected redact, partial or hash`);
    known = { chosen, entity: kind.slice(kind.indexOf('.') + 1) };
    m.kinds.set(kind, known);
  }
  const { chosen, entity } = known;
  if (chosen === 'redact') return `[${entity}]`;
  const norm = normalise(entity, value);
  if (chosen === 'partial') {
    if (entity === 'PRIVATE_KEY' || norm.length < PARTIAL_MIN) return `[${entity}]`;
    return `[${entity} …${norm.slice(-4)}]`;
  }
  const input = `${kind}\0${norm}`;
  let token = m.hashes.get(input);
  if (token === undefined) {
    const mac = createHmac('sha256', m.key).update(input).digest('hex');
    token = `[${entity}:${mac.slice(0, HASH_HEX)}]`;
    m.hashes.set(input, token);
  }
  return token;
}

/**
 * `text` with every `pii.*` / `secret.*` finding that has a span replaced by its token. Findings
 * without a span, or of other kinds, are ignored. A span outside `text` means the findings belong
 * to another string: TypeError. `key`: at least 16 bytes; used by the `hash` strategy.
 */
export function maskText(text: string, findings: readonly Finding[], strategy: StrategyFor, key: Uint8Array): string {
  return maskSpans(text, findings.filter((f) => isMaskable(f) && f.span !== undefined), masker(strategy, key));
}

function maskSpans(text: string, findings: readonly Finding[], m: Masker): string {
  if (findings.length === 0) return text;
  for (const f of findings) {
    const { start, end } = f.span!;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > text.length || start >= end) {
      throw new TypeError(`finding ${f.kind} at ${f.path} has span ${start}..${end}, outside a string of length ${text.length}`);
    }
  }
  const sorted = [...findings].sort((x, y) => x.span!.start - y.span!.start);
  let out = '';
  let at = 0;
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i]!;
    const start = first.span!.start;
    let end = first.span!.end;
    let widest = first;
    // Merge everything that overlaps the group so far.
    for (i++; i < sorted.length && sorted[i]!.span!.start < end; i++) {
      const f = sorted[i]!;
      if (f.span!.end - f.span!.start > widest.span!.end - widest.span!.start) widest = f;
      end = Math.max(end, f.span!.end);
    }
    out += text.slice(at, start) + tokenFor(m, widest.kind, text.slice(start, end));
    at = end;
  }
  return out + text.slice(at);
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return v !== null && typeof v === 'object';
}

function shallowCopy(v: Container): Container {
  // Spread defines data properties (it never calls the __proto__ setter), so a member named
  // "__proto__" stays a plain member.
  return Array.isArray(v) ? v.slice() : { ...v };
}

function misuse(path: string, why: string): TypeError {
  return new TypeError(`finding path ${path} does not match the value: ${why}`);
}

/** The member name or index a segment selects in `container`. */
function select(container: Container, seg: Segment, path: string): string | number {
  if (seg.type === 'index') {
    if (!Array.isArray(container) || seg.index >= container.length) throw misuse(path, `no element ${seg.index}`);
    return seg.index;
  }
  if (Array.isArray(container)) throw misuse(path, 'an array where an object was expected');
  if (seg.type === 'name') {
    if (!Object.hasOwn(container, seg.name)) throw misuse(path, 'a member is missing');
    return seg.name;
  }
  const name = Object.keys(container)[seg.index];
  if (name === undefined) throw misuse(path, `no member at position ${seg.index}`);
  return name;
}

function setOwn(container: Container, at: string | number, v: unknown): void {
  // Assignment to "__proto__" would set the prototype instead of the member.
  if (at === '__proto__') Object.defineProperty(container, at, { value: v, writable: true, enumerable: true, configurable: true });
  else (container as Record<string | number, unknown>)[at] = v;
}

/**
 * A copy of `value` (as JSON.parse returns it) with the findings of inspectJson on that same
 * value masked in place: same structure, same member order, same types except for PII numbers
 * (see the header). Throws TypeError when a finding's path does not fit the value.
 */
export function maskJson<T>(value: T, findings: readonly Finding[], strategy: StrategyFor, key: Uint8Array): T {
  const m = masker(strategy, key);
  const byPath = new Map<string, Finding[]>();
  for (const f of findings) {
    if (!isMaskable(f)) continue;
    const list = byPath.get(f.path);
    if (list) list.push(f);
    else byPath.set(f.path, [f]);
  }
  if (byPath.size === 0) return value;

  const copies = new Map<Container, Container>(); // original -> its copy
  const copyOf = (v: Container): Container => {
    let c = copies.get(v);
    if (c === undefined) {
      c = shallowCopy(v);
      copies.set(v, c);
      copies.set(c, c); // a copy reached again is already ours
    }
    return c;
  };
  let root: unknown = value;
  const renames = new Map<Record<string, unknown>, Map<string, string>>();

  for (const [path, list] of byPath) {
    const parsed = parsePath(path);
    if (parsed === null) throw misuse(path, 'not a path inspectJson writes');
    const { segments } = parsed;
    if (segments.length === 0) {
      root = maskLeaf(root, list, path, m);
      continue;
    }
    if (!isContainer(root)) throw misuse(path, 'the root is not an object or array');
    root = copyOf(root);
    let node = root as Container;
    for (let s = 0; s < segments.length - 1; s++) {
      const at = select(node, segments[s]!, path);
      const child = (node as Record<string | number, unknown>)[at];
      if (!isContainer(child)) throw misuse(path, 'a scalar where a container was expected');
      const c = copyOf(child);
      setOwn(node, at, c);
      node = c;
    }
    const at = select(node, segments[segments.length - 1]!, path);
    if (parsed.key) {
      if (Array.isArray(node)) throw misuse(path, 'a key of an array');
      const name = at as string;
      let forObject = renames.get(node);
      if (!forObject) renames.set(node, (forObject = new Map()));
      forObject.set(name, maskSpans(name, list.filter((f) => f.span !== undefined), m));
    } else {
      setOwn(node, at, maskLeaf((node as Record<string | number, unknown>)[at], list, path, m));
    }
  }
  for (const [obj, names] of renames) renameKeys(obj, names);
  return root as T;
}

function maskLeaf(v: unknown, list: readonly Finding[], path: string, m: Masker): unknown {
  if (typeof v === 'string') {
    const spanned = list.filter((f) => f.span !== undefined);
    // A finding without a span covers the whole string.
    if (spanned.length < list.length) return tokenFor(m, list.find((f) => f.span === undefined)!.kind, v);
    return maskSpans(v, spanned, m);
  }
  if (typeof v === 'number' || typeof v === 'bigint') return tokenFor(m, list[0]!.kind, v.toString());
  throw misuse(path, `a ${v === null ? 'null' : typeof v} cannot hold PII`);
}

/** Renames members of our own copy `obj` in place, keeping their order and making names unique. */
function renameKeys(obj: Record<string, unknown>, names: ReadonlyMap<string, string>): void {
  const entries = Object.keys(obj).map((k) => [k, obj[k]] as const);
  const taken = new Set(entries.filter(([k]) => !names.has(k)).map(([k]) => k));
  for (const [k] of entries) delete obj[k];
  for (const [k, v] of entries) {
    let name = names.get(k) ?? k;
    if (names.has(k)) {
      for (let n = 2; taken.has(name); n++) name = `${names.get(k)!} (${n})`;
      taken.add(name);
    }
    Object.defineProperty(obj, name, { value: v, writable: true, enumerable: true, configurable: true });
  }
}
