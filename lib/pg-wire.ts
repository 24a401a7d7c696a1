// The PostgreSQL v3 wire protocol as airlock reads and writes it (the gateway's listener,
// gateway/postgres/, and the agent's pg-wire streams): framing with a size limit,
// strict decoders for the messages the guard reads (startup, Query, Parse, Bind, RowDescription,
// DataRow, CommandComplete, ErrorResponse, ReadyForQuery) and encoders for what the gateway says
// itself. Every other message is a frame passed on as it came. A frame that breaks the protocol
// (a length under 4 or over the limit, a field running past its end, a missing terminator) is a
// WireError: the listener answers it with a coded ErrorResponse and closes the connection.
//
// Why not pg-protocol's Parser: it decodes only backend messages, buffers a message of any
// announced length (a hostile 2 GiB length is held in memory), and turns every message into an
// object the relay would have to serialise back; the relay needs the original bytes of everything
// it does not change. Why not pg-gateway: it owns the socket and the auth flow, and is 0.x.

/** Protocol numbers of the untyped first message (PostgreSQL's pqcomm.h). */
export const PROTOCOL_3 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** Largest startup packet, as PostgreSQL's MAX_STARTUP_PACKET_LENGTH (10 000 bytes). */
export const MAX_STARTUP_BYTES = 10_000;

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/** One message: its type byte (0 for the untyped startup family) and its body (without type and length). */
export interface Frame {
  readonly type: number;
  readonly body: Buffer;
  /** The message as it arrived (type, length, body), for passing on unchanged. */
  readonly raw: Buffer;
}

/**
 * Splits a byte stream into messages. `startup`: the next message has no type byte (the first
 * one a client sends, and the one after an SSL answer). `maxBytes`: the largest message body
 * accepted; a longer announced length throws at once, before its body is buffered.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #size = 0;
  startup: boolean;
  /** The largest message body accepted, in bytes (raised once a client has logged in). */
  maxBytes: number;

  constructor(options: { maxBytes: number; startup?: boolean }) {
    this.maxBytes = options.maxBytes;
    this.startup = options.startup ?? false;
  }

  /** Bytes received but not yet part of a whole message. */
  get buffered(): number { return this.#size; }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /** The next whole message, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    const head = this.startup ? 4 : 5;
    if (this.#size < head) return undefined;
    const buf = this.#flat();
    const type = this.startup ? 0 : buf[0]!;
    const length = buf.readInt32BE(this.startup ? 0 : 1);
    const max = this.startup ? MAX_STARTUP_BYTES : this.maxBytes + 4;
    if (length < (this.startup ? 8 : 4)) throw new WireError(`a message announces a length of ${length} bytes, less than its own header`);
    if (length > max) throw new WireError(`a message of ${length} bytes is larger than the ${max} bytes accepted`);
    const total = length + (this.startup ? 0 : 1);
    if (buf.length < total) return undefined;
    const raw = buf.subarray(0, total);
    this.#chunks = total === buf.length ? [] : [buf.subarray(total)];
    this.#size = buf.length - total;
    if (this.startup) this.startup = false;
    return { type, body: raw.subarray(head), raw };
  }

  #flat(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#size)];
    return this.#chunks[0]!;
  }
}

/** A strict reader over one message body. */
export class BodyReader {
  #offset = 0;
  readonly body: Buffer;
  readonly what: string;

  constructor(body: Buffer, what: string) {
    this.body = body;
    this.what = what;
  }

