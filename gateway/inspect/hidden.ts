// What a payload refused for hidden text is recorded as. guard/normalise.ts `hiddenText` finds a
// value written with control or format characters between its characters (UTF-16 text read as
// UTF-8 puts a NUL between digits); policy refuses it (`inspect.hidden_text`), and the recording
// redacts a refused payload's PII and secret findings — but the value was found only once those
// characters were gone, so the payload would be recorded with the value still in it. Here they are
// removed first and what the inspectors then find is redacted: the recording never holds what
// policy kept from leaving, hidden or not.
import { maskJson, maskText } from './mask.ts';
import { inspectJson, inspectText } from './pii/index.ts';

/** C0 controls but tab, LF and CR, DEL, C1 controls and format characters (zero-width, bidi, …): what hides a value (global, for replace). */
export const HIDING = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\p{Cf}]/gu;
/** HIDING without the global flag, for test() (no lastIndex carried between calls). */
export const HIDING_ANY = new RegExp(HIDING.source, 'u');

/** `payload` (text or parsed JSON) without hiding characters in any key or string, every PII and secret value in it redacted. */
export function unhidden(payload: unknown, maskKey: Uint8Array): unknown {
  const compact = strip(payload);
  if (typeof compact === 'string') return maskText(compact, sensitive(inspectText(compact)), () => 'redact', maskKey);
  return maskJson(compact, sensitive(inspectJson(compact)), () => 'redact', maskKey);
}

function strip(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(HIDING, '');
  if (Array.isArray(v)) return v.map(strip);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, child]) => [k.replace(HIDING, ''), strip(child)]));
  return v;
}

function sensitive<T extends { kind: string }>(findings: readonly T[]): T[] {
  return findings.filter((f) => f.kind.startsWith('pii.') || f.kind.startsWith('secret.'));
}
