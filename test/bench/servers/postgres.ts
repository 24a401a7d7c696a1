// Bench server for the postgres scenario, in its own worker: a real gateway with the PostgreSQL
// listener on (port 0) and a real agent whose vault holds the login of connection `bench`, which
// points at the scenario's PostgreSQL server. Reports the listener's port and the API key.
import { startBenchGateway } from '../lib/gateway.ts';

export default async function start(arg: { target: string; origin: string; user: string }): Promise<{ port: number; info?: unknown; close(): Promise<void> }> {
  const bench = await startBenchGateway({ kind: 'postgres', target: arg.target }, [arg.origin], {
    config: { postgres: { enabled: true, port: 0 } },
    postgresLogin: { username: arg.user, password: 'unused-trust-auth' },
  });
  return { port: bench.port, info: { key: bench.key, pgPort: bench.gw.postgresPort }, close: () => bench.close() };
}
