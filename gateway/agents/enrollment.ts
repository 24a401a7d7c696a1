// Agent enrollment, the two halves:
//   issue   (admin, `airlock agents add NAME`)  the agent is `pending` with a one-time token hash
//           and an expiry; adding a pending agent again issues a new token (the old one stops
//           working); adding a revoked agent starts it over (its old key is forgotten); adding
//           an active agent is a conflict: revoke it first.
//   enroll  (the agent host, `airlock-agent enroll`)  the token, in the Authorization header,
//           proves the right to register one Ed25519 public key: the agent becomes `active`
//           and the token is consumed. Single use holds within one gateway process (enrolments
//           of one name run one at a time); across replicas the store would need a conditional
//           update (see DESIGN.md).
import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { AGENT_NAME, enrollmentTokenMatches, enrollmentTokenName, generateEnrollmentToken } from './token.ts';

/** Names an agent may not have: they are paths under /api/v1/agents. */
export const RESERVED_AGENT_NAMES: ReadonlySet<string> = new Set(['tunnel']);

/** An Ed25519 public key as a JWK (RFC 8037), and nothing else: a private `d` is refused. */
export const ed25519PublicJwk = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, '32 bytes, base64url'),
});
export type Ed25519PublicJwk = z.infer<typeof ed25519PublicJwk>;

/** What the agent reports as its version: a semver-like word. */
export const AGENT_VERSION_TEXT = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

export const enrollBody = z.strictObject({
  publicKey: ed25519PublicJwk,
  version: z.string().regex(AGENT_VERSION_TEXT, 'a version such as 1.2.3'),
});
export type EnrollBody = z.infer<typeof enrollBody>;

export interface IssuedEnrollment {
  readonly agent: AgentRecord;
  /** The one-time token, to show once. */
  readonly token: string;
  /** When the token stops working, epoch ms. */
  readonly expiresAt: number;
  /** True when the agent was created, false when an existing one got a new token. */
  readonly created: boolean;
}

/** Checks an agent name from outside: a DNS label that is not reserved. */
export function checkAgentName(name: string): void {
  if (!AGENT_NAME.test(name)) throw new GatewayError('GW_BAD_REQUEST', `The agent name ${JSON.stringify(name.slice(0, 80))} is not a DNS label (lower-case letters, digits, inner hyphens, at most 63).`);
  if (RESERVED_AGENT_NAMES.has(name)) throw new GatewayError('GW_BAD_REQUEST', `The agent name ${name} is reserved; choose another.`);
}

/**
 * Issues a one-time enrollment token for `name`, valid `ttlSeconds` from `now` (epoch ms,
 * default Date.now()). Creates the agent as pending, or renews a pending or revoked one; an
 * active agent is GW_STORE_CONFLICT.
 */
export async function issueEnrollment(store: Store, name: string, options: { ttlSeconds: number; now?: number }): Promise<IssuedEnrollment> {
  checkAgentName(name);
  const now = options.now ?? Date.now();
  const expiresAt = now + options.ttlSeconds * 1000;
  const { token, hash } = generateEnrollmentToken(name);
  const existing = await store.agents.get(name);
  if (existing === null) {
    const agent = await store.agents.create({ name, enrollmentTokenHash: hash, enrollmentExpiresAt: expiresAt, status: 'pending' });
    return { agent, token, expiresAt, created: true };
  }
  if (existing.status === 'active') {
    throw new GatewayError('GW_STORE_CONFLICT', `Agent ${name} is enrolled and active; to enrol it again (a new host or key), revoke it first (airlock agents revoke ${name}), then add it again.`);
  }
  // pending: a new token replaces the old one; revoked: start over, forgetting the old key.
  const agent = await store.agents.update(name, {
    status: 'pending', enrollmentTokenHash: hash, enrollmentExpiresAt: expiresAt,
    ...(existing.status === 'revoked' ? { publicKey: null, version: null, revokedAt: null } : {}),
  });
  if (agent === null) throw new GatewayError('GW_STORE_CONFLICT', `Agent ${name} was removed while a token was issued; add it again.`);
  return { agent, token, expiresAt, created: false };
}

/**
 * Registers `body.publicKey` for agent `name` with the enrollment `token`. Unknown agent, wrong
 * token, used token, or a token for another agent: GW_ENROLLMENT_INVALID (one message for all, so
 * the answer tells a guesser nothing); expired: GW_ENROLLMENT_EXPIRED.
 */
export async function completeEnrollment(store: Store, name: string, token: string, body: EnrollBody, now: number = Date.now()): Promise<AgentRecord> {
  if (enrollmentTokenName(token) !== name) throw invalidToken(name);
  try {
    createPublicKey({ key: body.publicKey, format: 'jwk' });
  } catch (err) {
    throw new GatewayError('GW_BAD_REQUEST', 'The body is not accepted: publicKey: not a valid Ed25519 public key.', { cause: err });
  }
  return serialized(name, async () => {
    const record = await store.agents.get(name);
    const match = enrollmentTokenMatches(token, record?.enrollmentTokenHash ?? null);
    if (record === null || !match || record.status !== 'pending') throw invalidToken(name);
    if (record.enrollmentExpiresAt === null || record.enrollmentExpiresAt <= now) {
      throw new GatewayError('GW_ENROLLMENT_EXPIRED', `The enrollment token for agent ${name} expired at ${new Date(record.enrollmentExpiresAt ?? 0).toISOString()}; ask an admin for a new one (airlock agents add ${name}).`);
    }
    // Conditional on the token hash read above: a replica redeeming the same token at the same
    // moment (the lock above is per process) finds it gone and gets null.
    const updated = await store.agents.update(name, {
      status: 'active', publicKey: JSON.stringify(body.publicKey), version: body.version,
      enrollmentTokenHash: null, enrollmentExpiresAt: null,
    }, { ifEnrollmentTokenHash: record.enrollmentTokenHash! });
    if (updated === null) throw invalidToken(name);
    return updated;
  });
}

function invalidToken(name: string): GatewayError {
  return new GatewayError('GW_ENROLLMENT_INVALID', `The enrollment token is not valid for agent ${name} (unknown, already used, or for another agent); ask an admin for a new one (airlock agents add ${name}).`);
}

// Enrolments of one name run one at a time in this process, so a token is consumed once even
// when two requests race with it. The map holds only names with an enrolment in progress.
const inProgress = new Map<string, Promise<unknown>>();

async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = inProgress.get(key) ?? Promise.resolve();
  const run = before.then(fn, fn);
  const settled = run.then(() => {}, () => {});
  inProgress.set(key, settled);
  try {
    return await run;
  } finally {
    if (inProgress.get(key) === settled) inProgress.delete(key);
  }
}
