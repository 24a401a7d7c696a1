// One client session of the PostgreSQL listener, once logged in: the relay between the client and
// the agent's `pg-wire` stream (the database session), with every statement through the guard.
//
//   client ─► Query        SQL judged (all its statements, in the connection's dialect) ─► forwarded,
//                          or refused (below), or held for review (NoticeResponse, then forwarded)
//            Parse         SQL judged, the statement's text kept by name for its Binds
//            Bind          its parameters judged (PII, secrets) with the statement's SQL recorded
//            CopyData      judged as text (a secret in COPY … FROM STDIN is refused: CopyFail)
//            FunctionCall  refused; Execute, Describe, Close, Sync, Flush, CopyDone, Terminate pass
//   agent  ─► DataRow       every value scanned (not the column names: reverse(card) is a card too)
//                          and masked per value; RowDescription kept; binary values scanned as bytes
//            CopyData      scanned and masked as text
//            ErrorResponse, NoticeResponse  message and detail masked
//            CommandComplete  the statement's result recorded (durably) before it is passed on
//
// A refusal makes the database itself fail at that point, so transactions behave as PostgreSQL's
// do: the gateway sends Execute of a portal that does not exist (and Sync, for a Query), the
// database answers 34000 and aborts the transaction block (ROLLBACK then works, COMMIT rolls back),
// and the gateway puts its own ErrorResponse (42501, airlock's code and reason) in the place of that
// answer. After a refused extended-protocol message the client's messages are dropped up to Sync,
// as the database drops them after an error.
//
// Authority is re-checked at every judged message (the caller's token expiry, groups, key, the
// connection's definition and policy now): a caller who may no longer use the connection gets a
// FATAL ErrorResponse and the session ends.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/log.ts';
import {
  bindMessage, cstr, dataRow, executeMessage, i32, readNotification, FrameReader, message, notice, readBind, readCommandComplete, readDataRow, readNotice, readParse, readQuery, readRowDescription,
  syncMessage, WireError, type Field, type Frame,
} from '../../lib/pg-wire.ts';
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import { GatewayError, type GatewayErrorCode } from '../errors.ts';
import { decideFor, hiddenInValue, limitsAfter, type GuardDeps } from '../guard/index.ts';
import type { Finding } from '../inspect/types.ts';
import type { Outcome } from '../policy/decide.ts';
import type { RecordingSession } from '../recorder/recorder.ts';
import type { TunnelStream } from '../tunnel/index.ts';
import { judgeStatement, recordResult, type Judgement } from './statement.ts';
import { errorResponse, noticeResponse } from './sqlstate.ts';

export interface SessionOptions {
  readonly deps: GuardDeps & { readonly connections: { recheck(identity: Identity, name: string, now?: number): Connection } };
  readonly identity: Identity;
  readonly connectionName: string;
  readonly client: Duplex;
  readonly upstream: TunnelStream;
  /** The client's frame reader from the startup (it may hold bytes already). */
  readonly frames: FrameReader;
  readonly recording: RecordingSession;
  readonly logger: Logger;
  /** AuthenticationOk and BackendKeyData: sent once the database session is up. */
  readonly greeting: { readonly ok: Buffer; readonly key: Buffer };
  /** Epoch ms, skew-adjusted, at which token expiry is judged. */
  readonly tokenClock: () => number;
}

/** Rows of one result kept in its recording (masked), at most. */
const RECORDED_ROWS = 20;
/** Characters of a CopyData read again in front of the next one (a card or key split across two). */
const COPY_TAIL_CHARS = 256;
/** Largest backend message, in bytes (PostgreSQL's own limit on a field is 1 GiB). */
const MAX_BACKEND_BYTES = 256 * 1024 * 1024;

const T = (c: string) => c.charCodeAt(0);
/** Twelve digits, with at most one separator between each: what could be a card number read either way. */
const DIGIT_RUN = /\d(?:\D?\d){11}/;

