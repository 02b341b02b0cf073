// `buildx-lab repro CASE_DIR`: a bug report given as data, across the versions it names. A present or
// absent symptom is a finding, not a failure: the exit status says whether the lab could tell.
// `buildx-lab check CASE_DIR...`: loads and validates case directories without running anything, so a
// case's mistakes show in a second, not after minutes of provisioning. Every directory is checked, the
// invalid ones each named with the line and field to fix.
import { Command } from 'commander';
import { labConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { writeConsole } from '../progress.ts';
import { printCells, runAndReport } from '../runner/command.ts';
import { addRunOptions, addTrustOption, runOptions } from '../runner/options.ts';
import { caseSource } from '../runner/trust.ts';
import { loadCase } from './case.ts';
import { describeCase } from './check.ts';
import { reproLines, reproWord } from './scenario.ts';

export function reproCommand(): Command {
  const cmd = new Command('repro')
    .summary('reproduce a bug report given as data (CASE_DIR/case.yaml): symptom present / absent / inconclusive per cell')
    .description(
      'Exit 0 when every cell could be judged (and, for a case with `expect`, as declared); 1 when a cell errored, was skipped or was inconclusive, or differs from `expect`; 2 for an invalid case, or an untrusted one (outside fixtures/cases, no --trust) on an engine that is not rootless.',
    )
    .argument('<case-dir>', 'a directory holding case.yaml and the files it builds (see fixtures/cases/README.md)')
    .option('--list', 'print the cells the case holds on this matrix, with what each is expected to show and what it needs; run nothing');
  addRunOptions(cmd, { matrix: 'full' });
  addTrustOption(cmd);
  return cmd.action(async (dir: string, values: Record<string, unknown>, c: Command) => {
    const config = labConfig();
    const kase = loadCase(dir); // an invalid case fails here, naming the line and field, before anything starts
    // Outside this checkout's fixtures/cases, and without --trust: only an isolated engine runs it (runner/trust.ts).
    const source = caseSource(kase.dir, { trust: values.trust === true });
    if (values.list) {
      await printCells(config, 'repro', ['repro', ...c.args], [source], runOptions(values));
      return;
    }
    const run = await runAndReport(config, 'repro', ['repro', ...c.args], [source], runOptions(values));
    // the title and the lines quote the case and its output: printed as the lab prints everything
    writeConsole(
      process.stdout,
      `\n${kase.title}\n${reproLines(run.results)
        .map((l) => `  ${l}`)
        .join('\n')}\n`,
    );
    const words = run.results.map(reproWord);
    const undecided = run.results.length < run.spec.cells.length || words.some((w) => w === 'error' || w === 'skipped' || w === 'inconclusive');
    const declaredMiss = kase.expect.length > 0 && run.results.some((r) => r.outcome === 'unexpected');
    process.exitCode = undecided || declaredMiss ? 1 : 0;
  });
}

export function checkCommand(): Command {
  return new Command('check')
    .summary('validate case directories without running them (exit 2 naming the line and field of each mistake)')
    .argument('<case-dir...>', 'directories holding case.yaml')
    .action((dirs: string[]) => {
      const invalid: string[] = [];
      for (const dir of dirs) {
        try {
          const c = loadCase(dir);
          const trusted = caseSource(c.dir, { trust: false }).trust !== 'untrusted';
          // a case's title and directory are its author's: printed as the lab prints everything
          writeConsole(process.stdout, `${describeCase(c, trusted)}\n`);
        } catch (e) {
          if (!(e instanceof UsageError)) throw e;
          invalid.push(`${dir}: ${e.message}`);
        }
      }
      if (invalid.length) throw new UsageError(`${invalid.length} of ${dirs.length} case(s) invalid:\n${invalid.map((l) => `  ${l}`).join('\n')}`);
    });
}
