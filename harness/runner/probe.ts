// What bisect and qualify share: which cells a target names (a scenario or a case directory), and one
// run of them with an axis pinned to given versions, in its own report directory, so that every probe's
// evidence stays readable afterwards.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import type { CellResult } from '../model.ts';
import type { ProgressBoard } from '../progress-board.ts';
import { CASE_FILE } from '../repro/case.ts';
import { selectScenarioModules } from './catalog.ts';
import { cleanReportSubdir, claimReportDir, executeRun, prepareRun } from './launch.ts';
import type { RunOptions } from './options.ts';
import type { CellSource, RunSpec } from './run-spec.ts';
import { caseSource } from './trust.ts';

/** A target is a case directory (it holds case.yaml) or a scenario name; `trust` is --trust, for the case directories. */
export function targetSources(targets: readonly string[], opts: { trust: boolean }): CellSource[] {
  return targets.flatMap((t): CellSource[] =>
    existsSync(path.join(t, CASE_FILE)) ? [caseSource(t, opts)] : selectScenarioModules([t]).map((module) => ({ kind: 'scenario', module })),
  );
}

export interface ProbeRequest {
  command: RunSpec['command'];
  argv: string[];
  sources: CellSource[];
  options: RunOptions;
  /** the axis pinned (buildx or engine) and its values for this probe */
  axis: 'buildx' | 'engine';
  values: string[];
  reportDir: string;
}

export async function probeRun(config: LabConfig, board: ProgressBoard, req: ProbeRequest): Promise<CellResult[]> {
  claimReportDir(req.reportDir);
  cleanReportSubdir(req.reportDir, 'cells');
  const { config: engineConfig, spec } = await prepareRun(
    config,
    { command: req.command, argv: req.argv, sources: req.sources, ...req.options, filters: { ...req.options.filters, [req.axis]: req.values }, reportDir: req.reportDir },
    board,
  );
  return (await executeRun(engineConfig, spec, board)).results;
}

/** bisect and qualify choose the pinned axis' values themselves. */
export function refusePinnedFilter(o: RunOptions, axis: string, command: string): void {
  if (o.filters[axis]) throw new UsageError(`${command} picks the ${axis} versions itself; drop --${axis}`);
}
