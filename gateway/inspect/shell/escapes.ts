// Programs that run a command given to them as an option, a config value or an editor command:
// editor and pager escapes (`vim -c ':!cmd'`, `less '+!cmd'`, `man -P cmd`), git config
// injection (`git -c core.pager=cmd`, `alias.x=!cmd`, `core.sshCommand`, `core.fsmonitor`,
// `protocol.ext.allow=always` with an `ext::` URL), archive and network tools that run helpers
// (`tar --to-command`, `zip -TT`, `ssh -o ProxyCommand`, `rsync -e`, `tcpdump -z`, `gdb -ex`),
// database shells (`psql -c '\! cmd'`, `sqlite3 db '.shell cmd'`), and environment variables
// that name a command another program runs (PAGER, EDITOR, GIT_SSH_COMMAND, LESSOPEN, …).
// Each yields the command as shell code or an argv, judged like any other.
import type { Lang } from './interpreters.ts';
import { literalWord, type Cmd, type Word } from './model.ts';
import { parseOptions } from './options.ts';
import type { Unwrap } from './wrappers.ts';

type Unwrapper = (args: readonly Word[], cmd: Cmd) => Unwrap[];

function code(label: string, word: Word, value: string, lang: Lang = 'shell'): Unwrap[] {
  return value.trim() === '' ? [] : [{ kind: 'code', label, words: [{ ...word, value }], ...(lang === 'shell' ? {} : { lang }) }];
}

function dynamic(label: string, word: Word, detail: string): Unwrap[] {
  return [{ kind: 'dynamic', label, word, detail }];
}

/** Environment variables whose value is a command some program runs (through a shell). */
const COMMAND_VARS = new Set([
  'PAGER', 'MANPAGER', 'GIT_PAGER', 'SYSTEMD_PAGER', 'EDITOR', 'VISUAL', 'GIT_EDITOR', 'SUDO_EDITOR', 'GIT_SEQUENCE_EDITOR', 'FCEDIT',
  'GIT_SSH_COMMAND', 'GIT_SSH', 'GIT_PROXY_COMMAND', 'GIT_EXTERNAL_DIFF', 'GIT_ASKPASS', 'SSH_ASKPASS', 'SUDO_ASKPASS', 'BROWSER',
  'PROMPT_COMMAND', 'LESSOPEN', 'LESSCLOSE',
]);

/** The command an environment variable names, as code; nothing for other variables. */
export function commandVariable(name: string, word: Word): Unwrap[] {
  if (!COMMAND_VARS.has(name)) return [];
  if (word.dynamic) return dynamic(`${name}=`, word, `${name} names a command that is not a literal`);
  // LESSOPEN='|cmd %s' (or '||cmd', '-|cmd'): the input preprocessor less runs on each file.
  const value = name.startsWith('LESS') ? word.value.replace(/^-?\|{1,2}/, '').replaceAll('%s', 'FILE') : word.value;
  return code(`${name}=`, word, value);
}

