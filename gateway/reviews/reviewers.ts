// Who may decide a review, counted in people (personOf): an API key counts as the person it acts
// for, a service key as the person who created it (gateway/authn/apikeys.ts), so the requester
// cannot decide their request through any key of theirs (nor decide what their automation asked),
// and the store keeps one vote per person (N approvals are N people). Service identities
// (automation keys, their own owner) may request reviews but decide only those whose rule names
// them (review.serviceReviewers), by key id or name; a named service key is not held to the
// reviewer groups.
import { isService, ownerOf, personOf, type Identity } from '../authn/identity.ts';
import type { ReviewRecord, Store } from '../store/index.ts';

/** The person who asked for `review` (older reviews recorded only the requester's subject). */
export function requesterPerson(review: ReviewRecord): string {
  const person = (review.detail as { requesterPerson?: unknown }).requesterPerson;
  return typeof person === 'string' && person !== '' ? person : review.requester;
}

/** The service keys `review`'s rule names as reviewers. */
function serviceReviewers(review: ReviewRecord): string[] {
  const named = (review.detail as { serviceReviewers?: unknown }).serviceReviewers;
  return Array.isArray(named) ? named.filter((n): n is string => typeof n === 'string') : [];
}

/** A service identity the rule names: by the id or name of the acting key, or the id of the key that owns it. */
function named(identity: Identity, review: ReviewRecord): boolean {
  const names = serviceReviewers(review);
  const ids = [identity.sub.slice('apikey:'.length), ownerOf(identity).slice('apikey:'.length)];
  return names.some((n) => ids.includes(n.replace(/^apikey:/, '')) || (identity.name !== null && n === identity.name));
}

/**
 * Why `identity` may not decide `review` (whatever its status), as a sentence; null when they may.
 * `GW_FORBIDDEN` reasons (the role) are the API's to check; these are GW_REVIEW_FORBIDDEN.
 */
export function refusalToDecide(review: ReviewRecord, identity: Identity): string | null {
  const person = personOf(identity);
  if (review.requester === identity.sub) return `You requested ${review.id}; someone else must review it.`;
  if (requesterPerson(review) === person) {
    return `You requested ${review.id} as ${person} (asked through ${review.requester}, deciding through ${identity.sub}); someone else must review it.`;
  }
  if (isService(identity)) {
    if (named(identity, review)) return null;
    return `${identity.sub} is a service identity: it may request reviews, but decides only those whose rule names it (review.serviceReviewers).`;
  }
  if (review.reviewers.length > 0 && !review.reviewers.some((g) => identity.groups.includes(g))) {
    return `Review ${review.id} must be decided by a member of ${review.reviewers.join(' or ')}.`;
  }
  return null;
}

/**
 * Is `identity` asked to review a request held in session `sessionId` (so may read that session)?
 * Their role (reviewer, admin), then refusalToDecide on each of the session's reviews, whatever its status.
 */
export async function reviewsSession(store: Store, identity: Identity, sessionId: string): Promise<boolean> {
  if (!identity.roles.includes('reviewer') && !identity.roles.includes('admin')) return false;
  return (await store.reviews.forSession(sessionId)).some((r) => refusalToDecide(r, identity) === null);
}
