// Human reviews. A `review` decision holds the request:
//
//   hash the exact request ─► an approval of it still usable by this requester? take one use, release
//                          ─► else a pending review of it? wait on that one
//                          ─► else create one, notify reviewers (webhooks), wait
//   wait: until decided, the rule's `wait` runs out (GW_REVIEW_PENDING, with the id: retry later),
//         or the review expires (denied)
//
// Reviews live in the store, so they survive restarts and any replica can decide one; a replica
// holding a request learns of a decision at once when it was made here, else at the next poll.
// The review is bound to everything that is forwarded and shows reviewers the request as it would
// leave (./request-view.ts). Reviewers are counted in people (./reviewers.ts): never the requester
// through any of their keys, in one of the rule's reviewer groups, one vote per person; service
// keys only where the rule names them. A deny decides at once, approvals count up to the minimum.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isService, personOf, type Identity } from '../authn/identity.ts';
import type { Finding } from '../inspect/types.ts';
import { GatewayError } from '../errors.ts';
import type { RuleReview } from '../policy/decide.ts';
import type { Recorder, RecordingSession } from '../recorder/recorder.ts';
import { canonicalJson } from '../../lib/canonical-json.ts';
import type { JsonObject, ReviewRecord, Store } from '../store/index.ts';
import type { Logger } from '../../lib/log.ts';
import type { Notifier } from './notify.ts';
import { boundHeaders, shownHeaders, shownPayload, type HeaderMap } from './request-view.ts';
import { refusalToDecide } from './reviewers.ts';

export interface ReviewsOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly recorder: Recorder;
  readonly notifier: Notifier;
  /** How often a held request re-reads its review (decisions made by another replica), ms. Default 1000. */
  readonly pollIntervalMs?: number;
  /** Epoch ms. Default Date.now. */
  readonly now?: () => number;
}

/** What a data path hands over to hold one request. */
export interface HoldRequest {
  readonly connection: string;
  readonly requester: Identity;
  /** The canonical form of the request: {method, path (with query), body} or {tool, arguments}. Hashed to bind the review. */
  readonly request: JsonObject;
  /** The headers as they are forwarded (HTTP): bound with the request (but VOLATILE_HEADERS), shown with credentials redacted. */
  readonly headers?: HeaderMap;
  /** Shown to reviewers: method/path or tool, reasons, findings, justification. */
  readonly detail: JsonObject;
  /** The body or arguments as inspected, with the request's findings: shown to reviewers with PII and secrets redacted, `verbatim` paths (SQL, shell) in full. */
  readonly shown?: { readonly payload: unknown; readonly findings: readonly Finding[]; readonly verbatim?: readonly string[] };
  readonly settings: RuleReview;
  readonly session: RecordingSession;
  /** Called once when the request starts waiting (MCP progress, elicitation). */
  readonly onWaiting?: (review: ReviewRecord) => void;
  /** Aborts the wait (the caller went away). */
  readonly signal?: AbortSignal;
}

/** The hash that binds a review to one exact request. */
export function requestHash(connection: string, request: JsonObject): string {
  return `sha256:${createHash('sha256').update(canonicalJson({ connection, request })).digest('hex')}`;
}

export class Reviews {
  readonly #o: Required<ReviewsOptions>;
  readonly #decided = new EventEmitter();

  constructor(options: ReviewsOptions) {
    this.#o = { pollIntervalMs: 1000, now: Date.now, ...options };
    this.#decided.setMaxListeners(0);
  }

