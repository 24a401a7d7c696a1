// HTML for the console: one escaping helper and the page frame. Every value put in a page goes
// through `html` (a tagged template that escapes what it interpolates unless it is already Html),
// so no page builds markup from text by hand. No inline script or style anywhere: the CSP below
// forbids them, and the browser enforces it.
import type { ServerResponse } from 'node:http';
import type { Identity } from '../authn/identity.ts';
import { visibleText } from '../../lib/visible.ts';

/** Markup that is safe as it is (built by `html`). */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

/**
 * Escapes text for an element's content or a double-quoted attribute. Characters that draw
 * nothing or reorder the text around them (bidi overrides, zero-width, variation selectors: what
 * a requester's agent could write into a payload a reviewer reads) are shown as `\uXXXX`, so the
 * page shows every character that is there; newline and tab stay (payloads in <pre>).
 */
export function escape(text: string): string {
  return visibleText(text, '\n\t').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escape(String(value));
}

/** `html\`<p>${text}</p>\``: interpolated values escaped, Html and arrays of it kept. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => { out += render(v) + strings[i + 1]!; });
  return new Html(out);
}

/**
 * The console's Content-Security-Policy: its own scripts, styles and fetches only; no inline
 * script or style, no plugins, no framing (clickjacking), forms post only here.
 */
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Headers on every console response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
};

export function sendHtml(res: ServerResponse, status: number, page: Html, headers: Record<string, string | string[]> = {}): void {
  const body = Buffer.from(page.text, 'utf8');
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, ...headers });
  res.end(body);
}

export interface Frame {
  readonly title: string;
  /** The signed-in identity (absent on the error and signed-out pages). */
  readonly identity?: Identity;
  readonly csrf?: string;
  /** Which tab is current. */
  readonly tab?: 'reviews' | 'sessions' | 'connections' | 'explain';
}

/** A whole page: header with the tabs and the signed-in person, then `body`. */
export function page(frame: Frame, body: Html): Html {
  const tab = (name: NonNullable<Frame['tab']>, label: string) => html`<a href="/console/${name}"${frame.tab === name ? html` aria-current="page"` : ''}>${label}</a>`;
  const who = frame.identity;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · airlock</title><link rel="stylesheet" href="/console/static/console.css"><script src="/console/static/console.js" defer></script></head>
<body><header><span class="brand">airlock</span>${who ? html`<nav>${tab('reviews', 'Reviews')}${tab('sessions', 'Sessions')}${tab('connections', 'Connections')}${tab('explain', 'Explain')}</nav>
<div class="who"><span title="${who.sub}">${who.name ?? who.email ?? who.sub}</span> <span class="roles">${who.roles.join(', ')}</span>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="${frame.csrf ?? ''}"><button type="submit">Sign out</button></form></div>` : ''}</header>
<main>${body}</main></body></html>`;
}

/** A date as ISO text, minus the milliseconds, for tables. */
export const when = (ms: number | null): string => (ms === null ? '—' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** Pretty JSON for a <pre>. */
export const json = (value: unknown): string => JSON.stringify(value, null, 2) ?? 'null';

/** A hidden CSRF field for a form. */
export const csrfField = (token: string): Html => html`<input type="hidden" name="csrf" value="${token}">`;
