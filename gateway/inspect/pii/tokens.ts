// API_KEY and AWS_ACCESS_KEY: credentials whose vendors give them a recognisable prefix. One
// alternation of every prefix rules out most strings at once; each pattern has bounded
// quantifiers behind its literal prefix, so a match attempt reads a bounded window.
// Formats follow each vendor's documentation and the rules gitleaks and GitHub secret scanning use.
import type { Match, ScanInput } from './match.ts';
import { charClasses } from './validators.ts';

interface TokenRule {
  readonly entity: 'API_KEY' | 'AWS_ACCESS_KEY';
  readonly what: string;
  /** What every match starts with (a regex source); the pattern runs only when the text has it. */
  readonly guard: string;
  readonly pattern: RegExp;
  /** Extra check on the matched text, for prefixes that ordinary words can share. */
  readonly check?: (token: string) => boolean;
}

// (?<![…]) and (?![…]) keep a token from being cut out of a longer word.
const B = '(?<![A-Za-z0-9_-])';
const E = '(?![A-Za-z0-9_-])';
const rule = (entity: TokenRule['entity'], what: string, guard: string, body: string, check?: TokenRule['check']): TokenRule =>
  ({ entity, what, guard, pattern: new RegExp(B + body + E, 'g'), ...(check ? { check } : {}) });

/** Mixed case and digits: what a random token has and a hyphenated word ("sk-learn-…") does not. */
const randomLooking = (t: string): boolean => charClasses(t.replace(/^[a-z]+[-_]/, '')) >= 3;

const TOKEN_RULES: readonly TokenRule[] = [
  rule('AWS_ACCESS_KEY', 'AWS access key id', 'A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA|3T[A-Z0-9])', '(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA|A3T[A-Z0-9])[A-Z0-9]{16}'),
  rule('API_KEY', 'GitHub token', 'gh[pousr]_', 'gh[pousr]_[A-Za-z0-9]{36,251}'),
  rule('API_KEY', 'GitHub fine-grained token', 'github_pat_', 'github_pat_[A-Za-z0-9_]{22,244}'),
  rule('API_KEY', 'GitLab token', 'gl[a-z]{1,5}-', 'gl(?:pat|dt|rt|ptt|ft|soat|cbt|imt|oas|agent)-[A-Za-z0-9_-]{20,64}'),
  rule('API_KEY', 'Slack token', 'xox[abposre]-', 'xox[abposre]-\\d{1,16}-[A-Za-z0-9-]{8,250}'),
  rule('API_KEY', 'Slack app token', 'xapp-', 'xapp-\\d-[A-Za-z0-9-]{20,250}'),
  rule('API_KEY', 'Slack webhook URL', 'hooks\\.slack\\.com', 'https://hooks\\.slack\\.com/(?:services|workflows|triggers)/[A-Za-z0-9/]{20,150}'),
  rule('API_KEY', 'Stripe secret key', '[sr]k_(?:live|test)_', '(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}'),
  rule('API_KEY', 'Stripe webhook secret', 'whsec_', 'whsec_[A-Za-z0-9+/=]{24,128}'),
  rule('API_KEY', 'Anthropic API key', 'sk-ant-', 'sk-ant-[a-z]{2,10}\\d{2}-[A-Za-z0-9_-]{32,200}'),
  rule('API_KEY', 'OpenAI API key', 'sk-', 'sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,250}',
    (t) => t.includes('T3BlbkFJ') || randomLooking(t.slice(3))),
  rule('API_KEY', 'npm token', 'npm_', 'npm_[A-Za-z0-9]{36}'),
  rule('API_KEY', 'PyPI token', 'pypi-', 'pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,300}'),
  rule('API_KEY', 'Google API key', 'AIza', 'AIza[0-9A-Za-z_-]{35}'),
  rule('API_KEY', 'SendGrid API key', 'SG\\.', 'SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}'),
  rule('API_KEY', 'Hugging Face token', 'hf_', 'hf_[A-Za-z0-9]{34,40}', (t) => /[a-z]/.test(t.slice(3)) && /[A-Z]/.test(t)),
  rule('API_KEY', 'Shopify token', 'shp[a-z]{2}_', 'shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}'),
  rule('API_KEY', 'DigitalOcean token', 'do[opr]_v1_', 'do[opr]_v1_[a-f0-9]{64}'),
  rule('API_KEY', 'Docker Hub token', 'dckr_', 'dckr_pat_[A-Za-z0-9_-]{27,64}'),
  rule('API_KEY', 'HashiCorp Vault token', 'hv[sb]\\.', 'hv[sb]\\.[A-Za-z0-9_-]{24,250}'),
  rule('API_KEY', 'Grafana token', 'gl(?:sa|c)_', 'gl(?:sa|c)_[A-Za-z0-9_=+/-]{32,200}'),
  rule('API_KEY', 'Postman API key', 'PMAK-', 'PMAK-[a-f0-9]{24}-[a-f0-9]{34}'),
  rule('API_KEY', 'Linear API key', 'lin_api_', 'lin_api_[A-Za-z0-9]{40}'),
  rule('API_KEY', 'Databricks token', 'dapi', 'dapi[a-f0-9]{32}(?:-\\d)?'),
  rule('API_KEY', 'age secret key', 'AGE-SECRET-KEY-1', 'AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}'),
];

// One pass over the text decides whether any rule can match at all: most strings have none of
// the prefixes, and one alternation is cheaper than a substring test per rule.
/** Every rule's prefix, as regex sources (scan.ts folds them into its one secrets prefilter). */
export const TOKEN_GUARDS: readonly string[] = TOKEN_RULES.map((r) => r.guard);
const ANY_GUARD = new RegExp(TOKEN_GUARDS.join('|'));
const GUARDS: readonly RegExp[] = TOKEN_RULES.map((r) => new RegExp(r.guard));

export function recognizeTokens(input: ScanInput, out: Match[]): void {
  const { text } = input;
  if (!ANY_GUARD.test(text)) return;
  for (let i = 0; i < TOKEN_RULES.length; i++) {
    const r = TOKEN_RULES[i]!;
    if (!GUARDS[i]!.test(text)) continue;
    r.pattern.lastIndex = 0;
    for (let m = r.pattern.exec(text); m !== null; m = r.pattern.exec(text)) {
      if (out.length >= input.budget) return;
      if (r.check && !r.check(m[0])) continue;
      const prefix = /^[A-Za-z0-9]+[_-]/.exec(m[0])?.[0];
      const shown = r.entity === 'AWS_ACCESS_KEY' ? ` (${m[0].slice(0, 4)})` : prefix && prefix.length <= 8 ? ` (${prefix}…)` : '';
      out.push({ entity: r.entity, start: m.index, end: m.index + m[0].length, detail: `${r.what}${shown}` });
    }
  }
}
