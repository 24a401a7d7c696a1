// KeyHints from a JSON member name, read in its normalised view (normalise.ts: "ｐｈｏｎｅ" and
// "\u0073sn" name a phone and an SSN). Only the first 64 characters are read, so a hostile
// megabyte-long key costs the same as a short one.
import type { KeyHints } from './match.ts';
import { NO_HINTS } from './match.ts';
import { needsView, viewOf } from './normalise.ts';
import { PHONE_KEY, SSN_KEY, PASSWORD_KEY, SECRET_KEY, NOT_SECRET_KEY, AWS_SECRET_KEY_NAME } from './context.ts';

const MAX_KEY = 64;

export function hintsForKey(key: string): KeyHints {
  if (key.length === 0) return NO_HINTS;
  let k = key.length > MAX_KEY ? key.slice(0, MAX_KEY) : key;
  if (needsView(k)) k = viewOf(k, MAX_KEY).text;
  const hints: KeyHints = {
    phone: PHONE_KEY.test(k),
    ssn: SSN_KEY.test(k),
    password: PASSWORD_KEY.test(k),
    secret: SECRET_KEY.test(k) && !NOT_SECRET_KEY.test(k),
    awsSecret: AWS_SECRET_KEY_NAME.test(k),
  };
  return hints.phone || hints.ssn || hints.password || hints.secret || hints.awsSecret ? hints : NO_HINTS;
}
