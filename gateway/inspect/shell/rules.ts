// Rules for commands that destroy data on the machine: file deletion and truncation on root,
// home or system paths (paths.ts says which), disk and filesystem destruction, and recursive
// permission or ownership changes. One rule per command name; each reads the tool's options.
import type { Severity } from '../types.ts';
import { show, type Cmd, type Word } from './model.ts';
import { hasFlag, parseOptions } from './options.ts';
import { classifyOperand, isDevice, isProtected, type PathVerdict } from './paths.ts';
import { findStarts } from './wrappers.ts';
import type { Cwd } from './scope.ts';

/** What a rule found; the judge adds path, span (the word's, else the command's) and the unwrapping note. */
export interface Hit {
  readonly kind: string;
  readonly severity: Severity;
  readonly detail: string;
  readonly word?: Word;
}

export type Rule = (cmd: Cmd, name: string) => Hit[];

function destructive(word: Word, detail: string): Hit {
  return { kind: 'shell.destructive', severity: 'critical', detail, word };
}

function disk(word: Word | undefined, detail: string): Hit {
  return { kind: 'shell.disk_destruction', severity: 'critical', detail, ...(word ? { word } : {}) };
}

/** A recursive operation on a path only known at run time: held for a reviewer, who sees the command. */
function dynamicTarget(word: Word, detail: string): Hit {
  return { kind: 'shell.dynamic_target', severity: 'high', detail, word };
}

/** The hit for an operation on a protected path: refused, or reviewed when the path is only known at run time. */
function protectedHit(verdict: PathVerdict, op: Word, detail: string, kind = 'shell.destructive'): Hit {
  if (verdict.cls === 'dynamic') return dynamicTarget(op, detail);
  return kind === 'shell.destructive' ? destructive(op, detail) : { kind, severity: 'high', detail, word: op };
}

/** Protected operands of a deleting or overwriting command, as hits. */
function onProtected(cwd: Cwd, operands: readonly Word[], recursive: boolean, what: string): Hit[] {
  const hits: Hit[] = [];
  for (const op of operands) {
    const verdict = classifyOperand(cwd, op.value);
    if (isProtected(verdict, recursive)) hits.push(protectedHit(verdict, op, `${what} on ${verdict.why}`));
  }
  return hits;
}

const rm: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1));
  const recursive = hasFlag(p, 'r', 'R', 'recursive');
  const force = hasFlag(p, 'f', 'force');
  const flags = recursive ? (force ? ' -rf' : ' -r') : force ? ' -f' : '';
  return onProtected(cmd.cwd, p.operands, recursive, `${name}${flags}`);
};

const unlink: Rule = (cmd, name) => onProtected(cmd.cwd, parseOptions(cmd.argv.slice(1)).operands, false, name);

/** Moving away a home, `/` or a top-level system directory destroys it as surely as rm. */
const mv: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1), { short: 'tS', long: ['target-directory', 'suffix', 'backup'] });
  const sources = p.values.has('t') || p.values.has('target-directory') ? p.operands : p.operands.slice(0, -1);
  return sources.flatMap((op) => {
    const verdict = classifyOperand(cmd.cwd, op.value);
    const topLevel = op.value.split('/').filter((c) => c !== '').length <= 1;
    return isProtected(verdict, true) && (verdict.cls !== 'system' || topLevel) ? [protectedHit(verdict, op, `${name} moves away ${verdict.why}`)] : [];
  });
};

const find: Rule = (cmd) => {
  if (!cmd.argv.some((w) => w.value === '-delete')) return [];
  const starts = findStarts(cmd.argv.slice(1));
  return (starts.length > 0 ? starts : [{ ...cmd.argv[0]!, value: '.' }]).flatMap((s) => {
    const verdict = classifyOperand(cmd.cwd, `${s.value.replace(/\/+$/, '')}/*`);
    return isProtected(verdict, true) ? [protectedHit(verdict, s, `find -delete under ${verdict.why}`)] : [];
  });
};

