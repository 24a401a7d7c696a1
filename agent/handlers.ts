// What the agent does with a stream the gateway opens: the open header's `kind` picks a
// handler registered here (the HTTP forwarder, the Postgres dialer, ...). A kind nobody handles
// is reset with AGENT_STREAM_KIND_UNKNOWN; a handler that throws or rejects has its stream reset
// with AGENT_HANDLER_FAILED and the cause logged here only. Every stream gets an 'error'
// listener, so a stream the gateway resets never crashes the process.
import type { Logger } from '../lib/log.ts';
import type { TunnelStream } from '../gateway/tunnel/index.ts';

export interface StreamContext {
  /** This agent's name. */
  readonly agent: string;
  /** The gateway (base URL) whose tunnel carries the stream. */
  readonly gateway: string;
  readonly logger: Logger;
}

export type StreamHandler = (stream: TunnelStream, header: Readonly<Record<string, unknown>>, ctx: StreamContext) => void | Promise<void>;

const KIND = /^[a-z][a-z0-9-]{0,31}$/;
const handlers = new Map<string, StreamHandler>();

/**
 * Registers the handler for streams whose header says `kind` (lower-case word, ≤ 32 chars).
 * Returns a function that removes it. Registering a kind twice is a TypeError.
 */
export function registerStreamHandler(kind: string, handler: StreamHandler): () => void {
  if (!KIND.test(kind)) throw new TypeError(`stream kind ${JSON.stringify(kind)} must be a lower-case word of at most 32 characters`);
  if (handlers.has(kind)) throw new TypeError(`a handler for stream kind ${kind} is already registered`);
  handlers.set(kind, handler);
  return () => {
    if (handlers.get(kind) === handler) handlers.delete(kind);
  };
}

/** Hands a stream the gateway opened to the handler of its kind. */
export function dispatchStream(stream: TunnelStream, ctx: StreamContext): void {
  stream.on('error', (err) => ctx.logger.debug('tunnel stream failed', { stream: stream.id, err }));
  const kind = stream.header.kind;
  const handler = typeof kind === 'string' ? handlers.get(kind) : undefined;
  if (handler === undefined) {
    const shown = typeof kind === 'string' ? kind.slice(0, 32) : String(kind);
    ctx.logger.warn('tunnel stream of an unknown kind refused', { stream: stream.id, kind: shown });
    stream.reset('AGENT_STREAM_KIND_UNKNOWN', `this agent has no handler for stream kind ${JSON.stringify(shown)}; upgrade the agent`);
    return;
  }
  const failed = (err: unknown) => {
    ctx.logger.error('stream handler failed', { stream: stream.id, kind, err });
    if (!stream.destroyed) stream.reset('AGENT_HANDLER_FAILED', 'the agent failed to handle this stream; its log has the detail');
  };
  try {
    const done = handler(stream, stream.header, ctx);
    if (done instanceof Promise) done.catch(failed);
  } catch (err) {
    failed(err);
  }
}
