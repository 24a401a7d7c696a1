// A tunnel session: many flow-controlled streams multiplexed over one WebSocket, the same code at
// both ends (the agent dials, the gateway accepts; either may open streams). See DESIGN.md in
// this folder for the frame format, flow control, version negotiation and close codes.
//
// Life cycle: both sides send HELLO at once; the first frame each receives must be the peer's
// HELLO, which fixes the version (the highest both speak) and the peer's per-stream window.
// Frames this side produces before that (stream opens) wait in order, so open() can be called
// straight away. After that, pings run; a ping unanswered within the timeout drops the tunnel.
// Any protocol violation closes the whole tunnel with a coded close frame: the peer is either
// buggy or hostile, and a half-trusted connection is worse than a reconnect.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { RawData, WebSocket } from 'ws';
import type { Logger } from '../../lib/log.ts';
import { codeOfClose, TunnelError } from './errors.ts';
import {
  decodeFrame, encodeFrame, encodeHello, encodeOpen, encodeReset, FrameType, MAX_FRAME_BYTES, MAX_STREAM_ID,
  parseHello, parseOpenHeader, parseReset, parseWindow, type Frame,
} from './frames.ts';
import { TunnelStream, type StreamInbound, type StreamLink } from './stream.ts';

/** Protocol versions this build speaks (negotiated in HELLO: the highest both sides list wins). */
export const TUNNEL_VERSIONS: readonly number[] = Object.freeze([1]);

/**
 * ws options for the gateway's WebSocketServer: a message over one maximum frame is refused by ws
 * before it is buffered (1009), and compression stays off (no CRIME-style leaks between streams).
 */
export const TUNNEL_WS_SERVER_OPTIONS = Object.freeze({ maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });

/**
 * ws options for the agent's WebSocket: the same, plus an all-zero masking key. Masking protects
 * intermediaries from byte sequences a browser script chooses; the agent is no browser and the
 * tunnel runs over TLS, while masking in pure JS (no native addons here) took about 40% of the
 * CPU of a bulk transfer. ws skips the XOR for a zero key on both ends (since ws 8.4).
 */
export const TUNNEL_WS_CLIENT_OPTIONS = Object.freeze({
  ...TUNNEL_WS_SERVER_OPTIONS,
  generateMask: (mask: Buffer): void => { mask.fill(0); },
});

export interface TunnelSessionOptions {
  /** 'client' for the end that dialled the WebSocket (the agent), 'server' for the end that accepted it. Client streams get odd ids, server streams even. */
  readonly role: 'client' | 'server';
  /** Receive window per stream, in bytes, granted to the peer at open. Default 256 KiB; 1 KiB–16 MiB. */
  readonly window?: number;
  /** Concurrent streams the peer may have open here; one more is reset with TUNNEL_STREAM_REFUSED. Default 256. */
  readonly maxStreams?: number;
  /** Readable and writable high-water mark of every stream, in bytes. Default 64 KiB. */
  readonly streamHighWaterMark?: number;
  /** WebSocket send buffer, in bytes, above which stream writes wait for the socket to drain. Default 1 MiB. */
  readonly socketHighWaterMark?: number;
  /** Milliseconds between pings; 0 disables them. Default 15000. */
  readonly pingIntervalMs?: number;
  /** Milliseconds a ping may go unanswered before the peer is declared dead. Default 10000. */
  readonly pingTimeoutMs?: number;
  /** Milliseconds to wait for the peer's HELLO. Default 10000. */
  readonly handshakeTimeoutMs?: number;
  /** Milliseconds close() waits for the WebSocket closing handshake before dropping the socket. Default 2000. */
  readonly closeTimeoutMs?: number;
  /** Where session-level failures are logged. Default: nowhere. */
  readonly logger?: Logger;
}

