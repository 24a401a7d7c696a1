// `airlock-agent secrets set|list|rm`: the vault from the command line. A value never comes
// from an argument (it would land in shell history and ps): only from a file, an environment
// variable or standard input. Nothing here prints a value.
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadAgentConfig, type AgentConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import type { StaticCredential } from '../http-forward.ts';
import { loadIdentity } from '../identity.ts';
import { createLocalKms, LOCAL_KEY_ID } from './local-kms.ts';
import { openVault, type Vault } from './vault.ts';

/** Bytes a secret's value may have. */
const MAX_VALUE_BYTES = 64 * 1024;

export interface SecretSource {
  readonly fromFile?: string;
  readonly fromEnv?: string;
  readonly stdin?: boolean;
}

/** The value from exactly one source, one trailing newline trimmed; AGENT_USAGE or AGENT_INPUT_INVALID otherwise. */
export async function readSecretValue(source: SecretSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const given = [source.fromFile !== undefined, source.fromEnv !== undefined, source.stdin === true].filter(Boolean).length;
  if (given !== 1) {
    throw new AgentError('AGENT_USAGE', `secrets set takes the value from exactly one of --from-file FILE, --from-env VAR or --stdin${given === 0 ? '' : ' (several were given)'}; never from the command line, where it would land in shell history.`);
  }
  let value: string;
  if (source.fromFile !== undefined) {
    try {
      if ((await stat(source.fromFile)).size > MAX_VALUE_BYTES + 2) throw new AgentError('AGENT_INPUT_INVALID', `${source.fromFile} is longer than ${MAX_VALUE_BYTES} bytes; a secret is one value.`);
      const bytes = await readFile(source.fromFile);
      value = bytes.toString('utf8');
      bytes.fill(0);
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw new AgentError('AGENT_INPUT_INVALID', `Cannot read ${source.fromFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: err });
    }
  } else if (source.fromEnv !== undefined) {
    const v = env[source.fromEnv];
    if (v === undefined) throw new AgentError('AGENT_INPUT_INVALID', `The environment variable ${source.fromEnv} is not set.`);
    value = v;
  } else {
    value = await readStdin();
  }
  value = value.replace(/\r?\n$/, '');
  if (value === '') throw new AgentError('AGENT_INPUT_INVALID', 'The secret is empty; nothing was stored.');
  if (Buffer.byteLength(value) > MAX_VALUE_BYTES) throw new AgentError('AGENT_INPUT_INVALID', `The secret is longer than ${MAX_VALUE_BYTES} bytes.`);
  // It goes into an HTTP header: control characters (a newline inside) would split it.
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new AgentError('AGENT_INPUT_INVALID', 'The secret holds control characters (a line break inside?); a header value cannot carry them.');
  return value;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_VALUE_BYTES + 2) throw new AgentError('AGENT_INPUT_INVALID', `The secret on standard input is longer than ${MAX_VALUE_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The credential a value stands for: the token (bearer), `user:password` (basic), the header's value (header, with its name). */
export function credentialFromValue(type: StaticCredential['type'], value: string, headerName: string | undefined): StaticCredential {
  if ((type === 'header') !== (headerName !== undefined)) {
    throw new AgentError('AGENT_USAGE', type === 'header' ? 'secrets set --type header needs --name HEADER (e.g. --name X-Api-Key).' : `--name is only for --type header, not ${type}.`);
  }
  if (type === 'bearer') return { type, token: value };
  if (type === 'header') {
    if (!/^[A-Za-z0-9-]{1,100}$/.test(headerName!)) throw new AgentError('AGENT_INPUT_INVALID', `--name ${JSON.stringify(headerName!.slice(0, 100))} is not a header name (letters, digits and hyphens).`);
    return { type, name: headerName!, value };
  }
  const colon = value.indexOf(':');
  if (colon <= 0) throw new AgentError('AGENT_INPUT_INVALID', 'A basic credential is user:password, with a non-empty user before the first colon.');
  return { type, username: value.slice(0, colon), password: value.slice(colon + 1) };
}

/**
 * The vault of the agent this configuration describes. Entries are bound to the agent's name:
 * the enrolled name, else the configured `name`; neither → AGENT_NOT_ENROLLED.
 */
export async function openConfiguredVault(config: AgentConfig, dataDir: string, warn: (message: string) => void): Promise<Vault> {
  const identity = await loadIdentity(dataDir);
  if (identity !== undefined && config.name !== undefined && identity.state.name !== config.name) {
    throw new AgentError('AGENT_CONFIG_INVALID', `This agent is enrolled as ${identity.state.name} (${dataDir}), but its configuration says name: ${config.name}; fix the name, or use another dataDir.`);
  }
  const agent = identity?.state.name ?? config.name;
  if (agent === undefined) {
    throw new AgentError('AGENT_NOT_ENROLLED', `Secrets are bound to the agent's name, and this one has none yet: enroll it first (airlock-agent enroll), or set name in its configuration.`);
  }
  return openVault({ dataDir, agent, kms: createLocalKms({ dataDir, warn }), keyId: LOCAL_KEY_ID });
}

export interface SecretsCommandOptions { readonly config?: string }

async function vaultFor(opts: SecretsCommandOptions): Promise<Vault> {
  const { config, warnings } = loadAgentConfig(opts.config === undefined ? {} : { file: opts.config });
  for (const w of warnings) process.stderr.write(`airlock-agent: warning: ${w}\n`);
  return openConfiguredVault(config, resolve(config.dataDir), (m) => { process.stderr.write(`airlock-agent: warning: ${m}\n`); });
}

export async function secretsSet(connection: string, opts: SecretsCommandOptions & SecretSource & { type: StaticCredential['type']; name?: string }): Promise<void> {
  const credential = credentialFromValue(opts.type, await readSecretValue(opts), opts.name);
  const vault = await vaultFor(opts);
  await vault.set(connection, credential);
  process.stdout.write(`Stored the ${opts.type} credential of connection ${connection} in ${vault.path}.\n`);
}

export async function secretsList(opts: SecretsCommandOptions & { json?: boolean }): Promise<void> {
  const entries = await (await vaultFor(opts)).list();
  if (opts.json) {
    process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
    return;
  }
  if (entries.length === 0) {
    process.stdout.write('The vault holds no secrets; add one with: airlock-agent secrets set CONNECTION --type bearer --stdin\n');
    return;
  }
  const rows = [['CONNECTION', 'TYPE', 'CREATED', 'UPDATED'], ...entries.map((e) => [e.connection, e.type, e.createdAt, e.updatedAt])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n');
}

export async function secretsRemove(connection: string, opts: SecretsCommandOptions): Promise<void> {
  const vault = await vaultFor(opts);
  if (!(await vault.remove(connection))) throw new AgentError('AGENT_SECRET_NOT_FOUND', `The vault holds no secret for connection ${connection}.`);
  process.stdout.write(`Removed the secret of connection ${connection} from ${vault.path}.\n`);
}
