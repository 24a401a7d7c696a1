// Presence of replicas with a cluster listener (gateway/cluster/): each upserts its row every
// heartbeat; which replica holds a tunnel of which agent is one row per (agent, replica). A
// replica whose heartbeat is older than the reader's cut-off counts as gone, and its rows are
// swept by whichever replica notices.
import type { Driver, Executor } from './driver.ts';
import { num, op, str } from './ops.ts';
import type { Store } from './types.ts';

export function clusterRepos(driver: Driver): Pick<Store, 'cluster'> {
  const db: Executor = driver;
  return {
    cluster: {
      beat: (id, url, at) => op('record a replica heartbeat', async () => {
        await db.run('INSERT INTO cluster_replicas (id, url, started_at, heartbeat_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, url = excluded.url',
          [id, url, at, at]);
      }),
      leave: (id) => op('remove a replica', () => driver.transaction(async (tx) => {
        await tx.run('DELETE FROM cluster_tunnels WHERE replica = ?', [id]);
        await tx.run('DELETE FROM cluster_replicas WHERE id = ?', [id]);
      })),
      tunnel: (agent, replica, online, at) => op('record an agent tunnel', async () => {
        if (online) await db.run('INSERT INTO cluster_tunnels (agent, replica, since) VALUES (?, ?, ?) ON CONFLICT (agent, replica) DO NOTHING', [agent, replica, at]);
        else await db.run('DELETE FROM cluster_tunnels WHERE agent = ? AND replica = ?', [agent, replica]);
      }),
      routes: (aliveAfter) => op('read agent tunnel presence', async () => {
        const rows = await db.query(
          'SELECT t.agent, r.id, r.url FROM cluster_tunnels t JOIN cluster_replicas r ON r.id = t.replica WHERE r.heartbeat_at >= ? ORDER BY t.agent, r.id', [aliveAfter]);
        return rows.map((r) => ({ agent: str(r.agent), replica: str(r.id), url: str(r.url) }));
      }),
      replicas: (aliveAfter) => op('list replicas', async () => {
        const rows = await db.query('SELECT id, url, started_at, heartbeat_at FROM cluster_replicas WHERE heartbeat_at >= ? ORDER BY id', [aliveAfter]);
        return rows.map((r) => ({ id: str(r.id), url: str(r.url), startedAt: num(r.started_at), heartbeatAt: num(r.heartbeat_at) }));
      }),
      sweep: (staleBefore) => op('sweep gone replicas', () => driver.transaction(async (tx) => {
        await tx.run('DELETE FROM cluster_tunnels WHERE replica IN (SELECT id FROM cluster_replicas WHERE heartbeat_at < ?)', [staleBefore]);
        return tx.run('DELETE FROM cluster_replicas WHERE heartbeat_at < ?', [staleBefore]);
      })),
    },
  };
}
