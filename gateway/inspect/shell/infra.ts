// Infrastructure-destructive verbs: commands whose blast radius is a cluster, a cloud account,
// a shared repository or a running service rather than this machine's files. These are
// `shell.infra_destructive` (the default pack sends them to review, not deny). Each tool's
// global options are skipped the way the tool reads them, so `kubectl -n prod delete ns x`
// and `git -C repo push -f` are seen.
import { show, type Cmd, type Word } from './model.ts';
import { hasFlag, parseOptions, type Parsed } from './options.ts';
import type { Hit, Rule } from './rules.ts';

function infra(word: Word | undefined, detail: string): Hit[] {
  return [{ kind: 'shell.infra_destructive', severity: 'high', detail, ...(word ? { word } : {}) }];
}

/** The first operand after global options, and the parse of everything. */
function verbOf(cmd: Cmd, short: string, long: readonly string[]): { verb: Word | undefined; p: Parsed } {
  const p = parseOptions(cmd.argv.slice(1), { short, long });
  return { verb: p.operands[0], p };
}

const kubectl: Rule = (cmd, name) => {
  const { verb, p } = verbOf(cmd, 'nsvlocf', ['namespace', 'context', 'cluster', 'user', 'kubeconfig', 'server', 'token', 'as', 'as-group', 'request-timeout', 'selector', 'output', 'filename', 'grace-period', 'timeout', 'field-selector']);
  const v = verb?.value;
  if (v === 'delete' || v === 'drain') return infra(verb, `${name} ${v} ${p.operands.slice(1).map((w) => show(w.value)).join(' ')}`.trim());
  if (v === 'replace' && hasFlag(p, 'force')) return infra(verb, `${name} replace --force deletes and recreates resources`);
  if (v === 'apply' && hasFlag(p, 'prune')) return infra(verb, `${name} apply --prune deletes resources missing from the input`);
  return [];
};

const helm: Rule = (cmd, name) => {
  const { verb, p } = verbOf(cmd, 'n', ['namespace', 'kube-context', 'kubeconfig', 'registry-config', 'repository-config', 'repository-cache']);
  return ['uninstall', 'delete', 'del', 'un'].includes(verb?.value ?? '') ? infra(verb, `${name} ${verb!.value} ${show(p.operands[1]?.value ?? '')}`.trim()) : [];
};

/** terraform/tofu use single-dash long flags (`-auto-approve`, `-destroy`, `-chdir=dir`): read words directly. */
const terraform: Rule = (cmd, name) => {
  const operands = cmd.argv.slice(1).filter((w) => !w.value.startsWith('-'));
  const words = operands.map((w) => w.value);
  const at = name === 'terragrunt' && words[0] === 'run-all' ? 1 : 0;
  const verb = operands[at];
  if (verb?.value === 'destroy') return infra(verb, `${name} destroy`);
  if (verb?.value === 'apply' && cmd.argv.some((w) => w.value === '-destroy' || w.value === '--destroy')) return infra(verb, `${name} apply -destroy`);
  if (verb?.value === 'state' && words[at + 1] === 'rm') return infra(verb, `${name} state rm`);
  if (verb?.value === 'workspace' && words[at + 1] === 'delete') return infra(verb, `${name} workspace delete`);
  return [];
};

const git: Rule = (cmd, name) => {
  const global = parseOptions(cmd.argv.slice(1), { short: 'Cc', long: ['git-dir', 'work-tree', 'namespace', 'exec-path', 'config-env'], stop: true });
  const [sub, ...rest] = global.operands;
  if (sub?.value !== 'push') return [];
  const p = parseOptions(rest, { short: 'o', long: ['repo', 'receive-pack', 'exec', 'push-option'] });
  const forced = hasFlag(p, 'f', 'force', 'force-with-lease', 'force-if-includes', 'mirror');
  if (forced) return infra(sub, `${name} push --force rewrites remote history`);
  if (hasFlag(p, 'd', 'delete', 'prune')) return infra(sub, `${name} push --delete removes remote refs`);
  const refspec = p.operands.slice(1).find((w) => w.value.startsWith('+') || w.value.startsWith(':'));
  if (refspec) return infra(refspec, refspec.value.startsWith('+') ? `${name} push ${show(refspec.value)} force-updates a remote ref` : `${name} push ${show(refspec.value)} deletes a remote ref`);
  return [];
};

const aws: Rule = (cmd, name) => {
  const { p } = verbOf(cmd, '', ['profile', 'region', 'output', 'endpoint-url', 'query', 'cli-input-json', 'cli-input-yaml', 'ca-bundle', 'color', 'cli-read-timeout', 'cli-connect-timeout']);
  const [service, op] = p.operands;
  if (!service || !op) return [];
  if (service.value === 's3' && op.value === 'rb') return infra(op, `${name} s3 rb removes a bucket`);
  if (service.value === 's3' && op.value === 'rm' && hasFlag(p, 'recursive')) return infra(op, `${name} s3 rm --recursive`);
  if (/^(delete|terminate)-/.test(op.value)) return infra(op, `${name} ${service.value} ${op.value}`);
  return [];
};

