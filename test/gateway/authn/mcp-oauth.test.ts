// MCP authorization (spec 2025-11-25) end to end, with the MCP SDK's own OAuth client: from a 401
// at the gateway, the SDK reads the WWW-Authenticate challenge, fetches the protected resource
// metadata (RFC 9728), discovers the real development provider, registers itself (RFC 7591),
// runs authorization code + PKCE with `resource` (RFC 8707), and ends up holding a token the
// gateway accepts. The browser part (picking alice on the login page) is played by fetch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { auth, extractWWWAuthenticateParams, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { startDevIdp, type DevIdp } from '../../../cli/dev/idp.ts';
import { startGateway, type RunningGateway } from '../../../gateway/main.ts';
import { silentLogger } from '../../../lib/log.ts';
import { signInAt } from '../../support/browser.ts';
import { freePort } from '../../../lib/listen.ts';

let idp: DevIdp;
let gw: RunningGateway;


before(async () => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  idp = await startDevIdp({ audience: publicUrl, logger: silentLogger });
  gw = await startGateway({ env: {}, logger: silentLogger, overrides: { server: { port, publicUrl }, store: { url: 'sqlite::memory:' }, auth: { issuer: idp.issuer, audience: publicUrl } } });
  await gw.authn.discovery.done;
});
after(async () => {
  await gw.stop();
  await idp.close();
});

/** An MCP client's OAuth state, in memory, as a desktop MCP client keeps it. */
class MemoryProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  stored: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  readonly redirectUrl = 'http://127.0.0.1:53682/callback';
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'test MCP client', redirect_uris: [this.redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info: OAuthClientInformationMixed) { this.client = info; }
  tokens() { return this.stored; }
  saveTokens(tokens: OAuthTokens) { this.stored = tokens; }
  redirectToAuthorization(url: URL) { this.authorizationUrl = url; }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

test('the MCP SDK client goes from a 401 to a token the gateway accepts', async () => {
  const serverUrl = `${gw.url}/mcp/demo`;
  const unauthorized = await fetch(`${gw.url}/api/v1/me`);
  assert.equal(unauthorized.status, 401);
  const { resourceMetadataUrl } = extractWWWAuthenticateParams(unauthorized);
  assert.equal(resourceMetadataUrl?.href, `${gw.url}/.well-known/oauth-protected-resource`);

  const provider = new MemoryProvider();
  const first = await auth(provider, { serverUrl, resourceMetadataUrl: new URL(`${gw.url}/.well-known/oauth-protected-resource/mcp/demo`) });
  assert.equal(first, 'REDIRECT');
  assert.ok(provider.client?.client_id, 'the SDK registered itself with the provider (RFC 7591)');
  assert.notEqual(provider.client.client_id, 'airlock-cli');
  const url = provider.authorizationUrl!;
  assert.equal(url.origin, idp.issuer);
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(url.searchParams.get('resource'), gw.url, 'the token is asked for the gateway (RFC 8707)');

  const callback = await signInAt(url, 'alice', '/callback');
  const code = callback.searchParams.get('code');
  assert.ok(code, `the provider redirected with a code: ${callback.href}`);
  const second = await auth(provider, { serverUrl, authorizationCode: code, resourceMetadataUrl: new URL(`${gw.url}/.well-known/oauth-protected-resource/mcp/demo`) });
  assert.equal(second, 'AUTHORIZED');

  const me = await fetch(`${gw.url}/api/v1/me`, { headers: { authorization: `Bearer ${provider.stored!.access_token}` } });
  assert.equal(me.status, 200);
  const body = await me.json() as { sub: string; groups: string[]; roles: string[] };
  assert.equal(body.sub, 'alice');
  assert.deepEqual(body.groups, ['admins']);
  assert.ok(body.roles.includes('admin'));
});