  /**
   * Holds the request until it may pass; resolves with the approved review that released it.
   * Throws GW_REVIEW_DENIED (denied or expired) or GW_REVIEW_PENDING (not decided within the wait).
   */
  async hold(req: HoldRequest): Promise<ReviewRecord> {
    const { store } = this.#o;
    const hash = requestHash(req.connection, req.headers === undefined ? req.request : { ...req.request, headers: boundHeaders(req.headers) });
    const now = this.#o.now();
    const existing = await store.reviews.forRequest(hash, req.requester.sub, now);
    for (const r of existing.filter((x) => x.status === 'approved')) {
      if (await store.reviews.consume(r.id, now)) {
        await this.#o.recorder.record(req.session, 'review.released', { review: r.id, by: r.decidedBy, approvals: r.votes.filter((v) => v.approve).map((v) => v.reviewer), retry: true });
        return r;
      }
    }
    let review = existing.find((x) => x.status === 'pending');
    if (!review) {
      const s = req.settings;
      review = await store.reviews.create({
        id: `rev_${randomUUID().replaceAll('-', '').slice(0, 20)}`, sessionId: req.session.id, connection: req.connection, requester: req.requester.sub,
        requestHash: hash, expiresAt: now + s.expires * 1000, approvalsNeeded: s.approvals, reviewers: s.reviewers ?? [], uses: s.uses,
        detail: {
          ...req.detail, validity: s.validity, requesterPerson: personOf(req.requester), requesterService: isService(req.requester),
          ...(s.serviceReviewers ? { serviceReviewers: [...s.serviceReviewers] } : {}),
          ...(req.headers === undefined ? {} : { headers: shownHeaders(req.headers) }),
          ...(req.shown === undefined ? {} : { payload: shownPayload(req.shown.payload, req.shown.findings, req.shown.verbatim) }),
        },
      });
      await this.#o.recorder.record(req.session, 'review.requested', { review: review.id, requestHash: hash, approvals: s.approvals, reviewers: s.reviewers ?? [], wait: s.wait, expiresAt: review.expiresAt });
      void this.#o.notifier.notify(review).catch((err: unknown) => this.#o.logger.error('review notification failed', { review: review?.id, err }));
    } else {
      await this.#o.recorder.record(req.session, 'review.waiting', { review: review.id, requestHash: hash });
    }
    req.onWaiting?.(review);
    // The wait runs on the monotonic clock (timestamps on the injectable one).
    const deadline = performance.now() + Math.max(0, Math.min(req.settings.wait * 1000, review.expiresAt - now));
    const final = await this.#waitFor(review.id, deadline, req.signal);
    if (final?.status === 'approved' && await store.reviews.consume(final.id, this.#o.now())) {
      await this.#o.recorder.record(req.session, 'review.approved', { review: final.id, by: final.decidedBy, reason: final.reason, approvals: final.votes.filter((v) => v.approve).map((v) => v.reviewer) });
      return final;
    }
    if (final?.status === 'denied' || final?.status === 'expired' || final?.status === 'approved') {
      const why = final.status === 'expired' ? 'expired before anyone decided it' : final.status === 'approved' ? 'was approved, but its approvals are used up' : `was denied by ${final.decidedBy}${final.reason ? `: ${final.reason}` : ''}`;
      await this.#o.recorder.record(req.session, `review.${final.status}`, { review: final.id, by: final.decidedBy, reason: final.reason });
      throw new GatewayError('GW_REVIEW_DENIED', `Review ${final.id} of this request ${why}.`, { detail: { review: final.id, status: final.status }, headers: { 'x-airlock-review': final.id } });
    }
    await this.#o.recorder.record(req.session, 'review.timeout', { review: review.id, waitedMs: req.settings.wait * 1000 });
    throw new GatewayError('GW_REVIEW_PENDING',
      `The request waits for review ${review.id} (${review.approvalsNeeded} approval(s) needed${review.reviewers.length ? ` from ${review.reviewers.join(', ')}` : ''}); once approved, retry the identical request within the approval's validity. Reviewers: airlock reviews approve ${review.id}`,
      { detail: { review: review.id, status: 'pending', expiresAt: review.expiresAt }, headers: { 'x-airlock-review': review.id, 'retry-after': '30' } });
  }

  /**
   * A reviewer's decision. Throws GW_REVIEW_NOT_FOUND, or GW_REVIEW_FORBIDDEN when the reviewer is
   * the requester, not in the reviewer groups, has voted already, or the review is not pending.
   */
  async decide(id: string, reviewer: Identity, approve: boolean, reason: string | null): Promise<ReviewRecord> {
    const { store } = this.#o;
    const review = await this.expireIfDue(await store.reviews.get(id));
    if (!review) throw new GatewayError('GW_REVIEW_NOT_FOUND', `There is no review ${JSON.stringify(id)}.`);
    if (review.status !== 'pending') throw new GatewayError('GW_REVIEW_FORBIDDEN', `Review ${id} is already ${review.status}.`);
    const refusal = refusalToDecide(review, reviewer);
    if (refusal !== null) throw new GatewayError('GW_REVIEW_FORBIDDEN', refusal);
    // The vote is the person's (personOf): the store keeps one per person and review.
    const person = personOf(reviewer);
    const vote = { reviewer: person, approve, reason, at: this.#o.now(), credential: person === reviewer.sub ? null : reviewer.sub };
    let after: ReviewRecord | null;
    try {
      after = await store.reviews.vote(id, vote, { validityMs: validityOf(review) * 1000 });
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'GW_STORE_CONFLICT') {
        throw new GatewayError('GW_REVIEW_FORBIDDEN', `${person} has already voted on ${id}${vote.credential ? ` (${vote.credential} acts for them)` : ''}: each person votes once, whatever the credential.`, { cause: err });
      }
      throw err;
    }
    if (!after) throw new GatewayError('GW_REVIEW_NOT_FOUND', `There is no review ${JSON.stringify(id)}.`);
    this.#o.logger.info('review vote', { review: id, reviewer: person, credential: vote.credential, approve, status: after.status });
    this.#decided.emit(id, after);
    return after;
  }

  /**
   * Gives back the use `hold` took when the released request then failed before reaching its
   * target (the agent was offline): the retry passes on the same approval. Recorded.
   */
  async refund(reviewId: string, session: RecordingSession, why: string): Promise<void> {
    if (await this.#o.store.reviews.refund(reviewId)) await this.#o.recorder.record(session, 'review.refunded', { review: reviewId, why });
  }

  /** A pending review past its expiry becomes expired (in the store); others pass through. */
  async expireIfDue(review: ReviewRecord | null): Promise<ReviewRecord | null> {
    if (!review || review.status !== 'pending' || review.expiresAt > this.#o.now()) return review;
    await this.#o.store.reviews.decide(review.id, { status: 'expired', by: null, reason: 'nobody decided it in time', at: this.#o.now() });
    return this.#o.store.reviews.get(review.id);
  }

  /** `deadline`: performance.now() time. */
  async #waitFor(id: string, deadline: number, signal: AbortSignal | undefined): Promise<ReviewRecord | null> {
    // Bounded: each turn waits for a local decision or one poll interval, until the deadline.
    for (;;) {
      const current = await this.expireIfDue(await this.#o.store.reviews.get(id));
      if (!current || current.status !== 'pending') return current;
      const left = deadline - performance.now();
      if (left <= 0 || signal?.aborted) return current;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#decided.off(id, done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, this.#o.pollIntervalMs));
        this.#decided.on(id, done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
}

function validityOf(review: ReviewRecord): number {
  const v = (review.detail as { validity?: unknown }).validity;
  return typeof v === 'number' && v > 0 ? v : 900;
}
