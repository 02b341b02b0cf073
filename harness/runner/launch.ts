// Runs a planned run end to end, in this process: choose (or start) the engine, write the run spec,
// provision every requirement (probe first, then builds in order), start vitest on the cells (they begin
// as their requirements become ready), watch the engine, then gather the cells' results into the reports.
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withEngine, type LabConfig } from '../config.ts';
import { EngineUnreachableError, UsageError } from '../errors.ts';
import { HostEngine, inspectEngine } from '../engine/host.ts';
import { EngineEvents } from '../engine/events.ts';
import { RootlessEngine } from '../engine/rootless.ts';
import { sweepLeftovers } from '../ownership/sweep.ts';
import type { CellResult } from '../model.ts';
import { cacheKey, gitCacheKey } from '../buildx/provision.ts';
import { markInUse, type InUseHold } from '../provision/in-use.ts';
import { sweepTempDirs, tempRoots } from '../provision/temp-dirs.ts';
import type { ProgressBoard } from '../progress-board.ts';
import { readCellResults } from '../report/cell-file.ts';
import { isLatestLink, writeReports, type ReportPaths } from '../report/write.ts';
import { runVitest } from './vitest-run.ts';
import { ROOT } from './catalog.ts';
import { configuredGitRepos, labGitResolver, planRun, type PlanRequest } from './plan.ts';
import { Provisioner } from './provision.ts';
import type { ProvisionStatus } from './provision-status.ts';
import { LabReporter } from './reporter.ts';
import { writeRunSpec, type CellSource, type RunSpec } from './run-spec.ts';
import { snapshotCase } from '../repro/snapshot.ts';
import { checkTrust, gateReplayedGitRequirements, gateUntrustedKubernetes, retrust, rootlessBlocker } from './trust.ts';

/** A file that marks a directory as the lab's report directory: only such directories are ever cleaned. */
export const REPORT_MARKER = '.buildx-lab-report';

