// `airlock dev token --user alice`: an access token for a dev user without a browser, for scripts
// and tests. It refuses unless the gateway says its issuer is the embedded development provider
// (devIdp) AND that issuer proves it: on this machine, and advertising the dev-only endpoint in its
// own discovery document. A company gateway can therefore never be asked for one.
import { fetchInfo } from '../api.ts';
import { causeOf } from '../../lib/cause.ts';
import { discoverProvider, isLoopbackHost } from '../auth/provider.ts';
import { CliError } from '../errors.ts';
import { DEV_TOKEN_METADATA } from './token-endpoint.ts';

/** Milliseconds the provider gets to answer. */
const TIMEOUT_MS = 10_000;

/** Asks the dev provider behind `gateway` for `user`'s access token; returns the token. */
export async function requestDevToken(gateway: string, user: string): Promise<string> {
  const info = await fetchInfo(gateway);
  const refuse = (why: string) => new CliError('CLI_DEV_ONLY',
    `${why}: \`airlock dev token\` works only against \`airlock dev\` and its development identity provider; use \`airlock login\` and \`airlock token\` instead.`);
  if (!info.devIdp || info.issuer === null) throw refuse(`The gateway at ${gateway} does not use the embedded development identity provider`);
  const issuer = URL.parse(info.issuer);
  if (issuer === null || !isLoopbackHost(issuer.hostname)) throw refuse(`The gateway's issuer ${info.issuer} is not on this machine`);
  const metadata = (await discoverProvider(info.issuer, info.cliClientId)).serverMetadata() as Record<string, unknown>;
  const endpoint = typeof metadata[DEV_TOKEN_METADATA] === 'string' ? URL.parse(metadata[DEV_TOKEN_METADATA]) : null;
  if (endpoint === null || endpoint.origin !== issuer.origin) throw refuse(`The issuer ${info.issuer} is not the embedded development identity provider`);

  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ user }), // in the body: never in a URL
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new CliError('CLI_IDP_ERROR', `Cannot reach the development identity provider at ${endpoint.href} (${causeOf(err)}).`, { cause: err });
  }
  const body = await res.json().catch(() => undefined) as { access_token?: unknown; error?: unknown; error_description?: unknown } | undefined;
  if (res.ok && typeof body?.access_token === 'string') return body.access_token;
  const said = typeof body?.error_description === 'string' ? `${body.error_description} (${String(body.error)})` : `HTTP ${res.status}`;
  if (res.status === 400 && body?.error === 'invalid_request') throw new CliError('CLI_USAGE', `The development identity provider refused: ${said}.`);
  throw new CliError('CLI_IDP_ERROR', `The development identity provider failed: ${said}.`);
}
