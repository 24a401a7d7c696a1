// The compose file's development identity provider: the one `airlock dev` embeds (cli/dev/idp.ts),
// as a process of its own. It binds 0.0.0.0 in its container and names itself IDP_ISSUER
// (http://idp:8081), the address the gateways fetch its keys from. DEV ONLY: anyone who reaches it
// signs in as alice (admins) or bob (developers), and POST /dev/token mints their tokens.
//
//   IDP_ISSUER    the issuer, as gateways and browsers reach it (default http://idp:8081)
//   IDP_AUDIENCE  the gateways' audience: their server.publicUrl (default http://localhost:8080)
//   IDP_HOST      the address to bind (default 0.0.0.0: the container's every interface)
//   IDP_PORT      the port to bind (default 8081)
//   IDP_KEY_FILE  where its signing keys are kept, so tokens outlive a restart (default none)
import { onShutdownSignal } from '../../lib/cli.ts';
import { startDevIdp } from '../../cli/dev/idp.ts';

const env = process.env;
const idp = await startDevIdp({
  host: env.IDP_HOST ?? '0.0.0.0',
  port: Number(env.IDP_PORT ?? 8081),
  issuer: env.IDP_ISSUER ?? 'http://idp:8081',
  audience: env.IDP_AUDIENCE ?? 'http://localhost:8080',
  ...(env.IDP_KEY_FILE ? { keyFile: env.IDP_KEY_FILE } : {}),
});
onShutdownSignal(idp.close);
