// Functions, stored procedures and extensions that reach outside the database or change the
// server, for every dialect at once. A name from another engine's list is harmless to check (it
// does not exist there), and one table is easier to review than twelve. Names are lower case;
// callers compare the last part of a qualified name (pg_catalog.pg_read_file → pg_read_file).
import type { SqlKind } from './collector.ts';

export interface Risk {
  readonly kind: SqlKind;
  /** Why, for the finding's detail. */
  readonly why: string;
}

const FILE_READ = 'reads files on the database server';
const FILE_WRITE = 'writes files on the database server';
const OS = 'runs operating-system commands on the database server';
const NETWORK = 'opens connections from the database server to other hosts';

function table(kind: SqlKind, why: string, names: string[]): Array<[string, Risk]> {
  return names.map((n) => [n, { kind, why }]);
}

/** Function or procedure name → risk. */
export const RISKY_ROUTINES: ReadonlyMap<string, Risk> = new Map([
  // PostgreSQL (core and adminpack)
  ...table('sql.escape', FILE_READ, [
    'pg_read_file', 'pg_read_binary_file', 'pg_stat_file', 'pg_ls_dir', 'pg_ls_logdir', 'pg_ls_waldir',
    'pg_ls_tmpdir', 'pg_ls_archive_statusdir', 'pg_ls_logicalsnapdir', 'pg_ls_logicalmapdir',
    'pg_ls_replslotdir', 'pg_ls_summariesdir', 'pg_logdir_ls', 'lo_import',
  ]),
  ...table('sql.escape', FILE_WRITE, ['lo_export', 'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_file_sync']),
  ...table('sql.escape', NETWORK, [
    'dblink', 'dblink_exec', 'dblink_connect', 'dblink_connect_u', 'dblink_send_query', 'dblink_open',
    'dblink_fetch', 'dblink_get_result',
  ]),
  ...table('sql.escape', 'runs SQL text in a background worker, outside this inspection', ['pg_background_launch']),
  ...table('sql.server_config', 'changes the server\'s state or configuration', [
    'pg_reload_conf', 'pg_rotate_logfile', 'pg_terminate_backend', 'pg_cancel_backend', 'pg_promote',
    'pg_switch_wal', 'pg_create_restore_point', 'pg_backup_start', 'pg_backup_stop', 'pg_start_backup',
    'pg_stop_backup', 'pg_wal_replay_pause', 'pg_wal_replay_resume', 'pg_drop_replication_slot',
    'pg_create_physical_replication_slot', 'pg_create_logical_replication_slot', 'pg_log_backend_memory_contexts',
  ]),
  // MySQL / MariaDB (LOAD_FILE is core; sys_* are the lib_mysqludf_sys UDFs)
  ...table('sql.escape', FILE_READ, ['load_file']),
  ...table('sql.escape', OS, ['sys_exec', 'sys_eval']),
  // SQLite (extension loading, and the CLI/fileio file functions)
  ...table('sql.escape', 'loads a native library into the database process', ['load_extension']),
  ...table('sql.escape', 'reads or writes files on the database host', ['readfile', 'writefile', 'edit', 'fts3_tokenizer']),
  // Not routines but statements and a PRAGMA beyond node-sql-parser's grammars; listed so the
  // word scan of text that did not parse (prelex.ts riskyWords) names them.
  ...table('sql.server_config', 'lets SQL rewrite the schema table (PRAGMA writable_schema)', ['writable_schema']),
  ...table('sql.server_config', 'stops the database server', ['shutdown']),
  ...table('sql.server_config', 'applies server configuration changes (SQL Server RECONFIGURE)', ['reconfigure']),
  // SQL Server
  ...table('sql.escape', OS, ['xp_cmdshell', 'sp_oacreate', 'sp_oamethod', 'sp_execute_external_script', 'xp_servicecontrol']),
  ...table('sql.escape', 'reads the server\'s registry or file system', ['xp_regread', 'xp_regwrite', 'xp_dirtree', 'xp_fileexist', 'xp_subdirs', 'xp_availablemedia']),
  ...table('sql.escape', NETWORK, ['openrowset', 'opendatasource', 'openquery', 'sp_addlinkedserver', 'sp_send_dbmail', 'xp_sendmail', 'external_query']),
  ...table('sql.escape', 'registers native code in the server', ['sp_addextendedproc']),
  ...table('sql.server_config', 'changes server-wide configuration', ['sp_configure', 'sp_serveroption', 'sp_dboption']),
  ...table('sql.privilege', 'changes logins, roles or ownership', [
    'sp_addsrvrolemember', 'sp_addrolemember', 'sp_addlogin', 'sp_adduser', 'sp_grantlogin', 'sp_password',
    'sp_changedbowner', 'sp_droplogin', 'sp_droprolemember', 'sp_setapprole', 'sp_grantdbaccess',
  ]),
]);

