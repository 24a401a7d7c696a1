// HTTP load with autocannon, bounded in time and connections, for scenarios; and unloaded
// latency, one request at a time.
import http from 'node:http';
import autocannon from 'autocannon';

export interface LoadResult {
  /** Mean requests per second over the run. */
  rps: number;
  /** Requests completed. */
  requests: number;
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
  return { rps: result.requests.average, requests: result.requests.total, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

export interface LatencyOptions {
  url: string;
  headers?: Record<string, string>;
  /** Requests measured (after `warmup` unmeasured ones). Default 1000. */
  requests?: number;
  /** Unmeasured requests first. Default 100. */
  warmup?: number;
  /** Seconds at most, warm-up included: the run stops early rather than overrun. Default 5. */
  maxDuration?: number;
}

/**
 * Latency without queueing: one request at a time on one kept-alive connection, timed with
 * performance.now(), so percentiles have µs resolution (autocannon's are whole milliseconds, and
 * under many connections they measure queueing: latency ≈ connections / throughput).
 */
export async function latency(opts: LatencyOptions): Promise<{ p50: number; p99: number; requests: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = performance.now() + (opts.maxDuration ?? 5) * 1000;
  const one = () => new Promise<number>((resolve, reject) => {
    const started = performance.now();
    const req = http.get(opts.url, { agent, headers: opts.headers ?? {} }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`latency on ${opts.url}: status ${res.statusCode}`));
      res.resume();
      res.on('end', () => resolve(performance.now() - started));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  try {
    const warmup = opts.warmup ?? 100;
    for (let i = 0; i < warmup && performance.now() < deadline; i++) await one();
    const times: number[] = [];
    const wanted = opts.requests ?? 1000;
    for (let i = 0; i < wanted && performance.now() < deadline; i++) times.push(await one());
    if (times.length === 0) throw new Error(`latency on ${opts.url}: no request measured within ${opts.maxDuration ?? 5} s`);
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    return { p50: at(0.5), p99: at(0.99), requests: times.length };
  } finally {
    agent.destroy();
  }
}
