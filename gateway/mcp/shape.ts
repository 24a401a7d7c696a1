// Response shaping for generated tools: an optional per-tool JMESPath expression picks what the
// model needs from a JSON answer, and whatever is returned is capped in bytes with a marker the
// model can see, so a large API answer cannot flood its context. The expression is compiled when
// the connection is configured, so a typo is a configuration error, not a failed call.
import jmespath from 'jmespath';
import { GatewayError } from '../errors.ts';

/** Default cap on a shaped result, in bytes of UTF-8: 64 KiB. */
export const SHAPE_MAX_BYTES = 64 * 1024;
/** Longest JMESPath expression accepted, in characters. */
export const SHAPE_MAX_EXPRESSION = 1000;

// The npm package's types declare only `search`; `compile` (parse only) exists at runtime too.
const { compile: parseJmespath, search } = jmespath as unknown as { compile(expression: string): unknown; search(data: unknown, expression: string): unknown };

export interface Shape {
  readonly expression: string;
}

/** Why `expression` is not a usable JMESPath expression, or undefined when it is (for config validation). */
export function jmespathProblem(expression: string): string | undefined {
  if (typeof expression !== 'string' || expression.trim() === '') return 'must be a non-empty JMESPath expression';
  if (expression.length > SHAPE_MAX_EXPRESSION) return `is ${expression.length} characters; at most ${SHAPE_MAX_EXPRESSION} are allowed`;
  try {
    parseJmespath(expression);
    return undefined;
  } catch (err) {
    return `is not valid JMESPath: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** A checked expression; throws GW_CONNECTION_INVALID naming the tool and the problem. */
export function compileShape(expression: string, tool = 'the tool'): Shape {
  const problem = jmespathProblem(expression);
  if (problem !== undefined) throw new GatewayError('GW_CONNECTION_INVALID', `The response shape for ${tool} ${problem}; fix the expression (see jmespath.org).`);
  return Object.freeze({ expression });
}

export interface ShapedText {
  /** What the model gets: the (shaped) answer, possibly cut, with the marker appended when cut. */
  readonly text: string;
  /** Bytes of UTF-8 before cutting. */
  readonly bytes: number;
  readonly truncated: boolean;
  /** Set when the expression failed on this answer; `text` is then the unshaped answer. */
  readonly shapeError?: string;
}

/** The marker appended to a cut result. */
export function truncationMarker(totalBytes: number, keptBytes: number): string {
  return `…[truncated by airlock: ${totalBytes} bytes, showing the first ${keptBytes}]`;
}

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8 (default SHAPE_MAX_BYTES), never inside a
 * character, followed by a newline and truncationMarker when cut.
 */
export function truncateUtf8(text: string, maxBytes: number = SHAPE_MAX_BYTES): ShapedText {
  if (!(Number.isInteger(maxBytes) && maxBytes >= 0)) throw new TypeError('truncateUtf8: maxBytes must be an integer >= 0');
  // A UTF-16 unit is at most 3 bytes of UTF-8 and a pair exactly 4, so a short string needs no encoding.
  if (text.length * 3 <= maxBytes) return { text, bytes: Buffer.byteLength(text), truncated: false };
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return { text, bytes, truncated: false };
  const encoded = Buffer.from(text, 'utf8');
  let cut = maxBytes;
  // Back up over continuation bytes (10xxxxxx) so the cut lands before a character's first byte.
  while (cut > 0 && (encoded[cut]! & 0xc0) === 0x80) cut--;
  return { text: `${encoded.subarray(0, cut).toString('utf8')}\n${truncationMarker(bytes, cut)}`, bytes, truncated: true };
}

export interface ShapeOptions {
  readonly shape?: Shape;
  /** Cap in bytes of UTF-8. Default SHAPE_MAX_BYTES. */
  readonly maxBytes?: number;
}

/**
 * A JSON answer (already parsed) as text for the model: shaped by the expression when there is
 * one, serialised compactly, then capped. An expression that fails on this answer (a function
 * given the wrong type) leaves the answer unshaped and says why in `shapeError`.
 */
export function shapeJson(value: unknown, options: ShapeOptions = {}): ShapedText {
  let result = value;
  let shapeError: string | undefined;
  if (options.shape !== undefined) {
    try {
      result = search(value, options.shape.expression);
    } catch (err) {
      shapeError = `the response shape ${JSON.stringify(options.shape.expression)} failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const shaped = truncateUtf8(JSON.stringify(result) ?? 'null', options.maxBytes ?? SHAPE_MAX_BYTES);
  return shapeError === undefined ? shaped : { ...shaped, shapeError };
}
