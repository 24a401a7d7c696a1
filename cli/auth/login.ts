// `airlock login`: from the gateway's public info to stored tokens.
//
//   1. GET /api/v1/info           issuer, the CLI's client id, the gateway's resource
//   2. OpenID discovery           of that issuer (openid-client)
//   3a. Authorization Code + PKCE (S256) with a loopback redirect (RFC 8252), the browser opened or
//       the URL printed; or
//   3b. the Device Authorization Grant (RFC 8628): a code to enter on another device, then polling
//   4. tokens for the gateway's resource (RFC 8707), stored per gateway (credentials.ts)
//
// Everything the user must see goes through `print` (stderr); no token is ever printed or put in
// a URL. A refresh token is asked for (offline_access, with prompt=consent as OIDC Core §11
// requires) whenever the provider lists that scope.
import * as client from 'openid-client';
import { fetchInfo } from '../api.ts';
import { CliError } from '../errors.ts';
import type { CredentialStore, StoredSession } from './credentials.ts';
import { receiveCallback } from './loopback.ts';
import { openBrowser } from './open-browser.ts';
import { chooseScope, discoverProvider, expiresAt, providerError } from './provider.ts';

export interface LoginOptions {
  /** Gateway URL, normalised (gateway-url.ts). */
  readonly gateway: string;
  readonly store: CredentialStore;
  /** Device Authorization Grant instead of the browser on this machine. Default false. */
  readonly device?: boolean;
  /** Try to open a browser for the loopback flow. Default true. */
  readonly browser?: boolean;
  /** Milliseconds the user has to complete the sign-in. Default 300000 (5 min). */
  readonly timeoutMs?: number;
  /** Where instructions go (one line per call). Default stderr. */
  readonly print?: (line: string) => void;
  /** Clock in milliseconds. Default Date.now. */
  readonly now?: () => number;
}

type Tokens = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

/** Runs the login and stores the session; returns what was stored. */
export async function login(options: LoginOptions): Promise<StoredSession> {
  const { gateway, store } = options;
  const print = options.print ?? ((line: string) => { process.stderr.write(line + '\n'); });
  const timeoutMs = options.timeoutMs ?? 300_000;
  const now = options.now ?? Date.now;

  const info = await fetchInfo(gateway);
  if (info.issuer === null) {
    throw new CliError('CLI_LOGIN_FAILED', `The gateway at ${gateway} has no identity provider configured (auth.issuer is unset), so nobody can log in; ask its administrator.`);
  }
  const config = await discoverProvider(info.issuer, info.cliClientId);
  const scope = chooseScope(config);
  const signal = AbortSignal.timeout(timeoutMs);
  const flow = options.device ? deviceFlow : loopbackFlow;
  let tokens: Tokens;
  try {
    tokens = await flow({ config, scope, resource: info.resource, signal, timeoutS: Math.round(timeoutMs / 1000), print, browser: options.browser ?? true, gateway, devIdp: info.devIdp });
  } catch (err) {
    if (signal.aborted) {
      throw new CliError('CLI_LOGIN_FAILED', `Nobody completed the sign-in within ${Math.round(timeoutMs / 1000)} s; run \`airlock login\` again.`, { cause: err });
    }
    throw providerError(err, 'The sign-in did not complete', 'CLI_LOGIN_FAILED');
  }

  const claims = tokens.claims();
  const session: StoredSession = {
    issuer: info.issuer,
    clientId: info.cliClientId,
    resource: info.resource,
    accessToken: tokens.access_token,
    expiresAt: expiresAt(tokens, now),
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    ...(tokens.scope ? { scope: tokens.scope } : {}),
    ...(claims ? { user: userOf(claims) } : {}),
  };
  await store.put(gateway, session);
  return session;
}

interface Flow {
  readonly config: client.Configuration;
  readonly scope: string;
  readonly resource: string;
  readonly signal: AbortSignal;
  /** The same deadline as `signal`, in seconds, for messages. */
  readonly timeoutS: number;
  readonly print: (line: string) => void;
  readonly browser: boolean;
  /** The gateway, for the dev-token hint. */
  readonly gateway: string;
  /** Whether the gateway trusts `airlock dev`'s embedded provider (then `airlock dev token` works). */
  readonly devIdp: boolean;
}

async function loopbackFlow(f: Flow): Promise<Tokens> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const receiver = await receiveCallback(state, f.signal);
  try {
    const url = client.buildAuthorizationUrl(f.config, {
      redirect_uri: receiver.redirectUri,
      scope: f.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      resource: f.resource,
      ...(f.scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
    });
    const opened = f.browser && openBrowser(url.href);
    f.print(opened ? 'Opening your browser to sign in. If it does not open, visit:' : 'To sign in, open this URL in a browser on this machine:');
    f.print(`  ${url.href}`);
    f.print(`Waiting for the sign-in (up to ${f.timeoutS} s; on a machine without a browser use --device)...`);
    const callback = await receiver.callback;
    try {
      const tokens = await client.authorizationCodeGrant(f.config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      await receiver.finish(true, 'You are signed in to airlock. You can close this tab and return to your terminal.');
      return tokens;
    } catch (err) {
      await receiver.finish(false, 'The sign-in did not complete; your terminal says why.');
      throw err;
    }
  } finally {
    await receiver.close();
  }
}

async function deviceFlow(f: Flow): Promise<Tokens> {
  const device = await client.initiateDeviceAuthorization(f.config, { scope: f.scope, resource: f.resource });
  // A provider on loopback (`airlock dev`'s) cannot be reached from another device: say so, and
  // offer what works without any browser there.
  const local = isLoopback(device.verification_uri);
  f.print(local
    ? `To sign in, open ${device.verification_uri} in a browser on this machine and enter the code: ${device.user_code}`
    : `To sign in, open ${device.verification_uri} on any device and enter the code: ${device.user_code}`);
  if (device.verification_uri_complete) f.print(`(or open ${device.verification_uri_complete} and confirm the code)`);
  if (local) {
    f.print('The identity provider listens on loopback, so no other device can open that URL; a terminal browser here works (w3m, lynx: open the first URL and type the code).');
    if (f.devIdp) f.print(`Without any browser: export AIRLOCK_TOKEN=$(airlock dev token --user alice --gateway ${f.gateway})`);
  }
  f.print(`Waiting for the sign-in (up to ${Math.min(f.timeoutS, device.expires_in)} s)...`);
  return client.pollDeviceAuthorizationGrant(f.config, device, undefined, { signal: f.signal });
}

/** Whether `url` names this machine (127.0.0.0/8, ::1, localhost), which another device cannot reach. */
function isLoopback(url: string): boolean {
  const host = URL.parse(url)?.hostname.replace(/^\[|\]$/g, '') ?? '';
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function userOf(claims: client.IDToken): NonNullable<StoredSession['user']> {
  return {
    sub: claims.sub,
    ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
    ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
  };
}
