// `make bench`: the lab's speed on this machine, measured (never asserted in tests).
//   default   warm figures: a warm `make lab` (the quick matrix), its per-cell split (engine reset, Buildx,
//             verification, harness overhead) and throughput;
//   --full    the full seed matrices' throughput (cells/min counting only cells that ran) and overhead;
//   --cold    from nothing: a private, empty lab cache, empty Go module and build caches, and the lab's
//             own engine in a private prefix (so no lab image exists): the cold `make lab` (engine install
//             included) with each phase's share, then an offline bundle exported from it and imported into
//             another empty machine state, and `make lab` again from the bundle;
//   --engines with --cold: the cold build of every engine of the axis, and each image's size;
//   --test    the cold `make test` (`buildx-lab test`: lint, unit, integration, every scenario and case on
//             its full matrix) from nothing, with each part's time and provisioning's share: CI's figure.
// The user's caches, engine and images are never touched by --cold. Figures go to stdout and to
// reports/bench-<time>.json.
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { CellResult } from '../model.ts';
import { readCellResults } from '../report/cell-file.ts';
import { readStatus } from '../runner/provision-status.ts';
import { labConfig } from '../config.ts';
import { labEnginePaths } from '../engine/host.ts';
import { CpuMeter, type CpuSplit, describeCpu } from './cpu.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = path.join(root, 'bin', 'buildx-lab.mjs');
const rows: [string, string][] = [];
const figures: Record<string, number | string> = {};
const note = (what: string, value: string, raw?: number) => {
  rows.push([what, value]);
  if (raw !== undefined) figures[what] = raw;
  process.stderr.write(`[bench] ${what}: ${value}\n`);
};
const s = (ms: number) => (ms >= 120_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : 0);

interface Timed {
  ms: number;
  exitCode: number;
  reportDir: string;
  output: string;
  cpu?: CpuSplit;
}

// The lab engine's socket, where the run's containers are listed for their CPU; a run on another engine
// gets no container share.
const labSocket = (env: NodeJS.ProcessEnv) => {
  const socket = labEnginePaths(labConfig(env)).socket;
  return existsSync(socket) ? socket : undefined;
};

/** Commands with a report directory (bundle import has none: it only places files and loads images). */
const takesReportDir = (args: string[]) => ['run', 'test', 'setup'].includes(args[0]!) || (args[0] === 'bundle' && args[1] === 'export');

