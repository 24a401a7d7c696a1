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

export async function callGateway(gatewayFlag: string | undefined, path: string, options: Omit<RequestOptions, 'token'> = {}): Promise<Called> {
  const store = new CredentialStore();
  const gateway = await resolveGateway(gatewayFlag, store);
  const token = process.env.AIRLOCK_TOKEN || await accessToken(store, gateway);
  return { gateway, answer: await gatewayRequest(gateway, path, { ...options, token }) };
}