/** gcloud and az: command groups come first (`gcloud compute instances delete`); look for the verb among them. */
const groups: Rule = (cmd, name) => {
  const words = cmd.argv.slice(1);
  const end = words.findIndex((w) => w.value.startsWith('-'));
  const verb = (end < 0 ? words : words.slice(0, end)).find((w) => w.value === 'delete' || w.value === 'destroy');
  return verb ? infra(verb, `${name} ${words.slice(0, words.indexOf(verb) + 1).map((w) => w.value).join(' ')}`) : [];
};

const gsutil: Rule = (cmd, name) => {
  const verb = cmd.argv.slice(1).find((w) => !w.value.startsWith('-'));
  if (verb?.value === 'rb') return infra(verb, `${name} rb removes a bucket`);
  if (verb?.value === 'rm' && cmd.argv.some((w) => /^-[a-zA-Z]*[rR]/.test(w.value))) return infra(verb, `${name} rm -r`);
  return [];
};

const docker: Rule = (cmd, name) => {
  const { p } = verbOf(cmd, 'Hcl', ['host', 'context', 'config', 'log-level', 'file', 'project-name', 'profile', 'env-file']);
  const [a, b] = p.operands;
  const pair = `${a?.value ?? ''} ${b?.value ?? ''}`;
  if (b?.value === 'prune' && ['system', 'volume', 'image', 'container', 'network', 'builder', 'buildx'].includes(a?.value ?? '')) return infra(a, `${name} ${pair}`);
  if (a?.value === 'volume' && (b?.value === 'rm' || b?.value === 'remove')) return infra(a, `${name} volume rm`);
  const down = a?.value === 'compose' ? b : a;
  if ((name === 'docker-compose' || a?.value === 'compose') && down?.value === 'down' && hasFlag(p, 'v', 'volumes')) return infra(down, `${name} ${a?.value === 'compose' ? 'compose ' : ''}down --volumes deletes volumes`);
  return [];
};

const SERVICE_VERBS = new Set(['stop', 'disable', 'mask', 'kill', 'poweroff', 'halt', 'reboot', 'rescue', 'emergency', 'isolate', 'kexec', 'soft-reboot']);

const systemctl: Rule = (cmd, name) => {
  const { verb, p } = verbOf(cmd, 'HMtpsn', ['host', 'machine', 'type', 'property', 'signal', 'kill-whom', 'state', 'root', 'job-mode', 'lines', 'output']);
  return verb && SERVICE_VERBS.has(verb.value) ? infra(verb, `${name} ${verb.value} ${p.operands.slice(1).map((w) => show(w.value)).join(' ')}`.trim()) : [];
};

const service: Rule = (cmd, name) => {
  const verb = cmd.argv[2];
  return verb?.value === 'stop' ? infra(verb, `${name} ${show(cmd.argv[1]!.value)} stop`) : [];
};

const power: Rule = (cmd, name) => (cmd.argv.some((w) => w.value === '--help' || (w.value === '-h' && name !== 'shutdown')) ? [] : infra(cmd.argv[0], `${name} stops the machine`));

const init: Rule = (cmd, name) => (['0', '1', '6', 's', 'S'].includes(cmd.argv[1]?.value ?? '') ? infra(cmd.argv[1], `${name} ${cmd.argv[1]!.value} changes the runlevel`) : []);

const redis: Rule = (cmd, name) => {
  const verb = cmd.argv.find((w) => /^flush(all|db)$/i.test(w.value));
  return verb ? infra(verb, `${name} ${verb.value.toUpperCase()} deletes every key`) : [];
};

const gh: Rule = (cmd, name) => (cmd.argv[1]?.value === 'repo' && cmd.argv[2]?.value === 'delete' ? infra(cmd.argv[2], `${name} repo delete`) : []);

const INFRA: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ['kubectl', kubectl], ['oc', kubectl], ['helm', helm],
  ['terraform', terraform], ['tofu', terraform], ['terragrunt', terraform],
  ['git', git], ['aws', aws], ['gcloud', groups], ['az', groups], ['gsutil', gsutil],
  ['docker', docker], ['podman', docker], ['nerdctl', docker], ['docker-compose', docker],
  ['systemctl', systemctl], ['service', service],
  ['shutdown', power], ['reboot', power], ['halt', power], ['poweroff', power], ['init', init], ['telinit', init],
  ['dropdb', (cmd, name) => infra(cmd.argv[cmd.argv.length - 1], `${name} drops a database`)],
  ['redis-cli', redis], ['gh', gh],
  ['heroku', (cmd, name) => (cmd.argv[1]?.value === 'apps:destroy' ? infra(cmd.argv[1], `${name} apps:destroy`) : [])],
]);

/** The infrastructure rule for a (lower-cased base) command name, if any. */
export function infraRuleFor(name: string): Rule | undefined {
  return INFRA.get(name);
}
