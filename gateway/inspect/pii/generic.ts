// AWS_SECRET_KEY and GENERIC_SECRET: values that only a neighbouring word identifies.
//   - An assignment to a secret-sounding name ("password=…", "client_secret: …",
//     `"api_key": "…"`, "Authorization: Bearer …") whose value is long and random enough:
//     password-like names take any value of 4+ characters that is not a placeholder
//     ("********", "${DB_PASSWORD}", "<redacted>"); token-like names need 12+ characters with
//     letters and digits and 3.0+ bits/char of entropy (so "token: none" and "secret:
//     my-config-name" are left alone).
//   - A 40-character base64 value after an AWS secret key name, or anywhere in a string that
//     also holds an AWS access key id, is an AWS secret access key.
//   - In JSON, the member name plays the keyword's part (KeyHints): {"password": "hunter22"}.
// Every pattern has bounded quantifiers, so each attempt reads a bounded window.
import type { Match, ScanInput } from './match.ts';
import { shannonEntropy, charClasses } from './validators.ts';

// The name may end in a short suffix ("aws_access_key_id", "secretKey", "GITHUB_TOKENS") but
// not in any word ("tokenizer: bert-base" is no assignment of a token).
const ASSIGNMENT = new RegExp(
  '(password|passwd|passphrase|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|auth[_.-]?key|private[_.-]?key|client[_.-]?secret|credentials?)' +
  '(?:[_.-]?(?:id|key|value|string))?s?["\']?[ \\t]{0,4}(?::=|=>|=|:)[ \\t]{0,4}["\']?([^\\s"\'`,;<>(){}\\[\\]]{1,512})', 'gi');
const BEARER = /\b(?:bearer|token)[ \t]{1,4}([A-Za-z0-9._~+/-]{12,4096}=*)/gi;
const BASIC = /\bbasic[ \t]{1,4}([A-Za-z0-9+/]{8,1024}={0,2})(?![A-Za-z0-9+/=])/gi;
const AWS_SECRET_NAME = /(?:aws_?secret(?:_?access)?_?key|secret_?access_?key)["']?[ \t]{0,4}(?::=|=>|=|:)[ \t]{0,4}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;
const AWS_SECRET_SHAPE = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
const AWS_ACCESS_ID = /(?:AKIA|ASIA)[A-Z0-9]{16}/;

/** A word without which none of the patterns below can match (scan.ts also folds it into its prefilter). */
export const GENERIC_WORDS = /pass|pwd|secret|token|key|credential|bearer|basic/i;

const PLACEHOLDER = /^(?:\*+|x+|X+|•+|\.+|-+|_+|null|nil|none|undefined|true|false|empty|redacted|hidden|secret|password|changeme|example|string|\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|<[^>]*>|%[a-z]|\[[A-Z_]+(?:[: ].*)?\])$/i;
const PASSWORD_WORDS = /^(?:password|passwd|passphrase|pwd)$/i;

/**
 * A value a token-like name holds that looks random: 12+ characters with letters and digits and
 * 3.0+ bits/char of entropy (hex and base64 tokens pass; "bert-base-uncased" and "my_app_name"
 * do not).
 */
function looksRandom(value: string): boolean {
  return value.length >= 12 && /\d/.test(value) && /[A-Za-z]/.test(value) && shannonEntropy(value) >= 3.0;
}

function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

function push(input: ScanInput, out: Match[], entity: string, start: number, end: number, detail: string): boolean {
  if (out.length >= input.budget) return false;
  out.push({ entity, start, end, detail });
  return true;
}

export function recognizeGenericSecrets(input: ScanInput, out: Match[]): void {
  const { text, hints } = input;
  // The JSON member name is the keyword: the whole string is the value.
  if ((hints.password || hints.secret || hints.awsSecret) && text.length > 0 && text.length <= 4096 && !isPlaceholder(text)) {
    if (hints.awsSecret && /^[A-Za-z0-9/+]{40}$/.test(text)) {
      push(input, out, 'AWS_SECRET_KEY', 0, text.length, 'AWS secret access key (40 characters, under an AWS secret member name)');
    } else if (hints.password ? !/\s/.test(text) || text.length <= 64 : looksRandom(text)) {
      push(input, out, 'GENERIC_SECRET', 0, text.length, `secret value (under a ${hints.password ? 'password' : 'secret'}-like member name)`);
    }
  }
  if (!GENERIC_WORDS.test(text)) return;
  ASSIGNMENT.lastIndex = 0;
  for (let m = ASSIGNMENT.exec(text); m !== null; m = ASSIGNMENT.exec(text)) {
    const word = m[1]!.toLowerCase();
    const value = m[2]!;
    const start = m.index + m[0].length - value.length;
    if (isPlaceholder(value)) continue;
    const ok = PASSWORD_WORDS.test(word) ? value.length >= 4 : looksRandom(value);
    if (ok && !push(input, out, 'GENERIC_SECRET', start, start + value.length, `secret value (assigned to a ${PASSWORD_WORDS.test(word) ? 'password' : 'secret'}-like name)`)) return;
  }
  BEARER.lastIndex = 0;
  for (let m = BEARER.exec(text); m !== null; m = BEARER.exec(text)) {
    const value = m[1]!;
    if (!looksRandom(value)) continue;
    const start = m.index + m[0].length - value.length;
    if (!push(input, out, 'GENERIC_SECRET', start, start + value.length, 'bearer token')) return;
  }
  BASIC.lastIndex = 0;
  for (let m = BASIC.exec(text); m !== null; m = BASIC.exec(text)) {
    const value = m[1]!;
    // HTTP Basic credentials are base64 of "user:password".
    if (!Buffer.from(value, 'base64').toString('latin1').includes(':')) continue;
    const start = m.index + m[0].length - value.length;
    if (!push(input, out, 'GENERIC_SECRET', start, start + value.length, 'HTTP Basic credentials')) return;
  }
  AWS_SECRET_NAME.lastIndex = 0;
  for (let m = AWS_SECRET_NAME.exec(text); m !== null; m = AWS_SECRET_NAME.exec(text)) {
    const value = m[1]!;
    const start = m.index + m[0].length - value.length;
    if (!push(input, out, 'AWS_SECRET_KEY', start, start + value.length, 'AWS secret access key (40 characters, after an AWS secret key name)')) return;
  }
  if (AWS_ACCESS_ID.test(text)) {
    AWS_SECRET_SHAPE.lastIndex = 0;
    for (let m = AWS_SECRET_SHAPE.exec(text); m !== null; m = AWS_SECRET_SHAPE.exec(text)) {
      if (charClasses(m[0]) < 3 || shannonEntropy(m[0]) < 4.0) continue;
      if (!push(input, out, 'AWS_SECRET_KEY', m.index, m.index + 40, 'AWS secret access key (40 random characters next to an AWS access key id)')) return;
    }
  }
}