/** Which arguments of a routine are SQL text that the server runs. */
export interface SqlTextArgs {
  /** 0-based positions of the SQL-text arguments, given the number of arguments passed. */
  readonly at: (argc: number) => readonly number[];
  /** Parameter names of the same arguments when passed by name (`command => '...'`). */
  readonly named: readonly string[];
}

const first: SqlTextArgs = { at: () => [0], named: ['query', 'sqlquery', 'source_sql'] };

/**
 * Routines that run SQL text given as an argument, by lower-case name (qualified where the bare
 * name is too common to mean it: `cron.schedule`). A constant text is parsed and inspected like a
 * statement (the recursion is depth-bounded by the walker); a computed one is dynamic SQL.
 * `cursor_to_xml` and `table_to_xml` are not here: they take a cursor or a table, not SQL text.
 */
export const SQL_TEXT_ROUTINES: ReadonlyMap<string, SqlTextArgs> = new Map([
  ['query_to_xml', first], ['query_to_xmlschema', first], ['query_to_xml_and_xmlschema', first],
  ['ts_stat', first],
  // ts_rewrite(query, target, substitute) takes tsqueries; ts_rewrite(query, select) runs the select.
  ['ts_rewrite', { at: (argc) => (argc === 2 ? [1] : []), named: [] }],
  // dblink(sql) and dblink(connection, sql [, fail_on_error]); dblink_send_query(connection, sql).
  ['dblink', { at: (argc) => (argc === 1 ? [0] : [1]), named: [] }],
  ['dblink_exec', { at: (argc) => (argc === 1 ? [0] : [1]), named: [] }],
  ['dblink_send_query', { at: () => [1], named: [] }],
  ['pg_background_launch', { at: () => [0], named: ['sql'] }],
  // tablefunc: crosstab(source_sql [, category_sql]); a number as the second argument is skipped.
  ['crosstab', { at: (argc) => (argc >= 2 ? [0, 1] : [0]), named: [] }],
  ['crosstab2', first], ['crosstab3', first], ['crosstab4', first],
  // pg_cron: schedule(schedule, command), schedule(job_name, schedule, command), ...
  ['cron.schedule', { at: (argc) => [argc >= 3 ? 2 : 1], named: ['command'] }],
  ['cron.schedule_in_database', { at: () => [2], named: ['command'] }],
  ['cron.alter_job', { at: (argc) => (argc >= 3 ? [2] : []), named: ['command'] }],
  // SQL Server
  ['sp_executesql', first],
]);

/** The SQL-text arguments of a routine named by `parts` (a qualified entry first, then the bare name). */
export function sqlTextArgs(parts: readonly string[]): SqlTextArgs | undefined {
  const lower = parts.map((p) => p.toLowerCase());
  return SQL_TEXT_ROUTINES.get(lower.slice(-2).join('.')) ?? SQL_TEXT_ROUTINES.get(lower[lower.length - 1] ?? '');
}

/** set_config() targets that change who the session is (the function form of SET ROLE). */
export const IDENTITY_SETTINGS: ReadonlySet<string> = new Set(['role', 'session_authorization', 'session_replication_role']);

/** PostgreSQL extensions and languages that reach files, programs or the network. */
export const RISKY_EXTENSIONS: ReadonlySet<string> = new Set([
  'adminpack', 'file_fdw', 'dblink', 'postgres_fdw', 'mysql_fdw', 'oracle_fdw', 'tds_fdw', 'multicorn',
  'pg_background', 'plpythonu', 'plpython2u', 'plpython3u', 'plperlu', 'pltclu', 'plluau', 'plsh', 'pljavau',
]);

/** Function languages that run native or untrusted code (anything but these is trusted). */
export const UNTRUSTED_LANGUAGES: ReadonlySet<string> = new Set([
  'c', 'internal', 'plpythonu', 'plpython2u', 'plpython3u', 'plperlu', 'pltclu', 'plluau', 'plsh', 'pljavau',
]);

/** The last part of a dotted or listed name, lower case. */
export function baseName(parts: readonly string[]): string {
  return (parts[parts.length - 1] ?? '').toLowerCase();
}
