// `airlock policy check|eval|test`: validate policy files, show the decision for a request, and
// run policy test cases. The eval output is a stable interface (corpora and scripts read it).
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import { SQL_DIALECTS, type SqlDialect } from '../../gateway/inspect/types.ts';

/** Largest single input read, in bytes. */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('check policy files, see what a policy decides, run policy tests');

  policy.command('check')
    .description('validate policy files (schema, CEL conditions, unique rule ids); exit 2 on the first invalid one')
    .argument('<files...>', 'policy files (YAML)')
    .action(async (files: string[]) => {
      const { readPolicyFile } = await import('../../gateway/policy/load.ts');
      const { compilePolicies } = await import('../../gateway/policy/compile.ts');
      const { CliError } = await import('../errors.ts');
      for (const file of files) {
        try {
          const sourced = readPolicyFile(file);
          compilePolicies([sourced]);
          process.stdout.write(`ok  ${file}: policy ${sourced.policy.name}, ${sourced.policy.rules.length} rule${sourced.policy.rules.length === 1 ? '' : 's'}\n`);
        } catch (err) {
          const e = err as { code?: string; message?: string };
          if (e.code === 'GW_POLICY_INVALID') throw new CliError('CLI_POLICY_INVALID', e.message ?? 'invalid policy', { cause: err });
          throw err;
        }
      }
    });

  policy.command('eval')
    .description('inspect one request and print the decision as JSON: {decision, reasons, findings, masked}')
    .option('--pack <name>', 'a policy pack from policies/ (repeatable; default: default)', collect, [])
    .option('--policy <file>', 'a policy file (repeatable)', collect, [])
    .requiredOption('-i, --input <file>', 'the request as JSON, or - for standard input')
    .option('--jsonl', 'the input has one request per line; print one result per line')
    .addOption(new Option('--dialect <dialect>', 'the SQL dialect when an input and its connection name none (default: postgresql)').choices([...SQL_DIALECTS]))
    .addHelpText('after', `
Inputs (one JSON object):
  {"kind":"sql","dialect":"postgresql","sql":"DELETE FROM users"}
  {"kind":"shell","command":"rm -rf /"}
  {"kind":"text","text":"card 4111 1111 1111 1111"}          (a response by default)
  {"kind":"json","value":{"email":"ada@example.com"}}         (a response by default)
  {"kind":"http","method":"POST","path":"/customers","body":{...}}
  {"kind":"mcp","tool":"query","arguments":{...}}
SQL is parsed in the input's "dialect", else its connection's "sql": {"dialect"}, else --dialect.
Optional on all: "direction" (request|response), "connection" {name, kind, tags, sql},
"identity" {sub, groups, roles}, "justification". AIRLOCK_MASK_KEY (base64) fixes the key of the
hash masking strategy; otherwise it is random per run.
With --jsonl a bad line prints {"line": N, "error": {...}} and the run goes on; the exit status
is then 2.`)
    .action(async (opts: { pack: string[]; policy: string[]; input: string; jsonl?: boolean; dialect?: SqlDialect }) => {
      const { policyFrom, maskKey, prepare, evaluateText } = await import('../policy/evaluate.ts');
      const { CliError } = await import('../errors.ts');
      const compiled = policyFrom({ packs: opts.pack, files: opts.policy });
      const key = maskKey();
      await prepare();
      if (!opts.jsonl) {
        const text = readInput(opts.input, CliError);
        process.stdout.write(JSON.stringify(evaluateText(text, compiled, key, opts.dialect)) + '\n');
        return;
      }
      const stream = opts.input === '-' ? process.stdin : createReadStream(opts.input);
      stream.on('error', () => {});
      let line = 0;
      let bad = 0;
      try {
        for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
          line++;
          if (text.trim() === '') continue;
          try {
            process.stdout.write(JSON.stringify(evaluateText(text, compiled, key, opts.dialect)) + '\n');
          } catch (err) {
            if (!(err instanceof CliError)) throw err;
            bad++;
            process.stdout.write(JSON.stringify({ line, error: { code: err.code, message: err.message } }) + '\n');
          }
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError('CLI_FILE_NOT_FOUND', `cannot read ${opts.input}: no such file.`);
        throw err;
      }
      if (bad > 0) throw new CliError('CLI_INPUT_INVALID', `${bad} of ${line} input lines were not valid requests (see the error lines in the output).`);
    });

  policy.command('test')
    .description('run policy test cases (YAML files of inputs and expected decisions) under DIR')
    .argument('<dir>', 'a directory of *.yaml test files, or one file')
    .action(async (dir: string) => {
      const { maskKey, prepare } = await import('../policy/evaluate.ts');
      const { runTestFile, testFiles } = await import('../policy/tests.ts');
      const { CliError } = await import('../errors.ts');
      const files = testFiles(dir);
      await prepare();
      const key = maskKey();
      let passed = 0;
      let failed = 0;
      for (const file of files) {
        for (const r of runTestFile(file, key, process.cwd())) {
          if (r.ok) passed++;
          else failed++;
          process.stdout.write(`${r.ok ? 'PASS' : 'FAIL'}  ${r.file}: ${r.name}${r.ok ? '' : ` — ${r.detail}`}\n`);
        }
      }
      process.stdout.write(`${passed} passed, ${failed} failed\n`);
      if (failed > 0) throw new CliError('CLI_TEST_FAILED', `${failed} policy test case${failed === 1 ? '' : 's'} did not get the expected decision.`);
    });
}

function readInput(path: string, CliError: typeof import('../errors.ts').CliError): string {
  try {
    const buf = readFileSync(path === '-' ? 0 : path);
    if (buf.length > MAX_INPUT_BYTES) throw new CliError('CLI_INPUT_INVALID', `the input is ${buf.length} bytes, more than the ${MAX_INPUT_BYTES} read.`);
    return buf.toString('utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError('CLI_FILE_NOT_FOUND', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
}
