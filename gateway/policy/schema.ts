// The policy file format: YAML, validated strictly (unknown keys are errors). A policy is a named
// list of rules; a rule says which requests it concerns (`match`, cheap filters), an optional
// CEL condition (`when`), and what to do (`action`) with a reason code.
import { z } from 'zod';

/**
 * `confirm`: the human at the MCP client confirms the call before it runs (MCP elicitation). It is
 * weaker than `review` (which needs another person): the caller confirms their own agent's call.
 */
export const ACTIONS = ['allow', 'mask', 'confirm', 'review', 'deny'] as const;
export type Action = (typeof ACTIONS)[number];
/** Strictest wins: deny > review > confirm > mask > allow. */
export const STRICTNESS: Readonly<Record<Action, number>> = { allow: 0, mask: 1, confirm: 2, review: 3, deny: 4 };

/** What a request carries, as the data paths (and `airlock policy eval`) describe it. */
export const REQUEST_KINDS = ['sql', 'shell', 'http', 'mcp', 'text', 'json'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export const DIRECTIONS = ['request', 'response'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export { MASK_STRATEGIES, type MaskStrategy } from '../inspect/mask.ts';
import { MASK_STRATEGIES } from '../inspect/mask.ts';
import { limitSchema } from '../limits/schema.ts';
import { reviewSettingsSchema } from './review-schema.ts';
export { reviewSettingsSchema } from './review-schema.ts';

const CODE = /^[a-z0-9][a-z0-9._-]{0,99}$/;
/** A name pattern: letters, digits and . _ - / :, with `*` matching any run of characters. */
const pattern = z.string().min(1).max(200).regex(/^[A-Za-z0-9._\-/:*{}]+$/, 'a name or pattern (letters, digits, . _ - / : and * as wildcard)');

export const ruleSchema = z.strictObject({
  /** Unique within the policy set; shown in decisions. */
  id: z.string().regex(CODE, 'lower-case letters, digits and . _ - (at most 100)'),
  description: z.string().max(1000).optional(),
  /** Every listed filter must match; an absent filter matches everything. Lists match any of their entries. */
  match: z.strictObject({
    connections: z.array(pattern).min(1).optional(),
    kinds: z.array(z.enum(REQUEST_KINDS)).min(1).optional(),
    directions: z.array(z.enum(DIRECTIONS)).min(1).optional(),
    tools: z.array(pattern).min(1).optional(),
    methods: z.array(z.string().regex(/^[A-Za-z]{1,20}$/)).min(1).optional(),
    paths: z.array(z.string().min(1).max(500).regex(/^\/[^\s]*$/, 'an absolute path, * as wildcard')).min(1).optional(),
    groups: z.array(z.string().min(1).max(200)).min(1).optional(),
    /** Finding kinds (with * wildcards): the rule concerns requests with at least one of them. */
    findings: z.array(pattern).min(1).optional(),
  }).prefault({}),
  /** A CEL expression over identity, connection, request, findings, now; the rule applies when it is true. */
  when: z.string().min(1).max(4096).optional(),
  action: z.enum(ACTIONS),
  /** A stable reason code, e.g. `sql.drop`, shown to the caller and recorded. */
  reason: z.string().regex(CODE, 'a reason code: lower-case letters, digits and . _ -'),
  /** A sentence for the caller saying what happened and what to do. */
  message: z.string().max(1000).optional(),
  /** With action mask: strategy per entity (CREDIT_CARD, US_SSN, …, or `default`). Default redact. */
  mask: z.record(z.string().regex(/^(default|[A-Z][A-Z0-9_]{1,40})$/), z.enum(MASK_STRATEGIES)).optional(),
  /** With action review: who may approve, how many approvals, how long the request waits (seconds). */
  review: reviewSettingsSchema.optional(),
}).superRefine((rule, ctx) => {
  if (rule.mask && rule.action !== 'mask') ctx.addIssue({ code: 'custom', path: ['mask'], message: 'mask strategies go with action: mask' });
  if (rule.review && rule.action !== 'review') ctx.addIssue({ code: 'custom', path: ['review'], message: 'review settings go with action: review' });
});

export const policySchema = z.strictObject({
  /** The policy's name (a pack name for packs in policies/). */
  name: z.string().regex(CODE),
  description: z.string().max(2000).optional(),
  /** Packs from policies/ whose rules come first, by name. */
  include: z.array(z.string().regex(CODE)).max(50).optional(),
  rules: z.array(ruleSchema).max(2000).default([]),
  /** What an agent may do in volume: rates, costs and egress budgets (gateway/limits/). */
  limits: z.array(limitSchema).max(200).default([]),
});

export type Rule = z.infer<typeof ruleSchema>;
export type Policy = z.infer<typeof policySchema>;