/** Unique across pid namespaces and hosts too: two runs sharing an id would sweep each other at their end. */
export function newRunId(): string {
  return `r${Date.now().toString(36)}${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Marks the Buildx versions of `spec` as in use, so that `buildx prune` keeps them while the run goes. */
export function holdBuildxCache(config: LabConfig, spec: RunSpec): InUseHold {
  const buildx = Object.values(spec.requirements).flatMap((r) => (r.kind === 'buildx' ? [r] : []));
  return markInUse(
    config,
    spec.runId,
    buildx.flatMap((r) => (r.git ? [gitCacheKey(r.git.commit)] : [cacheKey(r.version, 'release'), cacheKey(r.version, 'debian')])),
  );
}

export function defaultReportDir(runId: string): string {
  return path.resolve('reports', runId);
}

/**
 * Makes `dir` a report directory of the lab's: an empty or missing directory, or one already marked as
 * the lab's. Anything else (a source tree, a symlink such as reports/latest) is refused, so `--report-dir`
 * can never point the lab's cleanup at files that are not its own.
 */
export function claimReportDir(dir: string): string {
  const abs = path.resolve(dir);
  // Even while it does not exist: a directory there would stop the link from following later runs.
  if (isLatestLink(abs)) throw new UsageError(`--report-dir ${dir} is where the link to the newest run goes; give a directory of its own, e.g. reports/my-run`);
  if (existsSync(abs)) {
    if (lstatSync(abs).isSymbolicLink())
      throw new UsageError(`--report-dir ${dir} is a symlink (reports/latest points at the newest run); give a directory of its own, e.g. reports/my-run`);
    if (!lstatSync(abs).isDirectory()) throw new UsageError(`--report-dir ${dir} is not a directory`);
    const foreign = foreignDirProblem(lstatSync(abs), process.geteuid?.());
    if (foreign)
      throw new UsageError(
        `--report-dir ${dir} ${foreign}: the run reads its spec and results back from there, so whoever can write in it could change them; give a directory of your own`,
      );
    const marked = existsSync(path.join(abs, REPORT_MARKER));
    if (!marked && readdirSync(abs).length > 0) throw new UsageError(`--report-dir ${dir} holds files that are not a lab report; give an empty or new directory`);
  }
  mkdirSync(abs, { recursive: true });
  writeFileSync(path.join(abs, REPORT_MARKER), 'buildx-lab report directory\n');
  return abs;
}

/** Why a directory is not the user's own to keep a run's files in (another owner, or writable by everyone); pure. */
export function foreignDirProblem(st: { uid: number; mode: number }, euid: number | undefined): string | undefined {
  if (euid !== undefined && st.uid !== euid) return `belongs to uid ${st.uid}, not to this user (${euid})`;
  // Group-writable is left alone: under umask 002 (user private groups) every directory is.
  if (st.mode & 0o002) return `is writable by everyone (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** Removes a subdirectory of a report directory, only when the report directory is the lab's. */
export function cleanReportSubdir(reportDir: string, sub: string): void {
  if (!existsSync(path.join(reportDir, REPORT_MARKER))) throw new UsageError(`${reportDir} is not a lab report directory (no ${REPORT_MARKER}); not deleting anything in it`);
  rmSync(path.join(reportDir, sub), { recursive: true, force: true });
}

const sourceKey = (s: CellSource) => (s.kind === 'case' ? `case:${s.dir}` : `scenario:${s.module}`);
function remember(map: Map<string, CellSource>, from: CellSource, to: CellSource): CellSource {
  map.set(sourceKey(from), to);
  return to;
}

/**
 * Cases from outside the checkout as the run will read them: copied once into the report directory
 * (`cases/N/<name>`, the name kept: it is the case's id), so nothing their owner changes later is read, and
 * the report keeps the case exactly as it ran. The project's own cases are read in place.
 */
export function snapshotCases(sources: readonly CellSource[], reportDir: string, first = 0): CellSource[] {
  return sources.map((s, i) => {
    if (s.kind !== 'case' || s.trust === 'project') return s;
    const dest = path.join(reportDir, 'cases', String(first + i), path.basename(s.dir));
    rmSync(path.dirname(dest), { recursive: true, force: true });
    mkdirSync(path.dirname(dest), { recursive: true });
    snapshotCase(s.dir, dest);
    return { ...s, dir: dest };
  });
}

export interface RunOutcome {
  exitCode: number;
  results: CellResult[];
  spec: RunSpec;
  paths: ReportPaths;
  provision: ProvisionStatus;
  /** a signal cancelled the cells */
  interrupted: boolean;
}

export type RunRequest = Omit<PlanRequest, 'dockerHost' | 'runId' | 'reportDir'> & {
  runId?: string;
  reportDir?: string;
  /** replay this earlier spec's cells and requirements exactly (a new run id and report directory) */
  replay?: RunSpec;
  /** --trust: the replayed spec's cases are trusted (a spec's own word on trust is not taken) */
  trust?: boolean;
};

/**
 * The engine the run talks to (started, and if needed built, by the lab) and the planned spec. An untrusted
 * case on an engine without isolation is refused here, before anything is provisioned (runner/trust.ts).
 */
export async function prepareRun(config: LabConfig, req: RunRequest, board: ProgressBoard): Promise<{ config: LabConfig; spec: RunSpec }> {
  const runId = req.runId ?? newRunId();
  const reportDir = claimReportDir(req.reportDir ?? defaultReportDir(runId));
  let replayed: Omit<RunSpec, 'isolation' | 'cellEngine'> | undefined;
  if (req.replay) {
    // a replayed spec's word on trust and on where cells ran is not taken: both are decided again
    const { isolation: _isolation, cellEngine: _cellEngine, ...rest } = retrust(req.replay, { trust: req.trust === true });
    replayed = rest;
    // its git requirements as well: an untrusted cell builds only from repositories the user named
    gateReplayedGitRequirements(replayed, configuredGitRepos(config));
    gateUntrustedKubernetes(replayed);
  }
  const asGiven = replayed ? replayed.cells : req.sources.map((source) => ({ source }));
  // Refused before anything is copied, installed or started when the rootless engine cannot be had anyway;
  // the refusal names the case directories as given.
  const blocker = rootlessBlocker(config);
  if (blocker) await checkTrust(config, { cells: asGiven }, config.dockerHost, () => Promise.reject(new Error(blocker)));
  // Planning next, on the copies: a bad filter fails before any engine is touched.
  let draft: RunSpec;
  if (replayed) {
    const snapshots = new Map<string, CellSource>();
    const cells = replayed.cells.map((c) => ({
      ...c,
      source: snapshots.get(sourceKey(c.source)) ?? remember(snapshots, c.source, snapshotCases([c.source], reportDir, snapshots.size)[0]!),
    }));
    draft = { ...replayed, cells, runId, reportDir, createdAt: new Date().toISOString(), argv: req.argv };
  } else {
    draft = await planRun(
      { ...req, sources: snapshotCases(req.sources, reportDir), runId, reportDir, dockerHost: config.dockerHost, gitRepos: configuredGitRepos(config) },
      labGitResolver(config, board.sink),
    );
  }
  const engine = await new HostEngine(config, board.sink).ensure();
  const placed = await checkTrust(config, { cells: asGiven }, engine.host, () => new RootlessEngine(withEngine(config, engine.host), board.sink).cellEngine());
  return { config: withEngine(config, engine.host), spec: { ...draft, dockerHost: engine.host, ...placed } };
}

export async function executeRun(config: LabConfig, spec: RunSpec, board: ProgressBoard): Promise<RunOutcome> {
  cleanReportSubdir(spec.reportDir, 'cells');
  const inUse = holdBuildxCache(config, spec);
  try {
    return await executeHeldRun(config, spec, board);
  } finally {
    inUse.release();
  }
}

async function executeHeldRun(config: LabConfig, spec: RunSpec, board: ProgressBoard): Promise<RunOutcome> {
  // Before provisioning makes its own: what killed provisioning left (only dead pids on this host).
  const temp = await sweepTempDirs(config, tempRoots(config));
  for (const d of temp.removed) board.log(`removed ${d.kind} directory ${d.path} (${d.reason})`);
  const specFile = writeRunSpec(spec);
  board.log(`run ${spec.runId}: ${spec.cells.length} cells, ${Object.keys(spec.requirements).length} requirements (spec: ${path.relative(process.cwd(), specFile)})`);
  const provisioner = new Provisioner(config, spec, board.sink);
  const provisioning = provisioner.start();
  const stopWatch = watchEngine(config, (why) => provisioning.abort(why));
  const reporter = new LabReporter(board);
  const startedAt = new Date().toISOString();
  let vitestFailed = false;
  let wasInterrupted = false;
  try {
    // vitest.config.ts reads it: the scenarios project does not take an inline maxConcurrency.
    process.env.BUILDX_LAB_CELLS_ADMITTED = String(2 * spec.jobs);
    const { vitest, interrupted } = await runVitest(
      { run: true, watch: false, project: ['scenarios'], reporters: [reporter], provide: { runSpecPath: specFile }, root: ROOT, passWithNoTests: false },
      [path.join(ROOT, 'harness/runner/cells.vitest.ts')],
    );
    wasInterrupted = interrupted;
    if (interrupted) board.log('interrupted: cells cancelled; removing what the run started');
    vitestFailed = interrupted || vitest.state.getCountOfFailedTests() > 0 || vitest.state.errorsSet.size > 0;
    await vitest.close();
  } finally {
    stopWatch();
    provisioning.abort('the run is over');
    await sweepLeftovers(config, { runId: spec.runId });
    if (spec.cellEngine) await sweepLeftovers(withEngine(config, spec.cellEngine.host), { runId: spec.runId });
  }
  const provision = await provisioning.done;
  const results = readCellResults(spec.reportDir);
  const engine = await inspectEngine(config, config.dockerHost);
  const paths = await writeReports(spec.reportDir, results, {
    runId: spec.runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { node: process.version, engineVersion: engine?.serverVersion },
    argv: spec.argv,
  });
  const missing = spec.cells.length - results.length;
  if (missing > 0) board.log(`${missing} of ${spec.cells.length} cells wrote no result (${wasInterrupted ? 'interrupted' : 'see the failures above'})`);
  for (const f of reporter.failures) board.log(`FAILED ${f}`);
  return { exitCode: vitestFailed || missing > 0 ? 1 : 0, results, spec, paths, provision, interrupted: wasInterrupted };
}

/**
 * Watches the engine while the run goes on; `onGone` is called once when it stops answering. Its event
 * stream ends at once when the engine goes away; a slow poll backs it for an engine that hangs instead
 * (a `docker version` every 30 s, not every 2 s).
 */
function watchEngine(config: LabConfig, onGone: (why: string) => void, pollMs = 30_000): () => void {
  let gone = false;
  const goneOnce = (why: string) => {
    if (gone) return;
    gone = true;
    onGone(new EngineUnreachableError(why).message);
  };
  const events = EngineEvents.start(config, ['type=daemon']);
  events.onEnd(goneOnce);
  const timer = setInterval(() => {
    void inspectEngine(config, config.dockerHost).then((info) => {
      if (!info) goneOnce(`the Docker engine at ${config.dockerHost} stopped answering`);
    });
  }, pollMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    events.stop();
  };
}
