// Reading a JSON request body: bounded size, strict JSON without "__proto__" keys, then a zod
// schema (unknown keys rejected); every failure is a 400/413 naming what to fix.
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { parseJson } from '../../lib/json.ts';
import { readBody } from './respond.ts';

/** Largest JSON body of the admin API, in bytes. */
export const MAX_API_BODY_BYTES = 64 * 1024;

export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes = MAX_API_BODY_BYTES): Promise<z.infer<S>> {
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new GatewayError('GW_BAD_REQUEST', 'The body must be JSON: send Content-Type: application/json.');
  }
  const raw = await readBody(req, maxBytes);
  let value: unknown;
  try {
    value = parseJson(raw.toString('utf8'));
  } catch (err) {
    throw new GatewayError('GW_BAD_REQUEST', `The body is not valid JSON: ${(err as Error).message}.`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
    throw new GatewayError('GW_BAD_REQUEST', `The body is not accepted: ${path.map(String).join('.') || '(body)'}: ${issue.message}.`, { detail: parsed.error.issues });
  }
  return parsed.data;
}
