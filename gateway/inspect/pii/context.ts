// Context words: some values are only PII next to a word that says what they are ("Phone:
// 467 3395", "SSN 123456789"). Looking is bounded: a fixed window of characters before or after
// the candidate, so each check costs a constant however long the text is.

/** How far before a candidate a key word may stand, in UTF-16 code units. */
const BEFORE = 40;
/** How far after a candidate a label may stand ("416 60 039 office"). */
const AFTER = 16;

/**
 * Whether `words` matches in the `BEFORE` characters before `start` with no digit between the
 * word and the candidate (so "Phone: 555 0100, ref 12 345 678" lends the word to the first
 * number only). `words` must end with `[^0-9]*$`-style anchoring; see the patterns below.
 */
export function contextBefore(text: string, start: number, words: RegExp): boolean {
  return words.test(text.slice(Math.max(0, start - BEFORE), start));
}

/** Whether `words` matches at the start of the `AFTER` characters from `end`. */
export function contextAfter(text: string, end: number, words: RegExp): boolean {
  return words.test(text.slice(end, end + AFTER));
}

const PHONE_WORDS = ['phone', 'phones', 'telephone', 'tel', 'ph', 'mobile', 'mob', 'cell', 'cellphone', 'fax', 'call', 'calling', 'called',
  'dial', 'sms', 'text', 'texts', 'whatsapp', 'contact', 'ring', 'reach', 'reached', 'answering', 'message', 'messages', 'voicemail',
  'hotline', 'helpline', 'landline', 'telefon', 'telefono', 'teléfono', 'téléphone', 'tél', 'handy', 'móvil', 'celular'];
// "office", "home", "work", "desk" also introduce addresses ("office at 17031 Main St"), so before
// a number they count only as a label with a colon ("Office: 555 0100").
const LABEL_WORDS = ['office', 'home', 'work', 'desk'];
const AFTER_WORDS = ['office', 'fax', 'mobile', 'cell', 'home', 'work', 'phone', 'tel', 'landline', 'direct', 'desk'];

// The word, then anything but digits up to the candidate. Applied to a <= 40-char slice.
export const PHONE_BEFORE = new RegExp(`(?:(?:^|[^A-Za-z])(?:${PHONE_WORDS.join('|')})(?:[^A-Za-z][^0-9]*)?|(?:^|[^A-Za-z])(?:${LABEL_WORDS.join('|')}) ?[:#][^0-9A-Za-z]*)$`, 'i');
export const PHONE_AFTER = new RegExp(`^[ \\t\\-(]{0,3}(?:${AFTER_WORDS.join('|')})(?![A-Za-z])`, 'i');
/** Any of the words above, anywhere: one cheap test of whether a phone context can exist in a text at all. */
export const PHONE_WORD = new RegExp([...new Set([...PHONE_WORDS, ...LABEL_WORDS, ...AFTER_WORDS])].join('|'), 'i');
export const SSN_BEFORE = /(?:^|[^A-Za-z])(?:ssn|ssns|ss#|ss #|social security|social-security|soc\.? ?sec)(?:[^A-Za-z][^0-9]*)?$/i;
/** Words before a dotted quad that make it a version, not an address. */
export const VERSION_BEFORE = /(?:^|[^A-Za-z])(?:v|ver|version|release|build|rev|revision)[ .:]*$/i;

/** Hints from a JSON member name. Only its first 64 characters are looked at. */
export const PHONE_KEY = /phone|^tel|_tel|tel_|mobile|cell|fax|msisdn|contact_?number/i;
export const SSN_KEY = /ssn|social_?security|socialsecurity/i;
export const PASSWORD_KEY = /(?:password|passwd|passphrase|pwd)$/i;
export const SECRET_KEY = /(?:secret|token|api_?key|apikey|access_?key|private_?key|client_?secret|credentials?|auth|session_?id|cookie)$/i;
/** Member names ending like a secret but holding pagination or bookkeeping values. */
export const NOT_SECRET_KEY = /(?:page|cursor|continuation|next|sync|prev|previous)_?token$/i;
export const AWS_SECRET_KEY_NAME = /secret_?access_?key|aws_?secret/i;
