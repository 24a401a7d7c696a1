// Enrollment tokens: one-time secrets an admin hands to an agent host. A token reads
// `aet_<agent name>_<secret>`: the name tells `airlock-agent enroll` which agent it enrols (no
// second argument to get wrong) and lets secret scanners recognise the prefix; the secret is 256
// random bits. Only SHA-256 of the whole token is stored (the secret is high-entropy, so a slow
// hash adds nothing), and the comparison is constant-time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const ENROLLMENT_TOKEN_PREFIX = 'aet_';

/** Agent names: DNS labels, which never contain `_`, so the token splits unambiguously. */
export const AGENT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const TOKEN_SHAPE = /^aet_([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)_([A-Za-z0-9_-]{43})$/;

export interface NewEnrollmentToken {
  /** The whole token, shown once. */
  readonly token: string;
  /** What the store keeps. */
  readonly hash: string;
}

/** A fresh token for `name`: 256-bit secret, base64url. */
export function generateEnrollmentToken(name: string, random: (n: number) => Buffer = randomBytes): NewEnrollmentToken {
  if (!AGENT_NAME.test(name)) throw new TypeError(`agent name ${JSON.stringify(name)} is not a DNS label`);
  const token = `${ENROLLMENT_TOKEN_PREFIX}${name}_${random(32).toString('base64url')}`;
  return { token, hash: hashEnrollmentToken(token) };
}

export function hashEnrollmentToken(token: string): string {
  return 'sha256:' + createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The agent name a well-formed token is for, else undefined. */
export function enrollmentTokenName(token: string): string | undefined {
  return TOKEN_SHAPE.exec(token)?.[1];
}

/**
 * True when `token` hashes to `storedHash`, compared in constant time. A missing stored hash is
 * compared against a dummy, so "no such agent" and "wrong token" take the same time.
 */
export function enrollmentTokenMatches(token: string, storedHash: string | null): boolean {
  const presented = Buffer.from(hashEnrollmentToken(token));
  const stored = Buffer.from(storedHash ?? hashEnrollmentToken(`${ENROLLMENT_TOKEN_PREFIX}none`));
  return presented.length === stored.length && timingSafeEqual(presented, stored) && storedHash !== null;
}
