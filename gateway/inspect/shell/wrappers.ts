// Commands that run another command: the inner command is judged as if written directly, so
// `timeout 5 nice -n 10 nohup rm -rf /` is `rm -rf /` (after unwrapping timeout, nice, nohup).
// A wrapper yields an argv (sudo, env, find -exec, xargs, …) or shell code (eval, su -c, ssh
// HOST CMD, watch, alias, trap); shells and interpreters (`bash -c`, `python3 -c`) are in
// interpreters.ts. Each entry reads the wrapper's options the way the real tool does.
import { literalWord, type Cmd, type Word } from './model.ts';
import { parseOptions, type OptionSpec } from './options.ts';
import { STDIN_ITEMS } from './paths.ts';

export type Unwrap =
  | { readonly kind: 'argv'; readonly label: string; readonly argv: readonly Word[] }
  | { readonly kind: 'code'; readonly label: string; readonly words: readonly Word[] };

type Unwrapper = (args: readonly Word[], cmd: Cmd) => Unwrap[];

/** Skips leading NAME=VALUE operands (env, sudo). */
function dropAssignments(words: readonly Word[]): readonly Word[] {
  let i = 0;
  while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!.value)) i++;
  return words.slice(i);
}

function argv(label: string, words: readonly Word[]): Unwrap[] {
  return words.length > 0 ? [{ kind: 'argv', label, argv: words }] : [];
}

/** A shell started with no command line (`sudo -s`, `su`, `ssh host`): it reads commands from stdin. */
function shellFor(label: string, cmd: Cmd): Unwrap[] {
  return [{ kind: 'argv', label, argv: [literalWord('sh', cmd.argv[0]!.start, cmd.argv[0]!.end)] }];
}

/** Options, then an inner command at the first operand; `skip` operands come first (a duration, a user). */
function simple(label: string, spec: OptionSpec, skip = 0): Unwrapper {
  return (args) => argv(label, parseOptions(args, { ...spec, stop: true }).operands.slice(skip));
}

const sudo: Unwrapper = (args, cmd) => {
  const p = parseOptions(args, { short: 'ughpCDrtTUR', long: ['user', 'group', 'host', 'prompt', 'close-from', 'chdir', 'role', 'type', 'command-timeout', 'other-user', 'chroot'], stop: true });
  if (['e', 'edit', 'l', 'list', 'v', 'validate', 'K', 'remove-timestamp'].some((f) => p.flags.has(f))) return [];
  const inner = dropAssignments(p.operands);
  if (inner.length === 0) return ['s', 'i', 'shell', 'login'].some((f) => p.flags.has(f)) ? shellFor('sudo', cmd) : [];
  return argv('sudo', inner);
};

const env: Unwrapper = (args) => {
  const p = parseOptions(args, { short: 'uCS', long: ['unset', 'chdir', 'split-string'], stop: true });
  const split = p.values.get('S') ?? p.values.get('split-string');
  const inner = dropAssignments(p.operands);
  if (split) return [{ kind: 'code', label: 'env -S', words: [split, ...inner] }];
  return argv('env', inner);
};

const xargs: Unwrapper = (args, cmd) => {
  const p = parseOptions(args, {
    short: 'ILnPsdEa', optional: 'ile',
    long: ['max-lines', 'max-args', 'max-procs', 'max-chars', 'delimiter', 'eof', 'arg-file', 'process-slot-var'], stop: true,
  });
  const inner = p.operands.length > 0 ? p.operands : [literalWord('echo', cmd.start, cmd.start)];
  const items = itemsFor(cmd);
  const replace = p.values.get('I')?.value ?? (p.flags.has('i') || p.flags.has('replace') ? (p.values.get('i')?.value || p.values.get('replace')?.value || '{}') : undefined);
  if (replace) return argv('xargs', substitute(inner, replace, items));
  return argv('xargs', [...inner, ...items]);
};

/** What xargs appends: `P/*` when the previous stage is `find P`, else the unknown stdin list. */
export function itemsFor(cmd: Cmd): Word[] {
  const at = (value: string) => literalWord(value, cmd.start, cmd.end);
  if (cmd.stdin.kind !== 'pipe') return [at(STDIN_ITEMS)];
  const { level, start, end } = cmd.stdin;
  const finds = level.cmds.filter((c) => c.start >= start && c.end <= end && baseName(c.argv[0]!.value) === 'find');
  const last = finds[finds.length - 1];
  return last ? findStarts(last.argv.slice(1)).map((p) => at(below(p.value))) : [at(STDIN_ITEMS)];
}

