// `buildx-lab run`, `setup` and `test`: the scenario matrices and the lab's own tests.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { execa } from 'execa';
import { labConfig, type LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { ProgressBoard } from '../progress-board.ts';
import { buildMatrix, hasFailures } from '../report/matrix.ts';
import { REPRO_WORDS, renderTerminalTable } from '../report/terminal.ts';
import { ROOT, selectScenarioModules } from './catalog.ts';
import { executeRun, prepareRun, type RunOutcome } from './launch.ts';
import { addRunOptions, addTrustOption, runOptions, type RunOptions } from './options.ts';
import { configuredGitRepos, labGitResolver, planRun } from './plan.ts';
import { Provisioner } from './provision.ts';
import { runVitest } from './vitest-run.ts';
import type { ProvisionStatus } from './provision-status.ts';
import { readRunSpec, type CellSource, type PlannedCell, type RunSpec } from './run-spec.ts';
import { caseSource } from './trust.ts';
import { stderrProgress, writeConsole } from '../progress.ts';

export function board(config: LabConfig): ProgressBoard {
  return new ProgressBoard({ live: config.tty });
}

/** The shipped cases (fixtures/cases/*), which `test` runs beside the scenarios. */
export function shippedCases(): CellSource[] {
  const dir = path.join(ROOT, 'fixtures', 'cases');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => caseSource(path.join(dir, d.name), { trust: false }))
    .sort((a, b) => a.dir.localeCompare(b.dir));
}

export function scenarioSources(names: readonly string[]): CellSource[] {
  return selectScenarioModules(names).map((module) => ({ kind: 'scenario' as const, module }));
}

/** Plans, provisions and runs; prints the outcome table and where the reports are. */
export async function runAndReport(config: LabConfig, command: RunSpec['command'], argv: string[], sources: CellSource[], o: RunOptions): Promise<RunOutcome> {
  const b = board(config);
  try {
    const { config: engineConfig, spec } = await prepareRun(config, { command, argv, sources, ...o }, b);
    return await finishRun(engineConfig, spec, b);
  } finally {
    b.close();
  }
}

async function finishRun(config: LabConfig, spec: RunSpec, b: ProgressBoard): Promise<RunOutcome> {
  const outcome = await executeRun(config, spec, b);
  b.close();
  const m = buildMatrix(outcome.results);
  // repro speaks of the symptom: present, absent, or the lab could not tell.
  const words = spec.command === 'repro' ? REPRO_WORDS : undefined;
  process.stdout.write(`\n${renderTerminalTable(m, { color: process.stdout.isTTY === true, ...(words ? { words } : {}) })}`);
  process.stdout.write(`\nreports: ${outcome.paths.html}\n         ${outcome.paths.markdown}\n         ${outcome.paths.junit}\n         ${outcome.paths.json}\n`);
  if (outcome.results.length === 0 && !outcome.interrupted) process.stderr.write('no cell ran: check the names and filters\n');
  const failed = outcome.exitCode !== 0 || hasFailures(outcome.results) || outcome.results.length === 0;
  return { ...outcome, exitCode: failed ? 1 : 0 };
}

export function runCommand(): Command {
  const cmd = new Command('run')
    .summary('run scenario matrices; exit 1 on unexpected or error cells')
    .description(
      'Runs the scenarios (all, or those named) on a matrix, then writes the reports. Cells are named by their axes, e.g. "bake-multiplatform-push > buildx=v0.21.1/driver=docker/engine=26.1.5/...".',
    )
    .argument('[scenario...]', 'scenario names or parts of them (pull-stream, bake, smoke)')
    .option('--spec <file>', 'replay the run spec of an earlier run (its report directory holds run-spec.json)')
    .option('--list', 'print the cells the matrix holds, with their declared outcome, and what they need; run nothing');
  addRunOptions(cmd, { matrix: 'quick' });
  addTrustOption(cmd, 'with --spec: run the case directories of that spec as trusted (you read them): on a rootful engine a case can then get root on this host');
  return cmd.action(async (names: string[], values: Record<string, unknown>, c: Command) => {
    const config = labConfig();
    const argv = ['run', ...c.args];
    if (values.trust && !values.spec)
      throw new UsageError(
        "--trust applies to the case directories of a replayed run (--spec FILE); scenarios are the project's own. For a case directory, use repro CASE_DIR --trust",
      );
    if (values.list) {
      await printCells(config, 'run', argv, scenarioSources(names), runOptions(values));
      return;
    }
    if (values.spec) {
      const b = board(config);
      try {
        const old = readRunSpec(values.spec as string);
        const { config: engineConfig, spec } = await prepareRun(
          config,
          {
            command: 'run',
            argv,
            sources: [],
            matrix: 'quick',
            filters: {},
            repeat: 1,
            jobs: old.jobs,
            ...(values.reportDir ? { reportDir: path.resolve(values.reportDir as string) } : {}),
            replay: old,
            trust: values.trust === true,
          },
          b,
        );
        process.exitCode = (await finishRun(engineConfig, spec, b)).exitCode;
      } finally {
        b.close();
      }
      return;
    }
    process.exitCode = (await runAndReport(config, 'run', argv, scenarioSources(names), runOptions(values))).exitCode;
  });
}

