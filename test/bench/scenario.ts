// The contract for a benchmark scenario. `npm run bench` (test/bench/run.ts) imports every
// file in test/bench/scenarios/, runs each scenario's `run` several times, and prints the
// median of every metric, with each metric's ratio against its `baseline` when one is named.

export interface Metric {
  /** Stable name, e.g. 'healthz req/s'. */
  readonly name: string;
  readonly value: number;
  /** Unit shown in the table: 'req/s', 'ms', 'µs', 'MB/s', 'ops/s', 'ratio', ... */
  readonly unit: string;
  /** Name of a metric of the same run this one is compared against (ratio = value / baseline). */
  readonly baseline?: string;
  /** The aim, as text for the table (e.g. '>= 20000'). Informational: never asserted. */
  readonly aim?: string;
}

export interface Scenario {
  readonly name: string;
  /** How many repetitions to take the median of (default 3). Expensive scenarios may ask for 1. */
  readonly repeats?: number;
  /** One measurement. Must bound every loop by count and time and close every server it starts. */
  run(): Promise<Metric[]>;
}
