// MCP sessions shared by replicas (gateway/mcp/sessions.ts): one row per session, written at
// initialize, read by a replica that receives a session id it does not hold in memory, touched
// while in use, removed on DELETE, swept when idle.
import type { Driver, Executor } from './driver.ts';
import { first, num, op, q, str } from './ops.ts';
import type { Store } from './types.ts';

export function mcpSessionRepos(driver: Driver): Pick<Store, 'mcpSessions'> {
  const db: Executor = driver;
  return {
    mcpSessions: {
      create: (r) => op('record an MCP session', async () => {
        await db.run('INSERT INTO mcp_sessions (id, subject, connection, init, recording, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
          [r.id, r.subject, r.connection, r.init, r.recording, r.createdAt, r.lastUsedAt]);
      }, () => `an MCP session ${q(r.id)} already exists`),
      get: (id) => op('read an MCP session', async () => {
        const r = first(await db.query('SELECT id, subject, connection, init, recording, created_at, last_used_at FROM mcp_sessions WHERE id = ?', [id]));
        return r ? { id: str(r.id), subject: str(r.subject), connection: str(r.connection), init: str(r.init), recording: str(r.recording), createdAt: num(r.created_at), lastUsedAt: num(r.last_used_at) } : null;
      }),
      touch: (id, at) => op('touch an MCP session', async () => {
        await db.run('UPDATE mcp_sessions SET last_used_at = ? WHERE id = ? AND last_used_at < ?', [at, id, at]);
      }),
      remove: (id) => op('remove an MCP session', async () => (await db.run('DELETE FROM mcp_sessions WHERE id = ?', [id])) > 0),
      sweep: (before) => op('sweep idle MCP sessions', () => db.run('DELETE FROM mcp_sessions WHERE last_used_at < ?', [before])),
    },
  };
}
