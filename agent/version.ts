// The version the agent reports (health endpoint, and the tunnel handshake once it exists).
// The agent reads package.json itself: it imports nothing from gateway/ but gateway/tunnel/.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** airlock's version, from package.json. */
export const AGENT_VERSION: string = pkg.version;