const shred: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1), { short: 'ns', long: ['iterations', 'size', 'random-source', 'remove'] });
  return p.operands.flatMap((op) => (isDevice(op.value) ? [disk(op, `${name} overwrites device ${show(op.value)}`)] : onProtected(cmd.cwd, [op], false, name)));
};

const dd: Rule = (cmd) => cmd.argv.slice(1).flatMap((w) => {
  if (!w.value.startsWith('of=')) return [];
  const target = w.value.slice(3);
  if (isDevice(target)) return [disk(w, `dd writes to device ${show(target)}`)];
  return onProtected(cmd.cwd, [{ ...w, value: target }], false, 'dd of=');
});

const mkfs: Rule = (cmd, name) => {
  const args = cmd.argv.slice(1);
  if (args.length === 0 || args.every((w) => ['-V', '--version', '-h', '--help'].includes(w.value))) return [];
  const target = [...args].reverse().find((w) => !w.value.startsWith('-'));
  return [disk(target, `${name} creates a filesystem${target ? ` on ${show(target.value)}` : ''}, erasing it`)];
};

const wipefs: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1), { short: 'optO', long: ['offset', 'types', 'output', 'backup'] });
  return hasFlag(p, 'a', 'all', 'o', 'offset') ? [disk(p.operands[0], `${name} erases filesystem signatures`)] : [];
};

const blkdiscard: Rule = (cmd, name) => {
  const target = cmd.argv.slice(1).find((w) => !w.value.startsWith('-'));
  return target ? [disk(target, `${name} discards every block of ${show(target.value)}`)] : [];
};

/** Partition editors: a device operand without a listing flag rewrites the partition table. */
function partitioner(listing: readonly string[]): Rule {
  return (cmd, name) => {
    const args = cmd.argv.slice(1);
    if (args.some((w) => listing.includes(w.value))) return [];
    const device = args.find((w) => isDevice(w.value));
    const rest = device ? args.slice(args.indexOf(device) + 1).map((w) => w.value) : [];
    if (name === 'parted' && rest.length > 0 && rest.every((v) => v === 'print' || v === 'p' || v === 'unit' || /^[a-zA-Z%]{1,3}$/.test(v))) return [];
    return device ? [disk(device, `${name} edits the partition table of ${show(device.value)}`)] : [];
  };
}

const nvme: Rule = (cmd) => {
  const verb = cmd.argv[1]?.value;
  return verb === 'format' || verb === 'sanitize' ? [disk(cmd.argv[2], `nvme ${verb} erases the drive`)] : [];
};

const hdparm: Rule = (cmd) => cmd.argv.some((w) => w.value.startsWith('--security-erase') || w.value === '--trim-sector-ranges')
  ? [disk(cmd.argv.find((w) => isDevice(w.value)), 'hdparm erases the drive')]
  : [];

const truncate: Rule = (cmd, name) => onProtected(cmd.cwd, parseOptions(cmd.argv.slice(1), { short: 'sor', long: ['size', 'reference', 'io-blocks'] }).operands, false, name);

const tee: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1), { optional: 'p', long: ['output-error'] });
  const devices = p.operands.filter((op) => isDevice(op.value));
  const writes = devices.map((op) => disk(op, `${name} writes to device ${show(op.value)}`));
  if (hasFlag(p, 'a', 'append')) return writes;
  return [...writes, ...onProtected(cmd.cwd, p.operands.filter((op) => !devices.includes(op)), false, `${name} overwrites`)];
};

const rsync: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1), { short: 'eBfTM', long: ['rsh', 'rsync-path', 'filter', 'exclude', 'include', 'exclude-from', 'include-from', 'files-from', 'temp-dir', 'compare-dest', 'copy-dest', 'link-dest', 'backup-dir', 'suffix', 'chmod', 'chown', 'log-file', 'password-file', 'port'] });
  if (![...p.flags].some((f) => f.startsWith('delete') || f === 'remove-source-files')) return [];
  const dest = p.operands[p.operands.length - 1];
  return dest ? onProtected(cmd.cwd, [dest], true, `${name} --delete into`) : [];
};

