// The most specific reason an outbound request failed, for a one-line message: a system error
// code (ECONNREFUSED) rather than fetch's "fetch failed". Shared by the CLI and the agent.

export function causeOf(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) { // bounded walk down the cause chain
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    if (!(e.cause instanceof Error)) return e.message;
    e = e.cause;
  }
  return String(e);
}
