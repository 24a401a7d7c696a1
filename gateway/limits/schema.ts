// The `limits:` section of a policy file, beside `rules:`: what an agent may do in volume. A limit
// counts the requests its `match` selects, per key (who and through what), and past its bound
// applies its action. Validated strictly like the rules (unknown keys are errors), so
// `airlock policy check` names the file, line and field of a bad limit.
import { z } from 'zod';
import { reviewSettingsSchema } from '../policy/review-schema.ts';

export const LIMIT_KINDS = ['rate', 'concurrent', 'cost', 'egress'] as const;
export type LimitKind = (typeof LIMIT_KINDS)[number];
/** What a limit's usage is counted per; several combine (e.g. identity + connection). */
export const LIMIT_KEYS = ['identity', 'group', 'apiKey', 'connection', 'route', 'tool'] as const;
export type LimitKey = (typeof LIMIT_KEYS)[number];
export const LIMIT_ACTIONS = ['deny', 'review', 'delay'] as const;
export type LimitAction = (typeof LIMIT_ACTIONS)[number];

const pattern = z.string().min(1).max(200).regex(/^[A-Za-z0-9._\-/:*{}]+$/, 'a name or pattern (letters, digits, . _ - / : and * as wildcard)');
const match = z.strictObject({
  connections: z.array(pattern).min(1).optional(),
  tools: z.array(pattern).min(1).optional(),
  methods: z.array(z.string().regex(/^[A-Za-z]{1,20}$/)).min(1).optional(),
  paths: z.array(z.string().min(1).max(500).regex(/^\/[^\s]*$/, 'an absolute path, * as wildcard')).min(1).optional(),
  groups: z.array(z.string().min(1).max(200)).min(1).optional(),
});

export const limitSchema = z.strictObject({
  /** CEL sees its usage as `usage.<name>`: lower-case letters, digits and _. */
  name: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a name CEL can use: lower-case letters, digits and _, starting with a letter'),
  description: z.string().max(1000).optional(),
  /**
   * rate: a token bucket (`rate` requests per second, up to `burst` at once), shared by the
   * replicas through a window counter in the store; concurrent: at most `max` requests in flight
   * at once, shared through leases in the store (protects the target); cost: `max` units
   * per `window` (a request costs `cost`, or the first of `costs` that matches it); egress: `max`
   * sensitive values (or records holding one) received per `window`, counted from the answers.
   */
  kind: z.enum(LIMIT_KINDS),
  /** What usage is counted per. Default [identity, connection]. */
  key: z.array(z.enum(LIMIT_KEYS)).min(1).max(LIMIT_KEYS.length).default(['identity', 'connection']),
  /** Which requests the limit concerns; an absent filter matches everything. */
  match: match.prefault({}),
  /** rate: requests per second refilled (may be fractional, e.g. 0.5). */
  rate: z.number().positive().max(1_000_000).optional(),
  /** rate: the most requests at once (the bucket's size). Default: `rate` rounded up. */
  burst: z.number().int().min(1).max(1_000_000).optional(),
  /** concurrent: requests in flight; cost, egress: units allowed per window. */
  max: z.number().int().min(1).max(1_000_000_000).optional(),
  /** cost, egress: the window in seconds (fixed windows aligned to the epoch). Default 3600. */
  window: z.number().int().min(1).max(31 * 86_400).default(3600),
  /** cost: what a matching request costs. Default 1. */
  cost: z.number().int().min(0).max(1_000_000).default(1),
  /** cost: other costs for some requests (e.g. an export endpoint costs 50); the first that matches wins. */
  costs: z.array(z.strictObject({ match, cost: z.number().int().min(0).max(1_000_000) })).max(100).optional(),
  /** egress: count every sensitive value (values), or each record (top-level array item or object) holding one (records). Default values. */
  count: z.enum(['values', 'records']).default('values'),
  /** egress: the finding kinds counted (with * wildcards). Default pii.*. */
  findings: z.array(pattern).min(1).max(100).default(['pii.*']),
  /**
   * Past the limit: deny (HTTP 429 + Retry-After, GW_LIMIT_EXCEEDED), review (held like any
   * review) or delay (queued on this replica until the limit has room, within `delay`; else deny).
   * Default deny.
   */
  action: z.enum(LIMIT_ACTIONS).default('deny'),
  /**
   * With action delay: how long a request may wait, in seconds (`maxWait`, at most 300), and how
   * many may wait at once per key on one replica (`maxQueue`, default 100). A wait known to be
   * longer (a window that ends later) is refused at once, as is a request finding the queue full.
   */
  delay: z.strictObject({
    maxWait: z.number().positive().max(300),
    maxQueue: z.number().int().min(1).max(100_000).default(100),
  }).optional(),
  /** With action review: who may approve, how many, how long the request waits (as on a rule). Default: a rule's defaults. */
  review: reviewSettingsSchema.optional(),
  /** When the store cannot be reached to count: refuse (true, GW_STORE_UNAVAILABLE) or let pass, logged (false). Default true. */
  required: z.boolean().default(true),
  /** A sentence for the caller, shown with the refusal. */
  message: z.string().max(1000).optional(),
  /**
   * rate, cost, egress: units (concurrent: places) a replica reserves from the store at a time and spends locally (one store
   * round trip per block). Larger blocks: fewer round trips, more units held by one replica. Default
   * max/20, between 1 and 100.
   */
  block: z.number().int().min(1).max(10_000).optional(),
}).superRefine((limit, ctx) => {
  const need = (field: keyof typeof limit, why: string) => { if (limit[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: why }); };
  const refuse = (field: keyof typeof limit) => { if (limit[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} does not go with kind: ${limit.kind}` }); };
  if (limit.review && limit.action !== 'review') ctx.addIssue({ code: 'custom', path: ['review'], message: 'review settings go with action: review' });
  if (limit.delay && limit.action !== 'delay') ctx.addIssue({ code: 'custom', path: ['delay'], message: 'delay settings go with action: delay' });
  if (limit.action === 'delay' && !limit.delay) ctx.addIssue({ code: 'custom', path: ['delay'], message: 'action delay needs delay: { maxWait: seconds } (and optionally maxQueue)' });
  if (limit.kind === 'rate') {
    need('rate', 'a rate limit needs rate (requests per second)');
    refuse('max'); refuse('costs');
  } else if (limit.kind === 'concurrent') {
    need('max', 'a concurrent limit needs max (requests in flight)');
    refuse('rate'); refuse('burst'); refuse('costs');
  } else {
    need('max', `a ${limit.kind} limit needs max (units per window)`);
    refuse('rate'); refuse('burst');
    if (limit.kind === 'egress') refuse('costs');
  }
});

export type Limit = z.infer<typeof limitSchema>;
