// Mutual authentication between replicas with the shared cluster secret (HMAC-SHA256).
//
//   caller → `x-airlock-cluster: v1 <from> <to> <unix seconds> <nonce>.<mac>` where mac covers
//            "airlock-cluster-v1 call", from, to, the time and the nonce;
//   callee → answers the upgrade with `x-airlock-cluster-answer: <mac>` over "… answer", to, from
//            and the caller's nonce, so the caller knows it reached a replica holding the secret.
//
// `to` names the callee (its replica id), so a proof seen on the wire opens nothing at another
// replica; the callee remembers nonces for the freshness window, so it opens nothing twice at the
// same replica either. Macs compare in constant time. The secret never crosses the wire.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { ReplayCache } from '../agents/replay.ts';

/** Header the caller sends its proof in. */
export const CLUSTER_HEADER = 'x-airlock-cluster';
/** Header the callee answers with. */
export const CLUSTER_ANSWER_HEADER = 'x-airlock-cluster-answer';
/** How far a proof's time may be from the callee's clock, in seconds. */
export const PROOF_WINDOW_S = 60;

const ID = /^[A-Za-z0-9_-]{8,64}$/;
const NONCE = /^[A-Za-z0-9_-]{22,64}$/;
const MAC = /^[A-Za-z0-9_-]{43}$/;

function mac(secret: string, ...parts: string[]): string {
  return createHmac('sha256', secret).update(parts.join('\n')).digest('base64url');
}

function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The caller's header for a call from replica `from` to replica `to`, and the nonce its answer must cover. */
export function callProof(secret: string, from: string, to: string, nowMs: number = Date.now()): { header: string; nonce: string } {
  const nonce = randomBytes(18).toString('base64url');
  const at = String(Math.floor(nowMs / 1000));
  return { header: `v1 ${from} ${to} ${at} ${nonce}.${mac(secret, 'airlock-cluster-v1 call', from, to, at, nonce)}`, nonce };
}

/** The callee's answer to a call from `from` that carried `nonce`. */
export function answerProof(secret: string, self: string, from: string, nonce: string): string {
  return mac(secret, 'airlock-cluster-v1 answer', self, from, nonce);
}

/** True when `answer` is the callee `to`'s answer to our call with `nonce`. */
export function answerValid(secret: string, to: string, self: string, nonce: string, answer: string | undefined): boolean {
  return typeof answer === 'string' && MAC.test(answer) && macEquals(answer, answerProof(secret, to, self, nonce));
}

/** Checks calls made to replica `self`: each proof once, within the window. */
export class CallVerifier {
  readonly #secret: string;
  readonly #self: string;
  readonly #now: () => number;
  readonly #seen: ReplayCache;

  constructor(options: { secret: string; self: string; now?: () => number }) {
    this.#secret = options.secret;
    this.#self = options.self;
    this.#now = options.now ?? Date.now;
    this.#seen = new ReplayCache({ now: this.#now, maxEntries: 100_000 });
  }

  /** The calling replica's id and nonce; GW_CLUSTER_AUTH when the header proves nothing. */
  verify(header: string | string[] | undefined): { from: string; nonce: string } {
    const refuse = (why: string) => new GatewayError('GW_CLUSTER_AUTH', `This is a replica's internal cluster listener: ${why}. Only replicas of the same deployment, holding the cluster secret, may call it.`);
    if (typeof header !== 'string' || header.length > 400) throw refuse(`send one ${CLUSTER_HEADER} header`);
    const m = /^v1 (\S+) (\S+) (\d{1,12}) (\S+)\.(\S+)$/.exec(header);
    if (m === null) throw refuse(`the ${CLUSTER_HEADER} header is malformed`);
    const [, from, to, at, nonce, given] = m as unknown as [string, string, string, string, string, string];
    if (!ID.test(from) || !ID.test(to) || !NONCE.test(nonce) || !MAC.test(given)) throw refuse(`the ${CLUSTER_HEADER} header is malformed`);
    // The mac first: what follows tells nothing to someone without the secret.
    if (!macEquals(given, mac(this.#secret, 'airlock-cluster-v1 call', from, to, at, nonce))) throw refuse('the proof does not verify with this deployment\'s cluster secret');
    if (to !== this.#self) throw refuse('the proof was made for another replica');
    const skew = Math.abs(this.#now() / 1000 - Number(at));
    if (skew > PROOF_WINDOW_S) throw refuse(`the proof is ${Math.round(skew)} s away from this replica's clock (at most ${PROOF_WINDOW_S} s)`);
    const seen = this.#seen.use(`${from}\n${nonce}`, (Number(at) + 2 * PROOF_WINDOW_S) * 1000);
    if (seen !== 'fresh') throw refuse(seen === 'replayed' ? 'the proof was used before' : 'too many calls right now');
    return { from, nonce };
  }
}
