// The MCP SDK's Transport over one tunnel stream to a stdio MCP server the agent runs
// (agent/mcp-stdio.ts): the stream carries the server's stdin and stdout, so messages are framed
// exactly as the SDK's stdio transport frames them (its ReadBuffer and serializeMessage:
// newline-delimited JSON-RPC). The stream is opened at start(); closing the transport destroys it,
// which ends the server; the server exiting resets the stream (AGENT_MCP_EXITED), which closes
// the transport. Why the stream ended is kept in `failure` for the error the caller sees.
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.ts';
import type { TunnelStream } from '../tunnel/index.ts';

export interface StreamTransportOptions {
  /** Opens the stream (throws GW_AGENT_OFFLINE when the agent is not connected). */
  readonly open: () => TunnelStream;
  /** Largest message read, in bytes: a longer line fails the session. */
  readonly maxMessageBytes: number;
  /** For messages. */
  readonly connection: string;
}

export class StreamTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The error the stream ended with (the agent's reset, a size breach), if it did not end cleanly. */
  failure: Error | undefined;

  readonly #options: StreamTransportOptions;
  readonly #buffer: ReadBuffer;
  #stream: TunnelStream | undefined;
  #closed = false;
  #queue: JSONRPCMessage[] = [];
  #delivering = false;

  constructor(options: StreamTransportOptions) {
    this.#options = options;
    this.#buffer = new ReadBuffer({ maxBufferSize: options.maxMessageBytes });
  }

  async start(): Promise<void> {
    if (this.#stream !== undefined) throw new Error('StreamTransport already started');
    const stream = this.#options.open();
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => this.#read(chunk));
    stream.on('error', (err: Error) => {
      this.failure ??= err;
      this.onerror?.(err);
    });
    // The agent ends its side only when the server is gone; nothing more can be exchanged.
    stream.on('end', () => stream.destroy());
    stream.on('close', () => this.#onClose());
  }

  #read(chunk: Buffer): void {
    // Appended a line at a time, so the buffer's cap bounds one message, not a chunk of several.
    for (let rest = chunk; rest.length > 0;) { // each turn consumes a line or the rest
      const end = rest.indexOf(0x0a);
      const line = end === -1 ? rest : rest.subarray(0, end + 1);
      rest = rest.subarray(line.length);
      try {
        this.#buffer.append(line);
      } catch {
        this.failure ??= new GatewayError('GW_MCP_UPSTREAM_FAILED', `The stdio MCP server of connection ${this.#options.connection} sent a message larger than ${this.#options.maxMessageBytes} bytes (limits.maxResponseBytes); the session was ended.`);
        this.onerror?.(this.failure);
        this.#stream?.destroy();
        return;
      }
      let message: JSONRPCMessage | null;
      try {
        message = this.#buffer.readMessage();
      } catch (err) {
        this.onerror?.(err as Error); // a line that is not JSON-RPC is skipped, as the SDK's stdio transport does
        continue;
      }
      if (message !== null) this.#queue.push(message);
    }
    void this.#deliver();
  }

  // One message per microtask: the SDK runs a notification's handler in a microtask but a
  // response at once, so a progress notification read in the same chunk as its request's
  // response would otherwise find the request already settled, and be lost.
  async #deliver(): Promise<void> {
    if (this.#delivering) return;
    this.#delivering = true;
    while (this.#queue.length > 0) { // bounded by what was read; #read appends to this same loop
      this.onmessage?.(this.#queue.shift()!);
      await Promise.resolve();
    }
    this.#delivering = false;
    if (this.#closed) this.onclose?.(); // held back until the last message was delivered
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer.clear();
    if (!this.#delivering) this.onclose?.();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const stream = this.#stream;
    if (stream === undefined || stream.destroyed || !stream.writable) throw this.failure ?? new GatewayError('GW_MCP_UPSTREAM_FAILED', `The session with the stdio MCP server of connection ${this.#options.connection} is closed.`);
    // Resolves once the bytes are on the tunnel (its flow control holds a writer the server does not read).
    await new Promise<void>((resolve, reject) => stream.write(serializeMessage(message), (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    if (this.#stream === undefined) this.#onClose();
    else this.#stream.destroy();
  }
}
