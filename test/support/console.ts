// The web console in tests: a test gateway whose public URL is the address it really listens on
// (the console's redirect URI and Origin check need the browser's origin), and a sign-in at the
// development provider that returns the console's session cookie.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { signInAt } from './browser.ts';

/** A free loopback port (closed again at once; the gateway binds it next). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A test gateway at http://127.0.0.1:<port>, which is also its server.publicUrl. */
export async function startConsoleGateway(config: Record<string, unknown> = {}): Promise<TestGateway & { origin: string }> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const t = await startTestGateway({ config: { ...config, server: { host: '127.0.0.1', port, publicUrl: origin, shutdownGrace: 1 } } });
  return Object.assign(t, { origin });
}

export interface SignedIn {
  /** `__Host-airlock=<secret>`, for a Cookie header. */
  readonly cookie: string;
  /** The Set-Cookie line that carried it. */
  readonly setCookie: string;
  /** Where the callback sent the browser. */
  readonly location: string;
}

/** Signs in to the console as dev user `user`, as a browser would, from /console/login?return=`returnTo`. */
export async function consoleSignIn(origin: string, user: string, returnTo = '/console/reviews'): Promise<SignedIn> {
  const start = await fetch(`${origin}/console/login?return=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
  assert.equal(start.status, 303);
  const loginCookie = start.headers.getSetCookie().find((c) => c.startsWith('__Host-airlock-login='))!.split(';')[0]!;
  const callback = await signInAt(start.headers.get('location')!, user, '/console/callback');
  const done = await fetch(callback, { redirect: 'manual', headers: { cookie: loginCookie } });
  assert.equal(done.status, 303, await done.text());
  const setCookie = done.headers.getSetCookie().find((c) => c.startsWith('__Host-airlock='))!;
  return { cookie: setCookie.split(';')[0]!, setCookie, location: done.headers.get('location')! };
}

/** The CSRF token in a console page's forms. */
export function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  assert.ok(m, 'the page has a form token');
  return m[1]!;
}
