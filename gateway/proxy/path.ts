// Turning /proxy/<connection>/<rest> into a path on the target that cannot escape the
// connection's base path: the rest is checked segment by segment on the raw URL, and anything
// ambiguous is refused rather than guessed (encoded slashes or backslashes, double encoding,
// dot segments in any spelling, NUL and control characters).
import { GatewayError } from '../errors.ts';

const PREFIX = /^\/proxy\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\/.*)?$/;

export interface ProxyTarget {
  readonly connection: string;
  /** The path (and query) to request on the target, under its base path. */
  readonly path: string;
}

/** `rawUrl` is req.url as received (path and query, not decoded). */
export function proxyTarget(rawUrl: string, basePath: string): ProxyTarget {
  const q = rawUrl.indexOf('?');
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q);
  const m = PREFIX.exec(rawPath);
  if (!m) throw new GatewayError('GW_NOT_FOUND', 'Use /proxy/<connection>/<path>, with a connection name as `airlock connections list` shows it.');
  const rest = m[2] ?? '/';
  for (const segment of rest.split('/').slice(1)) checkSegment(segment);
  if (/[\u0000-\u001f\u007f\\]/.test(query) || /%(?:25|00)/i.test(query)) refuse('the query carries control characters, a backslash or double encoding');
  const base = basePath.replace(/\/+$/, '');
  return { connection: m[1]!, path: `${base}${rest}${query}` };
}

function checkSegment(raw: string): void {
  if (/[\u0000-\u001f\u007f\\]/.test(raw)) refuse('a path segment carries a control character or a backslash');
  if (/%2f|%5c/i.test(raw)) refuse('a path segment carries an encoded slash or backslash');
  if (/%25/i.test(raw)) refuse('a path segment is encoded twice (%25)');
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    refuse('a path segment is not valid percent-encoding');
  }
  if (decoded === '.' || decoded === '..' || /[\u0000-\u001f]/.test(decoded)) refuse('the path has a dot segment or a control character');
}

function refuse(why: string): never {
  throw new GatewayError('GW_BAD_REQUEST', `The path is refused: ${why}; a request may not leave its connection.`);
}