/** find's operands before its expression: the starting points. */
export function findStarts(args: readonly Word[]): Word[] {
  let i = 0;
  while (i < args.length && (['-H', '-L', '-P'].includes(args[i]!.value) || args[i]!.value.startsWith('-O'))) i++;
  if (args[i]?.value === '-D') i += 2;
  const starts: Word[] = [];
  for (; i < args.length; i++) {
    const v = args[i]!.value;
    if (v.startsWith('-') || v === '(' || v === '!' || v === ')' || v === ',') break;
    starts.push(args[i]!);
  }
  return starts;
}

/** What find hands to -exec for a starting point: the things below it. */
function below(path: string): string {
  return `${path.replace(/\/+$/, '')}/*`;
}

function substitute(words: readonly Word[], token: string, items: readonly Word[]): Word[] {
  return words.flatMap((w) => {
    if (w.value === token) return items.map((i) => ({ ...w, value: i.value }));
    return w.value.includes(token) ? [{ ...w, value: w.value.replaceAll(token, items[0]?.value ?? '') }] : [w];
  });
}

const find: Unwrapper = (args, cmd) => {
  const starts = findStarts(args);
  const items = (starts.length > 0 ? starts : [literalWord('.', cmd.start, cmd.start)]).map((s) => ({ ...s, value: below(s.value) }));
  const out: Unwrap[] = [];
  for (let i = 0; i < args.length; i++) {
    const action = args[i]!.value;
    if (!['-exec', '-execdir', '-ok', '-okdir'].includes(action)) continue;
    let j = i + 1;
    while (j < args.length && args[j]!.value !== ';' && args[j]!.value !== '+') j++;
    out.push(...argv(`find ${action}`, substitute(args.slice(i + 1, j), '{}', items)));
    i = j;
  }
  return out;
};

const code = (label: string, words: readonly Word[]): Unwrap[] => (words.length > 0 ? [{ kind: 'code', label, words }] : []);

const su: Unwrapper = (args, cmd) => {
  const p = parseOptions(args, { short: 'cgGsw', long: ['command', 'session-command', 'shell', 'group', 'supp-group', 'whitelist-environment'] });
  const c = p.values.get('c') ?? p.values.get('command') ?? p.values.get('session-command');
  return c ? code('su -c', [c]) : shellFor('su', cmd);
};

const runuser: Unwrapper = (args, cmd) => {
  const p = parseOptions(args, { short: 'ugGcsw', long: ['user', 'group', 'supp-group', 'command', 'session-command', 'shell', 'whitelist-environment'], stop: true });
  const c = p.values.get('c') ?? p.values.get('command') ?? p.values.get('session-command');
  if (c) return code('runuser -c', [c]);
  return p.values.has('u') || p.values.has('user') ? argv('runuser', p.operands) : shellFor('runuser', cmd);
};

const ssh: Unwrapper = (args, cmd) => {
  const p = parseOptions(args, { short: 'BbcDEeFIiJLlmOoPpQRSWw', stop: true });
  const [host, ...rest] = p.operands;
  if (!host) return [];
  return rest.length > 0 ? code(`ssh ${host.value}`, rest) : shellFor(`ssh ${host.value}`, cmd);
};

const watch: Unwrapper = (args) => {
  const p = parseOptions(args, { short: 'nq', long: ['interval'], optional: 'd', stop: true });
  return p.flags.has('x') || p.flags.has('exec') ? argv('watch -x', p.operands) : code('watch', p.operands);
};

const flock: Unwrapper = (args) => {
  const p = parseOptions(args, { short: 'Ewc', long: ['conflict-exit-code', 'timeout', 'command'], stop: true });
  const c = p.values.get('c') ?? p.values.get('command');
  if (c) return code('flock -c', [c]);
  const [, next, ...rest] = p.operands;
  if (next && (next.value === '-c' || next.value === '--command')) return code('flock -c', rest.slice(0, 1));
  return argv('flock', p.operands.slice(1));
};

const trap: Unwrapper = (args) => {
  const p = parseOptions(args, { stop: true });
  return p.operands.length >= 2 && p.operands[0]!.value !== '-' ? code('trap', p.operands.slice(0, 1)) : [];
};

const alias: Unwrapper = (args) => args.flatMap((w) => {
  const eq = w.value.indexOf('=');
  return eq > 0 && eq < w.value.length - 1 ? code('alias', [{ ...w, value: w.value.slice(eq + 1) }]) : [];
});