export interface TunnelSessionEvents {
  /** Negotiated protocol version. */
  ready: [version: number];
  /** A stream the peer opened; `stream.header` is its open header. With no listener, streams are refused. */
  stream: [stream: TunnelStream];
  /** The WebSocket is closed; the error is undefined for a normal close (1000/1001) by either side. */
  close: [error: TunnelError | undefined];
}

interface Entry { readonly stream: TunnelStream; readonly inbound: StreamInbound; readonly incoming: boolean }

const WS_CONNECTING = 0;
const WS_OPEN = 1;

function int(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new TypeError(`TunnelSession option ${name} must be an integer in ${min}–${max}, not ${String(value)}`);
  return v;
}

/** Cuts a close reason to the 123 bytes a WebSocket close frame allows, on a character boundary. */
function closeReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

export class TunnelSession extends EventEmitter<TunnelSessionEvents> {
  readonly role: 'client' | 'server';
  /** Resolves with the negotiated version; rejects with the session's error if it closes first. */
  readonly ready: Promise<number>;
  /** Resolves when the WebSocket is closed, with the error (undefined for a normal close). */
  readonly closed: Promise<TunnelError | undefined>;

  readonly #ws: WebSocket;
  readonly #opts: Required<Omit<TunnelSessionOptions, 'logger' | 'role'>>;
  readonly #logger: Logger | undefined;
  readonly #link: StreamLink;
  #state: 'handshake' | 'open' | 'closing' | 'closed' = 'handshake';
  #version: number | undefined;
  #peerWindow = 0;
  #queue: Array<{ frame: Buffer; done: (() => void) | undefined }> = [];
  readonly #streams = new Map<number, Entry>();
  #incoming = 0;
  #nextId: number;
  #lastPeerId = 0;
  #error: TunnelError | undefined;
  #closeCode: number | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #pongTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #pingNonce = 0n;
  #corked = false;
  #pingSentAt = 0;
  #rtt: number | undefined;
  #resolveReady!: (version: number) => void;
  #rejectReady!: (err: TunnelError) => void;
  #resolveClosed!: (err: TunnelError | undefined) => void;

