// A real gateway with a real agent in the same process (a bench worker), for the scenarios that
// go through the data path: SQLite in a temp dir, no identity provider (an API key for
// connection `bench` authenticates; its secret is `key`), the agent enrolled through the store.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../../agent/config.ts';
import { startAgent } from '../../../agent/run.ts';
import { openConfiguredVaultAs } from '../../../agent/vault/configured.ts';
import { issueEnrollment } from '../../../gateway/agents/index.ts';
import { generateApiKey } from '../../../gateway/authn/apikeys.ts';
import { startGateway, type RunningGateway } from '../../../gateway/main.ts';
import { silentLogger } from '../../../lib/log.ts';

export interface BenchGateway {
  readonly gw: RunningGateway;
  readonly port: number;
  /** The API key for connection `bench`. */
  readonly key: string;
  close(): Promise<void>;
}

/**
 * `connection`: the definition of `bench` (name, agent and groups are filled in); `allow`: the
 * agent's targets.allow. `extra.config`: more gateway configuration (e.g. the postgres listener, metrics);
 * `extra.postgresLogin`: the database login the agent's vault holds for `bench`.
 */
export async function startBenchGateway(connection: Record<string, unknown>, allow: readonly string[], extra: { config?: Record<string, unknown>; postgresLogin?: { username: string; password: string } } = {}): Promise<BenchGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-gw-'));
  const gw = await startGateway({
    env: {}, cwd: dir, logger: silentLogger,
    overrides: { server: { port: 0, publicUrl: 'http://127.0.0.1' }, store: { url: `sqlite:${join(dir, 'gw.db')}` }, log: { level: 'error' }, agents: { pingInterval: 0 }, policy: { maskKey: 'YmVuY2gtbWFzay1rZXktYmVuY2gtbWFzay1rZXk=' }, ...extra.config },
  });
  const key = generateApiKey();
  await gw.store.apiKeys.create({ id: key.id, name: 'bench', hash: key.hash, roles: ['user'], connections: ['bench'], createdBy: 'bench' });
  await gw.connections.create({ ...connection, name: 'bench', agent: 'bench', groups: ['*'] });
  const { token } = await issueEnrollment(gw.store, 'bench', { ttlSeconds: 60 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const overrides = { dataDir: join(dir, 'agent'), health: { port: 0 }, tunnel: { pingInterval: 0 }, targets: { allow: [...allow] }, gateway: { urls: [gw.url] } };
  if (extra.postgresLogin !== undefined) {
    const { config } = loadAgentConfig({ env: {}, cwd: dir, overrides });
    await openConfiguredVaultAs(config, { dataDir: overrides.dataDir, agent: 'bench', warn: () => {} }).vault.set('bench', { type: 'postgres', ...extra.postgresLogin });
  }
  const agent = await startAgent({ env: {}, cwd: dir, logger: silentLogger, enrollTokenFile: tokenFile, enrollGateway: gw.url, overrides });
  await gw.agents.waitOnline('bench', 10_000);
  return {
    gw, port: Number(new URL(gw.url).port), key: key.key,
    close: async () => {
      await agent.stop();
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
