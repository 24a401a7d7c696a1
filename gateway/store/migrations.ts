// Versioned schema migrations, applied at start. Append new ones at the end; never edit or
// renumber one that has shipped. Column types stay portable: TEXT, INTEGER, BIGINT for epoch ms,
// JSON as TEXT. Where the dialects differ, give `sql` as { sqlite, postgres }.
//
// The runner applies each missing migration in its own transaction and holds a lock while it
// reads the applied versions and applies the next one, so gateways starting together never race:
// PostgreSQL takes a transaction-scoped advisory lock (pg_advisory_xact_lock) first; SQLite's
// BEGIN IMMEDIATE takes the database write lock, and a second opener waits (busy_timeout).
import { GatewayError } from '../errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { Driver } from './driver.ts';

export interface Migration {
  /** 1, 2, 3...: strictly increasing. */
  readonly version: number;
  readonly name: string;
  /** One or more statements, without parameters. */
  readonly sql: string | { readonly sqlite: string; readonly postgres: string };
}

// Migration 9's tables, the same on both backends (PostgreSQL adds the notifying trigger function).
const REPLICA_TABLES = `
        CREATE TABLE connect_token_uses (
          agent TEXT NOT NULL,
          jti TEXT NOT NULL,
          expires_at BIGINT NOT NULL,
          PRIMARY KEY (agent, jti)
        );
        CREATE INDEX connect_token_uses_expires ON connect_token_uses (expires_at);
        CREATE TABLE cluster_replicas (
          id TEXT NOT NULL PRIMARY KEY,
          url TEXT NOT NULL,
          started_at BIGINT NOT NULL,
          heartbeat_at BIGINT NOT NULL
        );
        CREATE TABLE cluster_tunnels (
          agent TEXT NOT NULL,
          replica TEXT NOT NULL,
          since BIGINT NOT NULL,
          PRIMARY KEY (agent, replica)
        );
      `;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'connections, agents, api_keys, sessions, events, reviews',
    sql: `
      CREATE TABLE connections (
        name TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL,
        agent TEXT NOT NULL,
        spec TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE agents (
        name TEXT NOT NULL PRIMARY KEY,
        public_key TEXT,
        enrollment_token_hash TEXT,
        enrollment_expires_at BIGINT,
        status TEXT NOT NULL,
        version TEXT,
        last_seen BIGINT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE TABLE api_keys (
        id TEXT NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        roles TEXT NOT NULL,
        connections TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        last_used_at BIGINT
      );
      CREATE TABLE sessions (
        id TEXT NOT NULL PRIMARY KEY,
        connection TEXT NOT NULL,
        subject TEXT NOT NULL,
        kind TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        metadata TEXT NOT NULL
      );
      CREATE INDEX sessions_connection_started ON sessions (connection, started_at);
      CREATE TABLE events (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        at BIGINT NOT NULL,
        offset_ms BIGINT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
      );
      CREATE TABLE reviews (
        id TEXT NOT NULL PRIMARY KEY,
        session_id TEXT,
        connection TEXT NOT NULL,
        requester TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
        created_at BIGINT NOT NULL,
        decided_at BIGINT,
        decided_by TEXT,
        reason TEXT,
        expires_at BIGINT NOT NULL,
        detail TEXT NOT NULL
      );
      CREATE INDEX reviews_status_created ON reviews (status, created_at);
      CREATE INDEX reviews_request_hash ON reviews (request_hash);
    `,
  },
  {
    version: 2,
    name: 'recording (session state, checkpoints, gateway instances) and reviews (votes, approvals, deliveries)',
    sql: `
      ALTER TABLE sessions ADD COLUMN state TEXT NOT NULL DEFAULT 'open';
      ALTER TABLE sessions ADD COLUMN end_reason TEXT;
      ALTER TABLE sessions ADD COLUMN instance TEXT;
      ALTER TABLE sessions ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sessions ADD COLUMN decisions TEXT NOT NULL DEFAULT ',';
      CREATE INDEX sessions_state ON sessions (state, instance);
      CREATE INDEX sessions_subject_started ON sessions (subject, started_at);
      CREATE TABLE checkpoints (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        at BIGINT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
      );
      CREATE TABLE gateway_instances (
        id TEXT NOT NULL PRIMARY KEY,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL
      );
      ALTER TABLE reviews ADD COLUMN approvals_needed INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE reviews ADD COLUMN reviewers TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE reviews ADD COLUMN uses_left INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE reviews ADD COLUMN valid_until BIGINT;
      CREATE TABLE review_votes (
        review_id TEXT NOT NULL REFERENCES reviews (id),
        reviewer TEXT NOT NULL,
        approve INTEGER NOT NULL,
        reason TEXT,
        at BIGINT NOT NULL,
        PRIMARY KEY (review_id, reviewer)
      );
      CREATE TABLE review_deliveries (
        review_id TEXT NOT NULL REFERENCES reviews (id),
        attempt INTEGER NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        ok INTEGER NOT NULL,
        status INTEGER,
        error TEXT,
        at BIGINT NOT NULL
      );
      CREATE INDEX review_deliveries_review ON review_deliveries (review_id, at);
    `,
  },
  {
    version: 3,
    name: 'tool pins (MCP tool integrity)',
    sql: `
      CREATE TABLE tool_pins (
        connection TEXT NOT NULL,
        tool TEXT NOT NULL,
        approved TEXT,
        approved_by TEXT,
        approved_at BIGINT,
        pending TEXT,
        pending_since BIGINT,
        first_seen BIGINT NOT NULL,
        PRIMARY KEY (connection, tool)
      );
    `,
  },
  {
    version: 4,
    name: 'keys act for a person (api key creator, owner, kind; the roles a person last held) and the credential behind a review vote',
    sql: `
      ALTER TABLE api_keys ADD COLUMN creator TEXT;
      ALTER TABLE api_keys ADD COLUMN owner TEXT;
      ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'service';
      CREATE TABLE principals (
        sub TEXT NOT NULL PRIMARY KEY,
        groups TEXT NOT NULL,
        seen_at BIGINT NOT NULL
      );
      ALTER TABLE review_votes ADD COLUMN credential TEXT;
      CREATE INDEX reviews_session ON reviews (session_id);
    `,
  },
  {
    version: 5,
    name: 'recording ledger (checkpoint state and chain, ledger entries, signed ledger heads)',
    sql: `
      ALTER TABLE checkpoints ADD COLUMN state TEXT;
      ALTER TABLE checkpoints ADD COLUMN prev TEXT;
      CREATE TABLE ledger (
        chain TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at BIGINT NOT NULL,
        type TEXT NOT NULL,
        session_id TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (chain, seq)
      );
      CREATE INDEX ledger_session ON ledger (session_id);
      CREATE INDEX ledger_at ON ledger (at);
      CREATE TABLE ledger_heads (
        chain TEXT NOT NULL PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        at BIGINT NOT NULL,
        key_id TEXT NOT NULL,
        final INTEGER NOT NULL,
        signature TEXT NOT NULL
      );
    `,
  },
  {
    // One row every gateway polls (a single-row read about once a second) to learn that someone,
    // through any replica or straight in the database, changed who may use what: a connection,
    // an API key's roles/connections/expiry/revocation, an agent's key or status. Triggers bump it
    // in the writing transaction, so no writer can forget to; bookkeeping columns (last_used_at,
    // last_seen, version strings) do not bump it.
    version: 6,
    name: 'config epoch (authority changes seen by every replica)',
    sql: {
      sqlite: `
        CREATE TABLE config_epoch (id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL);
        INSERT INTO config_epoch (id, epoch) VALUES (1, 1);
        CREATE TRIGGER config_epoch_connections_ins AFTER INSERT ON connections BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_connections_upd AFTER UPDATE ON connections BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_connections_del AFTER DELETE ON connections BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_api_keys_ins AFTER INSERT ON api_keys BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_api_keys_upd AFTER UPDATE OF hash, roles, connections, expires_at, revoked_at ON api_keys BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_api_keys_del AFTER DELETE ON api_keys BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_agents_ins AFTER INSERT ON agents BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_agents_upd AFTER UPDATE OF public_key, status, revoked_at ON agents BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
        CREATE TRIGGER config_epoch_agents_del AFTER DELETE ON agents BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; END;
      `,
      postgres: `
        CREATE TABLE config_epoch (id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL);
        INSERT INTO config_epoch (id, epoch) VALUES (1, 1);
        CREATE FUNCTION airlock_bump_config_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1; RETURN NULL; END;
        $$;
        CREATE TRIGGER config_epoch_connections AFTER INSERT OR UPDATE OR DELETE ON connections
          FOR EACH STATEMENT EXECUTE FUNCTION airlock_bump_config_epoch();
        CREATE TRIGGER config_epoch_api_keys AFTER INSERT OR DELETE OR UPDATE OF hash, roles, connections, expires_at, revoked_at ON api_keys
          FOR EACH STATEMENT EXECUTE FUNCTION airlock_bump_config_epoch();
        CREATE TRIGGER config_epoch_agents AFTER INSERT OR DELETE OR UPDATE OF public_key, status, revoked_at ON agents
          FOR EACH STATEMENT EXECUTE FUNCTION airlock_bump_config_epoch();
      `,
    },
  },
  {
    // Usage of the limits declared in policy (gateway/limits/): one row per limit, key and window,
    // shared by every replica. A replica reserves a block of units at a time (one round trip per
    // block, not per request); expired windows are purged.
    version: 7,
    name: 'limit counters',
    sql: `
      CREATE TABLE limit_counters (
        key TEXT NOT NULL PRIMARY KEY,
        used BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX limit_counters_expires ON limit_counters (expires_at);
    `,
  },
  {
    // The web console's sign-ins (gateway/console/web-session.ts), in the store so that they
    // survive a restart and hold on every replica. `id` is a hash of the cookie's secret and
    // `sealed` is encrypted under a key derived from it: the rows alone let nobody sign in.
    // `kind` is 'login' (an authorization in progress: PKCE verifier, state) or 'session'.
    version: 8,
    name: 'console sessions',
    sql: `
      CREATE TABLE console_sessions (
        id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT,
        sealed TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
    `,
  },
  {
    // Several replicas on one store (gateway/cluster/DESIGN.md). The jti of every agent connect
    // token that verified, until the token expires: a captured token connects once to the whole
    // deployment, not once per replica. The replicas with a cluster listener (their internal URL
    // and heartbeat) and which of them holds a tunnel of which agent, for the relay. On PostgreSQL the config epoch's bump also notifies
    // (delivered at commit), so replicas LISTENing re-read the epoch at once instead of at their
    // next poll.
    version: 9,
    name: 'replicas: shared connect-token replay cache, presence, config epoch notifications',
    sql: {
      sqlite: REPLICA_TABLES,
      postgres: `${REPLICA_TABLES}
        CREATE OR REPLACE FUNCTION airlock_bump_config_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1;
            PERFORM pg_notify('airlock_config_epoch', '');
            RETURN NULL;
          END;
        $$;
      `,
    },
  },
  {
    // gateway/mcp/sessions.ts: an MCP session any replica can serve (and take over when its
    // replica dies). `init` is the client's initialize params, replayed into the SDK server.
    version: 10,
    name: 'mcp sessions shared by replicas',
    sql: `
      CREATE TABLE mcp_sessions (
        id TEXT NOT NULL PRIMARY KEY,
        subject TEXT NOT NULL,
        connection TEXT NOT NULL,
        init TEXT NOT NULL,
        recording TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT NOT NULL
      );
      CREATE INDEX mcp_sessions_last_used ON mcp_sessions (last_used_at);
    `,
  },
];
/** Newest schema version this code knows. */
export const LATEST_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/** Arbitrary but fixed: every airlock gateway on a database takes this advisory lock to migrate. */
const PG_MIGRATION_LOCK_KEY = 0x61_69_72_6c_6f_63_6bn; // "airlock" in ASCII
/** How long a gateway waits for another one's migration before giving up. */
const PG_LOCK_WAIT = '120s';

