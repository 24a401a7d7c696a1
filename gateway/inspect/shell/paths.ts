// Which paths a destructive command must not touch. The decision, as documented for policy
// authors (docs in the test's case table say the same):
//
//   root     `/`, `/*`, a glob or brace at the top of `/` (`/{etc,usr}`), a path that starts
//            with a variable followed by `/` (`"$DIR/"` is `/` when DIR is empty)
//   system   anything under /bin /boot /dev /etc /lib* /media /mnt /nix /opt /proc /root /run
//            /sbin /snap /srv /sys /usr /var and macOS /System /Library /Applications /private
//            /Volumes /cores; any other top-level directory itself (`/app`, `/data`), but not
//            what is below it; the shared temp directories themselves (`/tmp`, `/var/tmp`,
//            `/dev/shm`)
//   home     a home directory (`~`, `~user`, `$HOME`, `/home/u`, `/Users/u`, `/root` is system),
//            its direct children (`~/.ssh`, `~/Documents`) and globs over them (`~/*`)
//   other    everything else: relative paths (`./build`, `..`, `*`), what is below the temp
//            directories (`/tmp/x`), deeper paths under a home (`~/src/app/build`) or under an
//            unknown top-level directory (`/app/build`)
//   unknown  items xargs reads from standard input: protected for recursive operations only
//   dynamic  a path known only at run time: wholly a variable or command output (`"$f"`,
//            `$(cat list)`), the parent of one (`"$D/.."`), or everything in a directory only
//            known at run time (`cd "$D" && rm -rf *`): recursive operations on it are held
//            for review (shell.dynamic_target), not refused
import { STDIN_ITEMS, UNKNOWN } from './model.ts';
import { resolveIn, type Cwd } from './scope.ts';

export type PathClass = 'root' | 'system' | 'home' | 'unknown' | 'dynamic' | 'other';

export interface PathVerdict {
  readonly cls: PathClass;
  /** Words for a finding's detail: "/", "system path /etc", … */
  readonly why: string;
}