/** chmod/chown/chgrp -R on protected paths; chmod's mode may itself look like an option (`-w`). */
function permissions(kind: 'mode' | 'owner'): Rule {
  return (cmd, name) => {
    const args = cmd.argv.slice(1);
    const modeLike = (w: Word) => kind === 'mode' && /^-[rwxXstugoa+=,0-7-]+$/.test(w.value) && !/^-[Rcfv]+$/.test(w.value);
    const optionArgs = args.filter((w) => !modeLike(w));
    const p = parseOptions(optionArgs, { long: ['reference', 'from'] });
    if (!hasFlag(p, 'R', 'recursive')) return [];
    const operands = args.filter((w) => modeLike(w) || p.operands.includes(w));
    const targets = p.values.has('reference') ? operands.filter((w) => !modeLike(w)) : operands.slice(1);
    return targets.flatMap((op) => {
      const verdict = classifyOperand(cmd.cwd, op.value);
      return isProtected(verdict, true) ? [protectedHit(verdict, op, `${name} -R on ${verdict.why}`, 'shell.permission_blowup')] : [];
    });
  };
}

const setfacl: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1), { short: 'mMxX', long: ['modify', 'modify-file', 'remove', 'remove-file', 'set', 'set-file'] });
  if (!hasFlag(p, 'R', 'recursive')) return [];
  return p.operands.flatMap((op) => {
    const verdict = classifyOperand(cmd.cwd, op.value);
    return isProtected(verdict, true) ? [protectedHit(verdict, op, `${name} -R on ${verdict.why}`, 'shell.permission_blowup')] : [];
  });
};

/** Copying onto a block device (`cp /dev/zero /dev/sda`, `install x /dev/nvme0n1`) overwrites the disk. */
const copy: Rule = (cmd, name) => {
  const p = parseOptions(cmd.argv.slice(1), { short: 'tSmogZ', long: ['target-directory', 'suffix', 'backup', 'mode', 'owner', 'group', 'context', 'sparse', 'reflink'] });
  const dest = p.values.get('t') ?? p.values.get('target-directory') ?? (p.operands.length >= 2 ? p.operands[p.operands.length - 1] : undefined);
  return dest && isDevice(dest.value) ? [disk(dest, `${name} writes to device ${show(dest.value)}`)] : [];
};

const RULES: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ['cp', copy], ['install', copy],
  ['rm', rm], ['unlink', unlink], ['mv', mv], ['find', find], ['shred', shred], ['dd', dd],
  ['wipefs', wipefs], ['blkdiscard', blkdiscard], ['nvme', nvme], ['hdparm', hdparm],
  ['fdisk', partitioner(['-l', '--list'])], ['gdisk', partitioner(['-l'])], ['cfdisk', partitioner([])],
  ['sfdisk', partitioner(['-l', '--list', '-d', '--dump', '-s', '--show-size', '-V', '--verify', '-J', '--json'])],
  ['sgdisk', partitioner(['-p', '--print', '-v', '--verify', '-i', '--info'])], ['parted', partitioner(['-l', '--list'])],
  ['truncate', truncate], ['tee', tee], ['rsync', rsync],
  ['chmod', permissions('mode')], ['chown', permissions('owner')], ['chgrp', permissions('owner')], ['setfacl', setfacl],
]);

const FORMATTERS = /^(mkfs(\..+)?|mke2fs|mkswap|mkntfs|mkdosfs|mkexfatfs|newfs(_.+)?)$/;

/** The rule for a (lower-cased base) command name, if any. */
export function ruleFor(name: string): Rule | undefined {
  return RULES.get(name) ?? (FORMATTERS.test(name) ? mkfs : undefined);
}

/** An output redirection (`> path`, `&> path`) onto a device or a protected file. */
export function redirectHits(operator: string, target: Word, cwd: Cwd): Hit[] {
  if (!operator.includes('>')) return [];
  if (isDevice(target.value)) return [disk(target, `output redirected onto device ${show(target.value)}`)];
  if (operator.includes('>>')) return [];
  return onProtected(cwd, [target], false, `output redirection (${operator}) truncates`);
}
