// The SQL inspector over a mix of typical agent statements (reads, joins, CTEs, writes, DDL and
// a few risky ones), for PostgreSQL (libpg-query, WASM) and MySQL (node-sql-parser): statements
// per second with a cold cache (every text unique, so each is pre-lexed, parsed and walked) and
// with a warm cache (the same texts again, served by the LRU), plus the cold p99 latency.
import type { Metric, Scenario } from '../scenario.ts';
import type { SqlDialect } from '../../../gateway/inspect/types.ts';
import { initSqlInspector, inspectSql } from '../../../gateway/inspect/sql/index.ts';

// `#` is replaced by a number so that every cold text is unique.
const PG_MIX = [
  'SELECT id, email FROM users WHERE id = #',
  "SELECT count(*) FROM orders WHERE created_at > now() - interval '# days'",
  'SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > # ORDER BY o.total DESC LIMIT 50',
  'WITH recent AS (SELECT * FROM orders WHERE total > #) SELECT customer_id, sum(total) FROM recent GROUP BY customer_id',
  'SELECT * FROM products WHERE id IN (SELECT product_id FROM order_items WHERE order_id = #)',
  "INSERT INTO audit_notes(note, created_by) VALUES ('checked #', current_user)",
  'UPDATE users SET last_seen = now() WHERE id = #',
  'DELETE FROM sessions WHERE expires_at < now() - interval \'# hours\'',
  'SELECT table_name FROM information_schema.tables WHERE table_schema = \'public\' LIMIT #',
  'EXPLAIN SELECT * FROM orders WHERE customer_id = #',
  'DELETE FROM orders WHERE 1=1 AND # = #',
  'CREATE INDEX idx_orders_# ON orders(total)',
  "SELECT pg_read_file('/etc/passwd', 0, #)",
  'SELECT 1; DROP TABLE users_#',
  "DO $$ BEGIN EXECUTE 'DELETE FROM t_#'; END $$",
  'SELECT date_trunc(\'day\', created_at) AS d, count(*) FROM events WHERE kind = \'login\' AND user_id = # GROUP BY 1 ORDER BY 1',
];

const MYSQL_MIX = [
  'SELECT id, email FROM users WHERE id = #',
  'SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > # ORDER BY o.total DESC LIMIT 50',
  'SELECT * FROM products WHERE id IN (SELECT product_id FROM order_items WHERE order_id = #)',
  "INSERT INTO audit_notes (note) VALUES ('checked #')",
  'UPDATE products SET price = price * 1.1 WHERE category_id = #',
  'DELETE FROM sessions WHERE id = #',
  'SELECT `name`, `value` FROM `settings` WHERE `scope` = \'app\' LIMIT #',
  'DELETE FROM orders WHERE # = #',
  "SELECT * FROM users INTO OUTFILE '/tmp/u#.csv'",
  'SELECT 1 /*!50000 ; DROP TABLE users_# */',
  'SHOW TABLES',
  'CREATE TABLE t_# (id INT PRIMARY KEY, name VARCHAR(50))',
];

const COLD_BUDGET_MS = 1_200;
const WARM_BUDGET_MS = 400;
const MAX_STATEMENTS = 2_000_000;

function texts(mix: readonly string[], from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => mix[i % mix.length]!.replaceAll('#', String(from + i)));
}

/** Inspects `next(i)` until the count or time budget runs out; statements/s and per-statement latencies (ms). */
function measure(dialect: SqlDialect, next: (i: number) => string, budgetMs: number, sample: boolean): { rate: number; samples: number[] } {
  const samples: number[] = [];
  const started = performance.now();
  const stop = started + budgetMs;
  let n = 0;
  while (n < MAX_STATEMENTS && performance.now() < stop) {
    const sql = next(n);
    if (sample) {
      const t0 = performance.now();
      inspectSql(sql, { dialect });
      samples.push(performance.now() - t0);
    } else {
      // Time is read once per 256 calls: at hundreds of thousands per second the clock would dominate.
      for (let k = 0; k < 256; k++) inspectSql(next(n + k), { dialect });
      n += 255;
    }
    n++;
  }
  return { rate: n / ((performance.now() - started) / 1000), samples };
}

function p99(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? NaN;
}

// Each run starts its cold texts at a fresh number, so no run is served by an earlier run's cache.
let serial = Math.floor(Date.now() / 1000) * 1_000_000;

async function phase(dialect: SqlDialect, mix: readonly string[], label: string): Promise<Metric[]> {
  const base = serial;
  serial += 10_000_000;
  const cold = measure(dialect, (i) => mix[i % mix.length]!.replaceAll('#', String(base + i)), COLD_BUDGET_MS, true);
  const hot = texts(mix, base, mix.length * 4);
  for (const sql of hot) inspectSql(sql, { dialect });
  const warm = measure(dialect, (i) => hot[i % hot.length]!, WARM_BUDGET_MS, false);
  return [
    { name: `${label} cold statements/s`, value: cold.rate, unit: 'stmt/s' },
    { name: `${label} cold p99`, value: p99(cold.samples), unit: 'ms' },
    { name: `${label} warm statements/s`, value: warm.rate, unit: 'stmt/s', baseline: `${label} cold statements/s`, aim: '>= 200000' },
  ];
}

const scenario: Scenario = {
  name: 'sql',
  async run() {
    await initSqlInspector();
    return [...(await phase('postgresql', PG_MIX, 'postgresql')), ...(await phase('mysql', MYSQL_MIX, 'mysql'))];
  },
};
export default scenario;
