// `airlock-agent enroll`: trade a one-time enrollment token for a registered key.
//
//   token (file, stdin or argument) → its agent name → the gateway URL checked → a fresh Ed25519
//   key pair, the private key staged in the data dir (0600, dir 0700) → POST
//   /api/v1/agents/<name>/enroll with the token in the Authorization header and the public key
//   in the body → on success the staged key becomes the agent's key and state.json records the
//   name, the gateway and the audience for connect tokens. On failure the staged key is dropped
//   and the agent's previous key, if any, stays as it was.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../lib/log.ts';
import { AgentError } from './errors.ts';
import { parseGatewayUrl } from './gateway-url.ts';
import { commitIdentity, discardStagedKey, ensureDataDir, generateAgentKey, loadIdentity, stageKey, type AgentState } from './identity.ts';
import { AGENT_VERSION } from './version.ts';
import { causeOf } from '../lib/cause.ts';

const TOKEN_SHAPE = /^aet_([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)_[A-Za-z0-9_-]{43}$/;
/** Largest token input read, in bytes (a token is about 110). */
const MAX_TOKEN_INPUT = 4096;
/** Milliseconds the enrollment request may take. */
const TIMEOUT_MS = 10_000;
/** Largest answer read, in bytes. */
const MAX_ANSWER = 64 * 1024;

export interface EnrollOptions {
  /** The agent's data directory (absolute, or relative to the working directory). */
  readonly dataDir: string;
  /** The gateway's base URL (https://, or http:// to loopback). */
  readonly gateway: string;
  readonly token: string;
  /** The name the configuration demands (config `name`); another name in the token is refused. */
  readonly expectName?: string | undefined;
  /** gateway.insecure: allow http:// to a non-loopback gateway (logged). */
  readonly insecure?: boolean;
  readonly logger?: Logger;
}

/** The agent name an enrollment token is for; AGENT_INPUT_INVALID for anything that is not one. */
export function tokenAgentName(token: string): string {
  const name = TOKEN_SHAPE.exec(token)?.[1];
  if (name === undefined) throw new AgentError('AGENT_INPUT_INVALID', 'That is not an enrollment token (aet_<agent>_<secret>); copy the token `airlock agents add NAME` printed.');
  return name;
}

/**
 * Reads an enrollment token: `tokenFile` (a path, or `-` for standard input) or `token` itself,
 * exactly one of them. Surrounding whitespace is dropped; at most 4 KiB is read.
 */
export async function readEnrollmentToken(source: { token?: string | undefined; tokenFile?: string | undefined }, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if ((source.token === undefined) === (source.tokenFile === undefined)) {
    throw new AgentError('AGENT_USAGE', 'Give the enrollment token with exactly one of --token-file FILE, --token - (standard input) or --token TOKEN.');
  }
  if (source.token !== undefined && source.token !== '-') return source.token.trim();
  if (source.token === '-' || source.tokenFile === '-') {
    let text = '';
    for await (const chunk of stdin) {
      text += chunk.toString();
      if (text.length > MAX_TOKEN_INPUT) throw new AgentError('AGENT_INPUT_INVALID', 'Standard input holds more than an enrollment token; pipe in just the token.');
    }
    return text.trim();
  }
  const file = source.tokenFile!;
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (err) {
    throw new AgentError('AGENT_INPUT_INVALID', `Cannot read the enrollment token file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: err });
  }
  if (content.length > MAX_TOKEN_INPUT) throw new AgentError('AGENT_INPUT_INVALID', `The enrollment token file ${file} holds more than a token.`);
  return content.toString('utf8').trim();
}

/** Enrolls the agent the token names at `gateway` and returns the state written. */
export async function enrollAgent(options: EnrollOptions): Promise<AgentState> {
  const name = tokenAgentName(options.token);
  if (options.expectName !== undefined && options.expectName !== name) {
    throw new AgentError('AGENT_CONFIG_INVALID', `The enrollment token is for agent ${name}, but this agent's configuration says name: ${options.expectName}; use the token for ${options.expectName}, or change the name.`);
  }
  const gateway = parseGatewayUrl(options.gateway, { insecure: options.insecure === true, ...(options.logger === undefined ? {} : { logger: options.logger }) });
  const existing = await loadIdentity(options.dataDir).catch(() => undefined); // an unusable state is rewritten below
  if (existing !== undefined && existing.state.name !== name) {
    throw new AgentError('AGENT_STATE_INVALID', `The data directory ${options.dataDir} holds agent ${existing.state.name}; enroll ${name} with another dataDir (one agent per directory).`);
  }

  await ensureDataDir(options.dataDir);
  const { privateKeyPem, publicJwk } = generateAgentKey();
  await stageKey(options.dataDir, privateKeyPem);
  try {
    const answer = await post(`${gateway.base}/api/v1/agents/${name}/enroll`, options.token, { publicKey: publicJwk, version: AGENT_VERSION }, gateway.base);
    const state: AgentState = { version: 1, name, gateways: [gateway.base], audience: answer.audience, enrolledAt: new Date().toISOString() };
    await commitIdentity(options.dataDir, state);
    options.logger?.info('agent enrolled', { agent: name, gateway: gateway.base, dataDir: options.dataDir });
    return state;
  } catch (err) {
    await discardStagedKey(options.dataDir);
    throw err;
  }
}

async function post(url: string, token: string, body: unknown, gateway: string): Promise<{ audience: string }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      redirect: 'manual', // a redirect could carry the token elsewhere
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : causeOf(err);
    throw new AgentError('AGENT_GATEWAY_UNREACHABLE', `Cannot reach the gateway at ${gateway} (${reason}); check --gateway and that it runs.`, { cause: err });
  }
  const text = await readCapped(res);
  let json: unknown;
  try {
    json = JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v));
  } catch {
    json = undefined;
  }
  const record = (json ?? {}) as { error?: { code?: unknown; message?: unknown }; audience?: unknown };
  if (res.ok && typeof record.audience === 'string' && record.audience !== '') return { audience: record.audience };
  if (typeof record.error?.code === 'string' && typeof record.error.message === 'string') {
    throw new AgentError('AGENT_ENROLLMENT_REFUSED', `The gateway refused the enrollment: ${record.error.message} (${record.error.code})`);
  }
  throw new AgentError('AGENT_ENROLLMENT_REFUSED', `${gateway} answered the enrollment with HTTP ${res.status} and no airlock answer; is it an airlock gateway?`);
}

async function readCapped(res: Response): Promise<string> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > MAX_ANSWER) return ''; // leaving the loop cancels the body
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
