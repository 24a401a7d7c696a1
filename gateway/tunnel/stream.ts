// One stream of a tunnel session: a flow-controlled byte stream that behaves like a socket, so
// stock protocol code runs over it unchanged (node:http serves it through
// `server.emit('connection', stream)`; `http.request({ createConnection: () => stream })` or an
// http.Agent whose createConnection returns one sends over it).
//
// Flow control, receive side: the peer may send only as many bytes as this side granted (the
// session's window at open, then WINDOW frames). Bytes that push() accepts below the readable
// high-water mark are granted back (batched to a quarter window); once push() returns false
// nothing more is granted until Node asks for more with _read(). So unread data held here is at
// most readableHighWaterMark + window + one frame, whatever the peer does.
// Send side: a write waits while the peer's credit is zero; its callback (and so 'drain') comes
// only when every byte is on the WebSocket and the socket is below the session's high-water
// mark. So a slow reader at the far end stops the writer here, and nothing buffers without bound.
import { Duplex } from 'node:stream';
import { TunnelError } from './errors.ts';
import { encodeFrame, encodeReset, encodeWindow, FrameType, isResetCode, MAX_PAYLOAD_BYTES } from './frames.ts';

/** What a stream needs from its session. */
export interface StreamLink {
  /** False once the session is closing: nothing may be sent any more. */
  readonly open: boolean;
  /** Queues a frame on the WebSocket; `done` runs when the socket has room again (at once when it has). */
  send(frame: Buffer, done?: () => void): void;
  /** The stream is over on the wire (both ends sent, or reset): its id is retired. */
  retire(id: number): void;
  /** Fails the whole session (the peer broke the protocol on this stream). */
  fail(err: TunnelError): void;
}

/** What the session calls when frames for this stream arrive. */
export interface StreamInbound {
  data(payload: Buffer): void;
  end(): void;
  reset(code: string, message: string | undefined): void;
  window(increment: number): void;
  /** The peer's initial window, once known (at open, or when its hello arrives). */
  credit(bytes: number): void;
  /** The session is gone: destroy with its error (if anyone listens for one), send nothing. */
  abort(err: TunnelError): void;
}

export interface TunnelStreamInit {
  readonly link: StreamLink;
  readonly id: number;
  readonly header: Readonly<Record<string, unknown>>;
  /** This side's receive window for the stream, in bytes. */
  readonly window: number;
  /** Readable and writable high-water marks, in bytes. */
  readonly highWaterMark: number;
}

type WriteCallback = (error?: Error | null) => void;

export class TunnelStream extends Duplex {
  /** Stream id: odd when the WebSocket client opened it, even when the server did. */
  readonly id: number;
  /** The open header the opener sent (parsed JSON object). */
  readonly header: Readonly<Record<string, unknown>>;
  /** A tunnel stream has no IP endpoint of its own: whatever the application needs travels in the open header. */
  readonly remoteAddress: string | undefined = undefined;
  readonly remotePort: number | undefined = undefined;
  readonly remoteFamily: string | undefined = undefined;
  readonly localAddress: string | undefined = undefined;
  readonly localPort: number | undefined = undefined;
  readonly connecting = false;
  readonly pending = false;

  readonly #link: StreamLink;
  readonly #grantThreshold: number;
  #sendCredit = 0;
  #recvCredit: number;
  #ungranted = 0; // received, accepted below the high-water mark, not yet granted back
  #held = 0; // received while push() said stop: granted only after _read()
  #paused = false;
  #pending: Buffer | undefined;
  #pendingCallback: WriteCallback | undefined;
  #sentEnd = false;
  #gotEnd = false;
  #retired = false;
  #resetReceived = false;
  #resetRequested = false;
  #writeError: TunnelError | undefined; // set by a reset that came after the peer's END
  #resetCode = 'TUNNEL_STREAM_CANCELLED';
  #resetMessage: string | undefined;
  #bytesRead = 0;
  #bytesWritten = 0;
  #peakReadable = 0;
  #peakWritable = 0;
  readonly #window: number;
  #idle: NodeJS.Timeout | undefined;
  #idleMs: number | undefined;

  /** Internal: streams are made by TunnelSession (open() and its 'stream' event). */
  static create(init: TunnelStreamInit): { stream: TunnelStream; inbound: StreamInbound } {
    const s = new TunnelStream(init);
    const inbound: StreamInbound = {
      data: (payload) => s.#onData(payload),
      end: () => s.#onEnd(),
      reset: (code, message) => s.#onReset(code, message),
      window: (increment) => s.#onWindow(increment),
      credit: (bytes) => s.#onWindow(bytes),
      abort: (err) => {
        s.#retired = true; // the session is gone: nothing to send, nothing to retire
        // A stream nobody listens to for errors just closes: a dropped tunnel must not crash
        // the process through an 'error' event without a listener.
        s.destroy(s.listenerCount('error') > 0 ? err : undefined);
      },
    };
    return { stream: s, inbound };
  }

