// HTTP load with autocannon, bounded in time and connections, for scenarios.
import autocannon from 'autocannon';

export interface LoadResult {
  /** Mean requests per second over the run. */
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export interface LoadOptions {
  url: string;
  /** Seconds. Default 3. */
  duration?: number;
  /** Concurrent connections. Default 16. */
  connections?: number;
  headers?: Record<string, string>;
}

export async function load(opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: opts.url,
    duration: opts.duration ?? 3,
    connections: opts.connections ?? 16,
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`load on ${opts.url}: ${result.errors} errors, ${result.non2xx} non-2xx responses`);
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}
