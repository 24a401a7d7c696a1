// The console's static files: one script and one stylesheet, read once at start and served with
// their hash as ETag. Only these names are served; anything else under /console/static is a 404.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';
import { SECURITY_HEADERS } from './html.ts';

const FILES = new Map(([['console.js', 'text/javascript; charset=utf-8'], ['console.css', 'text/css; charset=utf-8']] as const).map(([name, type]) => {
  const body = readFileSync(new URL(`./static/${name}`, import.meta.url));
  return [`/console/static/${name}`, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` }];
}));

export function serveStatic(res: ServerResponse, path: string): void {
  const file = FILES.get(path);
  if (!file) throw new GatewayError('GW_NOT_FOUND', `The console has no file ${path.slice(0, 200)}.`);
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type, 'content-length': file.body.length, etag: file.etag, 'cache-control': 'no-cache' });
  res.end(file.body);
}