  private constructor(init: TunnelStreamInit) {
    super({ allowHalfOpen: true, readableHighWaterMark: init.highWaterMark, writableHighWaterMark: init.highWaterMark, decodeStrings: true });
    this.#link = init.link;
    this.id = init.id;
    this.header = init.header;
    this.#recvCredit = init.window;
    this.#window = init.window;
    this.#grantThreshold = Math.max(1, Math.floor(init.window / 4));
  }

  /** Payload bytes received from the peer. */
  get bytesRead(): number { return this.#bytesRead; }
  /** Payload bytes sent to the peer (on the WebSocket, not merely queued here). */
  get bytesWritten(): number { return this.#bytesWritten; }
  /** Bytes the peer still accepts before it grants more. */
  get sendCredit(): number { return this.#sendCredit; }
  /** This side's receive window: the most the peer may send ahead of what is read here, in bytes. */
  get receiveWindow(): number { return this.#window; }
  /**
   * The most received bytes this stream has held unread at once (its readable buffer), over its
   * life. Flow control keeps it at most readableHighWaterMark + receiveWindow + one frame.
   */
  get peakReadableBytes(): number { return this.#peakReadable; }
  /** The most bytes written to this stream and not yet sent at once, over its life (writers that wait for 'drain' keep it near writableHighWaterMark). */
  get peakWritableBytes(): number { return this.#peakWritable; }
  /** The idle timeout in ms set with setTimeout(), undefined when never set (as net.Socket). */
  get timeout(): number | undefined { return this.#idleMs; }
  get readyState(): 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.destroyed) return 'closed';
    if (this.readable && this.writable) return 'open';
    return this.readable ? 'readOnly' : this.writable ? 'writeOnly' : 'closed';
  }

  /**
   * Abandons the stream in both directions and tells the peer why. `code`: 2–64 characters of
   * A-Z, 0-9, _ (default TUNNEL_STREAM_CANCELLED); `message`: at most 256 characters, sent to the
   * peer, so never internals. The local stream is destroyed without an error.
   */
  reset(code = 'TUNNEL_STREAM_CANCELLED', message?: string): this {
    if (!isResetCode(code)) throw new TypeError(`reset code ${JSON.stringify(code)} must be 2–64 characters of A-Z, 0-9 and _`);
    this.#resetCode = code;
    this.#resetMessage = message;
    this.#resetRequested = true;
    return this.destroy();
  }

  /** net.Socket's name for an abortive close. */
  resetAndDestroy(): this { return this.reset(); }

  /** Emits 'timeout' after `ms` without data in either direction (0 disables), as net.Socket does. */
  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`timeout ${ms} must be a non-negative number of milliseconds`);
    if (callback !== undefined) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#idleMs = ms;
    clearTimeout(this.#idle);
    this.#idle = ms === 0 || this.destroyed ? undefined : setTimeout(() => this.emit('timeout'), ms).unref();
    return this;
  }

  /** No Nagle and no TCP keep-alive on a stream (the session pings); accepted for socket compatibility. */
  setNoDelay(_noDelay?: boolean): this { return this; }
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this { return this; }
  /** The session's WebSocket, not the stream, keeps the process alive; accepted for socket compatibility. */
  ref(): this { return this; }
  unref(): this { return this; }
  address(): Record<string, never> { return {}; }

  /** Ends the writable side, then destroys once everything is sent (net.Socket's destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.#startWrite(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: WriteCallback): void {
    // http writes head and body as separate chunks under cork(): one frame instead of several
    this.#startWrite(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  #startWrite(chunk: Buffer, callback: WriteCallback): void {
    if (this.#writeError !== undefined) {
      callback(this.#writeError);
      return;
    }
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.#pending = chunk;
    this.#pendingCallback = callback;
    if (this.writableLength > this.#peakWritable) this.#peakWritable = this.writableLength;
    this.#flush();
  }

  override _final(callback: WriteCallback): void {
    if (this.#link.open && !this.#retired && !this.#sentEnd) {
      this.#link.send(encodeFrame(FrameType.END, this.id));
      this.#sentEnd = true;
      if (this.#gotEnd) this.#retire();
    }
    callback();
  }

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#ungranted += this.#held;
      this.#held = 0;
    }
    this.#grant();
  }

  // destroy() closes like a TCP socket: with nothing left unsent and no error, the peer gets END
  // (a clean end of our data) and, if it was still sending, a reset that fails only its writes.
  // With an error, unsent data, or reset(), the peer gets a reset that fails the stream there.
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    if (!this.#retired) {
      if (this.#link.open && !this.#resetReceived) {
        const clean = error === null && !this.#resetRequested && this.#pending === undefined && this.writableLength === 0;
        if (clean && !this.#sentEnd) {
          this.#link.send(encodeFrame(FrameType.END, this.id));
          this.#sentEnd = true;
        }
        if (!clean || !this.#gotEnd) this.#link.send(encodeReset(this.id, this.#resetCode, this.#resetMessage));
      }
      this.#retire();
    }
    const pending = this.#pendingCallback;
    this.#pending = undefined;
    this.#pendingCallback = undefined;
    pending?.(error ?? new TunnelError('TUNNEL_STREAM_CANCELLED', `Tunnel stream ${this.id} was destroyed before this write was sent.`));
    callback(error);
  }

  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#link.retire(this.id);
  }

  #touch(): void {
    this.#idle?.refresh();
  }

  // Sends as much of the pending write as the peer's credit allows; completes it when all is out.
  #flush(): void {
    let chunk = this.#pending;
    if (chunk === undefined || !this.#link.open) return;
    while (chunk.length > 0 && this.#sendCredit > 0) {
      const n = Math.min(chunk.length, this.#sendCredit, MAX_PAYLOAD_BYTES);
      const last = n === chunk.length;
      const frame = encodeFrame(FrameType.DATA, this.id, chunk.subarray(0, n));
      chunk = chunk.subarray(n);
      this.#sendCredit -= n;
      this.#bytesWritten += n;
      if (last) {
        const callback = this.#pendingCallback!;
        this.#pending = undefined;
        this.#pendingCallback = undefined;
        this.#touch();
        this.#link.send(frame, () => callback());
        return;
      }
      this.#link.send(frame);
    }
    this.#pending = chunk;
  }

  #onWindow(increment: number): void {
    if (this.#retired) return;
    if (this.#sendCredit + increment > 0xffff_ffff) {
      this.#link.fail(new TunnelError('TUNNEL_FLOW_CONTROL', `The peer granted stream ${this.id} more than 4 GiB of credit.`));
      return;
    }
    this.#sendCredit += increment;
    this.#flush();
  }

  #onData(payload: Buffer): void {
    if (this.#gotEnd) {
      this.#link.fail(new TunnelError('TUNNEL_PROTOCOL_ERROR', `The peer sent data on stream ${this.id} after ending it.`));
      return;
    }
    if (payload.length > this.#recvCredit) {
      this.#link.fail(new TunnelError('TUNNEL_FLOW_CONTROL', `The peer sent ${payload.length} bytes on stream ${this.id} with ${this.#recvCredit} bytes of credit.`));
      return;
    }
    this.#recvCredit -= payload.length;
    this.#bytesRead += payload.length;
    this.#touch();
    if (this.readableLength + payload.length > this.#peakReadable) this.#peakReadable = this.readableLength + payload.length;
    if (this.#paused) {
      this.#held += payload.length;
      this.push(payload);
    } else if (this.push(payload)) {
      this.#ungranted += payload.length;
      this.#grant();
    } else {
      this.#paused = true;
      this.#held += payload.length;
    }
  }

  // Hands consumed credit back to the peer, a quarter window at a time (fewer WINDOW frames).
  #grant(): void {
    if (this.#ungranted < this.#grantThreshold || this.#gotEnd || this.#retired || !this.#link.open) return;
    const increment = this.#ungranted;
    this.#ungranted = 0;
    this.#recvCredit += increment;
    this.#link.send(encodeWindow(this.id, increment));
  }

  #onEnd(): void {
    if (this.#gotEnd) {
      this.#link.fail(new TunnelError('TUNNEL_PROTOCOL_ERROR', `The peer ended stream ${this.id} twice.`));
      return;
    }
    this.#gotEnd = true;
    this.push(null);
    if (this.#sentEnd) this.#retire();
  }

  #onReset(code: string, message: string | undefined): void {
    this.#resetReceived = true;
    const why = message === undefined ? code : `${code}: ${message}`;
    const err = new TunnelError('TUNNEL_STREAM_RESET', `The peer reset tunnel stream ${this.id} (${why}).`, { resetCode: code });
    if (!this.#gotEnd) {
      this.destroy(err); // the peer abandoned its data midway: fail the stream (unread data is lost)
      return;
    }
    // The peer had ended its data cleanly and now reads no more: it closed, as a TCP peer does.
    // What we received stays readable to its end, writes fail from now on, and once the data is
    // read the stream closes (an idle keep-alive stream in an http.Agent pool must not linger).
    this.#writeError = err;
    this.#retire();
    const pending = this.#pendingCallback;
    this.#pending = undefined;
    this.#pendingCallback = undefined;
    pending?.(err);
    if (this.readableEnded) this.destroy();
    else this.once('end', () => this.destroy());
  }
}
