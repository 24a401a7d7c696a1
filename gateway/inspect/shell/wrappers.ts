// Commands that run another command: the inner command is judged as if written directly, so
// `timeout 5 nice -n 10 nohup rm -rf /` is `rm -rf /` (after unwrapping timeout, nice, nohup).
// A wrapper yields an argv (sudo, env, find -exec, xargs, …) or shell code (eval, su -c, ssh
// HOST CMD, watch, alias, trap); shells and interpreters (`bash -c`, `python3 -c`) are in
// interpreters.ts. Each entry reads the wrapper's options the way the real tool does.
import { commandVariable, ESCAPES, sshOptions } from './escapes.ts';
import type { Lang } from './interpreters.ts';
import { literalWord, STDIN_ITEMS, type Cmd, type Word } from './model.ts';
import { parseOptions, type OptionSpec } from './options.ts';

export type Unwrap =
  | { readonly kind: 'argv'; readonly label: string; readonly argv: readonly Word[] }
  /** Code in `lang` (default shell), the words joined by spaces. */
  | { readonly kind: 'code'; readonly label: string; readonly words: readonly Word[]; readonly lang?: Lang }
  /** A command the wrapper runs that is only known at run time (shell.dynamic_command). */
  | { readonly kind: 'dynamic'; readonly label: string; readonly word: Word; readonly detail: string };

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
  // `env PAGER='cmd' git log`: a variable naming a command is that command.
  const named = p.operands.slice(0, p.operands.length - inner.length).flatMap((w) => {
    const eq = w.value.indexOf('=');
    return commandVariable(w.value.slice(0, eq), { ...w, value: w.value.slice(eq + 1) });
  });
  if (split) return [...named, { kind: 'code', label: 'env -S', words: [split, ...inner] }];
  return [...named, ...argv('env', inner)];
};