const SYSTEM = new Set([
  'bin', 'boot', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'media', 'mnt', 'nix', 'opt', 'proc', 'root', 'run',
  'sbin', 'snap', 'srv', 'sys', 'usr', 'var', 'System', 'Library', 'Applications', 'private', 'Volumes', 'cores',
]);
const HOMES = new Set(['home', 'Users']);
const GLOB = /[*?[{]/;

/** Classifies a normalised path operand (see the table at the top of this file). */
export function classifyPath(value: string): PathVerdict {
  if (value.includes(STDIN_ITEMS)) return { cls: 'unknown', why: 'paths read from standard input' };
  if (/^[\uE000*?]*\uE000[\uE000*?]*$/.test(value)) return { cls: 'dynamic', why: 'a path only known at run time' };
  if (value.startsWith(UNKNOWN) && /^\uE000+\/+/.test(value)) {
    const rest = value.replace(/^\uE000+\/+/, '');
    if (rest === '' || rest.startsWith(UNKNOWN) || GLOB.test(rest.split('/')[0] ?? '')) return { cls: 'root', why: 'a path starting with a variable then / (/ when the variable is empty)' };
    if (rest.split('/').every((p) => p === '..' || p === '.' || p === '')) return { cls: 'dynamic', why: 'the parent of a directory only known at run time' };
  }
  // What is unknown could be anything, including nothing: judge it as a glob.
  const path = value.replaceAll(UNKNOWN, '*');
  if (path.startsWith('~')) return classifyHome(path);
  if (!path.startsWith('/')) return { cls: 'other', why: 'a relative path' };
  const parts = components(path.split('/'));
  const [first, second] = parts;
  if (first === undefined) return { cls: 'root', why: '/' };
  if (GLOB.test(first)) return { cls: 'root', why: `${shown(parts)} (a glob at the top of /)` };
  if (first === 'tmp' || (first === 'var' && second === 'tmp') || (first === 'dev' && second === 'shm')) {
    const base = first === 'tmp' ? 1 : 2;
    return parts.length <= base ? { cls: 'system', why: `the shared temp directory ${shown(parts)}` } : { cls: 'other', why: 'a temp path' };
  }
  if (HOMES.has(first)) {
    return parts.length <= 3 || parts.slice(1, 3).some((p) => GLOB.test(p))
      ? { cls: 'home', why: `home path ${shown(parts)}` }
      : { cls: 'other', why: 'a path deep in a home directory' };
  }
  if (first === 'dev' && parts.length > 1) return isDevice(`/${parts.join('/')}`) ? { cls: 'system', why: `device ${shown(parts)}` } : { cls: 'other', why: 'a stream device' };
  if (SYSTEM.has(first)) return { cls: 'system', why: `system path ${shown(parts)}` };
  return parts.length === 1 ? { cls: 'system', why: `top-level directory ${shown(parts)}` } : { cls: 'other', why: 'a path below a top-level directory' };
}

function classifyHome(path: string): PathVerdict {
  const slash = path.indexOf('/');
  const user = slash < 0 ? path : path.slice(0, slash);
  const parts = components(slash < 0 ? [] : path.slice(slash + 1).split('/'), true);
  if (parts[0] === '..') return { cls: 'home', why: `${user}/.. (above a home directory)` };
  if (parts.length <= 1 || GLOB.test(parts[0] ?? '')) return { cls: 'home', why: `home path ${[user, ...parts].join('/')}` };
  return { cls: 'other', why: 'a path deep in a home directory' };
}

/** Path components with `.` and empty ones dropped and `..` resolved lexically (`/tmp/../etc` is /etc). */
function components(raw: readonly string[], keepLeadingDotDot = false): string[] {
  const out: string[] = [];
  for (const part of raw) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (keepLeadingDotDot) out.push('..');
      continue;
    }
    out.push(part);
  }
  return out;
}

function shown(parts: readonly string[]): string {
  const text = `/${parts.join('/')}`;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Device files that are safe to write to (they discard, echo or stream). */
const SAFE_DEVICES = new Set(['null', 'zero', 'full', 'random', 'urandom', 'stdin', 'stdout', 'stderr', 'tty', 'ptmx', 'console']);

/** A block or character device that holds data (`/dev/sda`, `/dev/nvme0n1p1`, `/dev/mapper/x`), not /dev/null & co. */
export function isDevice(value: string): boolean {
  if (!value.startsWith('/dev/')) return false;
  const rest = value.slice(5);
  const first = rest.split('/')[0] ?? '';
  if (SAFE_DEVICES.has(first) || first === 'fd' || first === 'pts' || first === 'shm' || first === 'tcp' || first === 'udp') return false;
  return rest !== '';
}

/**
 * Classifies an operand of a command running in `cwd`: a relative path is joined to a known
 * directory (`cd / && rm -rf *` removes `/*`); in a directory only known at run time, `*`, `.`
 * and `..` are `dynamic`, while a named relative path (`build`) stays `other`.
 */
export function classifyOperand(cwd: Cwd, value: string): PathVerdict {
  const joined = resolveIn(cwd, value);
  if (joined !== null) return classifyPath(joined);
  const first = value.split('/').find((p) => p !== '' && p !== '.') ?? '.';
  return first === '..' || GLOB.test(first) || value.replace(/[/.]/g, '') === '' ? { cls: 'dynamic', why: `${value} in a directory only known at run time` } : { cls: 'other', why: 'a relative path' };
}

/** Whether an operation of the given kind must not touch a path of this class. */
export function isProtected(verdict: PathVerdict, recursive: boolean): boolean {
  if (verdict.cls === 'root' || verdict.cls === 'system') return true;
  if (verdict.cls === 'home' || verdict.cls === 'unknown' || verdict.cls === 'dynamic') return recursive;
  return false;
}