/** One Ex command (`:!cmd`, `:r !cmd`, `:terminal cmd`, `:py3 code`, `:call system('cmd')`). */
function exCommand(label: string, word: Word): Unwrap[] {
  const c = word.value.replace(/^[:\s]+/, '').replace(/^sil(?:ent)?!?\s*/, '');
  const bang = /^(?:[0-9,.$%'<>]*\s*|r(?:ead)?\s*|w(?:rite)?\s*)!(.*)$/s.exec(c);
  if (bang) return code(label, word, bang[1]!);
  const term = /^ter(?:m(?:inal)?)?(?:\s+(?:\+\+\S+\s+)*)(.*)$/s.exec(c);
  if (term) return code(label, word, term[1]!);
  const lang = /^(py3?|python3?|pyx|pythonx|lua|perl|ruby|rub)\s+(.*)$/s.exec(c);
  if (lang) {
    const l = lang[1]!.startsWith('p') && lang[1] !== 'perl' ? 'python' : lang[1] === 'rub' ? 'ruby' : lang[1] as Lang;
    return code(label, word, lang[2]!, l);
  }
  const system = /\b(?:system|systemlist|jobstart|termopen)\s*\(\s*(?:'([^']*)'|"((?:[^"\\]|\\.)*)")?/.exec(c);
  if (system) return system[1] !== undefined || system[2] !== undefined ? code(label, word, system[1] ?? system[2]!) : dynamic(label, word, `${label} runs a command computed at run time`);
  return [];
}

/** vi, vim, nvim, ex, view: `-c CMD`, `+CMD`, `--cmd CMD` run Ex commands at start. */
const vim: Unwrapper = (args) => {
  const out: Unwrap[] = [];
  for (let i = 0; i < args.length; i++) {
    const v = args[i]!.value;
    if ((v === '-c' || v === '--cmd') && args[i + 1]) out.push(...exCommand(`vim ${v}`, args[++i]!));
    else if (v.startsWith('+') && v.length > 1) out.push(...exCommand('vim +', { ...args[i]!, value: v.slice(1) }));
  }
  return out;
};

/** less and more: `+CMD` runs a pager command at start; `!` in it is a shell escape. */
const pager: Unwrapper = (args) => args.flatMap((w) => {
  const m = /^\+{1,2}!(.*)$/s.exec(w.value);
  return m ? code('less +!', w, m[1]!) : [];
});

const man: Unwrapper = (args) => {
  const p = parseOptions(args, { short: 'PHCMSmelLRTE', long: ['pager', 'html', 'config-file', 'manpath', 'sections', 'extension', 'locale', 'encoding', 'preprocessor'] });
  const pagerWord = p.values.get('P') ?? p.values.get('pager');
  const browser = p.values.get('H') ?? p.values.get('html');
  return [...(pagerWord ? code('man -P', pagerWord, pagerWord.value) : []), ...(browser ? code('man -H', browser, browser.value) : [])];
};

/** git config keys whose value is a command git runs (through a shell). */
const GIT_COMMAND_KEYS = [
  /^core\.(pager|editor|sshcommand|askpass)$/, /^sequence\.editor$/, /^gpg(\.[^.]+)?\.program$/, /^diff\.external$/, /^pager\..+$/,
  /^filter\..+\.(clean|smudge|process)$/, /^merge\..+\.driver$/, /^diff\..+\.(textconv|command)$/, /^browser\..+\.cmd$/,
  /^remote\..+\.(uploadpack|receivepack)$/, /^uploadpack\.packobjectshook$/, /^credential(\..+)?\.helper$/, /^alias\..+$/,
  /^core\.fsmonitor$/, /^core\.hookspath$/, /^protocol(\.ext)?\.allow$/,
];

/** One `key=value` given to git (`-c`, `git config key value`): the command it makes git run. */
function gitConfig(word: Word, key: string, value: string): Unwrap[] {
  const k = key.toLowerCase();
  if (!GIT_COMMAND_KEYS.some((re) => re.test(k))) return [];
  const label = `git -c ${k}`;
  const bool = /^(true|false|yes|no|on|off|1|0|)$/i.test(value);
  if (word.dynamic) return dynamic(label, word, `${label} is set to a value that is not a literal`);
  if (k.startsWith('alias.') || k.includes('credential')) return value.startsWith('!') ? code(label, word, value.slice(1)) : [];
  if (k.startsWith('pager.') || k === 'core.fsmonitor') return bool ? [] : code(label, word, value);
  if (k === 'core.hookspath') return value === '/dev/null' ? [] : dynamic(label, word, `${label} makes git run hooks from ${value.slice(0, 60)}, which are not inspected`);
  if (k.startsWith('protocol')) return value === 'always' ? dynamic(label, word, `${label}=always lets a repository URL (ext::) run any command`) : [];
  return code(label, word, value);
}

/** `ext::CMD ARGS`: git runs CMD with ARGS split on unescaped spaces (`% ` is a space, `%%` a percent). */
function extUrl(word: Word): Unwrap[] {
  const body = word.value.slice(5);
  const parts: string[] = [''];
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '%' && i + 1 < body.length) { const n = body[++i]!; parts[parts.length - 1] += n === 's' || n === 'S' ? 'git-upload-pack' : n; }
    else if (ch === ' ') parts.push('');
    else parts[parts.length - 1] += ch;
  }
  const argv = parts.filter((p) => p !== '').map((p) => ({ ...word, value: p }));
  return argv.length > 0 ? [{ kind: 'argv', label: 'git ext::', argv }] : [];
}

