// The README's tour, as a new user runs it: a clone of this repository in a temporary directory
// with nothing beside it (node_modules linked in, as `npm install` would have made it), the
// commands on PATH through links to the clone's launchers (what `npm link` makes), `npm start`
// in the clone (on free ports), then the tour's sh block run as written in bash, in another
// directory. Each answer is checked: masked, denied, held, approved, replayed, verified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMarkdown } from '../support/markdown.ts';
import { runProgram, startProgram, type Running } from '../support/process.ts';
import { logicalLines } from '../support/shell-words.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'airlock-tour-'));
const clone = join(dir, 'airlock');
const bin = join(dir, 'bin');
const elsewhere = join(dir, 'terminal'); // the user's second terminal is not in the clone
const env = { PATH: `${bin}:${process.env.PATH}`, AIRLOCK_CONFIG_DIR: join(dir, 'config') };
let npmStart: Running | undefined;
let gateway = '';

before(async () => {
  execFileSync('git', ['clone', '--quiet', ROOT, clone], { stdio: 'pipe' });
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
  mkdirSync(bin);
  mkdirSync(elsewhere);
  for (const name of ['airlock', 'airlock-agent']) symlinkSync(join(clone, 'bin', name), join(bin, name));
  npmStart = startProgram('npm', ['start', '--', '--port', '0', '--idp-port', '0', '--agent-port', '0', '--demo-port', '0', '--postgres-port', '0'], { cwd: clone, env, group: true });
  await npmStart.waitFor(/Ctrl-C stops everything\./, 30_000);
  gateway = /^ {2}gateway\s+(http:\/\/127\.0\.0\.1:\d+)\s/m.exec(npmStart.output().stdout)?.[1] ?? '';
  assert.ok(gateway, `npm start names its gateway:\n${npmStart.output().stdout}`);
});

