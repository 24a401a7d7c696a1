// Which limits a rule's `when` names under `usage` (usage.<name>, usage["<name>"]), so a rule
// naming a limit not in force is refused when the policies load (`airlock policy check` names the
// file, the line and the field, and the closest limit) rather than denying every request it meets.
import { closest } from '../../lib/config.ts';

/** CEL string literals (single, double, triple-quoted, raw or not), replaced by "" so a word inside one is not read as code. */
const STRINGS = /[rR]?("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')/g;

/** The limit names `expr` reads under `usage`, in order, each once. */
export function usageNames(expr: string): string[] {
  const names: string[] = [];
  for (const m of expr.matchAll(/\busage\s*\[\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\]/g)) names.push(m[1] ?? m[2]!);
  const code = expr.replace(STRINGS, '""');
  for (const m of code.matchAll(/\busage\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)/g)) names.push(m[1]!);
  return [...new Set(names)];
}

/** Why `expr` cannot be evaluated against the limits `known` (undefined: it can): the first name not among them, with the closest. */
export function unknownUsage(expr: string, known: readonly string[]): string | undefined {
  const missing = usageNames(expr).find((n) => !known.includes(n));
  if (missing === undefined) return undefined;
  const close = closest(missing, known);
  const hint = close !== undefined ? `did you mean usage.${close}?` : known.length > 0 ? `the limits in force are ${known.join(', ')}` : 'no limits are declared in the policies in force';
  return `usage.${missing} names no limit in force (${hint})`;
}
