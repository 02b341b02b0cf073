// `buildx-lab qualify`: one run with both versions, so both see the same engines, registry and fixtures.
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { ensureEngine } from '../engine/engine.ts';
import { UsageError } from '../errors.ts';
import { loadReleases } from '../buildx/spec.ts';
import { stderrProgress } from '../progress.ts';
import { buildMatrix } from '../report/matrix.ts';
import { renderTerminalTable } from '../report/terminal.ts';
import { buildxLabel } from '../runner/scenario.ts';
import { launchInto, resolveOne, type RunParser } from '../bisect/command.ts';
import { takeOptions } from '../bisect/options.ts';
import { qualify, renderQualification } from './compare.ts';

export async function cmdQualify(config: LabConfig, args: string[], parseRunArgs: RunParser): Promise<number> {
  const { taken, rest } = takeOptions(args, ['baseline', 'candidate']);
  if (!taken.baseline || !taken.candidate) throw new UsageError('usage: buildx-lab qualify [SCENARIO...] --baseline V --candidate V [--matrix quick|full] [filters]');
  const a = parseRunArgs(rest, 'quick');
  if (a.filters.buildx) throw new UsageError('qualify runs the baseline and the candidate; drop --buildx');
  const releases = loadReleases();
  const [baseline, candidate] = [taken.baseline, taken.candidate].map((s) => buildxLabel(resolveOne(s, releases))) as [string, string];
  if (baseline === candidate) throw new UsageError(`baseline and candidate are the same version (${baseline})`);
  await ensureEngine(config, stderrProgress);
  const reportDir = path.join(a.reportDir, 'qualify');
  const results = await launchInto(config, a, reportDir, [taken.baseline, taken.candidate], a.matrix, ['qualify', ...args]);
  const q = qualify(results, baseline, candidate);
  process.stdout.write(`\n${renderTerminalTable(buildMatrix(results), { color: process.stdout.isTTY === true })}\n${renderQualification(q)}reports: ${reportDir}/report.html\n`);
  return q.verdict === 'go' ? 0 : 1;
}
