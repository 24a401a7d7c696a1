// The loopback redirect of a native app's login (RFC 8252 §7.3): a one-shot HTTP server on
// 127.0.0.1 and a free port that waits for the identity provider to send the browser back with the
// authorization response. It takes exactly one response, the one carrying our `state`; anything
// else gets an error page and the wait goes on. The browser's request is answered only once the
// code is exchanged, so the page can say whether the sign-in worked.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Path of the redirect; the dev provider registers http://127.0.0.1/callback (any port). */
export const CALLBACK_PATH = '/callback';

export interface LoopbackReceiver {
  /** http://127.0.0.1:<port>/callback, for the authorization request. */
  readonly redirectUri: string;
  /**
   * The full callback URL (code or error, state, iss) once the browser arrives; rejects with
   * `signal`'s reason when it is aborted first.
   */
  readonly callback: Promise<URL>;
  /** Answers the waiting browser (after the code exchange) and closes the server. */
  finish(ok: boolean, message: string): Promise<void>;
  /** Closes the server without answering (timeout, failure). Idempotent. */
  close(): Promise<void>;
}

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
  'referrer-policy': 'no-referrer', // the callback URL carries the code
  'x-content-type-options': 'nosniff',
  connection: 'close',
};

/** Starts listening on 127.0.0.1:0; the first request to CALLBACK_PATH with `state` resolves `callback`. */
export async function receiveCallback(state: string, signal: AbortSignal): Promise<LoopbackReceiver> {
  const expected = Buffer.from(state);
  let waiting: ServerResponse | undefined;
  let resolve!: (url: URL) => void;
  let reject!: (err: unknown) => void;
  const callback = new Promise<URL>((res, rej) => { resolve = res; reject = rej; });
  callback.catch(() => {}); // the caller may stop waiting before awaiting it

  const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    if (req.method !== 'GET' || url.pathname !== CALLBACK_PATH) return page(res, 404, 'Not found', 'This address only receives the airlock login redirect.');
    const got = Buffer.from(url.searchParams.get('state') ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      return page(res, 400, 'Not this sign-in', 'This response does not belong to the airlock login waiting here. Start again from your terminal.');
    }
    if (waiting !== undefined) return page(res, 409, 'Already received', 'This sign-in was already received; return to your terminal.');
    waiting = res;
    resolve(url);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => { server.off('error', rej); res(); });
  });
  const { port } = server.address() as AddressInfo;
  const redirectUri = `http://127.0.0.1:${port}${CALLBACK_PATH}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((res) => {
      signal.removeEventListener('abort', onAbort);
      server.close(() => res());
      server.closeAllConnections();
    });
    return closing;
  };
  const onAbort = () => {
    reject(signal.reason);
    void close();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });

  return {
    redirectUri,
    callback,
    close,
    finish: async (ok, message) => {
      if (waiting !== undefined && !waiting.writableEnded) {
        const res = waiting;
        await new Promise<void>((done) => page(res, ok ? 200 : 400, ok ? 'Signed in' : 'Sign-in failed', message, done));
      }
      await close();
    },
  };
}

function page(res: ServerResponse, status: number, title: string, message: string, done?: () => void): void {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, HEADERS).end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)} · airlock</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><h1>${escape(title)}</h1><p>${escape(message)}</p></body></html>`, done);
}
