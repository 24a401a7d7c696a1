// Waiting for a limit to have room (action: delay). A request over `delay` limits sleeps until
// the wait it was told is over (a token, a window's end), a place it waits for frees on this
// replica, or its client goes away, whichever comes first; then the limiter checks it again.

/** Who waits for a place under which `concurrent` key, on this replica. */
export class Wakers {
  readonly #byKey = new Map<string, Set<() => void>>();

  /** Calls `wake` when a place under `key` frees; returns the function that stops listening. */
  on(key: string, wake: () => void): () => void {
    let set = this.#byKey.get(key);
    if (set === undefined) this.#byKey.set(key, set = new Set());
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.#byKey.get(key) === set) this.#byKey.delete(key);
    };
  }

  /** Wakes everyone waiting under `key` (they check again; those who find no place wait again). */
  wake(key: string): void {
    const set = this.#byKey.get(key);
    if (set !== undefined) for (const wake of [...set]) wake();
  }
}

/** Resolves after `ms` milliseconds, when a place under one of `keys` frees, or when `signal` aborts. */
export function pause(ms: number, keys: readonly string[], wakers: Wakers, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const offs: Array<() => void> = [];
    const done = () => {
      clearTimeout(timer);
      for (const off of offs) off();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const key of keys) offs.push(wakers.on(key, done));
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}
