// An event's body as it will be stored (the recorder's "Payload size" rule, recorder.ts): metadata
// only, dropped past a cap, whole, or split over `chunk` events that follow it (the CLI puts them
// back together: cli/render/events.ts assemble). Each comes with its canonical JSON text, made
// here once: it is hashed and stored as it is.
import type { Json, JsonObject } from '../store/index.ts';
import { canonicalJson, canonicalJsonWith } from '../../lib/canonical-json.ts';

export interface ShapedEvent { readonly type: string; readonly payload: JsonObject; readonly payloadText: string }

/** The caps, in bytes of the body's JSON text (the recorder's resolved options). */
export interface BodyLimits { readonly chunkBytes: number; readonly maxEventBytes: number; readonly maxSessionBytes: number }

/**
 * `summary` with `body` as stored in session `s` (whose `bodyBytes`, the body bytes it has
 * recorded so far, grows by a body that is kept). The body's text, made to measure it, is reused
 * in the event's text rather than serialised a second time.
 */
export function shapeEvent(s: { readonly meta: { readonly metadataOnly?: boolean }; bodyBytes: number }, limits: BodyLimits, type: string, summary: JsonObject, body: Json | undefined): ShapedEvent[] {
  const one = (payload: JsonObject) => [{ type, payload, payloadText: canonicalJson(payload) }];
  if (body === undefined) return one({ ...summary });
  if (s.meta.metadataOnly) return one({ ...summary, body: null, omitted: 'metadata-only' });
  const text = canonicalJson(body);
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.maxEventBytes) return one({ ...summary, body: null, truncated: { bytes, limit: limits.maxEventBytes, why: 'event' } });
  if (s.bodyBytes + bytes > limits.maxSessionBytes) return one({ ...summary, body: null, truncated: { bytes, limit: limits.maxSessionBytes, why: 'session' } });
  s.bodyBytes += bytes;
  if (bytes <= limits.chunkBytes) return [{ type, payload: { ...summary, body }, payloadText: canonicalJsonWith(summary, { body: text }) }];
  // Chunks split the JSON text by UTF-16 units (a surrogate pair may straddle two chunks);
  // concatenated in order they give the text back exactly.
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += limits.chunkBytes) parts.push(text.slice(i, i + limits.chunkBytes));
  return [
    ...one({ ...summary, body: null, chunked: { parts: parts.length, bytes } }),
    ...parts.map((data, part) => ({ type: 'chunk', payload: { part, data }, payloadText: `{"data":${JSON.stringify(data)},"part":${part}}` })),
  ];
}
