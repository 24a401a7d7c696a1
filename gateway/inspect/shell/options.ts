// Getopt-style option parsing over normalised words, enough to tell flags from operands the
// way the real tools do: short clusters (`-rf`), short options with a value (`-n 10`, `-n10`),
// long options (`--force`, `--user=root`, `--user root`), `--` ending options, and either GNU
// permutation (options after operands, as rm and chmod accept) or stopping at the first
// operand (wrappers such as sudo, whose first operand starts the inner command).
import { UNKNOWN, type Word } from './model.ts';

export interface OptionSpec {
  /** Short option letters that take a value (`-u root`, `-uroot`). */
  readonly short?: string;
  /** Short option letters whose value, if any, is attached (`xargs -i{}`, `perl -l0`). */
  readonly optional?: string;
  /** Long option names (without `--`) that take a value when no `=` is given. */
  readonly long?: readonly string[];
  /** Stop at the first operand: it and everything after are operands (wrappers). Default false. */
  readonly stop?: boolean;
  /** Treat `-<digits>` as an operand (e.g. `chmod -R -w`, `nice -10`). Default false. */
  readonly numericOperand?: boolean;
}

export interface Parsed {
  /** Short letters and long names seen, e.g. `r`, `f`, `recursive`. */
  readonly flags: ReadonlySet<string>;
  /** Values of options that take one, by letter or long name. */
  readonly values: ReadonlyMap<string, Word>;
  readonly operands: readonly Word[];
}

export function parseOptions(args: readonly Word[], spec: OptionSpec = {}): Parsed {
  const flags = new Set<string>();
  const values = new Map<string, Word>();
  const operands: Word[] = [];
  const short = spec.short ?? '';
  const optional = spec.optional ?? '';
  const long = new Set(spec.long ?? []);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const v = arg.value;
    if (v === '--') { operands.push(...args.slice(i + 1)); break; }
    const isOption = v.startsWith('-') && v.length > 1 && !v.startsWith(`-${UNKNOWN}`) && !(spec.numericOperand && /^-\d+$/.test(v));
    if (!isOption) {
      if (spec.stop) { operands.push(...args.slice(i)); break; }
      operands.push(arg);
      continue;
    }
    if (v.startsWith('--')) {
      const eq = v.indexOf('=');
      const name = eq < 0 ? v.slice(2) : v.slice(2, eq);
      flags.add(name);
      if (eq >= 0) values.set(name, { ...arg, value: v.slice(eq + 1) });
      else if (long.has(name) && i + 1 < args.length) values.set(name, args[++i]!);
      continue;
    }
    for (let j = 1; j < v.length; j++) {
      const letter = v[j]!;
      flags.add(letter);
      if (optional.includes(letter)) {
        values.set(letter, { ...arg, value: v.slice(j + 1) });
        break;
      }
      if (short.includes(letter)) {
        const attached = v.slice(j + 1);
        if (attached !== '') values.set(letter, { ...arg, value: attached });
        else if (i + 1 < args.length) values.set(letter, args[++i]!);
        break;
      }
    }
  }
  return { flags, values, operands };
}

/** True when any of the given letters or long names was seen. */
export function hasFlag(parsed: Parsed, ...names: string[]): boolean {
  return names.some((n) => parsed.flags.has(n));
}
