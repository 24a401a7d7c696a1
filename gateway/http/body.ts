// Reading a JSON request body: bounded size, strict JSON without "__proto__" keys or a key given
// twice, then a zod schema (unknown keys rejected); every failure is a 400/413 naming what to fix.
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { parseJson } from '../../lib/json.ts';
import { scanJson } from '../guard/json.ts';
import { readBody } from './respond.ts';

/** Largest JSON body of the admin API, in bytes. */
export const MAX_API_BODY_BYTES = 64 * 1024;

export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes = MAX_API_BODY_BYTES): Promise<z.infer<S>> {
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new GatewayError('GW_BAD_REQUEST', 'The body must be JSON: send Content-Type: application/json.');
  }
  const raw = await readBody(req, maxBytes);
  const text = raw.toString('utf8');
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (err) {
    throw new GatewayError('GW_BAD_REQUEST', `The body is not valid JSON: ${(err as Error).message}.`);
  }
  // A key given twice (`groups` twice in a connection): the audit trail, the caller and the
  // gateway must not read two different requests from one body.
  const { duplicates } = scanJson(text);
  if (duplicates.length > 0) throw new GatewayError('GW_BAD_REQUEST', `The body names a key twice (at ${duplicates.slice(0, 3).join(', ')}); send each key once.`);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
    throw new GatewayError('GW_BAD_REQUEST', `The body is not accepted: ${path.map(String).join('.') || '(body)'}: ${issue.message}.`, { detail: parsed.error.issues });
  }
  return parsed.data;
}