after(async () => {
  if (npmStart && npmStart.child.exitCode === null && npmStart.child.signalCode === null) {
    npmStart.signalGroup('SIGTERM'); // npm, airlock dev and its agent child, as Ctrl-C would
    const killer = setTimeout(() => { try { npmStart!.signalGroup('SIGKILL'); } catch { /* gone */ } }, 10_000);
    await npmStart.exited;
    clearTimeout(killer);
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The tour's lines from the clone's README: the sh block under the `<!-- tour` marker. */
function tourLines(): Array<{ line: number; text: string }> {
  const fences = parseMarkdown(readFileSync(join(clone, 'README.md'), 'utf8')).fences.filter((f) => f.before.startsWith('<!-- tour'));
  assert.equal(fences.length, 1, 'the README marks one sh block as the tour');
  assert.equal(fences[0]!.lang, 'sh');
  return logicalLines(fences[0]!.lines, fences[0]!.line).filter((l) => l.text.trim() !== '' && !l.text.trim().startsWith('#'));
}

test('the README tour, run as written from a clone against npm start: masked, denied, held, approved, replayed, verified', { timeout: 90_000 }, async () => {
  const lines = tourLines();
  // Each command is preceded by a marker line, so its output can be told from the next one's.
  const script = ['set -e', ...lines.flatMap((l, i) => [`echo '@@tour ${i}'`, l.text])].join('\n') + '\n';
  writeFileSync(join(dir, 'tour.sh'), script);
  const ran = await runProgram('bash', [join(dir, 'tour.sh')], { cwd: elsewhere, env: { ...env, AIRLOCK_GATEWAY: gateway }, timeout: 60_000 });
  assert.equal(ran.code, 0, `the tour ran to its end:\n${ran.stdout}\n${ran.stderr}`);
  assert.equal(ran.stderr, '', 'no command complained');
  const outputs = ran.stdout.split(/@@tour \d+\n/).slice(1); // a curl answer may end without a newline
  assert.equal(outputs.length, lines.length, 'every command of the tour ran');
  /** The output of the one tour command that starts with `needle` (or, for curl, contains it). */
  const of = (needle: string) => {
    const at = lines.flatMap((l, i) => (l.text.startsWith(needle) || (l.text.startsWith('curl') && l.text.includes(needle)) ? [i] : []));
    assert.equal(at.length, 1, `one tour command contains ${needle}`);
    return outputs[at[0]!]!;
  };

  assert.match(of('airlock whoami'), /^user\s+bob \(Bob \(dev\)\)$/m, 'bob, through $AIRLOCK_TOKEN');
  // masked: the record came through gateway → tunnel → agent → demo service, its PII masked
  const record = JSON.parse(of('/proxy/demo/customers/1')) as Record<string, string>;
  assert.deepEqual(record, { id: 1, name: 'Ada Lovelace', email: '[EMAIL_ADDRESS]', phone: '[PHONE_NUMBER]', ssn: '[US_SSN]', card: '[CREDIT_CARD …1111]', plan: 'enterprise' });
  // denied: the DROP in the body never reached the service
  const denied = JSON.parse(of('DROP TABLE customers')) as { error: { code: string; message: string } };
  assert.equal(denied.error.code, 'GW_POLICY_DENIED');
  assert.equal(denied.error.message, 'The request on connection demo was refused by policy (sql.drop): DROP and TRUNCATE are refused through airlock; ask a database owner to run them.');
  // held: alice sees bob's DELETE waiting for her
  const review = /^(rev_\w+)\s+pending\s+demo\s+bob\s+DELETE \/customers\/4\s+0\/1\s/m.exec(of('airlock reviews list '))?.[1];
  assert.ok(review, `the held DELETE is listed:\n${of('airlock reviews list ')}`);
  // approved: her approval releases it, and bob's DELETE is answered 204 by the service
  assert.match(of('airlock reviews approve'), new RegExp(`^Review ${review} is approved\\. The held request is released`, 'm'));
  assert.match(ran.stdout, /^204$/m, 'the released DELETE completed');
  const gone = await fetch(`${gateway}/proxy/demo/customers/4`, { headers: { authorization: `Bearer ${await devToken('bob')}` } });
  assert.equal(gone.status, 404, 'customer 4 was deleted at the service');

  // replayed: each decision of bob's session, in order
  const replay = of('airlock sessions replay');
  const steps = [
    /→ GET \/customers\/1\n/, /decision mask \(response\): pii\.masked\n/,
    /→ POST \/customers \[withheld\]\n/, /finding sql\.ddl\.drop at \$\.note: DROP TABLE customers\n/, /decision deny \(request\): sql\.drop\n/, /error GW_POLICY_DENIED: /,
    /→ DELETE \/customers\/4 \[held for review\]\n/, /decision review \(request\): http\.delete\n/,
    new RegExp(`review\\.requested ${review}: 1 approval needed`), new RegExp(`review\\.approved ${review} by alice: tour\\n`), /← 204 \(\d+ ms\)\n/,
  ];
  let from = 0;
  for (const step of steps) {
    const m = step.exec(replay.slice(from));
    assert.ok(m, `the replay shows ${step} after what came before:\n${replay}`);
    from += m.index + m[0].length;
  }
  assert.doesNotMatch(replay, /4111|412-67-3390|ada@example\.com/, 'the recording holds what left the gateway: masked');
  // verified: the session's head signed now, the chain, the signatures and the ledger hold
  const session = /ses_\w+/.exec(of('airlock sessions verify'))?.[0];
  assert.ok(session, 'verify names the session');
  assert.match(of('airlock sessions verify'), new RegExp(`^OK: session ${session} \\(open\\): (\\d+) events chained, 1 signed checkpoint\\(s\\), signed through event \\1; the ledger agrees\\.$`, 'm'));
});

async function devToken(user: string): Promise<string> {
  const token = await runProgram(join(bin, 'airlock'), ['dev', 'token', '--user', user, '--gateway', gateway], { env });
  assert.equal(token.code, 0, token.stderr);
  return token.stdout.trim();
}
