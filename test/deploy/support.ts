// Shared by the deploy tests: reading the deployment files, and checking an embedded gateway or
// agent configuration with the real loaders (the same zod schemas and rules as at start).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../gateway/config/load.ts';
import { loadAgentConfig } from '../../agent/config.ts';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);

export function readYamlFile(path: string): any {
  return parse(readFileSync(join(ROOT, path), 'utf8'), { merge: true });
}

/** Every document of a multi-document YAML text, as plain values. */
export function documents(text: string): any[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`YAML error: ${d.errors[0]!.message}`);
    return d.toJS();
  }).filter((d) => d !== null);
}

/**
 * Loads `text` as a gateway (or agent) configuration file through its real loader, with only
 * `env` as the environment: throws the loader's coded error (GW_CONFIG_INVALID,
 * AGENT_CONFIG_INVALID) when the schema refuses it. Returns the validated configuration.
 */
export function loadAs(kind: 'gateway', text: string, env?: NodeJS.ProcessEnv): ReturnType<typeof loadConfig>['config'];
export function loadAs(kind: 'agent', text: string, env?: NodeJS.ProcessEnv): ReturnType<typeof loadAgentConfig>['config'];
export function loadAs(kind: 'gateway' | 'agent', text: string, env: NodeJS.ProcessEnv = {}): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-deploy-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, text);
    return kind === 'gateway' ? loadConfig({ file, env, cwd: dir }).config : loadAgentConfig({ file, env, cwd: dir }).config;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
