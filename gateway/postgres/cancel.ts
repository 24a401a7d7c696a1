// Cancel requests: a client cancels a running statement by opening a new connection that sends
// only the process id and secret key it was given at startup. The listener gives each session a
// key of its own (the database's real key stays with the agent), finds the session by it (the
// secret compared in constant time), and asks the agent holding that session to send the real
// CancelRequest to the database (`pg-cancel` stream). A key that matches nothing is ignored, as
// PostgreSQL ignores it: the client learns nothing either way.
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../lib/log.ts';
import { i32 } from '../../lib/pg-wire.ts';
import type { AgentOpener } from '../agents/exchange.ts';

/** Where a session's database connection is: its connection's agents (a pool: the agent that holds it is among them) and the session id. */
interface Target { readonly agents: readonly string[]; readonly session: string }

export class CancelKeys {
  readonly #byPid = new Map<number, { secret: number; target: Target }>();

  add(key: { pid: number; secret: number }, target: Target): void {
    this.#byPid.set(key.pid, { secret: key.secret, target });
  }

  delete(pid: number): void {
    this.#byPid.delete(pid);
  }

  /** Sends the cancel on to the agent when the key names a live session; never throws. */
  async cancel(pid: number, secret: number, agents: AgentOpener, logger: Logger): Promise<void> {
    const entry = this.#byPid.get(pid);
    if (entry === undefined || !timingSafeEqual(i32(entry.secret), i32(secret))) {
      logger.info('postgres cancel request matched no session');
      return;
    }
    // The session is held by one agent of the pool; the others know no such session and ignore
    // the cancel, so it goes to each (a pool has at most 16 agents).
    for (const agent of entry.target.agents) {
      try {
        const stream = agents.open(agent, { kind: 'pg-cancel', session: entry.target.session });
        stream.on('error', () => {});
        stream.resume();
        stream.end();
        logger.info('postgres cancel sent to the agent', { agent });
      } catch (err) {
        logger.warn('postgres cancel could not reach the agent', { agent, err });
      }
    }
  }
}
