// `airlock-agent secrets set|list|rm` and `airlock-agent vault rewrap|jwks`: the vault from the
// command line. A value never comes from an argument (it would land in shell history and ps):
// only from a file, an environment variable or standard input, or (a signing key) made here.
// Nothing here prints a value.
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadAgentConfig, type AgentConfig } from '../config.ts';
import { createCredentials } from '../credentials/index.ts';
import { generateSigningSecret, publicJwkOf, signingSecretFromText } from '../credentials/jwt.ts';
import type { Secret, SecretType } from '../credentials/schema.ts';
import { AgentError } from '../errors.ts';
import { loadIdentity } from '../identity.ts';
import { createLogger } from '../../lib/log.ts';
import { openConfiguredVaultAs } from './configured.ts';
import type { Vault } from './vault.ts';

/** Bytes a secret's value may have. */
const MAX_VALUE_BYTES = 64 * 1024;

export interface SecretSource {
  readonly fromFile?: string;
  readonly fromEnv?: string;
  readonly stdin?: boolean;
}

/**
 * The value from exactly one source, one trailing newline trimmed; AGENT_USAGE or
 * AGENT_INPUT_INVALID otherwise. Control characters are refused (the value goes into a header)
 * unless `multiline` (a PEM key), which admits line breaks and tabs.
 */
export async function readSecretValue(source: SecretSource, env: NodeJS.ProcessEnv = process.env, multiline = false): Promise<string> {
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
  if ((multiline ? /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/ : /[\x00-\x08\x0a-\x1f\x7f]/).test(value)) throw new AgentError('AGENT_INPUT_INVALID', 'The secret holds control characters (a line break inside?); a header value cannot carry them.');
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

/**
 * The secret a value stands for: the token (bearer), `user:password` (basic, postgres), the
 * header's value (header, with its name), `client_id:client_secret` (oauth-client), a private
 * key in PEM or JWK (jwt-signing-key).
 */
export function secretFromValue(type: SecretType, value: string, headerName: string | undefined): Secret {
  if ((type === 'header') !== (headerName !== undefined)) {
    throw new AgentError('AGENT_USAGE', type === 'header' ? 'secrets set --type header needs --name HEADER (e.g. --name X-Api-Key).' : `--name is only for --type header, not ${type}.`);
  }
  if (type === 'bearer') return { type, token: value };
  if (type === 'header') {
    if (!/^[A-Za-z0-9-]{1,100}$/.test(headerName!)) throw new AgentError('AGENT_INPUT_INVALID', `--name ${JSON.stringify(headerName!.slice(0, 100))} is not a header name (letters, digits and hyphens).`);
    return { type, name: headerName!, value };
  }
  if (type === 'jwt-signing-key') return signingSecretFromText(value);
  const colon = value.indexOf(':');
  const form = type === 'oauth-client' ? 'client_id:client_secret, with a non-empty client id before the first colon and a non-empty secret' : 'user:password, with a non-empty user before the first colon';
  if (colon <= 0 || (type === 'oauth-client' && colon === value.length - 1)) throw new AgentError('AGENT_INPUT_INVALID', `A ${type} credential is ${form}.`);
  const [left, right] = [value.slice(0, colon), value.slice(colon + 1)];
  if (type === 'oauth-client') return { type, clientId: left, clientSecret: right };
  return { type, username: left, password: right };
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
  // Each command touches a key once: no data-key cache.
  return openConfiguredVaultAs(config, { dataDir, agent, warn, cache: false }).vault;
}

export interface SecretsCommandOptions { readonly config?: string }

async function vaultFor(opts: SecretsCommandOptions): Promise<Vault> {
  const { config, warnings } = loadAgentConfig(opts.config === undefined ? {} : { file: opts.config });
  for (const w of warnings) process.stderr.write(`airlock-agent: warning: ${w}\n`);
  return openConfiguredVault(config, resolve(config.dataDir), (m) => { process.stderr.write(`airlock-agent: warning: ${m}\n`); });
}

export async function secretsSet(connection: string, opts: SecretsCommandOptions & SecretSource & { type: SecretType; name?: string; generate?: boolean }): Promise<void> {
  let secret: Secret;
  if (opts.generate) {
    if (opts.type !== 'jwt-signing-key') throw new AgentError('AGENT_USAGE', `--generate is only for --type jwt-signing-key, not ${opts.type}.`);
    if (opts.fromFile !== undefined || opts.fromEnv !== undefined || opts.stdin) throw new AgentError('AGENT_USAGE', '--generate makes the key here: give no --from-file, --from-env or --stdin with it.');
    secret = generateSigningSecret();
  } else {
    secret = secretFromValue(opts.type, await readSecretValue(opts, process.env, opts.type === 'jwt-signing-key'), opts.name);
  }
  const vault = await vaultFor(opts);
  await vault.set(connection, secret);
  const kid = secret.type === 'jwt-signing-key' ? ` (public key id ${(await publicJwkOf(secret)).kid}, published in the agent's /.well-known/jwks.json)` : '';
  process.stdout.write(`Stored the ${opts.type} credential of connection ${connection} in ${vault.path}${kid}.\n`);
}

/** `vault rewrap`: every data key re-wrapped under the configured master key, one line per entry. */
export async function vaultRewrap(opts: SecretsCommandOptions): Promise<void> {
  const vault = await vaultFor(opts);
  const done = await vault.rewrap((step) => {
    process.stdout.write(`[${step.index}/${step.total}] ${step.connection}: re-wrapped${step.from === undefined || step.from === step.to ? '' : ` from ${step.from}`} under ${step.to}\n`);
  });
  process.stdout.write(done === 0 ? 'The vault holds no secrets; nothing to re-wrap.\n' : `Re-wrapped ${done} data key(s) in ${vault.path}; the values were not decrypted.\n`);
}

/** `vault jwks`: the agent's public JWKS (what /.well-known/jwks.json serves), for targets that cannot reach the agent. */
export async function vaultJwks(opts: SecretsCommandOptions): Promise<void> {
  const { config } = loadAgentConfig(opts.config === undefined ? {} : { file: opts.config });
  const vault = await vaultFor(opts);
  const agent = (await loadIdentity(resolve(config.dataDir)))?.state.name ?? config.name ?? '';
  // An entry that cannot be read is left out of the set and reported on stderr.
  const logger = createLogger({ level: 'warn', write: (line) => { process.stderr.write(line); } }, { service: 'agent' });
  const jwks = await createCredentials({ vault, agent, logger }).jwks();
  process.stdout.write(JSON.stringify(jwks, null, 2) + '\n');
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
