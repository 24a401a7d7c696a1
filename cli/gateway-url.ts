// Which gateway a command talks to, the same way for every command: `--gateway URL`, else
// $AIRLOCK_GATEWAY, else the one gateway you are logged in to, else http://127.0.0.1:8080 (where
// `airlock dev` runs it). Logged in to several and none named: an error listing them, rather than
// a guess.
import { InvalidArgumentError, Option } from 'commander';
import { CliError } from './errors.ts';
import type { CredentialStore } from './auth/credentials.ts';

// Not in credentials.ts (which loads zod): every command's --gateway option needs it at start-up.
/** The key a gateway URL is stored under: origin plus path, without a trailing slash. */
export function gatewayKey(url: string): string {
  const u = URL.parse(url);
  if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) {
    throw new CliError('CLI_USAGE', `${JSON.stringify(url)} is not a gateway URL; expected http(s)://host[:port][/path], without credentials, query or fragment.`);
  }
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** The `airlock dev` gateway: the last resort when nothing names a gateway. */
export const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';

/** The gateway URL to use, normalised (origin + path, no trailing slash). */
export async function resolveGateway(flag: string | undefined, store: CredentialStore, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (flag !== undefined) return gatewayKey(flag);
  if (env.AIRLOCK_GATEWAY) return gatewayKey(env.AIRLOCK_GATEWAY);
  const known = await store.gateways();
  if (known.length === 1) return known[0]!;
  if (known.length > 1) {
    throw new CliError('CLI_USAGE', `You are logged in to several gateways (${known.join(', ')}); choose one with --gateway URL or $AIRLOCK_GATEWAY.`);
  }
  return DEFAULT_GATEWAY;
}

/** The `--gateway URL` option every command that talks to a gateway takes. */
export function gatewayOption(): Option {
  return new Option('--gateway <url>', 'the gateway (default: $AIRLOCK_GATEWAY, else the one you are logged in to, else http://127.0.0.1:8080)')
    .argParser((value: string) => {
      try {
        return gatewayKey(value);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    });
}
