// Raw payload bytes: decoded as UTF-8 before inspection. Bytes that are not valid UTF-8 cannot
// be read as the client meant them (and a decoder elsewhere may read them differently), so they
// are decoded with replacement characters, inspected anyway, and reported as `inspect.error`.
import type { Finding } from '../types.ts';
import { inspectText, type InspectTextOptions } from './scan.ts';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** inspectText over UTF-8 bytes; spans are offsets into the decoded string (UTF-16 code units). */
export function inspectBytes(bytes: Uint8Array, options: InspectTextOptions = {}): Finding[] {
  let text: string;
  const findings: Finding[] = [];
  try {
    text = strict.decode(bytes);
  } catch {
    text = lenient.decode(bytes);
    findings.push({ kind: 'inspect.error', path: options.path ?? '$', severity: 'high', detail: 'payload is not valid UTF-8; inspected with replacement characters' });
  }
  return [...findings, ...inspectText(text, options)];
}