const git: Unwrapper = (args) => {
  const out: Unwrap[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const w = args[i]!;
    const v = w.value;
    if (v === '-c' && args[i + 1]) { const kv = args[++i]!; out.push(...splitConfig(kv)); continue; }
    if (v.startsWith('-c') && v.length > 2 && !v.startsWith('--')) { out.push(...splitConfig({ ...w, value: v.slice(2) })); continue; }
    if (['-C', '--git-dir', '--work-tree', '--namespace', '--config-env', '--super-prefix'].includes(v)) { i++; continue; }
    if (v.startsWith('-')) continue;
    break;
  }
  const verb = args[i]?.value;
  const rest = args.slice(i + 1);
  if (verb === 'config') {
    const p = parseOptions(rest, { short: 'f', long: ['file', 'blob', 'type', 'default', 'comment', 'value'] });
    const reading = ['get', 'get-all', 'get-regexp', 'list', 'l', 'unset', 'unset-all', 'remove-section', 'rename-section', 'get-urlmatch', 'edit', 'e'].some((f) => p.flags.has(f));
    let [key, value] = p.operands;
    if (key && ['set', 'get', 'list', 'unset'].includes(key.value)) [, key, value] = p.operands;
    if (!reading && key && value) out.push(...gitConfig(value, key.value, value.value));
  }
  for (const w of rest) {
    const m = /^--(upload-pack|receive-pack|exec)=(.*)$/s.exec(w.value);
    if (m) out.push(...code(`git --${m[1]}`, w, m[2]!));
    if (w.value.startsWith('ext::')) out.push(...extUrl(w));
  }
  const u = rest.findIndex((w) => w.value === '-u' || w.value === '--upload-pack' || w.value === '--receive-pack' || w.value === '--exec');
  if (u >= 0 && rest[u + 1] && ['clone', 'fetch', 'pull', 'ls-remote', 'push', 'archive'].includes(verb ?? '')) out.push(...code(`git ${rest[u]!.value}`, rest[u + 1]!, rest[u + 1]!.value));
  return out;
};

function splitConfig(w: Word): Unwrap[] {
  const eq = w.value.indexOf('=');
  return eq > 0 ? gitConfig({ ...w, value: w.value.slice(eq + 1) }, w.value.slice(0, eq), w.value.slice(eq + 1)) : [];
}

const tar: Unwrapper = (args) => {
  const out: Unwrap[] = [];
  for (let i = 0; i < args.length; i++) {
    const w = args[i]!;
    const m = /^--(to-command|use-compress-program|rsh-command|info-script|new-volume-script)=(.*)$/s.exec(w.value) ?? /^--(checkpoint-action)=exec=(.*)$/s.exec(w.value);
    if (m) out.push(...code(`tar --${m[1]}`, w, m[2]!));
    else if ((w.value === '-I' || w.value === '-F' || w.value === '--to-command' || w.value === '--use-compress-program') && args[i + 1]) out.push(...code(`tar ${w.value}`, args[i + 1]!, args[++i]!.value));
  }
  return out;
};

const zip: Unwrapper = (args) => {
  const i = args.findIndex((w) => w.value === '-TT' || w.value === '--unzip-command');
  const m = args.map((w) => /^--unzip-command=(.*)$/s.exec(w.value)).find((x) => x);
  if (m) return code('zip -TT', args.find((w) => w.value.startsWith('--unzip-command='))!, m[1]!);
  return i >= 0 && args[i + 1] ? code('zip -TT', args[i + 1]!, args[i + 1]!.value) : [];
};

