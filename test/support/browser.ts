// A browser for tests that drive the development identity provider's pages: plain fetch,
// cookies kept by name and path, redirects followed by hand (so a test can stop at the loopback
// callback), and oidc-provider's self-submitting forms posted as a browser's script would.
import assert from 'node:assert/strict';
import { DEV_USERS } from '../../cli/dev/idp.ts';

export interface Page { status: number; url: URL; body: string }
export interface Form { action: URL; fields: Record<string, string> }

/** Redirects a single `go` follows before it gives up. */
const MAX_HOPS = 15;

export class Browser {
  readonly #jar = new Map<string, { name: string; value: string; path: string }>();

  /** Requests `url` and follows redirects; stops at (and returns) a redirect that `stop` accepts. */
  async go(url: URL | string, form?: Record<string, string>, stop: (to: URL) => boolean = () => false): Promise<Page | URL> {
    let target = new URL(url);
    let body = form === undefined ? undefined : new URLSearchParams(form);
    for (let hops = 0; hops < MAX_HOPS; hops++) {
      const cookie = [...this.#jar.values()].filter((c) => target.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
      const res = await fetch(target, {
        method: body ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { accept: 'text/html', ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(body ? { body } : {}),
      });
      this.#store(res.headers.getSetCookie());
      const location = res.headers.get('location');
      if (res.status < 300 || res.status > 399 || location === null) {
        const p: Page = { status: res.status, url: target, body: await res.text() };
        // oidc-provider's self-submitting form (form_post): a browser's script posts it at once
        const auto = p.body.includes('document.forms[0].submit()') ? forms(p)[0] : undefined;
        if (auto === undefined) return p;
        target = auto.action;
        body = new URLSearchParams(auto.fields);
        continue;
      }
      await res.body?.cancel();
      target = new URL(location, target);
      if (stop(target)) return target;
      body = undefined; // 302/303: the browser follows with GET
    }
    throw new Error('too many redirects');
  }

  #store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = (n: string) => attributes.find((a) => a.toLowerCase().startsWith(`${n}=`))?.slice(n.length + 1);
      const path = attr('path') ?? '/';
      const expires = attr('expires');
      const key = `${name}|${path}`;
      if (value === '' || (expires !== undefined && Date.parse(expires) <= Date.now())) this.#jar.delete(key);
      else this.#jar.set(key, { name, value, path });
    }
  }
}

/** Asserts `result` is a page, not a redirect the browser stopped at. */
export function page(result: Page | URL): Page {
  assert.ok(!(result instanceof URL), `expected a page, got a redirect to ${String(result)}`);
  return result;
}

/** The forms on a page with their hidden fields. */
export function forms(p: Page): Form[] {
  return [...p.body.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)].map(([, action = '', inner = '']) => ({
    action: new URL(action.replaceAll('&amp;', '&'), p.url),
    fields: Object.fromEntries([...inner.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map(([, n = '', v = '']) => [n, v])),
  }));
}

/** The development provider's sign-in form (one button per dev user), asserted to be that page. */
export function loginForm(p: Page): Form {
  const form = forms(p).find((f) => f.action.pathname.endsWith('/login'));
  assert.ok(form, `no login form on ${p.url.href} (status ${p.status}): ${p.body.slice(0, 300)}`);
  assert.match(p.body, /DEV ONLY — airlock development identity provider/);
  for (const u of DEV_USERS) assert.ok(p.body.includes(`name="user" value="${u.sub}"`), `a button for ${u.sub}`);
  return form;
}

/**
 * Signs in as `user` from an authorization URL (what the user opens from `airlock login`);
 * returns the loopback callback URL the provider redirects to, without requesting it.
 */
export async function signInAt(authorizationUrl: URL | string, user: string, callbackPath: string, browser = new Browser()): Promise<URL> {
  const login = loginForm(page(await browser.go(authorizationUrl)));
  const callback = await browser.go(login.action, { user }, (to) => to.pathname === callbackPath);
  assert.ok(callback instanceof URL, `expected a redirect to the loopback callback, got ${JSON.stringify(callback).slice(0, 300)}`);
  return callback;
}

/** Device flow in the browser: enters `userCode` at `verificationUri`, signs in as `user`. */
export async function approveDevice(verificationUri: string, userCode: string, user: string, browser = new Browser()): Promise<Page> {
  const codePage = page(await browser.go(verificationUri));
  const codeForm = forms(codePage)[0];
  assert.ok(codeForm && codeForm.fields.xsrf, 'the code form carries its xsrf token');
  const login = loginForm(page(await browser.go(codeForm.action, { ...codeForm.fields, user_code: userCode })));
  return page(await browser.go(login.action, { user }));
}
