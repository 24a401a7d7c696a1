// Calling the gateway as the logged-in user, the same way for every command: resolve the gateway
// (--gateway, $AIRLOCK_GATEWAY, the one logged in to), take a fresh access token (refreshing it
// if needed), or $AIRLOCK_TOKEN when set (CI: an API key or a token from elsewhere), then call.
import { gatewayRequest, type RequestOptions } from './api.ts';
import { CredentialStore } from './auth/credentials.ts';
import { accessToken } from './auth/session.ts';
import { resolveGateway } from './gateway-url.ts';

export interface Called {
  readonly gateway: string;
  readonly answer: unknown;
}

export async function callGateway(gatewayFlag: string | undefined, path: string, options: Omit<RequestOptions, 'token' | 'tokenFromEnv'> = {}): Promise<Called> {
  const store = new CredentialStore();
  const gateway = await resolveGateway(gatewayFlag, store);
  const env = envToken();
  const token = env ?? await accessToken(store, gateway);
  return { gateway, answer: await gatewayRequest(gateway, path, { ...options, token, tokenFromEnv: env !== undefined }) };
}

/** $AIRLOCK_TOKEN when set and not empty: it takes the place of the stored session everywhere. */
export function envToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env.AIRLOCK_TOKEN?.trim();
  return token ? token : undefined;
}
