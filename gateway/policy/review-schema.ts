// How a review is held, as a policy declares it: on a rule (`action: review`) or on a limit
// (`action: review`, gateway/limits/). One schema for both, in its own file so the limits' schema
// can use it without importing the policy schema that includes them.
import { z } from 'zod';

/** How a review is held: who may approve, how many approvals, how long the request waits (seconds). */
export const reviewSettingsSchema = z.strictObject({
  /** Groups a reviewer must be in (one of). Default: anyone with the reviewer role. */
  reviewers: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Service API keys (automation: `kind: service`) that may decide this review, by key id or name.
   * Service identities never decide a review unless named here. Default none.
   */
  serviceReviewers: z.array(z.string().min(1).max(64)).min(1).max(50).optional(),
  /** Distinct people who must approve (an API key counts as the person it acts for). Default 1. */
  approvals: z.number().int().min(1).max(10).default(1),
  /** Seconds the request is held open waiting for the decision. Default 120. */
  wait: z.number().int().min(1).max(86_400).default(120),
  /** Seconds a pending review can still be decided; undecided by then it is expired (denied). Default 3600. */
  expires: z.number().int().min(60).max(30 * 86_400).default(3600),
  /** Seconds an approval releases the identical request (a retry after the wait ran out). Default 900. */
  validity: z.number().int().min(1).max(7 * 86_400).default(900),
  /** How many identical requests one approval releases. Default 1. */
  uses: z.number().int().min(1).max(1000).default(1),
});
