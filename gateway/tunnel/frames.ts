// The tunnel's wire format, shared by the gateway and the agent. One WebSocket binary message
// carries exactly one frame:
//
//   offset 0  type       uint8
//   offset 1  stream id  uint32, big-endian (0 = the session itself)
//   offset 5  length     uint32, big-endian, bytes of payload that follow
//   offset 9  payload
//
// Decoding is strict: an unknown type, a length over the cap, a message shorter or longer than
// its header says, a payload of the wrong size for its type, or a frame on the wrong kind of
// stream id each throw a TunnelError with a code (the session closes the tunnel with it).
// JSON payloads (hello, open header, reset) are UTF-8, size-capped, and parsed with
// prototype-poisoning protection. The hello frame's layout never changes between versions, so
// two sides that share no version can still tell each other what they speak.
import { parseJson } from '../../lib/json.ts';
import { TunnelError } from './errors.ts';

/** Bytes before the payload. */
export const FRAME_HEADER_BYTES = 9;
/** Largest payload of one frame, in bytes (64 KiB): bounds what one message makes either side hold. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Largest WebSocket message of the tunnel, in bytes; give it to ws as `maxPayload` on both sides. */
export const MAX_FRAME_BYTES = FRAME_HEADER_BYTES + MAX_PAYLOAD_BYTES;
/** Largest stream open header, in bytes of UTF-8 JSON (8 KiB). */
export const MAX_OPEN_HEADER_BYTES = 8 * 1024;
/** Largest hello and reset payloads, in bytes of UTF-8 JSON. */
export const MAX_HELLO_BYTES = 1024;
export const MAX_RESET_BYTES = 1024;
/** Largest reset message, in characters. */
export const MAX_RESET_MESSAGE_CHARS = 256;
/** Highest stream id (uint32). */
export const MAX_STREAM_ID = 0xffff_ffff;

