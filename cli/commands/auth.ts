// `airlock login`, `logout`, `whoami` and `token`: signing in to a gateway through its identity
// provider, and using the stored tokens. Instructions and warnings go to stderr; stdout carries only
// the result (for `token`, only the token), so scripts can capture it.
import { InvalidArgumentError, type Command } from 'commander';
import type { MeView } from '../views.ts';
import { gatewayOption, resolveGateway } from '../gateway-url.ts';

function secondsArg(value: string): number {
  const n = Number(value);
  if (!/^\d{1,4}$/.test(value) || n < 1 || n > 3600) throw new InvalidArgumentError('expected a number of seconds from 1 to 3600');
  return n;
}

export function registerAuthCommands(program: Command): void {
  program
    .command('login')
    .description('log in to a gateway through its identity provider (a browser on this machine, or --device)')
    .addOption(gatewayOption())
    .option('--device', 'sign in on another device with a code (for SSH sessions and machines without a browser)')
    .option('--no-browser', 'print the sign-in URL instead of opening a browser')
    .option('--timeout <seconds>', 'how long to wait for the sign-in', secondsArg, 300)
    .addHelpText('after', '\nCredentials are kept in $AIRLOCK_CONFIG_DIR/credentials.json, else $XDG_CONFIG_HOME/airlock/credentials.json,\nelse ~/.config/airlock/credentials.json (mode 0600), one entry per gateway.')
    .action(async (opts: { gateway?: string; device?: boolean; browser: boolean; timeout: number }) => {
      const [{ CredentialStore }, { login }] = await Promise.all([import('../auth/credentials.ts'), import('../auth/login.ts')]);
      const store = new CredentialStore();
      const gateway = await resolveGateway(opts.gateway, store);
      const session = await login({ gateway, store, device: opts.device ?? false, browser: opts.browser, timeoutMs: opts.timeout * 1000 });
      const u = session.user;
      const who = u === undefined ? 'you' : `${u.sub}${[u.name, u.email].some(Boolean) ? ` (${[u.name, u.email].filter(Boolean).join(', ')})` : ''}`;
      process.stdout.write(`Logged in to ${gateway} as ${who}.\n`);
      if (session.refreshToken === undefined) process.stdout.write('The identity provider gave no refresh token: run `airlock login` again when the session expires.\n');
    });

  program
    .command('logout')
    .description('revoke your session at the identity provider and delete the stored tokens')
    .addOption(gatewayOption())
    .action(async (opts: { gateway?: string }) => {
      const [{ CredentialStore }, { logout }] = await Promise.all([import('../auth/credentials.ts'), import('../auth/session.ts')]);
      const store = new CredentialStore();
      const gateway = await resolveGateway(opts.gateway, store);
      const result = await logout(store, gateway);
      if (!result.found) {
        process.stdout.write(`You were not logged in to ${gateway}.\n`);
        return;
      }
      if (result.revocationProblem) {
        process.stderr.write(`airlock: warning: ${result.revocationProblem}; the session stays valid at the provider until it expires.\n`);
      }
      process.stdout.write(`Logged out of ${gateway}.\n`);
    });

  program
    .command('whoami')
    .description('show who you are as the gateway sees you: user, groups, roles')
    .addOption(gatewayOption())
    .option('--json', 'print the gateway\'s answer as JSON')
    .action(async (opts: { gateway?: string; json?: boolean }) => {
      const [{ CredentialStore }, { currentSession }, { gatewayRequest }, { envToken }] = await Promise.all([
        import('../auth/credentials.ts'), import('../auth/session.ts'), import('../api.ts'), import('../call.ts'),
      ]);
      const store = new CredentialStore();
      const gateway = await resolveGateway(opts.gateway, store);
      // $AIRLOCK_TOKEN (CI, an API key) stands in for the stored session, as for every other command
      const env = envToken();
      const session = env === undefined ? await currentSession(store, gateway) : undefined;
      const answer = await gatewayRequest(gateway, '/api/v1/me', { token: env ?? session!.accessToken, tokenFromEnv: env !== undefined });
      if (opts.json) {
        process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
        return;
      }
      const parsed = (await import('../views.ts')).meView.safeParse(answer);
      if (!parsed.success) {
        const { CliError } = await import('../errors.ts');
        throw new CliError('CLI_REMOTE_ERROR', `${gateway}/api/v1/me answered with something that is not an identity; is ${gateway} an airlock gateway?`);
      }
      process.stdout.write(describeMe(gateway, parsed.data, session?.expiresAt));
    });

  program
    .command('token')
    .description('print a current access token for scripts: curl -H "Authorization: Bearer $(airlock token)" ... ($AIRLOCK_TOKEN when set)')
    .addOption(gatewayOption())
    .action(async (opts: { gateway?: string }) => {
      const [{ CredentialStore }, { accessToken }, { envToken }] = await Promise.all([import('../auth/credentials.ts'), import('../auth/session.ts'), import('../call.ts')]);
      const env = envToken();
      if (env !== undefined) {
        process.stdout.write(`${env}\n`); // what every other command would send
        return;
      }
      const store = new CredentialStore();
      const gateway = await resolveGateway(opts.gateway, store);
      process.stdout.write(`${await accessToken(store, gateway)}\n`);
    });
}

/** The human form of /api/v1/me. `storedExpiry` (seconds) stands in when the gateway does not say; without either, "expiry unknown". */
function describeMe(gateway: string, me: MeView, storedExpiry: number | undefined): string {
  const expiry = typeof me.expiresAt === 'number' ? me.expiresAt * 1000
    : typeof me.expiresAt === 'string' ? Date.parse(me.expiresAt) : storedExpiry === undefined ? NaN : storedExpiry * 1000;
  const minutes = Math.round((expiry - Date.now()) / 60_000);
  const rows: [string, string][] = [
    ['gateway', gateway],
    ['user', me.name ? `${me.sub} (${me.name})` : me.sub],
    ['email', me.email ?? '-'],
    ['groups', me.groups.join(', ') || '-'],
    ['roles', me.roles.join(', ') || '-'],
    ['via', me.via],
    ['token', Number.isNaN(expiry) ? 'expiry unknown' : `expires ${new Date(expiry).toISOString()} (${minutes >= 0 ? `in ${minutes} min` : 'expired'})`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(8)} ${v}\n`).join('');
}
