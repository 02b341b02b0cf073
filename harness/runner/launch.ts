// Runs scenarios under vitest as a child process (vitest is the engine underneath; each cell is a test),
// then gathers the cells' results. The child gets a complete env: filters, run id, report dir.
import { readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { childEnv, type LabConfig } from '../config.ts';
import type { CellResult } from '../model.ts';
import { inspectEngine, sweepLeftovers } from '../engine/engine.ts';
import { writeReports, type ReportPaths } from '../report/write.ts';

export interface LaunchOptions {
  files: string[];
  matrix: 'quick' | 'full';
  axisFilters: Record<string, string[]>;
  repeat: number;
  jobs: number;
  shard?: string;
  testNamePattern?: string;
  reportDir: string;
  runId: string;
  /** extra env for the child (BUILDX_LAB_OFFLINE etc. are forwarded from the config) */
  passEnv?: Record<string, string>;
}

const root = new URL('../../', import.meta.url).pathname;

export function vitestArgv(o: LaunchOptions): string[] {
  const argv = ['vitest', 'run', '--project', 'scenarios', '--reporter', path.join(root, 'harness/runner/progress-reporter.ts'), '--reporter', 'default',
    `--maxWorkers=${o.jobs}`, `--maxConcurrency=${o.jobs}`];
  if (o.shard) argv.push(`--shard=${o.shard}`);
  if (o.testNamePattern) argv.push('-t', o.testNamePattern);
  return [...argv, ...o.files];
}

export function launchEnv(config: LabConfig, o: LaunchOptions): Record<string, string> {
  const env: Record<string, string> = {
    ...childEnv(config, config.goEnv),
    TESTCONTAINERS_RYUK_DISABLED: 'true',
    BUILDX_LAB_RUN_ID: o.runId,
    BUILDX_LAB_REPORT_DIR: o.reportDir,
    BUILDX_LAB_MATRIX: o.matrix,
    BUILDX_LAB_REPEAT: String(o.repeat),
    BUILDX_LAB_JOBS: String(o.jobs),
    BUILDX_LAB_CACHE: config.cacheDir,
    BUILDX_LAB_RELEASES_URL: config.releasesBaseUrl,
    ...(config.offline ? { BUILDX_LAB_OFFLINE: '1' } : {}),
    ...(config.preferOfficialImages ? {} : { BUILDX_LAB_OFFICIAL_IMAGES: '0' }),
    ...(config.debianMirror ? { BUILDX_LAB_DEBIAN_MIRROR: config.debianMirror } : {}),
    ...(config.keep ? { BUILDX_LAB_KEEP: '1' } : {}),
    ...(config.ci ? { CI: 'true' } : {}),
    ...o.passEnv,
  };
  for (const [axis, values] of Object.entries(o.axisFilters)) env[`BUILDX_LAB_AXIS_${axis.toUpperCase().replace(/-/g, '_')}`] = values.join(',');
  return env;
}

export async function launchScenarios(config: LabConfig, o: LaunchOptions): Promise<{ exitCode: number; results: CellResult[] }> {
  rmSync(path.join(o.reportDir, 'cells'), { recursive: true, force: true });
  const child = execa('npx', vitestArgv(o), { cwd: root, env: launchEnv(config, o), extendEnv: false, stdio: 'inherit', reject: false, forceKillAfterDelay: 10_000 });
  // A terminal's Ctrl-C reaches vitest and its workers too (same process group), and they stop their labs;
  // a signal sent to this process alone is passed on. Either way we wait, then sweep what is left.
  const onSignal = (sig: NodeJS.Signals) => {
    child.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await child;
    return { exitCode: r.exitCode ?? 1, results: readCellResults(o.reportDir) };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await sweepLeftovers(config, { runId: o.runId });
  }
}

/** launchScenarios, then the run's four reports in its report directory. */
export async function launchAndReport(config: LabConfig, o: LaunchOptions, argv: string[]): Promise<{ exitCode: number; results: CellResult[]; paths: ReportPaths }> {
  const startedAt = new Date().toISOString();
  const { exitCode, results } = await launchScenarios(config, o);
  const engine = await inspectEngine(config);
  const paths = await writeReports(o.reportDir, results, {
    runId: config.runId, startedAt, finishedAt: new Date().toISOString(), host: { node: process.version, engineVersion: engine?.serverVersion }, argv,
  });
  return { exitCode, results, paths };
}

export function readCellResults(reportDir: string): CellResult[] {
  const dir = path.join(reportDir, 'cells');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CellResult)
    .sort((a, b) => a.name.localeCompare(b.name) || a.startedAt.localeCompare(b.startedAt));
}
