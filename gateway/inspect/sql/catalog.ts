// Writes to a system catalog. `UPDATE pg_settings SET setting = …` is SET by another name,
// `UPDATE pg_authid SET rolsuper = true` and `INSERT INTO mysql.user …` are GRANT by another name,
// so such writes get the finding of what they amount to (sql.privilege or sql.server_config),
// never the plain sql.write of an application table. Reads of catalogs are ordinary reads.
import type { Risk } from './functions.ts';

/** Catalog tables that hold roles, logins, memberships and privileges (lower case, unqualified). */
const IDENTITY_TABLES: ReadonlySet<string> = new Set([
  // PostgreSQL
  'pg_authid', 'pg_auth_members', 'pg_roles', 'pg_user', 'pg_shadow', 'pg_group', 'pg_db_role_setting',
  'pg_default_acl', 'pg_init_privs', 'pg_user_mapping', 'pg_user_mappings', 'pg_seclabel', 'pg_shseclabel',
  // MySQL / MariaDB (schema mysql)
  'user', 'db', 'tables_priv', 'columns_priv', 'procs_priv', 'proxies_priv', 'role_edges', 'global_grants',
  'default_roles', 'password_history', 'roles_mapping', 'global_priv',
]);

/** Schemas that are the server's own (any dialect). */
const CATALOG_SCHEMAS: ReadonlySet<string> = new Set([
  'pg_catalog', 'pg_toast', 'information_schema', 'mysql', 'performance_schema', 'sys',
]);

/** Catalog tables reachable without a schema: SQLite's schema table and its aliases. */
const SQLITE_SCHEMA_TABLES: ReadonlySet<string> = new Set(['sqlite_master', 'sqlite_schema', 'sqlite_temp_master', 'sqlite_temp_schema']);

/**
 * The risk of writing to `schema.table`, or undefined for an ordinary table. A PostgreSQL name
 * starting with `pg_` without a schema is a catalog table: pg_catalog is searched before any
 * other schema unless search_path names it later, which a statement cannot rely on. `fold`:
 * compare in lower case (MySQL and SQL Server fold names on most installations); PostgreSQL
 * passes names already folded, where a quoted "PG_SETTINGS" is another table. Default true.
 */
export function catalogWrite(schema: string | undefined, table: string, fold = true): Risk | undefined {
  const s = fold ? schema?.toLowerCase() : schema;
  const t = fold ? table.toLowerCase() : table;
  const inCatalog = (s === undefined ? t.startsWith('pg_') : CATALOG_SCHEMAS.has(s)) || SQLITE_SCHEMA_TABLES.has(t);
  if (!inCatalog) return undefined;
  if (IDENTITY_TABLES.has(t) && (s === undefined || s === 'pg_catalog' || s === 'mysql')) {
    return { kind: 'sql.privilege', why: 'writes the catalog of roles and privileges, which changes who may do what' };
  }
  return { kind: 'sql.server_config', why: 'writes a system catalog, which changes the server\'s configuration or schema behind its back' };
}