/** GNU parallel: the command template runs (through a shell) once per input, `{}` replaced or the input appended. */
const parallel: Unwrapper = (args, cmd) => {
  const sep = args.findIndex((w) => /^:::[:+]*$/.test(w.value));
  const head = sep < 0 ? args : args.slice(0, sep);
  const p = parseOptions(head, {
    short: 'jSaIdEnNslLX', optional: 'i',
    long: ['jobs', 'sshlogin', 'arg-file', 'joblog', 'delay', 'colsep', 'delimiter', 'eof', 'results', 'tmpdir', 'timeout', 'workdir', 'basefile', 'return', 'memfree', 'load', 'retries', 'tag-string', 'env', 'sshloginfile'], stop: true,
  });
  const items = sep < 0 ? itemsFor(cmd) : args[sep]!.value.startsWith('::::')
    ? [literalWord(STDIN_ITEMS, cmd.start, cmd.end)]
    : args.slice(sep + 1).filter((w) => !/^:::[:+]*$/.test(w.value));
  const token = p.values.get('I')?.value ?? '{}';
  const template = p.operands.map((w) => w.value).join(' ');
  const out: Unwrap[] = [];
  for (const item of items.slice(0, 16)) {
    const text = template === '' ? item.value
      : template.includes(token) || /\{[./#%]*\}/.test(template) ? template.replaceAll(token, item.value).replace(/\{[./#%]+\}/g, item.value) : `${template} ${item.value}`;
    const dynamic = item.dynamic || p.operands.some((w) => w.dynamic);
    out.push({ kind: 'code', label: 'parallel', words: [{ ...(p.operands[0] ?? item), value: text, dynamic, end: (item.end > (p.operands[0]?.end ?? 0) ? item.end : p.operands[0]?.end) ?? item.end }] });
  }
  return out;
};

/** `script [options] -c CMD [file]` runs CMD in a new terminal; without -c, a shell. */
const script: Unwrapper = (args, cmd) => {
  const p = parseOptions(args, { short: 'cEIOBTmo', long: ['command', 'echo', 'log-in', 'log-out', 'log-io', 'log-timing', 'logging-format', 'output-limit'] });
  const c = p.values.get('c') ?? p.values.get('command');
  if (c) return code('script -c', [c]);
  return p.flags.has('p') || p.flags.has('replay') ? [] : shellFor('script', cmd);
};

/** `coproc [NAME] CMD` or `coproc NAME { …; }`: the command runs in the background. */
const coproc: Unwrapper = (args) => {
  const brace = args.findIndex((w) => w.value === '{');
  return argv('coproc', brace >= 0 && brace <= 1 ? args.slice(brace + 1) : args);
};

/** A wrapper that runs its operands, or a shell when it has none (`unshare -r`, `nsenter -t 1 -a`). */
function orShell(label: string, spec: OptionSpec, skip = 0): Unwrapper {
  return (args, cmd) => {
    const operands = parseOptions(args, { ...spec, stop: true }).operands.slice(skip);
    return operands.length > 0 ? argv(label, operands) : shellFor(label, cmd);
  };
}

/** strace/ltrace: the traced command; `-o '|cmd'` pipes the trace into a command. */
const tracer: Unwrapper = (args, cmd) => {
  const p = parseOptions(args, { short: 'oepsuEaSPXIOAbU', long: ['output', 'expr', 'attach', 'string-limit', 'user', 'env', 'columns', 'signal', 'trace', 'trace-path'], stop: true });
  const o = p.values.get('o') ?? p.values.get('output');
  const piped = o && /^[|!]/.test(o.value) ? code('strace -o |', [{ ...o, value: o.value.slice(1) }]) : [];
  return [...piped, ...(p.values.has('p') || p.values.has('attach') ? [] : argv(baseName(cmd.argv[0]!.value), p.operands))];
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
  const options = sshOptions(args.slice(0, args.length - p.operands.length), 'ssh');
  const [host, ...rest] = p.operands;
  if (!host) return options;
  return [...options, ...(rest.length > 0 ? code(`ssh ${host.value}`, rest) : shellFor(`ssh ${host.value}`, cmd))];
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
  ['coproc', coproc],
  ['parallel', parallel],
  ['script', script],
  ['unshare', orShell('unshare', { short: 'SGRwC', long: ['map-user', 'map-group', 'setuid', 'setgid', 'root', 'wd', 'propagation', 'setgroups', 'map-users', 'map-groups', 'load-interp'] })],
  ['nsenter', orShell('nsenter', { short: 'tSGTU', long: ['target', 'setuid', 'setgid', 'env'] })],
  ['systemd-run', simple('systemd-run', { short: 'upEHM', long: ['unit', 'property', 'setenv', 'uid', 'gid', 'nice', 'host', 'machine', 'description', 'slice', 'working-directory', 'service-type', 'on-active', 'on-boot', 'on-calendar', 'timer-property', 'path-property', 'socket-property'] })],
  ['setpriv', simple('setpriv', { long: ['reuid', 'regid', 'ruid', 'euid', 'rgid', 'egid', 'groups', 'inh-caps', 'ambient-caps', 'bounding-set', 'securebits', 'pdeathsig', 'selinux-label', 'apparmor-profile', 'landlock-access', 'landlock-rule'] })],
  ['prlimit', (args) => {
    const p = parseOptions(args, { short: 'po', long: ['pid', 'output'], stop: true });
    return p.values.has('p') || p.values.has('pid') ? [] : argv('prlimit', p.operands);
  }],
  ['numactl', simple('numactl', { short: 'CNmpiPw', long: ['cpunodebind', 'membind', 'preferred', 'interleave', 'physcpubind', 'preferred-many', 'weighted-interleave'] })],
  ['cgexec', simple('cgexec', { short: 'g' })],
  ['fakeroot', simple('fakeroot', { short: 'lsib', long: ['lib', 'faked'] })],
  ['faketime', simple('faketime', {}, 1)],
  ['firejail', orShell('firejail', {})],
  ['bwrap', (args, cmd) => {
    // bwrap's options take 0-3 values; its command follows the options: judge the first word that is not an option or a path value.
    const dashes = args.findIndex((w) => w.value === '--');
    return dashes >= 0 ? argv('bwrap', args.slice(dashes + 1)) : shellFor('bwrap', cmd);
  }],
  ['torsocks', simple('torsocks', { short: 'upaP', long: ['user', 'pass', 'address', 'port'] })],
  ['torify', simple('torify', {})],
  ['proxychains', simple('proxychains', { short: 'f' })],
  ['proxychains4', simple('proxychains4', { short: 'f' })],
  ['strace', tracer],
  ['ltrace', tracer],
  ['chpst', simple('chpst', { short: 'uUbe/nlL' })],
  ['sshpass', simple('sshpass', { short: 'pfdP' })],
  ['xvfb-run', simple('xvfb-run', { short: 'nsfepw', long: ['server-num', 'server-args', 'auth-file', 'error-file', 'xauth-protocol', 'wait'] })],
  ['dbus-run-session', simple('dbus-run-session', {})],
  ['catchsegv', simple('catchsegv', {})],
  ['valgrind', simple('valgrind', {})],
  ['caffeinate', simple('caffeinate', { short: 'tw' })],
  ['systemd-inhibit', simple('systemd-inhibit', { long: ['what', 'who', 'why', 'mode'] })],
  ['ssh-agent', simple('ssh-agent', { short: 'aEPt' })],
  ['with-contenv', simple('with-contenv', {})],
  ['s6-setuidgid', simple('s6-setuidgid', {}, 1)],
  ['setuidgid', simple('setuidgid', {}, 1)],
  ['capsh', (args) => {
    const dashes = args.findIndex((w) => w.value === '--');
    const rest = dashes >= 0 ? args.slice(dashes + 1) : [];
    return rest[0]?.value === '-c' ? code('capsh -- -c', rest.slice(1, 2)) : [];
  }],
  ...ESCAPES,
]);

/** The inner commands or code of a wrapper, or undefined when `name` is not a wrapper. */
export function unwrap(cmd: Cmd, name: string): Unwrap[] | undefined {
  const fn = WRAPPERS.get(name);
  return fn ? fn(cmd.argv.slice(1), cmd) : undefined;
}

/** The last path component of a command name (`/usr/bin/sudo` → sudo). */
export function baseName(value: string): string {
  const slash = value.lastIndexOf('/');
  return slash < 0 ? value : value.slice(slash + 1);
}
