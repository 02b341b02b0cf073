// The options every command that runs cells shares (run, test, repro, bisect, qualify, setup, bundle):
// declared once on a commander Command, read back as one typed value.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.ts';
import { AXES, type Matrix } from '../scenario/definition.ts';

export interface RunOptions {
  matrix: Matrix;
  /** axis -> values (--buildx, --engine, --store, ...) */
  filters: Record<string, string[]>;
  repeat: number;
  jobs: number;
  /** i/n: this run holds the i-th of n contiguous slices of the cells */
  shard?: { index: number; total: number };
  /** an RE2 pattern on cell names ("<scenario> > buildx=…/…"), like vitest -t */
  pattern?: string;
  reportDir?: string;
}

const AXIS_HELP: Record<string, string> = {
  buildx: 'Buildx specs: 0.21.1, v0.21.0-rc2, ">=0.20 <0.23", ^0.21, latest, debian-trixie, debian-sid, or git:<repo>@<rev> (built from a commit of a local clone)',
  engine: 'Docker engine specs: 26.1, 28.5.2, ">=25 <28", oldest, latest, all, debian-trixie, debian-sid',
  store: 'image store: containerd, classic',
  driver: 'builder driver: docker, docker-container, remote',
  command: 'build, bake',
  registry: 'registry behaviour: plain, immutable-tags, known-index-not-retagged, subject-must-exist, late-blob-visibility',
  fault: 'BuildKit image pull fault: none, corrupt, 404, truncated, 500',
  buildkit: 'BuildKit version of docker-container and remote builders, e.g. v0.17.1, or git:<repo>@<rev> (built from a commit of a local clone)',
};

export const list = (v: string): string[] =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} takes a whole number >= 1, not '${v}'`);
    return n;
  };
}

/** Adds the axis filters (--buildx, --engine, ...) to a command; `except` leaves some out (bisect picks versions itself). */
export function addAxisOptions(cmd: Command, except: readonly string[] = []): Command {
  for (const axis of AXES) {
    if (except.includes(axis)) continue;
    cmd.addOption(new Option(`--${axis} <specs>`, `${AXIS_HELP[axis]} (comma list)`).argParser(list).helpGroup('Matrix filters'));
  }
  return cmd;
}

/** Adds the run options: matrix, filters, repeat, jobs, shard, -t, report dir. */
export function addRunOptions(cmd: Command, defaults: { matrix: Matrix }, except: readonly string[] = []): Command {
  cmd
    .addOption(
      new Option('--matrix <matrix>', 'quick = the main job, full = the test suite, all = the full cross product')
        .choices(['quick', 'full', 'all'])
        .default(defaults.matrix)
        .helpGroup('Run'),
    )
    .addOption(new Option('--repeat <n>', 'run every cell n times (flaky cells show as "flaky")').argParser(positiveInt('repeat')).default(1).helpGroup('Run'))
    .addOption(
      new Option('--jobs <n>', 'cells in flight at once, each on its own engine (default: twice the cores, at most four times)').argParser(positiveInt('jobs')).helpGroup('Run'),
    )
    .addOption(
      new Option('--shard <i/n>', 'run the i-th of n slices of the cells')
        .argParser((v) => {
          const m = /^(\d+)\/(\d+)$/.exec(v);
          if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw new UsageError(`--shard takes i/n with 1 <= i <= n, e.g. 1/3, not '${v}'`);
          return { index: Number(m[1]), total: Number(m[2]) };
        })
        .helpGroup('Run'),
    )
    .addOption(new Option('-t, --pattern <re2>', 'only cells whose name matches (names carry the matrix: "buildx=v0.21.1")').helpGroup('Run'))
    .addOption(new Option('--report-dir <dir>', 'where reports go (default reports/<run id>, linked as reports/latest)').helpGroup('Run'));
  return addAxisOptions(cmd, except);
}

/** What `--trust` says in every command's help: what it gives up, in one line. */
export const TRUST_HELP =
  'run the case directories given as trusted (you read them): on a rootful engine a case can then get root on this host (its privileged containers run in a privileged DinD)';

/** Adds --trust (runner/trust.ts): cases outside this checkout's fixtures/cases are untrusted without it. */
export function addTrustOption(cmd: Command, help = TRUST_HELP): Command {
  return cmd.addOption(new Option('--trust', help).helpGroup('Trust'));
}

/** The parsed values of addRunOptions as one typed value. */
export function runOptions(values: Record<string, unknown>): RunOptions {
  const filters: Record<string, string[]> = {};
  for (const axis of AXES) {
    const v = values[axis] as string[] | undefined;
    if (v?.length) filters[axis] = v;
  }
  const cores = availableParallelism();
  // A cell waits on its engine and the registry much of its time, so more cells than cores keep the cores
  // busy. Measured on 2 cores (make bench, full seed matrices): 3-5 cells at once ran 43.7 cells/min, 3 at
  // once 32.9. Past four a core, the engines' pulls and unpacks only contend.
  const maxJobs = 4 * cores;
  let jobs = (values.jobs as number | undefined) ?? 2 * cores;
  if (jobs > maxJobs) {
    process.stderr.write(`buildx-lab: --jobs ${jobs} is more than four times this machine's ${cores} cores; using ${maxJobs}\n`);
    jobs = maxJobs;
  }
  return {
    matrix: values.matrix as Matrix,
    filters,
    repeat: (values.repeat as number | undefined) ?? 1,
    jobs,
    ...(values.shard ? { shard: values.shard as RunOptions['shard'] } : {}),
    ...(values.pattern ? { pattern: values.pattern as string } : {}),
    ...(values.reportDir ? { reportDir: path.resolve(values.reportDir as string) } : {}),
  };
}
