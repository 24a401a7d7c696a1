// The version reported by `airlock version`, /api/v1/info and the agent handshake.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** airlock's version, from package.json. */
export const VERSION: string = pkg.version;