/** `-o ProxyCommand=CMD`, `-oLocalCommand CMD`, `-o 'KnownHostsCommand CMD'` (ssh, scp, sftp). */
export function sshOptions(args: readonly Word[], label: string): Unwrap[] {
  const out: Unwrap[] = [];
  for (let i = 0; i < args.length; i++) {
    const w = args[i]!;
    let opt: Word | undefined;
    if (w.value === '-o' && args[i + 1]) opt = args[++i];
    else if (w.value.startsWith('-o') && w.value.length > 2) opt = { ...w, value: w.value.slice(2) };
    const m = opt ? /^(ProxyCommand|LocalCommand|KnownHostsCommand|RemoteCommand)\s*[= ]\s*(.*)$/is.exec(opt.value) : null;
    if (opt && m && m[2]!.toLowerCase() !== 'none') out.push(...code(`${label} -o ${m[1]}`, opt, m[2]!));
  }
  return out;
}

const rsync: Unwrapper = (args) => {
  const out: Unwrap[] = [];
  for (let i = 0; i < args.length; i++) {
    const w = args[i]!;
    const m = /^--(rsh|rsync-path)=(.*)$/s.exec(w.value);
    if (m) out.push(...code(`rsync --${m[1]}`, w, m[2]!));
    else if ((w.value === '-e' || w.value === '--rsh' || w.value === '--rsync-path') && args[i + 1]) out.push(...code(`rsync ${w.value}`, args[i + 1]!, args[++i]!.value));
  }
  return out;
};

const tcpdump: Unwrapper = (args) => {
  const i = args.findIndex((w) => w.value === '-z');
  return i >= 0 && args[i + 1] ? [{ kind: 'argv', label: 'tcpdump -z', argv: [args[i + 1]!, literalWord('FILE', args[i + 1]!.start, args[i + 1]!.end)] }] : [];
};

const gdb: Unwrapper = (args) => {
  const out: Unwrap[] = [];
  for (let i = 0; i < args.length; i++) {
    if (!['-ex', '--ex', '-eval-command', '--eval-command', '-iex'].includes(args[i]!.value) || !args[i + 1]) continue;
    const w = args[++i]!;
    const m = /^\s*(?:shell\s+|!)(.*)$/s.exec(w.value) ?? /^\s*(?:pipe|\|)\s*[^|]*\|(.*)$/s.exec(w.value);
    const py = /^\s*python3?\s+(.*)$/s.exec(w.value);
    if (m) out.push(...code('gdb -ex shell', w, m[1]!));
    else if (py) out.push(...code('gdb -ex python', w, py[1]!, 'python'));
  }
  return out;
};

/** psql/mysql `\! cmd` (and mysql's `system cmd`), sqlite3 `.shell`/`.system` in the statements given on the command line. */
function dbShell(label: string, pattern: RegExp): Unwrapper {
  return (args) => args.flatMap((w) => {
    const out: Unwrap[] = [];
    for (const line of w.value.split(/[\n;]/)) {
      const m = pattern.exec(line);
      if (m) out.push(...code(label, w, m[1]!));
    }
    return out;
  });
}

const PSQL = /^\s*\\!\s*(.*)$/s;
const MYSQL = /^\s*(?:\\!|system\s)\s*(.*)$/is;
const SQLITE = /^\s*\.(?:shell|system)\s+(.*)$/s;

/** Escape wrappers by command base name (merged into the wrapper table). */
export const ESCAPES: ReadonlyMap<string, Unwrapper> = new Map<string, Unwrapper>([
  ['vi', vim], ['vim', vim], ['nvim', vim], ['ex', vim], ['view', vim], ['vimdiff', vim], ['rvim', vim], ['gvim', vim],
  ['less', pager], ['more', pager], ['man', man], ['git', git], ['tar', tar], ['bsdtar', tar], ['gtar', tar], ['zip', zip],
  ['scp', (args) => sshOptions(args, 'scp')], ['sftp', (args) => sshOptions(args, 'sftp')], ['rsync', rsync], ['tcpdump', tcpdump], ['gdb', gdb],
  ['psql', dbShell('psql \\!', PSQL)], ['mysql', dbShell('mysql \\!', MYSQL)], ['mariadb', dbShell('mariadb \\!', MYSQL)], ['sqlite3', dbShell('sqlite3 .shell', SQLITE)],
]);