/** `kubectl exec POD -- CMD…`: the command runs in the pod. */
const kubectlExec: Unwrapper = (args) => {
  const dashes = args.findIndex((w) => w.value === '--');
  const verb = args.slice(0, dashes < 0 ? args.length : dashes).find((w) => !w.value.startsWith('-'));
  return verb?.value === 'exec' && dashes >= 0 ? argv('kubectl exec', args.slice(dashes + 1)) : [];
};

/** `docker exec [OPTIONS] CONTAINER CMD…`: the command runs in the container. */
const dockerExec: Unwrapper = (args) => {
  const global = parseOptions(args, { short: 'Hc', long: ['host', 'context', 'config', 'log-level'], stop: true });
  const [verb, ...rest] = global.operands;
  if (verb?.value !== 'exec') return [];
  const p = parseOptions(rest, { short: 'euw', long: ['env', 'env-file', 'user', 'workdir', 'detach-keys'], stop: true });
  return argv('docker exec', p.operands.slice(1));
};

const WRAPPERS: ReadonlyMap<string, Unwrapper> = new Map<string, Unwrapper>([
  ['sudo', sudo],
  ['doas', (args, cmd) => {
    const p = parseOptions(args, { short: 'uC', stop: true });
    return p.operands.length === 0 && p.flags.has('s') ? shellFor('doas', cmd) : argv('doas', p.operands);
  }],
  ['pkexec', simple('pkexec', { long: ['user'] })],
  ['env', env],
  ['timeout', simple('timeout', { short: 'ks', long: ['kill-after', 'signal'] }, 1)],
  ['nice', simple('nice', { short: 'n', long: ['adjustment'] })],
  ['nohup', simple('nohup', {})],
  ['setsid', simple('setsid', {})],
  ['stdbuf', simple('stdbuf', { short: 'ioe', long: ['input', 'output', 'error'] })],
  ['time', simple('time', { short: 'fo', long: ['format', 'output'] })],
  ['unbuffer', simple('unbuffer', {})],
  ['builtin', simple('builtin', {})],
  ['exec', simple('exec', { short: 'a' })],
  ['busybox', simple('busybox', {})],
  ['chroot', simple('chroot', { long: ['userspec', 'groups'] }, 1)],
  ['gosu', simple('gosu', {}, 1)],
  ['su-exec', simple('su-exec', {}, 1)],
  ['ionice', (args) => {
    const p = parseOptions(args, { short: 'cnp', long: ['class', 'classdata', 'pid', 'pgid', 'uid'], stop: true });
    return p.values.has('p') || p.values.has('pid') ? [] : argv('ionice', p.operands);
  }],
  ['chrt', (args) => {
    const p = parseOptions(args, { short: 'TPD', long: ['sched-runtime', 'sched-period', 'sched-deadline'], stop: true });
    return p.flags.has('p') || p.flags.has('pid') || p.flags.has('m') ? [] : argv('chrt', p.operands.slice(1));
  }],
  ['taskset', (args) => {
    const p = parseOptions(args, { stop: true });
    return p.flags.has('p') || p.flags.has('pid') ? [] : argv('taskset', p.operands.slice(1));
  }],
  ['command', (args) => {
    const p = parseOptions(args, { stop: true });
    return p.flags.has('v') || p.flags.has('V') ? [] : argv('command', p.operands);
  }],
  ['xargs', xargs],
  ['find', find],
  ['eval', (args) => code('eval', parseOptions(args, { stop: true }).operands)],
  ['su', su],
  ['runuser', runuser],
  ['sg', (args) => {
    const rest = args.slice(1);
    return code('sg', rest[0]?.value === '-c' ? rest.slice(1) : rest);
  }],
  ['ssh', ssh],
  ['watch', watch],
  ['flock', flock],
  ['trap', trap],
  ['alias', alias],
  ['kubectl', kubectlExec],
  ['oc', kubectlExec],
  ['docker', dockerExec],
  ['podman', dockerExec],
]);

/** The inner commands or code of a wrapper, or undefined when `name` is not a wrapper. */
export function unwrap(cmd: Cmd, name: string): Unwrap[] | undefined {
  const fn = WRAPPERS.get(name);
  return fn ? fn(cmd.argv.slice(1), cmd) : undefined;
}

export function isWrapper(name: string): boolean {
  return WRAPPERS.has(name);
}

/** The last path component of a command name (`/usr/bin/sudo` → sudo). */
export function baseName(value: string): string {
  const slash = value.lastIndexOf('/');
  return slash < 0 ? value : value.slice(slash + 1);
}
