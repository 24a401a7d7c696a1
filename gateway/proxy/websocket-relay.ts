// Relaying one WebSocket session message by message between the caller (the gateway is its
// server) and the target (the gateway is its client, over a tunnel stream through the agent).
// Nothing crosses without being inspected and decided on (docs/architecture.md, invariant 3):
//
//   text message, or binary that is valid UTF-8 → read by the guard (guard/normalise.ts): a JSON
//   object/array with every key kept (a duplicate key is an `inspect.duplicate_key` finding),
//   depth bounded (`inspect.limit`), integers exact; else text; a value hidden between control
//   or format characters (UTF-16 text, valid UTF-8 with a NUL between characters) is an
//   `inspect.hidden_text` finding — policy denies all three → decide → recorder hook → allow:
//   forwarded as received │ mask: the masked payload is forwarded (UTF-8, JSON stays JSON) │
//   deny or review: both sides closed with 1008 and a reason naming the reason code (a limit
//   declared in policy: `GW_LIMIT_EXCEEDED (limit.exceeded, retry after N s)`; the limits are
//   applied in `decide`, gateway/guard/limits-hook.ts)
//   binary that is not UTF-8 → both sides closed with 1003 (it cannot be inspected: no charset is
//   declared for a binary message, so airlock reads binary only when it is UTF-8 text)
//   larger than limits.inspectBytes → ws refuses it (maxPayload: 1009); both sides close
//   a close from one side → the other closes with its code and reason (the reason inspected too)
//   ping/pong → answered by ws at each end; never relayed, so their payloads never cross
//
// Order is kept per direction: a message waits for the decision on the one before (a decision may
// await the recorder). Backpressure: a side is no longer read while the bytes it sent that the
// other side has not yet flushed to its socket exceed HIGH_WATER, and is read again below
// LOW_WATER; so a slow reader at one end slows the writer at the other, and memory stays bounded.
import { isUtf8 } from 'node:buffer';
import { WebSocket } from 'ws';
import type { Logger } from '../../lib/log.ts';
import { GatewayError } from '../errors.ts';
import { hiddenText, normaliseBody } from '../guard/index.ts';
import type { Finding } from '../inspect/types.ts';
import type { Outcome } from '../policy/decide.ts';

/** Bytes received from one side and not yet flushed to the other before that side is paused. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** RFC 6455 §5.5.1: a close frame's reason is at most 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;

/** Close codes (RFC 6455 §7.4.1) the relay sends. */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
} as const;

export type Direction = 'request' | 'response';

/** What one message gives the inspectors. */
export type MessagePayload = { readonly body: unknown } | { readonly text: string };

/** One message as the guard reads it. */
export interface ReadMessage {
  readonly payload: MessagePayload;
  /** Findings of reading it: duplicate keys, depth, hidden text. */
  readonly findings: readonly Finding[];
  /** The bytes of a masked payload (UTF-8; JSON written back with its integers exact). */
  reencode(masked: unknown): Buffer;
}

/** A decided message for the recorder: the payload as inspected, and the text that left (undefined when refused). */
export interface DecidedMessage {
  readonly payload: unknown;
  readonly leaving?: string;
}

export interface RelayOptions {
  /** Inspects and decides on one message with the findings of reading it (limits included); throws a GatewayError to end the session. */
  decide(direction: Direction, payload: MessagePayload, findings: readonly Finding[]): Outcome | Promise<Outcome>;
  /** The same for a close reason, at once (not a message: no limit counts it). */
  decideClose(direction: Direction, payload: MessagePayload, findings: readonly Finding[]): Outcome;
  /** The recorder's hook, called for each message decision in order; a rejection ends the session (fail closed). */
  onDecision?(direction: Direction, outcome: Outcome, message?: DecidedMessage): Promise<void> | void;
  /** limits.inspectBytes of the connection, in bytes (the ws maxPayload at both ends). */
  readonly inspectBytes: number;
  readonly logger: Logger;
}

export class WebSocketRelay {
  /** Resolves when both sockets are closed. */
  readonly closed: Promise<void>;
  readonly #caller: WebSocket;
  readonly #target: WebSocket;
  readonly #options: RelayOptions;
  #ending = false;

  constructor(caller: WebSocket, target: WebSocket, options: RelayOptions) {
    this.#caller = caller;
    this.#target = target;
    this.#options = options;
    this.closed = Promise.all([closedOf(caller), closedOf(target)]).then(() => undefined);
    this.#pipe(caller, target, 'request');
    this.#pipe(target, caller, 'response');
  }