export const FrameType = {
  HELLO: 0x01, // stream 0; JSON {versions: number[], window: number}
  OPEN: 0x02, // stream n; JSON open header (an object)
  DATA: 0x03, // stream n; 1..MAX_PAYLOAD_BYTES bytes
  END: 0x04, // stream n; empty: the sender will write no more (half-close)
  RESET: 0x05, // stream n; JSON {code, message?}: the stream is abandoned in both directions
  WINDOW: 0x06, // stream n; uint32 credit increment, > 0
  PING: 0x07, // stream 0; 8 opaque bytes
  PONG: 0x08, // stream 0; the 8 bytes of the ping it answers
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, value]) => [value, name]));
/** The frame type's name for messages and logs ("DATA"), or "0x7f" for an unknown type. */
export function frameName(type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

export interface Frame {
  readonly type: FrameType;
  readonly streamId: number;
  /** A view into the received message (no copy). */
  readonly payload: Buffer;
}

/** Payload size rules per type: [min, max] bytes, and whether the frame belongs to stream 0. */
const RULES: Record<FrameType, { min: number; max: number; session: boolean }> = {
  [FrameType.HELLO]: { min: 2, max: MAX_HELLO_BYTES, session: true },
  [FrameType.OPEN]: { min: 2, max: MAX_OPEN_HEADER_BYTES, session: false },
  [FrameType.DATA]: { min: 1, max: MAX_PAYLOAD_BYTES, session: false },
  [FrameType.END]: { min: 0, max: 0, session: false },
  [FrameType.RESET]: { min: 2, max: MAX_RESET_BYTES, session: false },
  [FrameType.WINDOW]: { min: 4, max: 4, session: false },
  [FrameType.PING]: { min: 8, max: 8, session: true },
  [FrameType.PONG]: { min: 8, max: 8, session: true },
};

export function encodeFrame(type: FrameType, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload?.byteLength ?? 0;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame.writeUInt8(type, 0);
  frame.writeUInt32BE(streamId, 1);
  frame.writeUInt32BE(length, 5);
  if (payload !== undefined) frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Decodes one WebSocket message into one frame; throws a coded TunnelError on anything malformed. */
export function decodeFrame(message: Buffer): Frame {
  if (message.length < FRAME_HEADER_BYTES) {
    throw new TunnelError('TUNNEL_FRAME_MALFORMED', `A tunnel message of ${message.length} bytes is shorter than the ${FRAME_HEADER_BYTES}-byte frame header.`);
  }
  const type = message.readUInt8(0);
  const rule = RULES[type as FrameType] as (typeof RULES)[FrameType] | undefined;
  if (rule === undefined) throw new TunnelError('TUNNEL_UNKNOWN_FRAME', `Unknown tunnel frame type ${frameName(type)}; the peer speaks a protocol this side does not.`);
  const streamId = message.readUInt32BE(1);
  const length = message.readUInt32BE(5);
  const name = frameName(type);
  if (length > MAX_PAYLOAD_BYTES) {
    throw new TunnelError('TUNNEL_FRAME_TOO_LARGE', `A tunnel ${name} frame declares ${length} payload bytes; the cap is ${MAX_PAYLOAD_BYTES}.`);
  }
  const present = message.length - FRAME_HEADER_BYTES;
  if (present !== length) {
    throw new TunnelError('TUNNEL_FRAME_MALFORMED', `A tunnel ${name} frame declares ${length} payload bytes but carries ${present} (${present < length ? 'truncated' : 'trailing bytes'}).`);
  }
  if (length < rule.min || length > rule.max) {
    throw new TunnelError('TUNNEL_FRAME_MALFORMED', `A tunnel ${name} frame must carry ${rule.min === rule.max ? rule.min : `${rule.min}–${rule.max}`} payload bytes, not ${length}.`);
  }
  if (rule.session !== (streamId === 0)) {
    throw new TunnelError('TUNNEL_FRAME_MALFORMED', `A tunnel ${name} frame ${rule.session ? 'belongs to stream 0' : 'needs a non-zero stream id'}, not stream ${streamId}.`);
  }
  return { type: type as FrameType, streamId, payload: message.subarray(FRAME_HEADER_BYTES) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a JSON object payload (fresh data, no "__proto__" keys); undefined when it is not one. */
function jsonObject(payload: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = parseJson(utf8.decode(payload));
  } catch {
    return undefined; // invalid UTF-8 or JSON: the caller words the error for its frame type
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export interface Hello {
  /** Protocol versions the sender speaks. */
  readonly versions: readonly number[];
  /** The sender's receive window per stream, in bytes (required from version 1 on). */
  readonly window: number | undefined;
}

export function encodeHello(hello: { versions: readonly number[]; window: number }): Buffer {
  return encodeFrame(FrameType.HELLO, 0, Buffer.from(JSON.stringify({ versions: hello.versions, window: hello.window })));
}

/** Reads a hello payload; extra keys are ignored so a later version may add some. */
export function parseHello(payload: Uint8Array): Hello {
  const body = jsonObject(payload);
  const versions = body?.versions;
  if (!Array.isArray(versions) || versions.length === 0 || versions.length > 16 || !versions.every((v) => Number.isInteger(v) && v >= 1 && v <= 0xffff)) {
    throw new TunnelError('TUNNEL_FRAME_MALFORMED', 'The peer\'s hello frame is not a JSON object with a "versions" list of 1–16 integers.');
  }
  const window = body?.window;
  if (window !== undefined && !(Number.isInteger(window) && (window as number) >= 1 && (window as number) <= MAX_STREAM_ID)) {
    throw new TunnelError('TUNNEL_FRAME_MALFORMED', 'The peer\'s hello frame has a "window" that is not a positive 32-bit integer.');
  }
  return { versions: versions as number[], window: window as number | undefined };
}

/** Encodes an open frame; throws TUNNEL_HEADER_INVALID when the header is not a JSON object within the cap. */
export function encodeOpen(streamId: number, header: object): Buffer {
  let text: string | undefined;
  try {
    text = header !== null && typeof header === 'object' && !Array.isArray(header) ? JSON.stringify(header) : undefined;
  } catch (err) {
    throw new TunnelError('TUNNEL_HEADER_INVALID', 'The stream open header cannot be serialised to JSON.', { cause: err });
  }
  if (text === undefined) throw new TunnelError('TUNNEL_HEADER_INVALID', 'The stream open header must be a plain JSON object.');
  const bytes = Buffer.from(text);
  if (bytes.length > MAX_OPEN_HEADER_BYTES) {
    throw new TunnelError('TUNNEL_HEADER_INVALID', `The stream open header is ${bytes.length} bytes of JSON; the cap is ${MAX_OPEN_HEADER_BYTES}.`);
  }
  return encodeFrame(FrameType.OPEN, streamId, bytes);
}

/** Reads an open header; throws TUNNEL_HEADER_INVALID (a stream-level failure: the stream is reset). */
export function parseOpenHeader(payload: Uint8Array): Record<string, unknown> {
  const header = jsonObject(payload);
  if (header === undefined) throw new TunnelError('TUNNEL_HEADER_INVALID', 'The stream open header is not a UTF-8 JSON object.');
  return header;
}

const RESET_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
/** True for a string usable as a reset code: upper-case letters, digits and "_", 2–64 characters. */
export function isResetCode(code: unknown): code is string {
  return typeof code === 'string' && RESET_CODE.test(code);
}

export function encodeReset(streamId: number, code: string, message?: string): Buffer {
  if (!isResetCode(code)) throw new TypeError(`reset code ${JSON.stringify(code)} must be 2–64 characters of A-Z, 0-9 and _`);
  const text = message === undefined ? undefined : message.slice(0, MAX_RESET_MESSAGE_CHARS);
  return encodeFrame(FrameType.RESET, streamId, Buffer.from(JSON.stringify(text === undefined ? { code } : { code, message: text })));
}

export function parseReset(payload: Uint8Array): { code: string; message: string | undefined } {
  const body = jsonObject(payload);
  const message = body?.message;
  if (!isResetCode(body?.code) || (message !== undefined && (typeof message !== 'string' || message.length > MAX_RESET_MESSAGE_CHARS))) {
    throw new TunnelError('TUNNEL_FRAME_MALFORMED', 'A RESET frame is not a JSON object with a valid "code" and an optional short "message".');
  }
  return { code: body.code as string, message };
}

export function encodeWindow(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return encodeFrame(FrameType.WINDOW, streamId, payload);
}

export function parseWindow(payload: Buffer): number {
  const increment = payload.readUInt32BE(0);
  if (increment === 0) throw new TunnelError('TUNNEL_FRAME_MALFORMED', 'A WINDOW frame carries a zero increment.');
  return increment;
}