/** --list: plans the cells and prints them with what they need, running nothing (cell names quote cases: printed as the lab prints everything). */
export async function printCells(config: LabConfig, command: RunSpec['command'], argv: string[], sources: CellSource[], o: RunOptions): Promise<void> {
  const spec = await planRun(
    { command, argv, sources, ...o, reportDir: '', runId: 'list', dockerHost: config.dockerHost, gitRepos: configuredGitRepos(config) },
    labGitResolver(config, stderrProgress),
  );
  writeConsole(process.stdout, `${listCells(spec)}\n`);
}

/** The cells of a planned run, one per line, then what they need; pure. */
export function listCells(spec: Pick<RunSpec, 'cells' | 'requirements'>): string {
  // A named BuildKit is in the cell's name; one the lab chose is said beside it.
  const chosen = (c: PlannedCell) =>
    c.buildkit && c.buildkit.via !== 'named' ? `; BuildKit ${c.buildkit.version}, ${c.buildkit.via === 'of-its-day' ? 'of its day' : "the lab's default"}` : '';
  const lines = spec.cells.map((c) => `${c.scenario} > ${c.name}${c.attempt ? ` #${c.attempt + 1}` : ''}  (expected ${c.expected.outcome}${chosen(c)})`);
  const needs = Object.keys(spec.requirements).sort();
  return [...lines, '', `${spec.cells.length} cells; ${needs.length} requirements: ${needs.join(', ')}`].join('\n');
}

/** Plans a matrix of the named scenarios (default: every scenario and shipped case) and provisions it, running nothing. */
export async function provisionMatrix(
  config: LabConfig,
  b: ProgressBoard,
  names: string[],
  values: Record<string, unknown>,
  argv: string[],
): Promise<{ engineConfig: LabConfig; spec: RunSpec; status: ProvisionStatus }> {
  const sources = names.length ? scenarioSources(names) : [...scenarioSources([]), ...shippedCases()];
  const { config: engineConfig, spec } = await prepareRun(config, { command: 'run', argv, sources, ...runOptions(values) }, b);
  const status = await new Provisioner(engineConfig, spec, b.sink).start().done;
  return { engineConfig, spec, status };
}

export function setupCommand(): Command {
  const cmd = new Command('setup')
    .summary('provision what a matrix needs (engine, images, Buildx, BuildKit) without running it')
    .argument('[scenario...]', 'scenario names (default: every scenario and shipped case)');
  addRunOptions(cmd, { matrix: 'full' });
  return cmd.action(async (names: string[], values: Record<string, unknown>, c: Command) => {
    const config = labConfig();
    const b = board(config);
    try {
      const { status } = await provisionMatrix(config, b, names, values, ['setup', ...c.args]);
      const failed = Object.entries(status.requirements).filter(([, e]) => e.state === 'failed');
      for (const [id, e] of failed) b.log(`${id}: ${e.state === 'failed' && e.missing ? 'cannot be had here' : 'FAILED'}: ${e.state === 'failed' ? e.reason.split('\n')[0] : ''}`);
      b.log(`setup: ${Object.keys(status.requirements).length - failed.length} of ${Object.keys(status.requirements).length} requirements ready`);
      process.exitCode = failed.some(([, e]) => e.state === 'failed' && !e.missing) ? 1 : 0;
    } finally {
      b.close();
    }
  });
}

/** Runs one vitest project of the lab's own tests in this process; returns its counts. */
async function runTestProject(project: 'unit' | 'integration'): Promise<{ passed: number; failed: number; skipped: number }> {
  const { vitest } = await runVitest({ run: true, watch: false, project: [project], root: ROOT, reporters: ['default'] });
  const tests = vitest.state.getFiles().flatMap((f) => collectTests(f));
  await vitest.close();
  const count = (s: string) => tests.filter((t) => t === s).length;
  const errors = vitest.state.errorsSet.size;
  return { passed: count('pass'), failed: count('fail') + errors, skipped: count('skip') };
}

/** Biome (lint and format, as `biome check`) and the type checker over the whole project; each counts as one test. */
async function runLint(): Promise<{ passed: number; failed: number; skipped: number }> {
  let failed = 0;
  for (const [name, file, args] of [
    ['biome check', 'biome', ['check', '--max-diagnostics=50', '.']],
    ['tsc --noEmit', 'tsc', ['--noEmit', '-p', '.']],
  ] as const) {
    const r = await execa(file, [...args], { cwd: ROOT, preferLocal: true, reject: false, all: true });
    if (r.exitCode !== 0) {
      failed++;
      process.stderr.write(`${name} failed:\n${r.all}\n`);
    } else process.stderr.write(`${name}: clean\n`);
  }
  return { passed: 2 - failed, failed, skipped: 0 };
}

function collectTests(task: { type?: string; result?: { state?: string }; mode?: string; tasks?: unknown[] }): string[] {
  if (task.type === 'test') return [task.mode === 'skip' || task.mode === 'todo' ? 'skip' : (task.result?.state ?? 'fail')];
  return (task.tasks ?? []).flatMap((t) => collectTests(t as never));
}

export function testCommand(): Command {
  const cmd = new Command('test')
    .summary('the test suite: lint and types, unit tests, integration tests, then every scenario and shipped case on its full matrix')
    .option('--only <parts>', 'comma list of lint, unit, integration, cells (default: all four)');
  addRunOptions(cmd, { matrix: 'full' });
  return cmd.action(async (values: Record<string, unknown>, c: Command) => {
    const config = labConfig();
    const all = ['lint', 'unit', 'integration', 'cells'];
    const parts = values.only ? String(values.only).split(',') : all;
    for (const p of parts) if (!all.includes(p)) throw new UsageError(`--only takes ${all.join(', ')}; not '${p}'`);
    const t0 = Date.now();
    const totals = { passed: 0, failed: 0, skipped: 0 };
    const times: string[] = [];
    const add = (r: { passed: number; failed: number; skipped: number }) => {
      totals.passed += r.passed;
      totals.failed += r.failed;
      totals.skipped += r.skipped;
    };
    if (parts.includes('lint')) {
      const t = Date.now();
      process.stderr.write('\n== lint and types\n');
      const r = await runLint();
      add(r);
      times.push(`lint ${((Date.now() - t) / 1000).toFixed(0)} s (${r.passed} passed, ${r.failed} failed)`);
    }
    for (const project of ['unit', 'integration'] as const) {
      if (!parts.includes(project)) continue;
      const t = Date.now();
      process.stderr.write(`\n== ${project} tests\n`);
      const r = await runTestProject(project);
      add(r);
      times.push(`${project} ${((Date.now() - t) / 1000).toFixed(0)} s (${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped)`);
    }
    if (parts.includes('cells')) {
      const t = Date.now();
      process.stderr.write('\n== scenarios and shipped cases (full matrices)\n');
      const run = await runAndReport(config, 'test', ['test', ...c.args], [...scenarioSources([]), ...shippedCases()], runOptions(values));
      const asDeclared = run.results.filter((r) => r.outcome === r.expected).length;
      const skipped = run.results.filter((r) => r.outcome === 'skipped').length;
      const notDeclared = run.results.length - asDeclared - skipped + (run.spec.cells.length - run.results.length);
      add({ passed: asDeclared, failed: notDeclared + (run.exitCode !== 0 && notDeclared === 0 ? 1 : 0), skipped });
      times.push(`cells ${((Date.now() - t) / 1000).toFixed(0)} s (${asDeclared} as declared, ${notDeclared} not, ${skipped} skipped)`);
    }
    process.stdout.write(`\n${times.join('\n')}\ntotal ${((Date.now() - t0) / 1000).toFixed(0)} s on Node ${process.version}\n`);
    // The plain closing line CI reads.
    process.stdout.write(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
    process.exitCode = totals.failed > 0 ? 1 : 0;
  });
}