// The runs' report directories, read for their figures and removed when the bench ends (or is stopped).
const reportDirs: string[] = [];
const dropReports = () => {
  for (const dir of reportDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};
process.on('exit', dropReports);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.once(signal, () => {
    dropReports();
    process.kill(process.pid, signal);
  });

/** One CLI run, timed, in the given environment; `--report-dir` is the bench's own. */
async function cli_(args: string[], env: NodeJS.ProcessEnv, label: string): Promise<Timed> {
  const reportDir = mkdtempSync(path.join(os.tmpdir(), 'bxl-bench-report-'));
  rmSync(reportDir, { recursive: true });
  reportDirs.push(reportDir);
  process.stderr.write(`[bench] ${label}: buildx-lab ${args.join(' ')}\n`);
  const t0 = Date.now();
  const run = execa('node', [cli, ...args, ...(takesReportDir(args) ? ['--report-dir', reportDir] : [])], { env, reject: false, all: true, stdin: 'ignore' });
  const meter = process.platform === 'linux' && run.pid ? new CpuMeter(run.pid, labSocket(env)) : undefined;
  const r = await run;
  const ms = Date.now() - t0;
  const cpu = meter?.stop();
  if (r.exitCode !== 0) {
    // The tail first, then the whole output to a file: the tail alone does not say which test failed, and a
    // full disk (a cold make test ended in ENOSPC on 7 Dec) must not take both with it.
    process.stderr.write(`[bench] ${label} exited ${r.exitCode}; its last lines:\n${String(r.all).split('\n').slice(-30).join('\n')}\n`);
    const log = path.join(root, 'reports', `bench-${label.replace(/[^a-z0-9]+/gi, '-')}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    try {
      mkdirSync(path.dirname(log), { recursive: true });
      writeFileSync(log, String(r.all));
      process.stderr.write(`[bench] whole output: ${path.relative(process.cwd(), log)}\n`);
    } catch (e) {
      process.stderr.write(`[bench] the whole output could not be kept (${(e as Error).message}); the lines above are its tail\n`);
    }
  }
  return { ms, exitCode: r.exitCode ?? 1, reportDir, output: String(r.all), cpu };
}

function cellSplit(label: string, results: CellResult[], wallMs: number, cpu?: CpuSplit): void {
  const ran = results.filter((r) => r.outcome !== 'skipped' && r.outcome !== 'error');
  const overhead = ran.map((r) => r.timings.totalMs - r.timings.startMs - r.timings.buildxMs - r.timings.verifyMs);
  note(`${label}: cells`, `${results.length} (${ran.length} ran, ${results.length - ran.length} skipped or error)`, results.length);
  note(`${label}: throughput`, `${((ran.length / wallMs) * 60_000).toFixed(1)} cells/min (cells that ran)`, (ran.length / wallMs) * 60_000);
  note(
    `${label}: median cell`,
    `${median(ran.map((r) => r.timings.totalMs))} ms: engine start/reset ${median(ran.map((r) => r.timings.startMs))} ms, Buildx ${median(ran.map((r) => r.timings.buildxMs))} ms, verify ${median(ran.map((r) => r.timings.verifyMs))} ms`,
  );
  const total = ran.reduce((n, r) => n + r.timings.totalMs, 0);
  const over = overhead.reduce((n, x) => n + x, 0);
  note(`${label}: harness overhead`, `${((over / Math.max(1, total)) * 100).toFixed(1)}% of cell time (median ${median(overhead)} ms a cell)`, (over / Math.max(1, total)) * 100);
  if (cpu) note(`${label}: CPU`, describeCpu(cpu, ran.length), cpuTotal(cpu) / Math.max(1, ran.length));
  note(
    `${label}: load average after`,
    os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' '),
  );
}

const cpuTotal = (cpu: CpuSplit) => cpu.lab + cpu.hostProcesses + Object.values(cpu.containers).reduce((n, x) => n + x, 0);

/** Each requirement's provisioning time from the run's status file, largest first. */
function phases(label: string, run: Timed): void {
  const status = readStatus(run.reportDir);
  if (!status) return;
  const entries = Object.entries(status.requirements)
    .map(([id, e]) => [id, e.state === 'pending' ? 0 : e.ms] as const)
    .sort((a, b) => b[1] - a[1]);
  const cells = readCellResults(run.reportDir).reduce((n, r) => n + r.timings.totalMs, 0);
  for (const [id, ms] of entries) note(`${label}: provisioning ${id}`, `${s(ms)} (${((ms / run.ms) * 100).toFixed(0)}% of the wall time, overlapping)`, ms);
  note(`${label}: cells' own time`, `${s(cells)} (${((cells / run.ms) * 100).toFixed(0)}%)`, cells);
}

async function warm(env: NodeJS.ProcessEnv): Promise<void> {
  const first = await cli_(['run', '--matrix', 'quick'], env, 'warm-up');
  const r = await cli_(['run', '--matrix', 'quick'], env, 'warm make lab');
  note('warm make lab (quick matrix)', s(r.ms), r.ms);
  cellSplit('warm make lab', readCellResults(r.reportDir), r.ms, r.cpu);
  void first;
}

async function full(env: NodeJS.ProcessEnv): Promise<void> {
  const r = await cli_(['run', 'pull-stream', 'bake', '--matrix', 'full'], env, 'full seed matrices');
  note('full seed matrices: wall', s(r.ms), r.ms);
  cellSplit('full seed matrices', readCellResults(r.reportDir), r.ms, r.cpu);
}

/** A machine state of nothing: empty lab cache, empty Go caches, the lab's own engine in a private prefix. */
function nothing(name: string): { env: NodeJS.ProcessEnv; dir: string; engineHome: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `bxl-bench-${name}-`));
  // private Go module and build caches fill a disk fast (a cold make test ran out of space on 7 Dec): say what there was
  const fs = statfsSync(dir);
  note(`${name}: free disk at the start`, `${((fs.bavail * fs.bsize) / 2 ** 30).toFixed(1)} GiB on the filesystem of ${os.tmpdir()}`, fs.bavail * fs.bsize);
  for (const d of ['cache', 'gomod', 'gobuild', 'engine', 'run']) mkdirSync(path.join(dir, d), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BUILDX_LAB_CACHE: path.join(dir, 'cache'),
    GOMODCACHE: path.join(dir, 'gomod'),
    GOCACHE: path.join(dir, 'gobuild'),
    BUILDX_LAB_ENGINE_HOME: path.join(dir, 'engine'),
    BUILDX_LAB_ENGINE_RUN_DIR: path.join(dir, 'run'),
  };
  // nothing: not the user's engine either (the default socket still answers: the lab uses it only if it is >= 23)
  delete env.DOCKER_HOST;
  return { env, dir, engineHome: path.join(dir, 'engine') };
}

async function dropNothing(state: { env: NodeJS.ProcessEnv; dir: string }): Promise<void> {
  await execa('node', [cli, 'engine', 'uninstall'], { env: state.env, reject: false });
  await execa('chmod', ['-R', 'u+w', state.dir], { reject: false }); // the Go module cache is read-only
  rmSync(state.dir, { recursive: true, force: true });
}

async function cold(engines: boolean): Promise<void> {
  const a = nothing('cold');
  try {
    const lab = await cli_(['run', '--matrix', 'quick'], a.env, 'cold make lab');
    note('cold make lab (engine install included)', `${s(lab.ms)}${lab.exitCode ? ` (exit ${lab.exitCode})` : ''}`, lab.ms);
    phases('cold make lab', lab);
    const again = await cli_(['run', '--matrix', 'quick'], a.env, 'second make lab');
    note('make lab right after (warm)', s(again.ms), again.ms);
    const bundleFile = path.join(a.dir, 'lab.bundle.tar');
    const exp = await cli_(['bundle', 'export', bundleFile, '--matrix', 'quick'], a.env, 'bundle export');
    note('bundle export (quick matrix)', `${s(exp.ms)}, ${(statSize(bundleFile) / 1e6).toFixed(0)} MB`, exp.ms);
    if (engines) {
      const e = await cli_(['setup', 'smoke', '--matrix', 'full'], a.env, 'every engine of the axis, cold');
      note('cold build of every engine of the axis (after make lab)', s(e.ms), e.ms);
      phases('engines', e);
      const sizes = await execa('docker', ['image', 'ls', '--filter', 'label=buildx-lab.image', '--format', '{{.Repository}}:{{.Tag}} {{.Size}}'], {
        env: { ...a.env, DOCKER_HOST: `unix://${path.join(a.dir, 'run', 'docker.sock')}` },
        reject: false,
      });
      for (const line of sizes.stdout.split('\n').filter(Boolean)) note(`image ${line.split(' ')[0]}`, line.split(' ')[1] ?? '');
    }
    const b = nothing('bundle');
    try {
      // the bench's own bundle, exported a moment ago: vouched for
      const imp = await cli_(['bundle', 'import', '--trust', bundleFile], b.env, 'bundle import');
      if (imp.exitCode !== 0) throw new Error(`bundle import exited ${imp.exitCode}: the figures from the bundle would be a cold run`);
      const lab2 = await cli_(['run', '--matrix', 'quick'], b.env, 'make lab from the bundle');
      note('bundle import, onto nothing', s(imp.ms), imp.ms);
      note('cold make lab from the bundle (import + run)', s(imp.ms + lab2.ms), imp.ms + lab2.ms);
    } finally {
      await dropNothing(b);
    }
  } finally {
    await dropNothing(a);
  }
}

/** `make test` from nothing: the figure CI's 90 minutes are about. */
async function coldTest(): Promise<void> {
  const a = nothing('cold-test');
  try {
    const t = await cli_(['test'], a.env, 'cold make test');
    note('cold make test', `${s(t.ms)}${t.exitCode ? ` (exit ${t.exitCode})` : ''}`, t.ms);
    for (const line of t.output.split('\n').filter((l) => /^(lint|unit|integration|cells) \d+ s \(|^\d+ passed, \d+ failed/.test(l)))
      note(`cold make test: ${line.split(' ')[0]}`, line);
    phases('cold make test', t);
  } finally {
    await dropNothing(a);
  }
}

function statSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

const args = process.argv.slice(2);
if (args.includes('--cold')) await cold(args.includes('--engines'));
if (args.includes('--test')) await coldTest();
const env = { ...process.env };
await warm(env);
if (args.includes('--full')) await full(env);

const w = Math.max(...rows.map(([k]) => k.length));
const head = `buildx-lab bench: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString()}`;
process.stdout.write(`\n${head}\n`);
for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(w)}  ${v}\n`);
const out = path.join(root, 'reports', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ machine: head, figures, rows }, null, 2));
process.stdout.write(`\n${out}\n`);
