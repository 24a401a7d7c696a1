// Static credentials: sent to the target as they are stored, in the header their type names.
// The forwarders strip the caller's own Authorization before these are added, so a target sees
// only what the agent presents.
import type { StaticCredential } from './schema.ts';

/** The request headers (lower-case names) that carry `credential`. */
export function staticHeaders(credential: StaticCredential): Record<string, string> {
  switch (credential.type) {
    case 'bearer': return { authorization: `Bearer ${credential.token}` };
    case 'basic': return { authorization: `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}` };
    case 'header': return { [credential.name.toLowerCase()]: credential.value };
  }
}