  get done(): boolean { return this.#offset === this.body.length; }

  #need(n: number): void {
    if (this.#offset + n > this.body.length) throw new WireError(`${this.what} ends before its fields do`);
  }

  int16(): number {
    this.#need(2);
    const v = this.body.readInt16BE(this.#offset);
    this.#offset += 2;
    return v;
  }

  int32(): number {
    this.#need(4);
    const v = this.body.readInt32BE(this.#offset);
    this.#offset += 4;
    return v;
  }

  bytes(n: number): Buffer {
    if (n < 0) throw new WireError(`${this.what} has a negative length`);
    this.#need(n);
    const v = this.body.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return v;
  }

  /** A NUL-terminated string, strictly UTF-8. */
  cstring(): string {
    const end = this.body.indexOf(0, this.#offset);
    if (end === -1) throw new WireError(`${this.what} has a string without its terminator`);
    const v = utf8(this.body.subarray(this.#offset, end), this.what);
    this.#offset = end + 1;
    return v;
  }

  end(): void {
    if (!this.done) throw new WireError(`${this.what} has ${this.body.length - this.#offset} bytes after its last field`);
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });
/** Text that is not UTF-8 cannot be inspected as the database reads it (client_encoding is UTF8 here). */
export function utf8(bytes: Buffer, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new WireError(`${what} carries text that is not UTF-8`);
  }
}

// ---- frontend messages ------------------------------------------------------------------------

export interface Startup { readonly protocol: number; readonly params: ReadonlyMap<string, string> }

/** The untyped first message: a startup packet (parameters) or a request code (SSL, GSSENC, cancel). */
export function readStartup(body: Buffer): Startup & { readonly cancel?: { pid: number; secret: number } } {
  const r = new BodyReader(body, 'the startup message');
  const protocol = r.int32();
  if (protocol === CANCEL_REQUEST) {
    const cancel = { pid: r.int32(), secret: r.int32() };
    r.end();
    return { protocol, params: new Map(), cancel };
  }
  if (protocol !== PROTOCOL_3) return { protocol, params: new Map() }; // refused by its number; the rest is not read
  const params = new Map<string, string>();
  for (;;) {
    const name = r.cstring();
    if (name === '') break;
    if (params.has(name)) throw new WireError(`the startup message names parameter ${JSON.stringify(name.slice(0, 64))} twice`);
    params.set(name, r.cstring());
    if (params.size > 64) throw new WireError('the startup message has more than 64 parameters');
  }
  r.end();
  return { protocol, params };
}

export function readQuery(body: Buffer): string {
  const r = new BodyReader(body, 'a Query message');
  const sql = r.cstring();
  r.end();
  return sql;
}

export interface Parse { readonly name: string; readonly sql: string; readonly types: readonly number[] }
export function readParse(body: Buffer): Parse {
  const r = new BodyReader(body, 'a Parse message');
  const name = r.cstring();
  const sql = r.cstring();
  const n = r.int16();
  if (n < 0) throw new WireError('a Parse message has a negative count');
  const types = Array.from({ length: n }, () => r.int32());
  r.end();
  return { name, sql, types };
}

export interface Bind {
  readonly portal: string;
  readonly statement: string;
  /** Per parameter: 0 text, 1 binary. */
  readonly formats: readonly number[];
  readonly values: ReadonlyArray<Buffer | null>;
  /** The result columns' format codes, as sent. */
  readonly resultFormats: readonly number[];
}
export function readBind(body: Buffer): Bind {
  const r = new BodyReader(body, 'a Bind message');
  const portal = r.cstring();
  const statement = r.cstring();
  const codes = Array.from({ length: count(r) }, () => format(r.int16()));
  const n = count(r);
  if (codes.length > 1 && codes.length !== n) throw new WireError('a Bind message has a format count that is neither 0, 1 nor its parameter count');
  const values = Array.from({ length: n }, () => {
    const len = r.int32();
    return len === -1 ? null : r.bytes(len);
  });
  const resultFormats = Array.from({ length: count(r) }, () => format(r.int16()));
  r.end();
  return { portal, statement, formats: values.map((_, i) => codes.length === 0 ? 0 : codes.length === 1 ? codes[0]! : codes[i]!), values, resultFormats };
}

/** A Bind message (each parameter's format given explicitly). */
export function bindMessage(bind: Bind): Buffer {
  return message('B', cstr(bind.portal), cstr(bind.statement), i16(bind.formats.length), ...bind.formats.map(i16), i16(bind.values.length),
    ...bind.values.flatMap((v) => v === null ? [i32(-1)] : [i32(v.length), v]), i16(bind.resultFormats.length), ...bind.resultFormats.map(i16));
}

/** A NotificationResponse (LISTEN/NOTIFY): the sender's process id, the channel and the payload. */
export function readNotification(body: Buffer): { pid: number; channel: string; payload: string } {
  const r = new BodyReader(body, 'a NotificationResponse message');
  const out = { pid: r.int32(), channel: r.cstring(), payload: r.cstring() };
  r.end();
  return out;
}

function count(r: BodyReader): number {
  const n = r.int16();
  if (n < 0) throw new WireError('a message has a negative count');
  return n;
}

function format(code: number): number {
  if (code !== 0 && code !== 1) throw new WireError(`format code ${code} is neither text (0) nor binary (1)`);
  return code;
}

// ---- backend messages -------------------------------------------------------------------------

export interface Field { readonly name: string; readonly typeOid: number; readonly format: number }
export function readRowDescription(body: Buffer): Field[] {
  const r = new BodyReader(body, 'a RowDescription message');
  const fields = Array.from({ length: count(r) }, () => {
    const name = r.cstring();
    r.int32(); // table oid
    r.int16(); // column number
    const typeOid = r.int32();
    r.int16(); // type size
    r.int32(); // type modifier
    return { name, typeOid, format: format(r.int16()) };
  });
  r.end();
  return fields;
}

export function readDataRow(body: Buffer): Array<Buffer | null> {
  const r = new BodyReader(body, 'a DataRow message');
  const values = Array.from({ length: count(r) }, () => {
    const len = r.int32();
    return len === -1 ? null : r.bytes(len);
  });
  r.end();
  return values;
}

export function readCommandComplete(body: Buffer): string {
  const r = new BodyReader(body, 'a CommandComplete message');
  const tag = r.cstring();
  r.end();
  return tag;
}

/** ErrorResponse and NoticeResponse fields by their code letter (S severity, C SQLSTATE, M message, D detail, H hint, …). */
export function readNotice(body: Buffer): Map<string, string> {
  const r = new BodyReader(body, 'an error or notice message');
  const fields = new Map<string, string>();
  for (;;) {
    const code = r.bytes(1)[0]!;
    if (code === 0) break;
    fields.set(String.fromCharCode(code), r.cstring());
  }
  r.end();
  return fields;
}

// ---- encoders ---------------------------------------------------------------------------------

/** A typed message from its body parts. */
export function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
export const i16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
export const i32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

export const authenticationOk = (): Buffer => message('R', i32(0));
export const authenticationCleartext = (): Buffer => message('R', i32(3));
export const parameterStatus = (name: string, value: string): Buffer => message('S', cstr(name), cstr(value));
export const backendKeyData = (pid: number, secret: number): Buffer => message('K', i32(pid), i32(secret));
export const readyForQuery = (status: string): Buffer => message('Z', Buffer.from(status, 'latin1'));

/** An ErrorResponse ('E') or NoticeResponse ('N') with fields by code letter; NUL bytes in values are dropped. */
export function notice(type: 'E' | 'N', fields: Readonly<Record<string, string>>): Buffer {
  const parts = Object.entries(fields).map(([k, v]) => Buffer.concat([Buffer.from(k, 'latin1'), cstr(v.replaceAll('\0', ''))]));
  return message(type, ...parts, Buffer.from([0]));
}

export function dataRow(values: ReadonlyArray<Buffer | null>): Buffer {
  return message('D', i16(values.length), ...values.flatMap((v) => v === null ? [i32(-1)] : [i32(v.length), v]));
}

/** Frontend messages the gateway sends the database itself. */
export const executeMessage = (portal: string): Buffer => message('E', cstr(portal), i32(0));
export const syncMessage = (): Buffer => message('S');
