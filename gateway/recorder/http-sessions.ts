// What an HTTP session is: one identity on one connection, until an idle gap (recording.httpIdle)
// — or, when the caller names one with `X-Airlock-Session: <label>`, everything it sends under that
// label (still ended by the idle gap). Requests arriving together share the session being opened.
import { GatewayError } from '../errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { Recorder, RecordingSession, SessionMeta } from './recorder.ts';

const LABEL = /^[A-Za-z0-9._:-]{1,64}$/;

interface Entry {
  session: Promise<RecordingSession>;
  lastUsed: number;
  active: number;
}

export class HttpSessions {
  readonly #recorder: Recorder;
  readonly #idleMs: number;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #timer: NodeJS.Timeout;

  /** `idleMs`: a session with no request for this long ends (its session.end and checkpoint are written). */
  constructor(recorder: Recorder, options: { idleMs: number; logger: Logger }) {
    this.#recorder = recorder;
    this.#idleMs = options.idleMs;
    this.#logger = options.logger;
    this.#timer = setInterval(() => this.#sweep(), Math.max(100, Math.min(this.#idleMs / 4, 30_000)));
    this.#timer.unref();
  }

  /**
   * The session this request belongs to, opened when needed; `use` runs with it and keeps it from
   * idling out meanwhile. Throws GW_BAD_REQUEST for a malformed X-Airlock-Session label and
   * GW_RECORDING_FAILED when a new session cannot be recorded.
   */
  async with<T>(meta: SessionMeta, label: string | undefined, use: (session: RecordingSession) => Promise<T>): Promise<T> {
    if (label !== undefined && !LABEL.test(label)) {
      throw new GatewayError('GW_BAD_REQUEST', 'X-Airlock-Session must be 1–64 letters, digits or . _ : - (a label naming your session).');
    }
    const key = JSON.stringify([meta.subject, meta.connection, label ?? null]);
    let entry = this.#entries.get(key);
    if (!entry) {
      const opened = this.#recorder.open({ ...meta, metadata: { ...(meta.metadata ?? {}), ...(label ? { label } : {}) } });
      entry = { session: opened, lastUsed: Date.now(), active: 0 };
      this.#entries.set(key, entry);
      opened.catch(() => this.#entries.delete(key));
    }
    entry.active++;
    try {
      return await use(await entry.session);
    } finally {
      entry.active--;
      entry.lastUsed = Date.now();
    }
  }

  /** Ends every session (gateway shutdown). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map(async (e) => this.#recorder.end(await e.session, 'the gateway stopped').catch(() => {})));
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, e] of this.#entries) {
      if (e.active > 0 || now - e.lastUsed < this.#idleMs) continue;
      this.#entries.delete(key);
      void e.session.then((s) => this.#recorder.end(s, `idle for ${Math.round(this.#idleMs / 1000)} s`))
        .catch((err: unknown) => this.#logger.error('ending an idle session failed', { err }));
    }
  }
}
