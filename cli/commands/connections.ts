// `airlock connections add|list|show|update|remove`: the services agents reach through airlock.
// Anyone lists and shows the connections they may use; admins add, update and remove. A definition
// is checked here with the gateway's own schema before it is sent, so a bad flag or file is a usage
// error (exit 2) naming the field; the gateway checks it again (and its policy packs and files).
import { Option, type Command } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import type { ConnectionView as View } from '../views.ts';
import { CliError } from '../errors.ts';
import { gatewayOption } from '../gateway-url.ts';
import { formatTable } from '../table.ts';
import { SQL_DIALECTS } from '../../gateway/inspect/types.ts';

const PATH = '/api/v1/connections';
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Largest --from-file or --openapi file read, in bytes (YAML is larger than the JSON the gateway caps). */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Fields the gateway adds to a connection; a file from `show` may carry them. */
const READ_ONLY = ['version', 'createdAt', 'updatedAt'];

interface DefinitionFlags {
  kind?: string; agent?: string; target?: string; cwd?: string; env?: string[]; groups?: string;
  packs?: string; policyFile?: string[]; defaultAction?: string; tag?: string[]; sqlDialect?: string;
  openapi?: string | false; description?: string; fromFile?: string; json?: boolean; gateway?: string;
}

type Definition = Record<string, unknown>;

const collect = (value: string, previous: string[] = []) => [...previous, value];


function definitionOptions(cmd: Command, update: boolean): Command {
  cmd
    .argument('<name>', 'the connection name (a DNS label: lower-case letters, digits, dashes)')
    .argument('[command...]', 'a stdio MCP server: the command the agent starts, after -- (e.g. -- npx -y @modelcontextprotocol/server-filesystem /data)')
    .addOption(new Option('--kind <kind>', 'what the target speaks').choices(['http', 'mcp', 'postgres']))
    .option('--agent <agent>', 'the agent that reaches the target')
    .option('--target <target>', 'the target as the agent sees it: http(s)://host:port/base, postgres://host:port/database, or an MCP server\'s URL')
    .option('--cwd <dir>', 'stdio MCP server: its working directory on the agent')
    .option('--env <KEY=VALUE>', 'stdio MCP server: an environment variable (repeatable; never a secret)', collect)
    .option('--groups <groups>', 'comma-separated groups that may use it; "*" = every user; "" = admins only')
    .option('--packs <packs>', 'comma-separated policy packs (default: default)')
    .option('--policy-file <path>', 'a policy file on the gateway, absolute path (repeatable; replaces the list)', collect)
    .addOption(new Option('--default-action <action>', 'decision when no policy rule matches (default: allow)').choices(['allow', 'mask', 'review', 'deny']))
    .addOption(new Option('--sql-dialect <dialect>', 'the SQL dialect of the target, which decides how its SQL is parsed (default: postgresql)').choices([...SQL_DIALECTS]))
    .option('--tag <tag>', 'a label, key or key=value (repeatable; replaces the tags)', collect)
    .option('--openapi <file>', 'an OpenAPI 3 document, JSON or YAML (http connections)')
    .option('--description <text>', 'a sentence for the people choosing a connection ("" removes it)')
    .option('--from-file <file>', update
      ? 'YAML or JSON whose fields replace the connection\'s (a JSON merge patch: null removes); flags apply after it'
      : 'the definition in YAML or JSON (as `show` prints it); flags override its fields')
    .option('--json', 'print the connection as JSON')
    .addOption(gatewayOption());
  if (update) cmd.option('--no-openapi', 'remove the OpenAPI document');
  return cmd;
}

