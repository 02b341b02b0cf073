// `buildx-lab repro CASE_DIR`: a bug report given as data, across the versions it names. A present or
// absent symptom is a finding, not a failure: the exit status says whether the lab could tell.
// `buildx-lab check CASE_DIR...`: loads and validates case directories without running anything, so a
// case's mistakes show in a second, not after minutes of provisioning. Every directory is checked, the
// invalid ones each named with the line and field to fix.
// `buildx-lab new DIR [--from report.md]`: a case directory to start from (repro/draft.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { labConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { writeConsole } from '../progress.ts';
import { printCells, runAndReport } from '../runner/command.ts';
import { addRunOptions, addTrustOption, runOptions } from '../runner/options.ts';
import { caseSource } from '../runner/trust.ts';
import { CASE_FILE, loadCase } from './case.ts';
import { describeCase } from './check.ts';
import { MAX_REPORT_BYTES, writeDraft } from './draft.ts';
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

/** `buildx-lab new DIR [--from report.md]`: a case directory to start from (repro/draft.ts). */
export function newCommand(): Command {
  return new Command('new')
    .summary('write a case directory to start from: drafted from a bug report (--from report.md), or a commented skeleton')
    .description(
      `DIR must not exist or be empty. With --from, the report's Markdown (as copied from a GitHub issue) gives the files (Dockerfiles, bake and compose files), the docker and docker buildx commands as steps, the Buildx version, the engine, the driver and an error line as the symptom; what it could not place is listed at the top of ${CASE_FILE}. The draft loads as written: check it with \`buildx-lab check DIR\`, run it with \`buildx-lab repro DIR\`.`,
    )
    .argument('<dir>', 'the new case directory')
    .option('--from <report.md>', 'a bug report in Markdown ("-" reads standard input)')
    .action((dir: string, values: { from?: string }) => {
      let report: { name: string; text: string } | undefined;
      if (values.from !== undefined) {
        const name = values.from === '-' ? 'standard input' : values.from;
        let buf: Buffer;
        try {
          buf = readFileSync(values.from === '-' ? 0 : values.from);
        } catch (e) {
          throw new UsageError(`--from ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give a Markdown file holding the report`);
        }
        if (buf.length > MAX_REPORT_BYTES)
          throw new UsageError(`${name} is larger than ${MAX_REPORT_BYTES >> 20} MiB; give the issue's text (the body and the comments that show the bug)`);
        report = { name: path.basename(name), text: buf.toString('utf8') };
      }
      const { files, notes } = writeDraft(dir, report);
      // names and notes come from the report: printed as the lab prints everything
      writeConsole(
        process.stdout,
        `wrote ${dir}: ${files.join(', ')}\n${notes.length ? `${notes.length} thing(s) not placed: listed at the top of ${path.join(dir, CASE_FILE)}\n` : ''}next: buildx-lab check ${dir}; buildx-lab repro ${dir}\n`,
      );
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
