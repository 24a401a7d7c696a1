// What the CLI reads from the gateway's API answers, as zod schemas. They live apart from the
// command definitions and are imported only when a command runs, so `airlock --help` and
// `airlock version` never load zod (about half of the CLI's start-up).
import { z } from 'zod';

export const agentView = z.object({
  name: z.string(),
  status: z.enum(['pending', 'active', 'revoked']),
  online: z.boolean(),
  tunnels: z.number(),
  version: z.string().nullable(),
  lastSeen: z.string().nullable(),
  connectedAt: z.string().nullable(),
  createdAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  enrollmentExpiresAt: z.string().nullable(),
});
export const agentAdded = agentView.extend({ enrollmentToken: z.string(), enrollmentExpiresAt: z.string() });
export const agentList = z.object({ agents: z.array(agentView) });
export const agentRevoked = agentView.extend({ tunnelsClosed: z.number() });

export const keyView = z.object({
  id: z.string(), name: z.string(), kind: z.enum(['personal', 'service']), owner: z.string(), roles: z.array(z.string()), connections: z.array(z.string()),
  createdBy: z.string(), createdAt: z.string(), expiresAt: z.string().nullable(), revokedAt: z.string().nullable(), lastUsedAt: z.string().nullable(),
});
export const keyCreated = keyView.extend({ key: z.string() });
export const keyList = z.object({ apiKeys: z.array(keyView) });

/** A connection as the CLI shows it; other members pass through to --json untouched. */
export const connectionView = z.looseObject({
  name: z.string(), kind: z.string(), agent: z.string(), target: z.unknown(),
  groups: z.array(z.string()), policy: z.looseObject({ packs: z.array(z.string()) }), version: z.number(),
});
export type ConnectionView = z.infer<typeof connectionView>;
export const connectionList = z.object({ connections: z.array(connectionView) });

/** What GET /api/v1/me answers; extra members are shown by --json only. */
export const meView = z.object({
  sub: z.string(),
  email: z.string().nullish(),
  name: z.string().nullish(),
  groups: z.array(z.string()),
  roles: z.array(z.string()),
  via: z.string(),
  expiresAt: z.union([z.number(), z.string()]).nullish(),
});
export type MeView = z.infer<typeof meView>;