export function registerConnectionCommands(program: Command): void {
  const group = program.command('connections')
    .description('the services agents reach through airlock: list and show the ones you may use; add, update, remove (admin)');

  definitionOptions(group.command('add').description('register a connection (admin)'), false)
    .action(async (name: string, command: string[], flags: DefinitionFlags) => {
      checkName(name);
      const { mergePatch } = await import('../../gateway/connections/merge-patch.ts');
      let definition: Definition = { name };
      if (flags.fromFile !== undefined) {
        const file = stripReadOnly(await readDocument(flags.fromFile, '--from-file'));
        if (file.name !== undefined && file.name !== name) throw input(`${flags.fromFile} names the connection "${String(file.name)}", not "${name}"`);
        definition = mergePatch(file, { name }) as Definition;
      }
      definition = await applyFlags(definition, flags, command);
      const body = await validated(definition);
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(flags.gateway, PATH, { method: 'POST', body });
      await report(answer, flags.json, (c) => `Created connection ${describe(c)}.`);
    });

  group.command('list')
    .description('list the connections you may use (admins: all)')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .action(async (opts: { gateway?: string; json?: boolean }) => {
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, PATH);
      const { connections } = (await import('../views.ts')).connectionList.parse(answer);
      if (opts.json) {
        process.stdout.write(JSON.stringify(connections, null, 2) + '\n');
        return;
      }
      const rows = [['NAME', 'KIND', 'AGENT', 'TARGET', 'GROUPS', 'PACKS']];
      for (const c of connections) rows.push([c.name, c.kind, c.agent, targetText(c.target), c.groups.join(',') || '-', c.policy.packs.join(',') || '-']);
      process.stdout.write(formatTable(rows));
    });

  group.command('show')
    .description('show one connection in full, as YAML (or --json); the YAML works as --from-file')
    .argument('<name>', 'the connection name')
    .addOption(gatewayOption())
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { gateway?: string; json?: boolean }) => {
      checkName(name);
      const { callGateway } = await import('../call.ts');
      const { answer } = await callGateway(opts.gateway, `${PATH}/${name}`);
      if (opts.json) {
        process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
        return;
      }
      const { stringify } = await import('yaml');
      process.stdout.write(stringify(answer, { lineWidth: 0 }));
    });

  definitionOptions(group.command('update').description('change a connection; only what you give changes (admin)'), true)
    .action(async (name: string, command: string[], flags: DefinitionFlags) => {
      checkName(name);
      if (flags.fromFile === undefined && !flagsGiven(flags, command)) {
        throw new CliError('CLI_USAGE', 'Nothing to change: give the flags to change (see `airlock connections update --help`) or --from-file.');
      }
      const { mergePatch } = await import('../../gateway/connections/merge-patch.ts');
      const { callGateway } = await import('../call.ts');
      const current = (await callGateway(flags.gateway, `${PATH}/${name}`)).answer as Definition;
      let expected = (await import('../views.ts')).connectionView.parse(current).version;
      let definition = stripReadOnly(current);
      if (flags.fromFile !== undefined) {
        const file = await readDocument(flags.fromFile, '--from-file');
        // A file edited from `show` carries the version it was read at: a change made since is a conflict.
        if (typeof file.version === 'number') expected = file.version;
        const patch = stripReadOnly(file);
        if (patch.name !== undefined && patch.name !== name) throw input(`${flags.fromFile} names the connection "${String(patch.name)}", not "${name}"; a connection cannot be renamed`);
        try {
          definition = mergePatch(definition, patch) as Definition;
        } catch (err) {
          throw input(`${flags.fromFile}: ${(err as Error).message}`);
        }
      }
      const body = await validated(await applyFlags(definition, flags, command));
      const { answer } = await callGateway(flags.gateway, `${PATH}/${name}`, { method: 'PUT', body: { ...body, version: expected } });
      await report(answer, flags.json, (c) => `Updated connection ${describe(c)}.`);
    });

  group.command('remove')
    .description('remove a connection; its users lose access at once (admin)')
    .argument('<name>', 'the connection name')
    .option('--yes', 'do not ask for confirmation (needed when standard input is not a terminal)')
    .addOption(gatewayOption())
    .action(async (name: string, opts: { yes?: boolean; gateway?: string }) => {
      checkName(name);
      const { callGateway } = await import('../call.ts');
      if (!opts.yes) {
        if (!process.stdin.isTTY) {
          throw new CliError('CLI_CONFIRMATION_REQUIRED', `Removing connection "${name}" needs confirmation, and standard input is not a terminal to ask on; pass --yes to remove it.`);
        }
        const c = (await import('../views.ts')).connectionView.parse((await callGateway(opts.gateway, `${PATH}/${name}`)).answer);
        if (!(await confirm(`Remove connection ${describe(c)}? Its users lose access at once. [y/N] `))) {
          throw new CliError('CLI_CANCELLED', `Connection "${name}" was not removed.`);
        }
      }
      await callGateway(opts.gateway, `${PATH}/${name}`, { method: 'DELETE' });
      process.stdout.write(`Removed connection ${name}.\n`);
    });
}

function checkName(name: string): void {
  if (!DNS_LABEL.test(name)) throw input(`"${name}" is not a connection name: a DNS label (1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit)`);
}

function input(message: string): CliError {
  return new CliError('CLI_INPUT_INVALID', message.endsWith('.') ? message : `${message}.`);
}

/** Validates with the gateway's schema; the body sent is the definition as given (the gateway fills defaults). */
async function validated(definition: Definition): Promise<Definition> {
  const { validateConnection, describeFieldIssues } = await import('../../gateway/connections/schema.ts');
  const result = validateConnection(definition);
  if (!result.ok) throw input(`The connection is not valid: ${describeFieldIssues(result.issues)}`);
  return definition;
}