  /**
   * Takes over a connecting or open WebSocket (its 'message', 'close' and 'error' events) and
   * sends HELLO once it is open. Create it right after `new WebSocket()` or in the server's
   * 'connection' handler, in the same tick: a message that arrives before it would be lost.
   * The handshake timeout covers the connect as well.
   */
  constructor(ws: WebSocket, options: TunnelSessionOptions) {
    super();
    if (options?.role !== 'client' && options?.role !== 'server') throw new TypeError(`TunnelSession option role must be 'client' or 'server', not ${String(options?.role)}`);
    if (ws?.readyState !== WS_OPEN && ws?.readyState !== WS_CONNECTING) throw new TypeError('TunnelSession needs a connecting or open WebSocket');
    this.role = options.role;
    this.#opts = {
      window: int('window', options.window, 256 * 1024, 1024, 16 * 1024 * 1024),
      maxStreams: int('maxStreams', options.maxStreams, 256, 1, 65_536),
      streamHighWaterMark: int('streamHighWaterMark', options.streamHighWaterMark, 64 * 1024, 1024, 16 * 1024 * 1024),
      socketHighWaterMark: int('socketHighWaterMark', options.socketHighWaterMark, 1024 * 1024, 1024, 256 * 1024 * 1024),
      pingIntervalMs: int('pingIntervalMs', options.pingIntervalMs, 15_000, 0, 3_600_000),
      pingTimeoutMs: int('pingTimeoutMs', options.pingTimeoutMs, 10_000, 1, 3_600_000),
      handshakeTimeoutMs: int('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000, 1, 3_600_000),
      closeTimeoutMs: int('closeTimeoutMs', options.closeTimeoutMs, 2000, 0, 3_600_000),
    };
    this.#logger = options.logger;
    this.#nextId = this.role === 'client' ? 1 : 2;
    this.#ws = ws;
    this.ready = new Promise<number>((resolve, reject) => { this.#resolveReady = resolve; this.#rejectReady = reject; });
    this.ready.catch(() => {}); // a session that never got ready reports through 'close'/closed too
    this.closed = new Promise((resolve) => { this.#resolveClosed = resolve; });
    const session = this;
    this.#link = {
      get open() { return session.#state === 'handshake' || session.#state === 'open'; },
      send: (frame, done) => this.#send(frame, done),
      retire: (id) => this.#retire(id),
      fail: (err) => this.#fail(err),
    };
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', (err) => this.#onSocketError(err));
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
    // ws may deliver the peer's first message in the same tick as 'open', so listeners are
    // attached above, before the socket is open, and HELLO goes out as soon as it is.
    const hello = encodeHello({ versions: TUNNEL_VERSIONS, window: this.#opts.window });
    if (ws.readyState === WS_OPEN) ws.send(hello);
    else ws.once('open', () => ws.send(hello));
    this.#handshakeTimer = setTimeout(() => {
      this.#fail(new TunnelError('TUNNEL_HANDSHAKE_TIMEOUT', `The peer sent no hello within ${this.#opts.handshakeTimeoutMs} ms; is it an airlock tunnel endpoint?`));
    }, this.#opts.handshakeTimeoutMs).unref();
  }

  /** Negotiated protocol version, undefined before the peer's HELLO. */
  get version(): number | undefined { return this.#version; }
  /** Streams currently open on this session (both directions). */
  get streamCount(): number { return this.#streams.size; }
  /** Round-trip time of the last answered ping, in ms. */
  get rttMs(): number | undefined { return this.#rtt; }
  /** The error the session closed with (undefined while open or after a normal close). */
  get error(): TunnelError | undefined { return this.#error; }
  /** The WebSocket close code once closed. */
  get closeCode(): number | undefined { return this.#closeCode; }
  get state(): 'handshake' | 'open' | 'closing' | 'closed' { return this.#state; }

  /**
   * Opens a stream to the peer with a JSON-object header (at most 8 KiB of JSON), usable at once:
   * writes wait for the peer's credit. Throws TUNNEL_CLOSED when the session is closing,
   * TUNNEL_HEADER_INVALID for a bad header, TUNNEL_STREAM_IDS_EXHAUSTED after 2^31 streams.
   */
  open(header: object = {}): TunnelStream {
    if (this.#state === 'closing' || this.#state === 'closed') throw new TunnelError('TUNNEL_CLOSED', 'The tunnel is closed; open the stream on another tunnel.');
    if (this.#nextId > MAX_STREAM_ID) throw new TunnelError('TUNNEL_STREAM_IDS_EXHAUSTED', 'This tunnel has used all its stream ids; open a new tunnel.');
    const id = this.#nextId;
    const frame = encodeOpen(id, header);
    this.#nextId += 2;
    const entry = this.#addStream(id, parseOpenHeader(frame.subarray(9)), false);
    this.#send(frame);
    if (this.#state === 'open') entry.inbound.credit(this.#peerWindow);
    return entry.stream;
  }

  /**
   * Closes the tunnel: every open stream is destroyed with TUNNEL_CLOSED (here and, through the
   * close frame, at the peer), then the WebSocket closes with `code` (1000 or 3000–4999, default
   * 1000) and `reason` (cut to 123 bytes). Resolves when the socket is closed, at the latest
   * closeTimeoutMs later (the socket is then dropped). All timers are cleared.
   */
  async close(code = 1000, reason = ''): Promise<void> {
    if (!(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) throw new TypeError(`close code ${code} must be 1000 or 3000–4999`);
    if (this.#state === 'closing' || this.#state === 'closed') {
      await this.closed;
      return;
    }
    this.#state = 'closing';
    this.#stopTimers();
    this.#abortStreams(new TunnelError('TUNNEL_CLOSED', 'This side closed the tunnel while the stream was open; retry on another tunnel.', { closeCode: code }));
    this.#closeSocket(code, reason);
    await this.closed;
  }

  #addStream(id: number, header: Record<string, unknown>, incoming: boolean): Entry {
    const { stream, inbound } = TunnelStream.create({ link: this.#link, id, header, window: this.#opts.window, highWaterMark: this.#opts.streamHighWaterMark });
    const entry = { stream, inbound, incoming };
    this.#streams.set(id, entry);
    if (incoming) this.#incoming++;
    return entry;
  }

  #retire(id: number): void {
    const entry = this.#streams.get(id);
    if (entry === undefined) return;
    this.#streams.delete(id);
    if (entry.incoming) this.#incoming--;
  }

  #send(frame: Buffer, done?: () => void): void {
    if (this.#state === 'handshake') {
      this.#queue.push({ frame, done });
      return;
    }
    if (this.#state !== 'open') return; // closing: streams are being aborted, nothing more goes out
    this.#cork();
    if (done === undefined) {
      this.#ws.send(frame);
    } else if (this.#ws.bufferedAmount < this.#opts.socketHighWaterMark) {
      this.#ws.send(frame);
      done();
    } else {
      this.#ws.send(frame, () => done()); // runs once the socket has written this frame
    }
  }

  // Frames sent in one tick (data of many streams, a window update, a response's head and body)
  // leave in one write instead of one system call each: the socket is corked until the next tick.
  // ws has no cork of its own, so this reaches for its socket (`_socket`, set while it is open);
  // without one, frames simply go out one by one.
  #cork(): void {
    if (this.#corked) return;
    const socket = (this.#ws as unknown as { _socket?: { cork?: () => void; uncork?: () => void } | null })._socket;
    if (typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork!();
    });
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    if (!isBinary) {
      this.#fail(new TunnelError('TUNNEL_FRAME_MALFORMED', 'The peer sent a text WebSocket message; tunnel frames are binary.'));
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(data as Buffer);
      if (this.#state === 'handshake') {
        if (frame.type !== FrameType.HELLO) throw new TunnelError('TUNNEL_PROTOCOL_ERROR', 'The peer\'s first frame was not a hello.');
        this.#onHello(frame);
        return;
      }
      this.#dispatch(frame);
    } catch (err) {
      // A TunnelError is the peer's fault. Anything else is ours, most likely a listener of a
      // stream event throwing while we dispatched: fail closed, without crashing the process.
      this.#fail(err instanceof TunnelError ? err : new TunnelError('TUNNEL_INTERNAL', 'This side failed while handling a tunnel frame; its log has the detail.', { cause: err }));
    }
  }

  #onHello(frame: Frame): void {
    const hello = parseHello(frame.payload);
    const common = TUNNEL_VERSIONS.filter((v) => hello.versions.includes(v));
    if (common.length === 0) {
      const mine = `v${TUNNEL_VERSIONS.join(', v')}`;
      const theirs = `v${hello.versions.join(', v')}`;
      const [client, server] = this.role === 'client' ? [mine, theirs] : [theirs, mine];
      throw new TunnelError('TUNNEL_VERSION_MISMATCH', `Tunnel version mismatch: agent speaks ${client}, gateway speaks ${server}; upgrade the older one.`);
    }
    if (hello.window === undefined) throw new TunnelError('TUNNEL_FRAME_MALFORMED', 'The peer\'s hello has no "window", which version 1 requires.');
    this.#version = Math.max(...common);
    this.#peerWindow = hello.window;
    this.#state = 'open';
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    // Queued opens go out before any data, so the peer never sees data for a stream it does not know.
    const queued = this.#queue;
    this.#queue = [];
    for (const { frame: f, done } of queued) this.#send(f, done);
    for (const entry of this.#streams.values()) entry.inbound.credit(this.#peerWindow);
    if (this.#opts.pingIntervalMs > 0) this.#pingTimer = setInterval(() => this.#ping(), this.#opts.pingIntervalMs).unref();
    this.#resolveReady(this.#version);
    this.emit('ready', this.#version);
  }

  #dispatch(frame: Frame): void {
    const { type, streamId: id, payload } = frame;
    switch (type) {
      case FrameType.PING:
        this.#send(encodeFrame(FrameType.PONG, 0, payload));
        return;
      case FrameType.PONG:
        if (this.#pongTimer !== undefined && payload.readBigUInt64BE(0) === this.#pingNonce) {
          clearTimeout(this.#pongTimer);
          this.#pongTimer = undefined;
          this.#rtt = performance.now() - this.#pingSentAt;
        }
        return;
      case FrameType.HELLO:
        throw new TunnelError('TUNNEL_PROTOCOL_ERROR', 'The peer sent a second hello.');
      case FrameType.OPEN:
        this.#onOpen(id, payload);
        return;
    }
    const entry = this.#streams.get(id);
    if (entry === undefined) {
      if (this.#wasUsed(id)) return; // a late frame for a stream that is over: normal after a reset
      throw new TunnelError('TUNNEL_PROTOCOL_ERROR', `The peer sent a ${type === FrameType.DATA ? 'DATA' : 'stream'} frame for stream ${id}, which was never opened.`);
    }
    switch (type) {
      case FrameType.DATA: entry.inbound.data(payload); return;
      case FrameType.END: entry.inbound.end(); return;
      case FrameType.WINDOW: entry.inbound.window(parseWindow(payload)); return;
      case FrameType.RESET: {
        const { code, message } = parseReset(payload);
        entry.inbound.reset(code, message);
        return;
      }
    }
  }

  #isPeerId(id: number): boolean {
    return (id % 2 === 1) === (this.role === 'server'); // the client opens odd ids
  }

  #wasUsed(id: number): boolean {
    return this.#isPeerId(id) ? id <= this.#lastPeerId : id < this.#nextId;
  }

  #onOpen(id: number, payload: Buffer): void {
    if (!this.#isPeerId(id) || id <= this.#lastPeerId) {
      throw new TunnelError('TUNNEL_PROTOCOL_ERROR', `The peer opened stream ${id}, which is not a fresh ${this.role === 'server' ? 'odd' : 'even'} id.`);
    }
    this.#lastPeerId = id;
    let header: Record<string, unknown>;
    try {
      header = parseOpenHeader(payload);
    } catch (err) {
      // A bad header spoils one stream, not the tunnel: refuse it and carry on.
      this.#send(encodeReset(id, 'TUNNEL_HEADER_INVALID', (err as TunnelError).message));
      return;
    }
    if (this.#incoming >= this.#opts.maxStreams || this.listenerCount('stream') === 0) {
      const why = this.listenerCount('stream') === 0 ? 'this side accepts no streams' : `this side already has its maximum of ${this.#opts.maxStreams} concurrent streams`;
      this.#send(encodeReset(id, 'TUNNEL_STREAM_REFUSED', why));
      return;
    }
    const entry = this.#addStream(id, header, true);
    entry.inbound.credit(this.#peerWindow);
    this.emit('stream', entry.stream);
  }

  #ping(): void {
    if (this.#pongTimer !== undefined || this.#state !== 'open') return; // one ping in flight at a time
    this.#pingNonce++;
    const payload = Buffer.allocUnsafe(8);
    payload.writeBigUInt64BE(this.#pingNonce, 0);
    this.#pingSentAt = performance.now();
    this.#send(encodeFrame(FrameType.PING, 0, payload));
    this.#pongTimer = setTimeout(() => {
      this.#fail(new TunnelError('TUNNEL_PEER_DEAD', `The peer did not answer a ping within ${this.#opts.pingTimeoutMs} ms; the tunnel was dropped.`), true);
    }, this.#opts.pingTimeoutMs).unref();
  }

  /** Closes the session because of `err`: streams fail with it at once, the peer gets its close code. */
  #fail(err: TunnelError, drop = false): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    this.#error = err;
    this.#stopTimers();
    this.#logger?.warn('tunnel closed on error', { role: this.role, code: err.code, error: err.message, ...(err.cause === undefined ? {} : { cause: err.cause }) });
    this.#abortStreams(err);
    if (drop) this.#ws.terminate(); // a dead peer will not answer a closing handshake
    else this.#closeSocket(err.closeCode ?? 4001, err.message);
  }

  #closeSocket(code: number, reason: string): void {
    this.#queue = [];
    if (this.#ws.readyState === WS_OPEN) this.#ws.close(code, closeReason(reason));
    else if (this.#ws.readyState === WS_CONNECTING) this.#ws.terminate(); // no handshake to wait for
    this.#closeTimer = setTimeout(() => this.#ws.terminate(), this.#opts.closeTimeoutMs).unref();
  }

  #abortStreams(err: TunnelError): void {
    const entries = [...this.#streams.values()];
    this.#streams.clear();
    this.#incoming = 0;
    for (const entry of entries) entry.inbound.abort(err);
  }

  #stopTimers(): void {
    for (const timer of [this.#handshakeTimer, this.#pingTimer, this.#pongTimer]) clearTimeout(timer);
    this.#handshakeTimer = this.#pingTimer = this.#pongTimer = undefined;
  }

  #onSocketError(err: Error & { code?: string }): void {
    // ws reports a failed connect or a broken WebSocket frame here, then closes on its own:
    // keep the reason for the 'close' that follows.
    if (this.#state === 'closing' || this.#state === 'closed' || this.#error !== undefined) return;
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#error = new TunnelError('TUNNEL_FRAME_TOO_LARGE', `The peer sent a WebSocket message over the ${MAX_FRAME_BYTES}-byte frame cap.`, { cause: err });
    } else if (err.code?.startsWith('WS_ERR_') === true) {
      this.#error = new TunnelError('TUNNEL_PROTOCOL_ERROR', 'The peer sent an invalid WebSocket frame.', { cause: err });
    } else {
      this.#error = new TunnelError('TUNNEL_CONNECTION_LOST', `The tunnel's WebSocket failed (${err.message}); the agent reconnects.`, { cause: err });
    }
  }

  #onClose(code: number, reason: string): void {
    clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#stopTimers();
    if (this.#state !== 'closing') {
      const err = this.#error ?? this.#errorForClose(code, reason);
      this.#error = code === 1000 || code === 1001 ? undefined : err;
      if (this.#error !== undefined) this.#logger?.warn('tunnel closed by the peer', { role: this.role, code: err.code, closeCode: code, error: err.message });
      this.#abortStreams(err);
    }
    this.#state = 'closed';
    this.#closeCode = code;
    this.#queue = [];
    this.#rejectReady(this.#error ?? new TunnelError('TUNNEL_CLOSED', 'The tunnel closed before its handshake finished.', { closeCode: code }));
    this.#resolveClosed(this.#error);
    this.emit('close', this.#error);
  }

  #errorForClose(code: number, reason: string): TunnelError {
    const said = reason === '' ? '' : `: ${reason}`;
    if (code === 1000 || code === 1001) return new TunnelError('TUNNEL_CLOSED', `The peer closed the tunnel (${code}${said}); retry on another tunnel.`, { closeCode: code });
    const mapped = codeOfClose(code);
    if (mapped === 'TUNNEL_CONNECTION_LOST') return new TunnelError(mapped, 'The tunnel\'s WebSocket dropped without a close frame; the agent reconnects.', { closeCode: code });
    if (mapped !== undefined) return new TunnelError(mapped, `The peer closed the tunnel (${code}${said}).`, { closeCode: code });
    return new TunnelError('TUNNEL_CLOSED', `The peer closed the tunnel with code ${code}${said}.`, { closeCode: code });
  }
}