  /** Closes both sides with `code` and `reason` (≤ 123 bytes once encoded; longer is cut). */
  close(code: number, reason: string): void {
    this.#ending = true;
    const cut = fitReason(reason);
    for (const ws of [this.#caller, this.#target]) {
      if (ws.isPaused) ws.resume(); // a paused socket would never read the peer's closing frame
      if (ws.readyState === WebSocket.OPEN) ws.close(code, cut);
    }
  }

  #pipe(from: WebSocket, to: WebSocket, direction: Direction): void {
    from.binaryType = 'nodebuffer';
    let chain: Promise<void> = Promise.resolve();
    let unflushed = 0;
    const flushed = (bytes: number) => {
      unflushed -= bytes;
      if (unflushed <= LOW_WATER && from.isPaused && !this.#ending) from.resume();
    };
    const failed = (err: unknown) => this.#fail(err, direction);

    from.on('message', (data: Buffer, isBinary: boolean) => {
      unflushed += data.length;
      if (unflushed > HIGH_WATER) from.pause();
      chain = chain.then(() => this.#relay(to, direction, data, isBinary, flushed)).catch(failed);
    });
    // After the messages before it, so a close does not overtake what was sent first.
    from.on('close', (code: number, reason: Buffer) => {
      chain = chain.then(() => this.#propagateClose(to, direction, code, reason)).catch(failed);
    });
    from.on('error', (err: Error & { code?: string }) => this.#onError(direction, err));
  }

  async #relay(to: WebSocket, direction: Direction, data: Buffer, isBinary: boolean, flushed: (bytes: number) => void): Promise<void> {
    if (this.#ending) return flushed(data.length);
    if (isBinary && !isUtf8(data)) {
      await this.#options.onDecision?.(direction, uninspectable(data.length));
      this.#refuse(direction, CLOSE.UNSUPPORTED_DATA, 'inspect.binary: binary messages cannot be inspected', { reason: 'inspect.binary' });
      return flushed(data.length);
    }
    const read = readMessage(data, direction);
    const { payload } = read;
    const outcome = await this.#options.decide(direction, payload, read.findings);
    const passes = outcome.decision === 'allow' || outcome.decision === 'mask';
    const out = !passes ? undefined : outcome.decision === 'mask' && outcome.masked !== undefined ? read.reencode(outcome.masked) : data;
    await this.#options.onDecision?.(direction, outcome, { payload: 'body' in payload ? payload.body : payload.text, ...(out === undefined ? {} : { leaving: out.toString('utf8') }) });
    if (this.#ending) return flushed(data.length);
    if (out === undefined) {
      const first = outcome.reasons[0];
      // A limit's refusal says when to try again (the WebSocket form of Retry-After).
      const hit = first?.reason === 'limit.exceeded' && outcome.decision === 'deny' ? outcome.limits?.find((h) => `(limit) ${h.limit}` === first.rule) : undefined;
      const code = hit !== undefined ? 'GW_LIMIT_EXCEEDED' : outcome.decision === 'deny' ? 'GW_POLICY_DENIED' : 'GW_REVIEW_REQUIRED';
      const why = hit !== undefined ? `limit.exceeded, retry after ${hit.retryAfter} s` : first?.reason ?? 'policy';
      this.#refuse(direction, CLOSE.POLICY_VIOLATION, `${code} (${why})${first?.message ? `: ${first.message}` : ''}`, { reason: first?.reason, rule: first?.rule, decision: outcome.decision });
      return flushed(data.length);
    }
    to.send(out, { binary: isBinary }, () => flushed(data.length));
  }

  /** One side closed: the other closes with the same code, and the reason if it may cross. */
  #propagateClose(to: WebSocket, direction: Direction, code: number, reason: Buffer): void {
    if (this.#ending) return;
    this.#ending = true;
    if (to.isPaused) to.resume();
    if (to.readyState !== WebSocket.OPEN) return;
    if (code === 1006) { // abnormal: no close frame, the connection dropped
      to.close(direction === 'request' ? CLOSE.GOING_AWAY : CLOSE.INTERNAL_ERROR, direction === 'request' ? 'the client went away' : 'GW_UPSTREAM_FAILED: the connection to the target dropped');
      return;
    }
    if (!sendable(code)) {
      to.close(); // 1005: the peer gave no code, so neither do we
      return;
    }
    to.close(code, this.#inspectReason(direction, reason.toString('utf8')));
  }

  /** A close reason is a payload too: it crosses as is when allowed, masked when masked, else not at all. */
  #inspectReason(direction: Direction, reason: string): string {
    if (reason === '') return '';
    const outcome = this.#options.decideClose(direction, { text: reason }, hiddenText(reason));
    if (outcome.decision === 'allow') return reason;
    if (outcome.decision === 'mask' && typeof outcome.masked === 'string' && Buffer.byteLength(outcome.masked) <= MAX_REASON_BYTES) return outcome.masked;
    return '';
  }

  #onError(direction: Direction, err: Error & { code?: string }): void {
    const from = direction === 'request' ? 'client' : 'target';
    if (this.#ending) return this.#options.logger.debug('websocket error after close', { from, err });
    // ws has already closed the side that erred, with the matching code (1009, 1007, 1002).
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      const outcome = oversize(this.#options.inspectBytes);
      Promise.resolve(this.#options.onDecision?.(direction, outcome)).catch((e: unknown) => this.#options.logger.error('recording a websocket decision failed', { err: e }));
      this.#refuse(direction, CLOSE.MESSAGE_TOO_BIG, `inspect.oversize: a message from the ${from} is larger than the ${this.#options.inspectBytes} bytes inspected (limits.inspectBytes)`, { reason: 'inspect.oversize' });
    } else if (err.code === 'WS_ERR_INVALID_UTF8') {
      this.#refuse(direction, CLOSE.INVALID_PAYLOAD, `the ${from} sent text that is not UTF-8`, { reason: err.code });
    } else if (err.code?.startsWith('WS_ERR_')) {
      this.#refuse(direction, CLOSE.PROTOCOL_ERROR, `the ${from} broke the WebSocket protocol`, { reason: err.code });
    } else {
      this.#options.logger.info('websocket connection failed', { from, err });
      this.close(direction === 'request' ? CLOSE.GOING_AWAY : CLOSE.INTERNAL_ERROR, direction === 'request' ? 'the client went away' : 'GW_UPSTREAM_FAILED: the connection to the target failed');
    }
  }

  /** Ends the session because of one message (or a failure to handle it); logs why. */
  #refuse(direction: Direction, code: number, reason: string, fields: Record<string, unknown>): void {
    this.#options.logger.info('websocket session closed: a message was refused', { direction, closeCode: code, ...fields });
    this.close(code, reason);
  }

  #fail(err: unknown, direction: Direction): void {
    if (err instanceof GatewayError) {
      if (err.status >= 500) this.#options.logger.error(err.message, { code: err.code, direction, cause: err.cause });
      else this.#options.logger.info('websocket session refused', { code: err.code, direction, error: err.message });
      this.close(err.status >= 500 ? CLOSE.INTERNAL_ERROR : CLOSE.POLICY_VIOLATION, `${err.code}: ${err.message}`);
      return;
    }
    this.#options.logger.error('relaying a websocket message failed', { direction, err });
    this.close(CLOSE.INTERNAL_ERROR, 'GW_INTERNAL: the gateway failed to relay a message');
  }
}

/**
 * A message (UTF-8) as the guard reads a body (guard/normalise.ts): one that starts with `{` or
 * `[` as JSON (every key kept, depth bounded, integers exact; text again when it does not parse),
 * anything else as text; both searched for hidden text.
 */
export function readMessage(data: Buffer, direction: Direction): ReadMessage {
  let at = 0;
  while (at < data.length && (data[at] === 0x20 || data[at] === 0x09 || data[at] === 0x0a || data[at] === 0x0d)) at++; // JSON's whitespace
  const json = data[at] === 0x7b || data[at] === 0x5b; // { [
  const normal = normaliseBody(data, {
    contentType: json ? 'application/json' : 'text/plain; charset=utf-8',
    maxBytes: data.length, // nothing to decode: a message has no content coding
    tooLarge: () => new GatewayError('GW_INTERNAL', 'A WebSocket message grew while it was read.'),
    direction,
  });
  return {
    payload: normal.json !== undefined ? { body: normal.json } : { text: normal.text ?? '' },
    findings: normal.findings,
    reencode: (masked) => normal.reencode(masked),
  };
}

/** A message too large to inspect: never allowed (the recorder sees a deny). */
function oversize(limit: number): Outcome {
  return {
    decision: 'deny',
    reasons: [{ rule: '(oversize)', policy: '(connection)', action: 'deny', reason: 'inspect.oversize', message: `The message is larger than the ${limit} bytes inspected (limits.inspectBytes).` }],
    findings: [{ kind: 'inspect.limit', path: '$', severity: 'high', detail: `websocket message over the inspection limit of ${limit} bytes` }],
  };
}

/** A binary message that is not text: nothing can inspect it, so it is refused. */
function uninspectable(size: number): Outcome {
  return {
    decision: 'deny',
    reasons: [{ rule: '(binary)', policy: '(connection)', action: 'deny', reason: 'inspect.binary', message: 'Binary WebSocket messages cannot be inspected; send text (JSON or plain).' }],
    findings: [{ kind: 'inspect.binary', path: '$', severity: 'high', detail: `binary websocket message of ${size} bytes that is not UTF-8 text` }],
  };
}

/** Codes that may be sent in a close frame (1005 and 1006 only describe what was received). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** `reason` cut to the 123 bytes a close frame carries, on a character boundary. */
export function fitReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) { // bounded: stops after at most 120 bytes
    const size = Buffer.byteLength(ch);
    if (bytes + size > MAX_REASON_BYTES - 3) break;
    out += ch;
    bytes += size;
  }
  return `${out}…`;
}

function closedOf(ws: WebSocket): Promise<void> {
  return ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise((resolve) => ws.once('close', () => resolve()));
}