/** A YAML or JSON mapping from a file, size-capped, duplicate keys refused. */
async function readDocument(file: string, flag: string): Promise<Definition> {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_FILE_BYTES) throw input(`${file} (${flag}) is ${size} bytes, more than the ${MAX_FILE_BYTES} read`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError('CLI_FILE_NOT_FOUND', `Cannot read ${file} (${flag}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  const { parseYaml } = await import('../../lib/config.ts');
  let raw: unknown;
  try {
    raw = parseYaml(text, file).raw;
  } catch (err) {
    throw input((err as Error).message);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw input(`${file} (${flag}) must hold a mapping of fields to values`);
  return raw as Definition;
}

function stripReadOnly(doc: Definition): Definition {
  return Object.fromEntries(Object.entries(doc).filter(([k]) => !READ_ONLY.includes(k)));
}

function flagsGiven(f: DefinitionFlags, command: string[]): boolean {
  return command.length > 0 || [f.kind, f.agent, f.target, f.cwd, f.env, f.groups, f.packs, f.policyFile, f.defaultAction, f.tag, f.description, f.sqlDialect].some((v) => v !== undefined)
    || f.openapi !== undefined;
}

/** The definition with the flags applied: each flag given replaces its field; others stay. */
async function applyFlags(definition: Definition, f: DefinitionFlags, command: string[]): Promise<Definition> {
  const out: Definition = { ...definition };
  if (f.kind !== undefined) out.kind = f.kind;
  if (f.agent !== undefined) out.agent = f.agent;
  const stdioTarget = (): Definition => {
    const current = out.target;
    if (current === null || typeof current !== 'object' || !('command' in current)) {
      throw new CliError('CLI_USAGE', '--cwd and --env go with a stdio MCP server: give its command after -- (e.g. -- npx -y my-mcp-server).');
    }
    return { ...(current as Definition) };
  };
  if (command.length > 0) {
    if (f.target !== undefined) throw new CliError('CLI_USAGE', 'Give either --target (a URL) or a stdio command after --, not both.');
    out.target = { command };
  } else if (f.target !== undefined) {
    out.target = f.target;
  }
  if (f.cwd !== undefined || f.env !== undefined) {
    const target = stdioTarget();
    if (f.cwd !== undefined) target.cwd = f.cwd;
    if (f.env !== undefined) target.env = Object.fromEntries(f.env.map(envPair));
    out.target = target;
  }
  if (f.groups !== undefined) out.groups = splitList(f.groups);
  if (f.packs !== undefined || f.policyFile !== undefined || f.defaultAction !== undefined) {
    const policy: Definition = out.policy !== null && typeof out.policy === 'object' ? { ...(out.policy as Definition) } : {};
    if (f.packs !== undefined) policy.packs = splitList(f.packs);
    if (f.policyFile !== undefined) policy.files = f.policyFile;
    if (f.defaultAction !== undefined) policy.defaultAction = f.defaultAction;
    out.policy = policy;
  }
  if (f.tag !== undefined) out.tags = f.tag;
  if (f.sqlDialect !== undefined) out.sql = { ...(out.sql !== null && typeof out.sql === 'object' ? out.sql as Definition : {}), dialect: f.sqlDialect };
  if (f.openapi === false) delete out.openapi;
  else if (f.openapi !== undefined) out.openapi = await readDocument(f.openapi, '--openapi');
  if (f.description === '') delete out.description;
  else if (f.description !== undefined) out.description = f.description;
  return out;
}

function envPair(pair: string): [string, string] {
  const at = pair.indexOf('=');
  if (at < 1) throw new CliError('CLI_USAGE', `--env ${JSON.stringify(pair)} is not KEY=VALUE.`);
  return [pair.slice(0, at), pair.slice(at + 1)];
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function targetText(target: unknown): string {
  if (typeof target === 'string') return target;
  const t = target as { url?: string; command?: string[] } | null;
  if (t?.url !== undefined) return t.url;
  if (Array.isArray(t?.command)) return `stdio: ${t.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`;
  return '?';
}

function describe(c: View): string {
  const who = c.groups.length === 0 ? 'admins only' : c.groups.includes('*') ? 'every user' : `groups ${c.groups.join(', ')}`;
  return `${c.name} (version ${c.version}): ${c.kind} via agent ${c.agent} to ${targetText(c.target)}; used by ${who}; policy packs ${c.policy.packs.join(', ') || 'none'}`;
}

async function report(answer: unknown, json: boolean | undefined, line: (c: View) => string): Promise<void> {
  if (json) process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
  else process.stdout.write(line((await import('../views.ts')).connectionView.parse(answer)) + '\n');
}

async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