const CREATE_SCHEMA_MIGRATIONS = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`;

export interface MigrateOptions {
  /** The store URL with its password redacted, for messages. */
  readonly label: string;
  readonly logger: Logger;
  /** Clock for applied_at, epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Default MIGRATIONS; tests pass their own. */
  readonly migrations?: readonly Migration[];
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (!Number.isSafeInteger(m.version) || m.version < 1 || (i > 0 && m.version <= migrations[i - 1]!.version)) {
      throw new TypeError(`migrations must have strictly increasing positive integer versions (at index ${i}: ${m.version})`);
    }
  });
}

/** Applies every missing migration; resolves with the versions it applied (empty when up to date). */
export async function runMigrations(driver: Driver, options: MigrateOptions): Promise<number[]> {
  const migrations = options.migrations ?? MIGRATIONS;
  checkOrder(migrations);
  const newest = migrations.at(-1)?.version ?? 0;
  const now = options.now ?? Date.now;
  const applied: number[] = [];
  for (;;) {
    const step = await driver.transaction(async (tx) => {
      if (driver.backend === 'postgres') {
        // A migration may legitimately run long; waiting for another gateway's lock may not.
        await tx.exec(`SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '${PG_LOCK_WAIT}'`);
        await tx.query(`SELECT pg_advisory_xact_lock(${PG_MIGRATION_LOCK_KEY})`);
      }
      await tx.exec(CREATE_SCHEMA_MIGRATIONS);
      const done = new Set((await tx.query('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
      const highest = Math.max(0, ...done);
      if (highest > newest) {
        throw new GatewayError('GW_STORE_MIGRATION',
          `The store at ${options.label} has schema version ${highest}, newer than this gateway (${newest}); upgrade airlock or point store.url elsewhere.`);
      }
      const next = migrations.find((m) => !done.has(m.version));
      if (!next) return undefined;
      try {
        await tx.exec(typeof next.sql === 'string' ? next.sql : next.sql[driver.backend]);
        await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [next.version, next.name, now()]);
      } catch (err) {
        const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        throw new GatewayError('GW_STORE_MIGRATION',
          `Migration ${next.version} (${next.name}) failed on the store at ${options.label} and was rolled back: ${reason}. Fix the database or restore a backup, then start again.`,
          { cause: err });
      }
      return next;
    });
    if (!step) return applied;
    applied.push(step.version);
    options.logger.info('store migration applied', { version: step.version, name: step.name });
  }
}