/** What the backend's answers are collected into until a CommandComplete. */
interface Result { fields: readonly Field[]; rows: number; kept: unknown[][]; masked: number; findings: Finding[]; started: number; withheld: boolean; egress: Finding[] }

/** Findings of rows held for the limits' egress budgets before they are counted (then counted, and the rest collected). */
const EGRESS_BATCH = 1000;

export class PgSession {
  readonly #o: SessionOptions;
  readonly #backend = new FrameReader({ maxBytes: MAX_BACKEND_BYTES });
  /** Prepared statements by name ('' the unnamed one): their SQL, judged at Parse. */
  readonly #statements = new Map<string, string>();
  /** Portals of refused messages, whose 34000 answer is replaced by the refusal. */
  readonly #refusals = new Map<string, Buffer>();
  #skipping = false;
  /** A CopyFail was sent for the client: its remaining CopyData and CopyDone are dropped until ReadyForQuery. */
  #copyFailed = false;
  /** The end of the last CopyData that passed, read again in front of the next. */
  #copyTail = '';
  #greeted = false;
  /** The database's ParameterStatus messages, held until the login is complete. */
  readonly #statuses: Buffer[] = [];
  #result: Result | undefined;
  #fields: readonly Field[] = [];
  #ended = false;
  readonly #done: Promise<void>;
  #finish!: () => void;
  readonly #gone = new AbortController();

  constructor(options: SessionOptions) {
    this.#o = options;
    this.#done = new Promise((resolve) => { this.#finish = resolve; });
  }

  /** Relays until either side ends; the recording is ended with the reason. */
  async run(): Promise<void> {
    const { client, upstream } = this.#o;
    upstream.on('error', (err: Error & { resetCode?: string }) => void this.shutdown(`the agent's side failed${err.resetCode === undefined ? '' : ` (${err.resetCode})`}`, 'GW_UPSTREAM_FAILED', `The database session on connection ${this.#o.connectionName} was lost (the agent or the database went away${err.resetCode === undefined ? '' : `: ${err.resetCode}`}); reconnect.`));
    upstream.once('end', () => void this.shutdown('the database ended the session'));
    client.once('close', () => void this.shutdown('the client disconnected'));
    client.on('error', () => {});
    this.#pump(upstream, this.#backend, (f) => this.#fromBackend(f)); // the client's messages are read once the database session is up
    await this.#done;
  }

