// The contract between inspectors, masking and the policy engine.
// Inspectors are pure functions from a value to findings; they never throw on hostile input
// (a value they cannot handle becomes a finding such as `sql.unparsed`, `shell.unparsed`
// or `inspect.limit`), so the policy engine can fail closed on it.

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

/** Offsets in UTF-16 code units into the inspected string, end exclusive. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface Finding {
  /** One of FINDING_KINDS, or `pii.<ENTITY>` / `secret.<ENTITY>` with an entity from PII_ENTITIES / SECRET_ENTITIES. */
  readonly kind: string;
  /** JSONPath of the inspected value: `$` for a bare value, `$.a.b[0]` inside JSON. */
  readonly path: string;
  readonly span?: Span;
  readonly severity: Severity;
  /** Human-readable; never contains a secret or PII value in clear. */
  readonly detail: string;
}

/** Finding kinds for SQL and shell, with what each means. Policy packs match on these names. */
export const FINDING_KINDS = {
  // SQL
  'sql.read': 'A statement that only reads (SELECT, SHOW, EXPLAIN without ANALYZE of a write, VALUES).',
  'sql.write': 'INSERT, or UPDATE/DELETE/MERGE with an effective WHERE.',
  'sql.write.unbounded': 'UPDATE/DELETE/MERGE with no WHERE or a tautological one (1=1, true, \'a\'=\'a\', 2>1).',
  'sql.ddl.create': 'CREATE/ALTER/COMMENT/RENAME of schema objects (tables, indexes, views, ...).',
  'sql.ddl.drop': 'DROP or TRUNCATE.',
  'sql.privilege': 'GRANT, REVOKE, CREATE/ALTER/DROP ROLE or USER, SET ROLE, SET SESSION AUTHORIZATION.',
  'sql.escape': 'Server-side escape to files, programs or the OS (COPY ... PROGRAM, pg_read_file, lo_import, INTO OUTFILE, LOAD_FILE, xp_cmdshell, ATTACH, ...).',
  'sql.procedural': 'Procedural code: DO blocks, CREATE FUNCTION/PROCEDURE/TRIGGER, dynamic EXECUTE.',
  'sql.server_config': 'Server configuration or lifecycle: SET GLOBAL, ALTER SYSTEM, SHUTDOWN, sp_configure, PRAGMA writable_schema.',
  'sql.multi_statement': 'More than one statement in one payload.',
  'sql.obfuscation': 'Executable comments (/*! */, /*M! */), look-alike or zero-width characters in keywords.',
  'sql.transaction': 'Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT).',
  'sql.other': 'A statement that parsed but fits no class above (e.g. SET of a session variable, VACUUM).',
  'sql.unparsed': 'The statement does not parse in the connection\'s dialect.',
  // Shell
  'shell.command': 'A command that was recognised and judged harmless (info; lists the command name).',
  'shell.destructive': 'Destructive file operation on root, home or system paths (rm -rf /, find -exec rm, ...).',
  'shell.disk_destruction': 'Disk or filesystem destruction (dd to a device, mkfs, shred, wipefs).',
  'shell.pipe_to_interpreter': 'Output piped or process-substituted into a shell or interpreter.',
  'shell.decoded_payload': 'A decoded payload (base64, xxd, ...) fed to a shell or eval.',
  'shell.fork_bomb': 'A fork bomb.',
  'shell.permission_blowup': 'Recursive permission or ownership change on root, home or system paths.',
  'shell.infra_destructive': 'Infrastructure-destructive verb (kubectl delete, terraform destroy, helm uninstall, git push --force, aws s3 rb, docker system prune, systemctl stop, ...).',
  'shell.dynamic_command': 'A command name that is not a literal after normalisation ($VAR, $(...), eval of a non-literal).',
  'shell.obfuscation': 'Obfuscation that changes what runs (ANSI-C escapes, $IFS tricks, quote splitting of a risky name).',
  'shell.unparsed': 'The command has error or missing nodes in the bash grammar.',
  'shell.dynamic_target': 'A recursive delete, move or permission change whose target is only known at run time (a variable or command output the inspector cannot resolve, everything in a directory entered with cd "$D").',
  'shell.remote_code': 'A file downloaded earlier in the same command is run (curl -o x.sh URL && sh x.sh, wget URL; ./x after chmod +x).',
  'shell.reverse_shell': 'A shell or interpreter wired to a network connection: bash -i >& /dev/tcp/…, nc -e, ncat --exec, socat exec:, a shell piped into nc, socket code that spawns a shell.',
  // Generic
  'inspect.limit': 'The value exceeded an inspection limit (size, depth, recursion) and was not fully inspected.',
  'inspect.error': 'An inspector failed; treated as unparsed (fail closed).',
  'inspect.duplicate_key': 'A JSON object names one key twice: readers disagree on which value counts, so the body is refused.',
  'inspect.charset': 'Text that does not decode in its charset (byte-order mark, declared charset, else UTF-8), or in a charset airlock cannot decode.',
  'inspect.hidden_text': 'A PII or secret value that appears only once control or format characters are removed (UTF-16 read as UTF-8, zero-width characters), backslash escapes are decoded, or a multipart part is decoded (transfer encoding, charset, encoded parameter): it cannot be masked in place.',
  'inspect.encoding': 'A multipart part in a Content-Transfer-Encoding airlock cannot read (base64 and quoted-printable can be).',
  'inspect.multipart': 'A multipart body whose Content-Type names no boundary, or names it twice: readers would split it differently.',
  'inspect.header': 'A header or query parameter that cannot be inspected (too many, too long, or not valid text).',
  'inspect.binary': 'A binary payload (a WebSocket message) that is not UTF-8 text, so it cannot be inspected (fail closed).',
  // MCP tool definitions
  'mcp.hidden_unicode': 'A tool description (or other MCP text) carries invisible characters: zero-width, bidi controls, tag characters, variation-selector runs or other format (Cf) characters.',
  'mcp.instruction_text': 'A tool description carries text addressed to the model: overriding instructions, secrecy from the user, sensitive file paths, exfiltration, steering other tools, or markup such as <IMPORTANT>.',
} as const;

export type FindingKind = keyof typeof FINDING_KINDS;

/** PII entity names (Presidio's), reported as `pii.<ENTITY>`. */
export const PII_ENTITIES = ['CREDIT_CARD', 'US_SSN', 'IBAN_CODE', 'EMAIL_ADDRESS', 'PHONE_NUMBER', 'IP_ADDRESS'] as const;
/** Secret entity names, reported as `secret.<ENTITY>`. */
export const SECRET_ENTITIES = ['AWS_ACCESS_KEY', 'AWS_SECRET_KEY', 'API_KEY', 'PRIVATE_KEY', 'JWT', 'GENERIC_SECRET'] as const;

export type PiiEntity = (typeof PII_ENTITIES)[number];
export type SecretEntity = (typeof SECRET_ENTITIES)[number];

/** SQL dialects airlock inspects. `postgresql` uses libpg-query; the rest node-sql-parser. */
export const SQL_DIALECTS = ['postgresql', 'mysql', 'mariadb', 'sqlite', 'transactsql', 'bigquery', 'snowflake', 'redshift', 'db2', 'hive', 'flinksql', 'trino'] as const;
export type SqlDialect = (typeof SQL_DIALECTS)[number];
