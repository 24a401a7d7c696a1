// The PII and secrets inspector. Strings, JSON values and raw bytes in; findings
// `pii.<ENTITY>` / `secret.<ENTITY>` out, with Presidio's entity names (PII_ENTITIES /
// SECRET_ENTITIES in ../types.ts). Each recognizer pairs a candidate scanner with a validator:
//
//   CREDIT_CARD     cards.ts    12–19 digits, printed groupings, one separator kind, Luhn
//   US_SSN          ssn.ts      AAA-GG-SSSS, SSA rules; other forms only next to an SSN word
//   IBAN_CODE       iban.ts     country length + mod-97, compact or in groups of four
//   EMAIL_ADDRESS   email.ts    dot-atom subset of RFC 5322, LDH domain with a real TLD shape
//   PHONE_NUMBER    phone.ts    international / North American / trunk-0 formats, else context
//   IP_ADDRESS      ip.ts       node:net isIP over IPv4 dotted quads and IPv6 runs
//   AWS_ACCESS_KEY  tokens.ts   AKIA/ASIA/… + 16
//   API_KEY         tokens.ts   vendor prefixes: GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, npm, …
//   PRIVATE_KEY     pem.ts      PEM BEGIN … END blocks
//   JWT             jwt.ts      three base64url parts, header is JSON with "alg"
//   AWS_SECRET_KEY, GENERIC_SECRET  generic.ts  key words / member names + entropy
//
// Recognizers read a string's normalised view (normalise.ts: escapes decoded, NFKC, every
// Unicode digit ASCII, every space ' ', every dash '-', invisible characters dropped) and their
// spans are mapped back to the original, so a value is found however it is spelled and masked
// where it stands. Every scanner is linear in its input (bounded windows, no backtracking
// blow-ups), and `detail` says what was found, never the value. Masking is in ../mask.ts.
export { inspectText, type InspectTextOptions, type PiiEntityName, DEFAULT_MAX_CHARS, DEFAULT_MAX_FINDINGS } from './scan.ts';
export { inspectJson, type InspectJsonOptions } from './json.ts';
export { inspectBytes } from './bytes.ts';
