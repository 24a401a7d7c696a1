// The reviews API. Reviewers, auditors and admins list and read every review; anyone else their
// own (through any key of theirs). Reviewers (and admins) decide; the requester never decides
// their own, through any credential (gateway/reviews/reviewers.ts).
//
//   GET  /api/v1/reviews?status=pending|approved|denied|expired&limit=   summaries (no headers or payload)
//   GET  /api/v1/reviews/<id>            the review as reviewers see it: the request as it would
//                                        leave (method, path with query, headers with credentials
//                                        redacted, body or arguments with PII redacted), findings,
//                                        rule, justification, the requester's session; votes and
//                                        webhook deliveries
//   POST /api/v1/reviews/<id>/approve    { "reason"?: "…" }   (reviewer)
//   POST /api/v1/reviews/<id>/deny       { "reason"?: "…" }   (reviewer)
import { z } from 'zod';
import type { Authenticator } from '../authn/authenticate.ts';
import { requireRole } from '../authn/authenticate.ts';
import { personOf, type Identity } from '../authn/identity.ts';
import { requesterPerson } from '../reviews/reviewers.ts';
import { SESSIONS_PATH } from './sessions.ts';
import { intParam, isoDate } from './wire.ts';
import { GatewayError } from '../errors.ts';
import { readJson } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { Reviews } from '../reviews/reviews.ts';
import type { ReviewRecord, ReviewStatus, Store } from '../store/index.ts';

export const REVIEWS_PATH = '/api/v1/reviews';
const ID = /^rev_[0-9a-f]{20}$/;
const decisionBody = z.strictObject({ reason: z.string().max(1000).optional() });

export function reviewView(r: ReviewRecord) {
  return {
    ...r, createdAt: isoDate(r.createdAt), decidedAt: isoDate(r.decidedAt), expiresAt: isoDate(r.expiresAt), validUntil: isoDate(r.validUntil),
    requesterPerson: requesterPerson(r),
    // The requester's session: reviewers asked to decide this review may read it (GET /api/v1/sessions/<id>).
    session: r.sessionId === null ? null : { id: r.sessionId, url: `${SESSIONS_PATH}/${r.sessionId}` },
    votes: r.votes.map((v) => ({ ...v, at: isoDate(v.at) })),
  };
}

function summaryOf(detail: ReviewRecord['detail']): ReviewRecord['detail'] {
  const { payload: _payload, headers: _headers, ...rest } = detail;
  return rest;
}

const seesAll = (identity: Identity) => ['reviewer', 'auditor', 'admin'].some((r) => identity.roles.includes(r as never));
const requestedBy = (identity: Identity, r: ReviewRecord) => r.requester === identity.sub || requesterPerson(r) === personOf(identity);

/** Reviews as an identity may see and decide them: the API and the web console both go through these. */
export interface ReviewAccess {
  /** Reviews `identity` may see, newest first (`status` filters; `limit` default 100, at most 1000); expired ones expired first. */
  list(identity: Identity, filter?: { readonly status?: ReviewStatus; readonly limit?: number }): Promise<ReviewRecord[]>;
  /** The review, or GW_REVIEW_NOT_FOUND when there is none `identity` may see. */
  get(identity: Identity, id: string): Promise<ReviewRecord>;
  /** Approves or denies as `identity` (reviewer or admin; never the requester): the review after the vote. */
  decide(identity: Identity, id: string, approve: boolean, reason: string | null): Promise<ReviewRecord>;
}

export function reviewAccess(store: Store, reviews: Reviews): ReviewAccess {
  return {
    async list(identity, filter = {}) {
      const all = await Promise.all((await store.reviews.list({ ...(filter.status ? { status: filter.status } : {}), limit: filter.limit ?? 100 })).map((r) => reviews.expireIfDue(r)));
      return all.filter((r): r is ReviewRecord => r !== null && (seesAll(identity) || requestedBy(identity, r)) && (filter.status === undefined || r.status === filter.status));
    },
    async get(identity, id) {
      const review = ID.test(id) ? await reviews.expireIfDue(await store.reviews.get(id)) : null;
      if (!review || (!seesAll(identity) && !requestedBy(identity, review))) {
        throw new GatewayError('GW_REVIEW_NOT_FOUND', `There is no review ${JSON.stringify(id.slice(0, 80))} you may see; list them with \`airlock reviews list\`.`);
      }
      return review;
    },
    async decide(identity, id, approve, reason) {
      requireRole(identity, 'reviewer', 'admin');
      if (!ID.test(id)) throw new GatewayError('GW_REVIEW_NOT_FOUND', `There is no review ${JSON.stringify(id.slice(0, 80))}.`);
      return reviews.decide(id, identity, approve, reason);
    },
  };
}

export function reviewRoutes(router: Router, store: Store, reviews: Reviews, authenticator: Authenticator): void {
  const access = reviewAccess(store, reviews);
  router.addPrefix(REVIEWS_PATH, {
    GET: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      const rest = ctx.path.slice(REVIEWS_PATH.length).split('/').filter(Boolean);
      if (rest.length === 0) {
        const status = ctx.url.searchParams.get('status') ?? undefined;
        if (status !== undefined && !['pending', 'approved', 'denied', 'expired'].includes(status)) throw new GatewayError('GW_BAD_REQUEST', 'status must be pending, approved, denied or expired.');
        const limit = intParam(ctx.url.searchParams.get('limit'), 100, 1000, 'limit');
        const mine = await access.list(identity, { ...(status ? { status: status as ReviewStatus } : {}), limit });
        // A list carries the summary; the request as it would leave (up to 256 KiB each) comes with GET <id>.
        return sendJson(res, 200, { reviews: mine.map((r) => reviewView({ ...r, detail: summaryOf(r.detail) })) });
      }
      if (rest.length !== 1) throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path.slice(0, 200)}.`);
      const review = await access.get(identity, rest[0]!);
      sendJson(res, 200, { ...reviewView(review), deliveries: (await store.deliveries.list(review.id)).map((d) => ({ ...d, at: new Date(d.at).toISOString() })) });
    },
    POST: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      const rest = ctx.path.slice(REVIEWS_PATH.length).split('/').filter(Boolean);
      const verb = rest[1];
      if (rest.length !== 2 || (verb !== 'approve' && verb !== 'deny')) throw new GatewayError('GW_NOT_FOUND', `No route for POST ${ctx.path.slice(0, 200)}; use ${REVIEWS_PATH}/<id>/approve or /deny.`);
      requireRole(identity, 'reviewer', 'admin');
      const body = Number(req.headers['content-length'] ?? '0') > 0 || req.headers['transfer-encoding'] ? await readJson(req, decisionBody) : {};
      const after = await access.decide(identity, rest[0]!, verb === 'approve', body.reason ?? null);
      sendJson(res, 200, reviewView(after));
    },
  });
}