  /** Ends the session once: a FATAL ErrorResponse to the client when `code` is given. */
  async shutdown(reason: string, code?: GatewayErrorCode, message?: string): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#gone.abort();
    const { client, upstream, deps, recording, logger } = this.#o;
    if (code !== undefined && client.writable) client.write(errorResponse(code, message ?? reason, 'FATAL'));
    client.end();
    setTimeout(() => client.destroy(), 1000).unref();
    if (!upstream.destroyed) upstream.destroy();
    logger.info('postgres session ended', { reason });
    await deps.recording.recorder.end(recording, reason).catch((err: unknown) => logger.error('postgres session end not recorded', { err }));
    this.#finish();
  }

  /** The caller as the session was opened (for the listener's re-checks). */
  get identity(): Identity { return this.#o.identity; }

  /**
   * The re-check when the connections or the caller's credential changed (on any replica): a
   * session whose caller may no longer use the connection ends now, even while idle.
   */
  revokeIfGone(problem?: GatewayError): void {
    if (this.#ended) return;
    if (problem !== undefined) return void this.shutdown(problem.message, problem.code, problem.message);
    try {
      this.#authority();
    } catch (err) {
      if (err instanceof GatewayError) void this.shutdown(err.message, err.code, err.message);
      else throw err;
    }
  }

  /** Frames of `stream` handled one at a time (the stream paused while one is judged). */
  #pump(stream: Duplex, frames: FrameReader, handle: (f: Frame) => Promise<void> | void): void {
    let busy = false;
    const drain = async () => {
      if (busy) return;
      busy = true;
      stream.pause();
      try {
        for (let f = frames.next(); f !== undefined && !this.#ended; f = frames.next()) await handle(f);
      } catch (err) {
        await this.#fail(err);
      } finally {
        busy = false;
        if (!this.#ended) stream.resume();
      }
    };
    stream.on('data', (chunk: Buffer) => { frames.push(chunk); void drain(); });
    void drain();
  }

  async #fail(err: unknown): Promise<void> {
    if (err instanceof WireError) return this.shutdown(err.message, 'GW_PG_PROTOCOL', `The PostgreSQL protocol was broken: ${err.message}.`);
    if (err instanceof GatewayError) return this.shutdown(err.message, err.code, err.message);
    this.#o.logger.error('postgres session failed', { err });
    return this.shutdown('internal error', 'GW_INTERNAL', 'The gateway failed in this session; its log has the detail.');
  }

  /** The caller and connection now, or the session ends (GW_ACCESS_REVOKED, GW_TOKEN_EXPIRED). */
  #authority(): Connection {
    return this.#o.deps.connections.recheck(this.#o.identity, this.#o.connectionName, this.#o.tokenClock());
  }

  #toBackend(bytes: Buffer): Promise<void> | void {
    if (this.#o.upstream.write(bytes)) return;
    return new Promise((resolve) => { this.#o.upstream.once('drain', resolve); this.#o.upstream.once('close', resolve); });
  }

  #toClient(bytes: Buffer): Promise<void> | void {
    if (this.#o.client.write(bytes)) return;
    return new Promise((resolve) => { this.#o.client.once('drain', resolve); this.#o.client.once('close', resolve); });
  }

  // ---- client → database ----------------------------------------------------------------------

  async #fromClient(f: Frame): Promise<void> {
    const type = String.fromCharCode(f.type);
    if (this.#skipping) {
      if (type === 'S') {
        this.#skipping = false;
        return this.#toBackend(f.raw);
      }
      if (type !== 'X') return;
    }
    switch (type) {
      case 'Q':
        await this.#judged(readQuery(f.body), f.raw, 'simple');
        return;
      case 'P': {
        const parse = readParse(f.body);
        const ok = await this.#judged(parse.sql, f.raw, 'parse');
        // A named statement that exists is not replaced: the database refuses the second Parse.
        if (ok && (parse.name === '' || !this.#statements.has(parse.name))) this.#statements.set(parse.name, parse.sql);
        return;
      }
      case 'B': return this.#bind(f);
      case 'C': {
        if (f.body[0] === T('S')) this.#statements.delete(f.body.subarray(1, f.body.indexOf(0, 1)).toString('utf8'));
        return this.#toBackend(f.raw);
      }
      case 'd': return this.#copyFailed ? undefined : this.#copyIn(f);
      case 'c': case 'f': return this.#copyFailed ? undefined : this.#toBackend(f.raw);
      case 'E': case 'D': case 'S': case 'H': return this.#toBackend(f.raw);
      case 'X': {
        await this.#toBackend(f.raw);
        return this.shutdown('the client ended the session');
      }
      case 'F': return this.#refuse(new GatewayError('GW_PG_UNSUPPORTED', 'The function-call message is not taken through airlock (it runs a function by its OID, unseen by inspection); call the function in a SELECT.'), 'extended');
      default: throw new WireError(`message type ${JSON.stringify(type)} is not one a client sends after startup`);
    }
  }

  /** Judges a statement's SQL; forwards `raw` when it may pass. True when it was forwarded. */
  async #judged(sql: string, raw: Buffer, protocol: 'simple' | 'parse'): Promise<boolean> {
    const { refusal } = await this.#judge({ sql }, protocol);
    if (refusal !== undefined) {
      await this.#refuse(refusal, protocol === 'simple' ? 'simple' : 'extended');
      return false;
    }
    await this.#toBackend(raw);
    return true;
  }

  async #bind(f: Frame): Promise<void> {
    const bind = readBind(f.body);
    const sql = this.#statements.get(bind.statement);
    if (sql === undefined) {
      return this.#refuse(new GatewayError('GW_PG_UNSUPPORTED', `Statement ${JSON.stringify(bind.statement.slice(0, 64))} was not prepared by a Parse of this session (a statement from PREPARE runs with EXECUTE, which is judged as SQL).`), 'extended');
    }
    // Text parameters as the database reads them; binary ones scanned as their bytes (Latin-1).
    const params = bind.values.map((v, i) => v === null ? null : bind.formats[i] === 0 ? v.toString('utf8') : v.toString('latin1'));
    const judged = await this.#judge({ sql, params }, 'bind');
    if (judged.refusal !== undefined) return this.#refuse(judged.refusal, 'extended');
    if (judged.masked === undefined) return this.#toBackend(f.raw);
    // Masked parameters leave as text; a binary one that would change cannot be written, so it is refused.
    if (judged.masked.some((v, i) => v !== params[i] && bind.formats[i] === 1)) {
      return this.#refuse(new GatewayError('GW_POLICY_DENIED', 'A binary-format parameter holds data policy masks, and a masked value cannot be written in binary form; send it as text.'), 'extended');
    }
    return this.#toBackend(bindMessage({ ...bind, values: judged.masked.map((v, i) => v === params[i] ? bind.values[i]! : v === null ? null : Buffer.from(v, 'utf8')) }));
  }

  /**
   * COPY … FROM STDIN data, one CopyData at a time: judged alone (and masked alone when policy
   * masks), and judged again behind the end of the message before it, so a value split across two
   * messages is still seen. Refused data fails the COPY with CopyFail: nothing is copied.
   */
  async #copyIn(f: Frame): Promise<void> {
    const now = this.#authority();
    const text = decodeText(f.body);
    const judge = (t: string) => decideFor(this.#o.deps, this.#o.identity, now, { kind: 'sql', direction: 'request', text: t }, hiddenInValue(t));
    let outcome = judge(text);
    let judged = text; // what the recorded (redacted) payload is: the spans of the findings are in it
    const passes = (o: Outcome) => o.decision === 'allow' || o.decision === 'mask';
    if (passes(outcome) && this.#copyTail !== '') {
      const across = judge(this.#copyTail + text);
      if (!passes(across)) {
        outcome = across;
        judged = this.#copyTail + text;
      }
    }
    if (passes(outcome)) {
      this.#copyTail = text.slice(-COPY_TAIL_CHARS);
      const leaving = outcome.decision === 'mask' && typeof outcome.masked === 'string' ? outcome.masked : text;
      if (leaving !== text) await recordResult(this.#o.deps, this.#o.recording, { type: 'pg.copy', direction: 'request', outcome, payload: text, summary: { bytes: f.body.length } });
      return this.#toBackend(leaving === text ? f.raw : message('d', Buffer.from(leaving, 'utf8')));
    }
    await recordResult(this.#o.deps, this.#o.recording, { type: 'pg.copy', direction: 'request', outcome, payload: judged, summary: { bytes: f.body.length } });
    // CopyFail: the database ends the COPY with an error that carries airlock's reason; nothing is copied.
    const first = outcome.reasons[0];
    this.#copyTail = '';
    await this.#toBackend(message('f', cstr(`airlock refused the COPY data (${first?.reason ?? 'policy'}): ${first?.message ?? 'refused by policy'} (GW_POLICY_DENIED)`)));
    this.#copyFailed = true;
  }

  /**
   * The guard on one statement or Bind: authority, inspection and policy, recorded; a review is
   * held here (NoticeResponse to the client while it waits). Undefined when it may go on; else the
   * refusal to answer.
   */
  async #judge(what: { sql: string; params?: ReadonlyArray<string | null> }, protocol: 'simple' | 'parse' | 'bind'): Promise<Judgement> {
    let connection: Connection;
    try {
      connection = this.#authority();
    } catch (err) {
      if (err instanceof GatewayError) {
        await this.shutdown(err.message, err.code, err.message);
        return { refusal: err };
      }
      throw err;
    }
    return judgeStatement(this.#o.deps, {
      identity: this.#o.identity, connection, session: this.#o.recording, what, protocol, signal: this.#gone.signal,
      onHeld: (review) => void this.#toClient(noticeResponse(`held for review ${review}; approve with \`airlock reviews approve ${review}\`. The statement runs once it is approved.`)),
      recheck: () => this.#authority(),
    });
  }

  /**
   * Makes the database fail where the refused message was, and answers with the refusal in the
   * place of the database's error (see the head of this file).
   */
  async #refuse(err: GatewayError, mode: 'simple' | 'extended'): Promise<void> {
    if (this.#ended) return;
    const portal = `airlock-refused-${randomUUID()}`;
    this.#refusals.set(portal, errorResponse(err.code, err.message));
    if (mode === 'extended') this.#skipping = true;
    await this.#toBackend(mode === 'simple' ? Buffer.concat([executeMessage(portal), syncMessage()]) : executeMessage(portal));
  }

  // ---- database → client ----------------------------------------------------------------------

  async #fromBackend(f: Frame): Promise<void> {
    const type = String.fromCharCode(f.type);
    if (!this.#greeted) {
      // The agent's login: ParameterStatus messages and ReadyForQuery, or one ErrorResponse.
      if (type === 'E') {
        const fields = readNotice(f.body);
        return this.shutdown(`the agent could not open the database session: ${fields.get('M')}`, 'GW_UPSTREAM_FAILED', `${fields.get('M') ?? 'the agent failed'}; ask an admin to check the agent and the connection's database login.`);
      }
      if (type === 'S') {
        this.#statuses.push(f.raw);
        return;
      }
      if (type !== 'Z') throw new GatewayError('GW_UPSTREAM_FAILED', `The agent opened the session with message ${JSON.stringify(type)}; upgrade the agent.`);
      this.#greeted = true;
      // In PostgreSQL's order: AuthenticationOk, ParameterStatus…, BackendKeyData, ReadyForQuery.
      await this.#toClient(Buffer.concat([this.#o.greeting.ok, ...this.#statuses, this.#o.greeting.key, f.raw]));
      this.#pump(this.#o.client, this.#o.frames, (frame) => this.#fromClient(frame));
      return;
    }
    switch (type) {
      case 'T':
        this.#fields = readRowDescription(f.body);
        return this.#toClient(f.raw);
      case 'D': return this.#row(f);
      case 'd': return this.#copyOut(f);
      case 'C': case 'I': return this.#complete(type === 'C' ? readCommandComplete(f.body) : '(empty)', f.raw);
      case 'E': case 'N': return this.#notice(type, f);
      case 'A': return this.#notification(f);
      case 'Z':
        this.#refusals.clear(); // refusals the database never reached (an earlier error came first)
        this.#copyFailed = false;
        this.#copyTail = '';
        this.#result = undefined;
        return this.#toClient(f.raw);
      default: return this.#toClient(f.raw);
    }
  }

  #current(): Result {
    this.#result ??= { fields: this.#fields, rows: 0, kept: [], masked: 0, findings: [], started: performance.now(), withheld: false, egress: [] };
    return this.#result;
  }

  /** One row: every value scanned and masked (text as UTF-8 or, failing that, Latin-1; binary as bytes). */
  async #row(f: Frame): Promise<void> {
    const result = this.#current();
    result.rows++;
    if (result.withheld) return;
    const raw = readDataRow(f.body);
    const fields = this.#fields;
    const values = raw.map((v, i) => v === null ? null : fields[i]?.format === 1 ? v.toString('latin1') : decodeText(v));
    const outcome = decideFor(this.#o.deps, this.#o.identity, this.#authority(), { kind: 'sql', direction: 'response', body: values }, hiddenInValue(values));
    if (result.findings.length < 20) result.findings.push(...outcome.findings.slice(0, 20 - result.findings.length));
    // Each row is a record for the egress budgets: its findings under $[row].
    for (const finding of outcome.findings) result.egress.push({ ...finding, path: `$[${result.rows - 1}]${finding.path.slice(1)}` });
    if (result.egress.length >= EGRESS_BATCH) await this.#countEgress(result, outcome);
    if (outcome.decision === 'deny' || outcome.decision === 'review') {
      result.withheld = true;
      await recordResult(this.#o.deps, this.#o.recording, { type: 'pg.result', outcome, payload: values, summary: { withheld: true, rows: result.rows } });
      return this.#toClient(errorResponse('GW_POLICY_DENIED', `The statement ran, but row ${result.rows} of its answer was withheld by policy (${outcome.reasons[0]?.reason ?? 'policy'}): ${outcome.reasons[0]?.message ?? ''}`.trim()));
    }
    let leaving = outcome.decision === 'mask' && Array.isArray(outcome.masked) ? outcome.masked as Array<string | null> : values;
    leaving = this.#backwards(values, leaving);
    let bytes = f.raw;
    if (leaving !== values) {
      if (leaving.some((v, i) => v !== values[i] && fields[i]?.format === 1)) {
        result.withheld = true;
        return this.#toClient(errorResponse('GW_POLICY_DENIED', 'A binary-format value holds data policy masks; a masked value cannot be written in binary form, so the rest of the answer was withheld. Ask for text-format results.'));
      }
      result.masked++;
      bytes = dataRow(leaving.map((v) => v === null ? null : Buffer.from(v, 'utf8')));
    }
    if (result.kept.length < RECORDED_ROWS) result.kept.push(leaving);
    return this.#toClient(bytes);
  }

  /**
   * The values read backwards: `reverse(card)` is not a card number to a Luhn check, but it is one
   * to whoever reverses it again. A value that holds a card (or other PII) only when reversed
   * leaves as the masked reversed reading. Only values with a run of 12 digits are read again.
   */
  #backwards(values: ReadonlyArray<string | null>, leaving: Array<string | null>): Array<string | null> {
    const candidates = values.map((v) => v !== null && DIGIT_RUN.test(v) ? [...v].reverse().join('') : null);
    if (candidates.every((v) => v === null)) return leaving;
    const outcome = decideFor(this.#o.deps, this.#o.identity, this.#authority(), { kind: 'sql', direction: 'response', body: candidates });
    if (outcome.decision !== 'mask' || !Array.isArray(outcome.masked)) return leaving;
    const masked = outcome.masked as Array<string | null>;
    const out = [...leaving];
    let changed = false;
    for (let i = 0; i < out.length; i++) {
      if (candidates[i] !== null && masked[i] !== candidates[i] && out[i] === values[i]) {
        out[i] = masked[i]!;
        changed = true;
      }
    }
    return changed ? out : leaving;
  }

  async #copyOut(f: Frame): Promise<void> {
    const result = this.#current();
    result.rows++;
    if (result.withheld) return;
    const text = decodeText(f.body);
    const outcome = decideFor(this.#o.deps, this.#o.identity, this.#authority(), { kind: 'sql', direction: 'response', text }, hiddenInValue(text));
    if (result.findings.length < 20) result.findings.push(...outcome.findings.slice(0, 20 - result.findings.length));
    if (outcome.decision === 'deny' || outcome.decision === 'review') {
      result.withheld = true;
      return this.#toClient(errorResponse('GW_POLICY_DENIED', `The COPY ran, but its data was withheld by policy (${outcome.reasons[0]?.reason ?? 'policy'}).`));
    }
    const leaving = outcome.decision === 'mask' && typeof outcome.masked === 'string' ? outcome.masked : text;
    if (leaving !== text) result.masked++;
    if (result.kept.length < RECORDED_ROWS) result.kept.push([leaving]);
    return this.#toClient(leaving === text ? f.raw : message('d', Buffer.from(leaving, 'utf8')));
  }

  /** The rows' findings counted against the limits' egress budgets (what left, masked or not, was asked for). */
  async #countEgress(result: Result, outcome: Outcome): Promise<void> {
    const findings = result.egress;
    result.egress = [];
    if (findings.length > 0) await limitsAfter(this.#o.deps, this.#o.identity, this.#authority(), { direction: 'response' }, { ...outcome, decision: 'allow', findings });
  }

  /** A statement's end: its result recorded durably, then passed on (unless its rows were withheld). */
  async #complete(tag: string, raw: Buffer): Promise<void> {
    const result = this.#current();
    this.#result = undefined;
    const decision = result.withheld ? 'deny' : result.masked > 0 ? 'mask' : 'allow';
    const outcome = { decision, findings: result.findings, reasons: [] } as unknown as Outcome;
    await this.#countEgress(result, outcome);
    await recordResult(this.#o.deps, this.#o.recording, {
      type: 'pg.result', outcome, payload: result.kept, leaving: result.kept,
      summary: { command: tag, rows: result.rows, masked: result.masked, columns: result.fields.map((c) => c.name).slice(0, 100), ms: Math.round(performance.now() - result.started) },
    });
    if (!result.withheld) return this.#toClient(raw);
  }

  /** A NOTIFY payload: another session's text, inspected and masked (or withheld) like a value. */
  async #notification(f: Frame): Promise<void> {
    const { pid, channel, payload } = readNotification(f.body);
    const outcome = decideFor(this.#o.deps, this.#o.identity, this.#authority(), { kind: 'sql', direction: 'response', text: payload }, hiddenInValue(payload));
    await recordResult(this.#o.deps, this.#o.recording, { type: 'pg.notice', outcome, payload, summary: { channel: channel.slice(0, 64) } });
    if (outcome.decision === 'allow') return this.#toClient(f.raw);
    if (outcome.decision !== 'mask' || typeof outcome.masked !== 'string') return; // withheld: dropped, as a notification cannot carry a refusal
    return this.#toClient(message('A', i32(pid), cstr(channel), cstr(outcome.masked)));
  }

  /** An error or notice of the database: a refusal's stand-in replaced; message and detail masked. */
  async #notice(type: 'E' | 'N', f: Frame): Promise<void> {
    const fields = readNotice(f.body);
    if (type === 'E') {
      this.#result = undefined;
      const refused = fields.get('C') === '34000' ? [...this.#refusals].find(([portal]) => fields.get('M')?.includes(portal)) : undefined;
      if (refused !== undefined) {
        this.#refusals.delete(refused[0]);
        return this.#toClient(refused[1]);
      }
    }
    const said = { message: fields.get('M') ?? '', detail: fields.get('D') ?? '', hint: fields.get('H') ?? '' };
    const outcome = decideFor(this.#o.deps, this.#o.identity, this.#authority(), { kind: 'sql', direction: 'response', body: said }, hiddenInValue(said));
    await recordResult(this.#o.deps, this.#o.recording, { type: type === 'E' ? 'pg.error' : 'pg.notice', outcome, payload: said, summary: { sqlstate: fields.get('C') ?? null } });
    if (outcome.decision === 'allow') return this.#toClient(f.raw);
    const shown = outcome.decision === 'mask' && outcome.masked !== undefined ? outcome.masked as typeof said : { message: `the database's ${type === 'E' ? 'error' : 'notice'} was withheld by policy`, detail: '', hint: '' };
    const out: Record<string, string> = Object.fromEntries(fields);
    out.M = shown.message;
    if (shown.detail !== '') out.D = shown.detail; else delete out.D;
    if (shown.hint !== '') out.H = shown.hint; else delete out.H;
    delete out.W; // the context may quote values too
    return this.#toClient(notice(type, out));
  }
}

/** Text as the client reads it: UTF-8 (the session's client_encoding), else Latin-1 so every byte is still scanned. */
function decodeText(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.includes('\ufffd') && !bytes.includes(Buffer.from('\ufffd', 'utf8')) ? bytes.toString('latin1') : text;
}
